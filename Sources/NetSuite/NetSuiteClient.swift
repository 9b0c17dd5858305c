import ExactJSON
import Foundation
import HTTPClient
import Sync

/// Talks to one NetSuite account's REST record API: authorizes each request (TBA signature
/// or OAuth 2.0 bearer token, `NetSuiteAuth`) and turns every answer into an internal id or a
/// classified `SyncError`.
public struct NetSuiteClient: Sendable {
    public let account: NetSuiteAccount
    let auth: NetSuiteAuth
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
        self.init(account: account, auth: .tba(credentials), http: http, requestTimeout: requestTimeout, serverTimeLimit: serverTimeLimit)
    }

    /// A client with either auth kind (`NetSuiteAuth`): TBA, or OAuth 2.0 client credentials.
    public init(
        account: NetSuiteAccount, auth: NetSuiteAuth, http: HTTPClient, requestTimeout: Duration = .seconds(60),
        serverTimeLimit: Duration = NetSuiteClient.defaultServerTimeLimit
    ) {
        self.account = account
        self.auth = auth
        self.http = http
        self.requestTimeout = requestTimeout
        self.serverTimeLimit = serverTimeLimit
    }

    /// OAuth 2.0 only: a token with less than this left is replaced before a request
    /// (`NetSuiteM2M.defaultMinValidity`).
    public var tokenMinValidity: Duration = NetSuiteM2M.defaultMinValidity

    /// Whether upserts name the body's sublists in `?replace=`. Always true in production;
    /// TEST-ONLY switch: `false` reproduces the client before issue 12, whose re-pushes
    /// appended lines at a real account, so a test can prove its checker catches that.
    public var replacesSublists = true

    /// `PUT …/{recordType}/eid:{externalID}?replace=…`: creates the record or updates the one
    /// with this external id, and returns its internal id (the last segment of `Location`).
    /// Safe to repeat: that is what makes a retry after a lost answer harmless. The request
    /// is `NetSuiteRequest.upsert` (shared with `ledgersync sync render`); this only signs and
    /// sends it.
    public func upsert(recordType: String, externalID: String, body: ExactJSON) async throws -> String {
        let planned = NetSuiteRequest.upsert(
            account: account, recordType: recordType, externalID: externalID, body: body, replaceSublists: replacesSublists)
        let response = try await send(planned)
        guard let id = Self.internalID(fromLocation: response.header("Location"), recordType: recordType) else {
            // The write may well have happened; the next attempt's upsert finds the record.
            throw SyncError(.transient, "NetSuite HTTP \(response.status) for \(recordType) \(externalID) without a usable Location header")
        }
        return id
    }

    /// Signs `planned` with TBA (its query parameters included, PROVIDERS 2.1 step 3), sends
    /// it, and returns a 2xx answer; any other answer becomes the classified `SyncError`.
    public func send(_ planned: NetSuiteRequest) async throws -> HTTPResponse {
        let response = try await send(
            method: planned.method, url: planned.url, body: planned.body.map { Data($0.utf8) },
            headers: planned.headers)
        guard (200...299).contains(response.status) else {
            throw NetSuiteErrorParser.parse(response)
        }
        return response
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
        client = try NetSuiteClient(connection: connection, http: http, requestTimeout: requestTimeout, serverTimeLimit: serverTimeLimit)
    }

    public func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String {
        try await upsert(NetSuiteUpsert.customer(customer, target: target), target: target)
    }

    public func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await upsert(NetSuiteUpsert.invoice(invoice, customerRef: customerRef, target: target), target: target)
    }

    public func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String {
        try await upsert(NetSuiteUpsert.salesOrder(order, customerRef: customerRef, target: target), target: target)
    }

    public func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws
        -> String
    {
        try await upsert(NetSuiteUpsert.creditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target), target: target)
    }

    public func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget)
        async throws -> String
    {
        try await upsert(
            NetSuiteUpsert.payment(payment, customerRef: customerRef, invoiceRefs: invoiceRefs, target: target), target: target)
    }

    public func upsertCustomerRefund(_ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget) async throws
        -> String
    {
        try await upsert(
            NetSuiteUpsert.customerRefund(memo, customerRef: customerRef, creditMemoRef: creditMemoRef, target: target), target: target)
    }

    public func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String? {
        guard let planned = try NetSuiteUpsert.customer(customer, addingCurrency: currency, target: target) else { return nil }
        return try await upsert(planned, target: target)
    }

    /// A void is an update of the same record (docs/netsuite.md "Voids").
    public func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await upsert(NetSuiteUpsert.voidedInvoice(invoice, customerRef: customerRef, target: target), target: target)
    }

    public func voidCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws
        -> String
    {
        try await upsert(
            NetSuiteUpsert.voidedCreditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target), target: target)
    }

    /// Writes one record: by upsert on the billing id as external id, or by its internal id
    /// when a person linked the billing object to an existing record (`write` in
    /// NetSuiteQuery.swift, docs/linking.md).
    private func upsert(_ planned: NetSuiteUpsert, target: SyncTarget) async throws -> String {
        // A recorded ref is not used: the upsert by external id finds that record and is safe
        // to repeat; only a person's link is written by internal id (PATCH).
        try await write(planned, linkedID: target.existingIsLinked ? target.existingProviderID : nil)
    }
}

