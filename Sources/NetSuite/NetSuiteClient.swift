import ExactJSON
import Foundation
import HTTPClient
import Sync

/// Talks to one NetSuite account's REST record API: signs each request with TBA and turns
/// every answer into an internal id or a classified `SyncError`.
public struct NetSuiteClient: Sendable {
    public let account: NetSuiteAccount
    let credentials: NetSuiteCredentials
    let http: HTTPClient
    /// How long one request may take before it counts as a (transient) timeout.
    public let requestTimeout: Duration
    /// How long NetSuite may go on processing a request after this client stopped waiting
    /// for it. NetSuite's own limit for REST web services: "if a request takes more than 15
    /// minutes to complete, it automatically times out" (Oracle NetSuite Help Center,
    /// "Concurrency Governance and Session Management"). A timed-out request keeps its
    /// job's concurrency-limit slot held this long (`SyncError.providerMayStillRunFor`).
    public let serverTimeLimit: Duration
    public static let defaultServerTimeLimit: Duration = .seconds(15 * 60)

    public init(
        account: NetSuiteAccount, credentials: NetSuiteCredentials, http: HTTPClient, requestTimeout: Duration = .seconds(60),
        serverTimeLimit: Duration = NetSuiteClient.defaultServerTimeLimit
    ) {
        self.account = account
        self.credentials = credentials
        self.http = http
        self.requestTimeout = requestTimeout
        self.serverTimeLimit = serverTimeLimit
    }

    /// `PUT …/{recordType}/eid:{externalID}`: creates the record or updates the one with this
    /// external id, and returns its internal id (the last segment of `Location`). Safe to
    /// repeat: that is what makes a retry after a lost answer harmless.
    public func upsert(recordType: String, externalID: String, body: ExactJSON) async throws -> String {
        let url = "\(account.restBaseURL)/\(recordType)/eid:\(PercentEncoding.encode(externalID))"
        let authorization = try TBASigner.authorizationHeader(method: "PUT", url: url, credentials: credentials, account: account)
        let request = HTTPRequest(
            method: "PUT", url: url,
            headers: [
                ("Authorization", authorization), ("Content-Type", "application/json"), ("Accept", "application/json"),
            ],
            body: Data(body.description.utf8), timeout: requestTimeout)
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch let error as HTTPClientError {
            throw SyncError(from: error, serverTimeLimit: serverTimeLimit)
        }
        guard (200...299).contains(response.status) else {
            throw NetSuiteErrorParser.parse(response)
        }
        guard let id = Self.internalID(fromLocation: response.header("Location"), recordType: recordType) else {
            // The write may well have happened; the next attempt's upsert finds the record.
            throw SyncError(.transient, "NetSuite HTTP \(response.status) for \(recordType) \(externalID) without a usable Location header")
        }
        return id
    }

    /// `…/record/v1/customer/647` → "647". Nil unless the path ends in `/{recordType}/{id}`
    /// (a Location of another record, an empty id or a still-external `eid:…` id is no answer).
    static func internalID(fromLocation location: String?, recordType: String) -> String? {
        guard let location else { return nil }
        let path = location.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? location
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count >= 2, segments[segments.count - 2].lowercased() == recordType.lowercased() else { return nil }
        let last = segments[segments.count - 1]
        guard !last.isEmpty, last.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" || $0 == "_" }) else { return nil }
        return String(last)
    }
}

/// `AccountingProvider` for NetSuite: payloads from `NetSuitePayloads`, writes by `NetSuiteClient`.
public struct NetSuiteProvider: AccountingProvider {
    let client: NetSuiteClient

    public init(client: NetSuiteClient) { self.client = client }

    /// The provider of a connection: its account id, base URL override and sealed credentials.
    public init(
        connection: AccountingConnection, http: HTTPClient, requestTimeout: Duration = .seconds(60),
        serverTimeLimit: Duration = NetSuiteClient.defaultServerTimeLimit
    ) throws {
        let account: NetSuiteAccount
        do {
            account = try NetSuiteAccount(accountID: connection.accountID, baseURLOverride: connection.settings.baseURL)
        } catch let error as NetSuiteConfigError {
            throw StoreError(.invalidField, field: "account_id", error.message)
        }
        client = NetSuiteClient(
            account: account, credentials: connection.secrets, http: http, requestTimeout: requestTimeout,
            serverTimeLimit: serverTimeLimit)
    }

    public func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String {
        try await write(recordType: "customer", externalID: customer.lagoID, body: NetSuitePayloads.customer(customer, target: target), target: target)
    }

    public func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await write(
            recordType: "invoice", externalID: invoice.lagoID,
            body: NetSuitePayloads.invoice(invoice, customerRef: customerRef, target: target), target: target)
    }

    public func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String {
        try await write(
            recordType: "salesOrder", externalID: order.lagoID,
            body: NetSuitePayloads.invoice(order.invoice, customerRef: customerRef, target: target, root: "sales_order"), target: target)
    }

    public func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        try await write(
            recordType: "creditMemo", externalID: memo.lagoID,
            body: NetSuitePayloads.creditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target), target: target)
    }

    public func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        try await write(
            recordType: "customerPayment", externalID: payment.lagoID,
            body: NetSuitePayloads.payment(payment, customerRef: customerRef, invoiceRef: invoiceRef, target: target), target: target)
    }
}