/// What one upsert writes: record type, external id and body, per billing document. Shared by
/// `NetSuiteProvider` (which sends it) and `ledgersync sync render` (which prints it), so the
/// two cannot drift apart.
public struct NetSuiteUpsert: Sendable {
    public let recordType: String
    public let externalID: String
    public let body: ExactJSON

    /// The request, unsigned, `?replace=` included: `PUT …/eid:{externalID}`
    /// (`NetSuiteRequest.upsert`), or `PATCH …/{linkedID}` without `externalId` for a record
    /// a person linked the billing object to (`NetSuiteRequest.update`, docs/linking.md).
    public func request(account: NetSuiteAccount, linkedID: String? = nil) -> NetSuiteRequest {
        if let linkedID {
            return NetSuiteRequest.update(account: account, recordType: recordType, internalID: linkedID, body: body)
        }
        return NetSuiteRequest.upsert(account: account, recordType: recordType, externalID: externalID, body: body)
    }

    public static func customer(_ customer: BillingCustomer, target: SyncTarget) throws -> NetSuiteUpsert {
        NetSuiteUpsert(recordType: "customer", externalID: customer.lagoID, body: try NetSuitePayloads.customer(customer, target: target))
    }

    public static func invoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "invoice", externalID: invoice.lagoID,
            body: try NetSuitePayloads.invoice(invoice, customerRef: customerRef, target: target))
    }

    public static func salesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "salesOrder", externalID: order.lagoID,
            body: try NetSuitePayloads.invoice(order.invoice, customerRef: customerRef, target: target, root: "sales_order"))
    }

    public static func creditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) throws
        -> NetSuiteUpsert
    {
        NetSuiteUpsert(
            recordType: "creditMemo", externalID: memo.lagoID,
            body: try NetSuitePayloads.creditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target))
    }

    public static func payment(
        _ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget
    ) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "customerPayment", externalID: payment.lagoID,
            body: try NetSuitePayloads.payment(payment, customerRef: customerRef, invoiceRefs: invoiceRefs, target: target))
    }

    public static func customerRefund(
        _ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget
    ) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "customerRefund", externalID: memo.refundExternalID,
            body: try NetSuitePayloads.customerRefund(memo, customerRef: customerRef, creditMemoRef: creditMemoRef, target: target))
    }

    /// The customer with `currency` added to its currencies; nil when the connection maps
    /// no such currency (nothing to add).
    public static func customer(_ customer: BillingCustomer, addingCurrency currency: Currency, target: SyncTarget) throws
        -> NetSuiteUpsert?
    {
        guard let body = try NetSuitePayloads.customer(customer, addingCurrency: currency, target: target) else { return nil }
        return NetSuiteUpsert(recordType: "customer", externalID: customer.lagoID, body: body)
    }

    public static func voidedInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "invoice", externalID: invoice.lagoID,
            body: try NetSuitePayloads.voidedInvoice(invoice, customerRef: customerRef, target: target))
    }

    public static func voidedCreditMemo(
        _ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget
    ) throws -> NetSuiteUpsert {
        NetSuiteUpsert(
            recordType: "creditMemo", externalID: memo.lagoID,
            body: try NetSuitePayloads.voidedCreditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target))
    }
}
