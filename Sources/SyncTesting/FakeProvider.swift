import Foundation
import Sync

/// An in-process `AccountingProvider` writing to a `FakeLedger`: every write an upsert by the
/// billing id (or an update of `SyncTarget.existingProviderID`), every failure classified into
/// `SyncError` the way a real provider's client must, access tokens (when the ledger uses
/// them) through the `AccessTokenStore` of its `ProviderContext`, renewed once on an
/// `invalid_token` answer. For users' tests and the conformance suite's self-test.
public struct FakeProvider: AccountingProvider {
    /// Deliberate bugs, for proving that a test (the conformance suite) catches them. Never
    /// set outside such a test.
    public struct Flaws: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Creates a new record on every write, never updating one: a retry duplicates.
        public static let duplicatesOnRetry = Flaws(rawValue: 1 << 0)
        /// Classifies a 5xx as permanent: a job fails for good on a passing error.
        public static let serverErrorIsPermanent = Flaws(rawValue: 1 << 1)
    }

    public let ledger: FakeLedger
    let connection: AccountingConnection
    let apiKey: String
    let tokens: (any AccessTokenStore)?
    let flaws: Flaws

    /// How long before its expiry a token is renewed: a minute, or half the lifetime of a
    /// shorter-lived token (a 20 s token must not be renewed on every request).
    var minTokenValidity: Duration {
        min(.seconds(60), (ledger.tokenLifetime ?? .seconds(3600)) / 2)
    }

    public init(ledger: FakeLedger, connection: AccountingConnection, apiKey: String, tokens: (any AccessTokenStore)?, flaws: Flaws = []) {
        self.ledger = ledger
        self.connection = connection
        self.apiKey = apiKey
        self.tokens = tokens
        self.flaws = flaws
    }

    public func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String {
        try await write(.customer(customer), target: target, references: [])
    }

    public func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await write(.invoice(invoice, customerRef: customerRef), target: target, references: [("customer", customerRef)])
    }

    public func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String {
        try await write(.salesOrder(order, customerRef: customerRef), target: target, references: [("customer", customerRef)])
    }

    public func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws
        -> String
    {
        try await write(
            .creditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef), target: target,
            references: [("customer", customerRef), ("invoice", invoiceRef)])
    }

    public func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget)
        async throws -> String
    {
        try await write(
            .payment(payment, customerRef: customerRef, invoiceRefs: invoiceRefs), target: target,
            references: [("customer", customerRef)] + invoiceRefs.values.sorted().map { ("invoice", $0) })
    }

    public func upsertCustomerRefund(_ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget) async throws
        -> String
    {
        try await send { credential in
            try ledger.write(
                credential, recordType: "customer_refund", billingID: memo.refundExternalID, existingID: nil,
                references: [("customer", customerRef), ("credit_memo", creditMemoRef)], alwaysCreate: flaws.contains(.duplicatesOnRetry)
            ) { record in
                record.refund = (memo, customerRef, creditMemoRef)
            }
        }
    }

    public func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String? {
        try await send { credential in
            try ledger.update(credential, recordType: "customer", billingID: customer.lagoID, existingID: target.existingProviderID) {
                record in
                record.currencies.insert(currency.code)
            }
        }
    }

    public func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await send { credential in
            try ledger.update(credential, recordType: "invoice", billingID: invoice.lagoID, existingID: target.existingProviderID) {
                record in
                record.voided = true
            }
        }
    }

    public func voidCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws
        -> String
    {
        try await send { credential in
            try ledger.update(credential, recordType: "credit_memo", billingID: memo.lagoID, existingID: target.existingProviderID) {
                record in
                record.voided = true
            }
        }
    }

    // MARK: - Requests

    private func write(_ content: ProviderWrite, target: SyncTarget, references: [(String, String)]) async throws -> String {
        try await send { credential in
            try ledger.write(
                credential, recordType: content.objectType.rawValue, billingID: content.billingID, existingID: target.existingProviderID,
                references: references.map { (kind: $0.0, id: $0.1) }, alwaysCreate: flaws.contains(.duplicatesOnRetry)
            ) { record in
                record.content = content
            }
        }
    }

    /// Sends one request with the current credential; on `invalid_token`, marks the token bad
    /// in the store and sends once more with a new one. Every failure leaves as a `SyncError`.
    private func send(_ request: (FakeLedger.Credential) throws -> String) async throws -> String {
        guard ledger.tokenLifetime != nil else {
            do { return try request(.apiKey(apiKey)) } catch let failure as FakeLedger.Failure { throw classify(failure) }
        }
        let first = try await accessToken()
        do {
            return try request(.token(first))
        } catch FakeLedger.Failure.invalidToken {
            try await tokenStore().invalidate(first, for: connection)
            let second = try await accessToken()
            do { return try request(.token(second)) } catch let failure as FakeLedger.Failure { throw classify(failure) }
        } catch let failure as FakeLedger.Failure {
            throw classify(failure)
        }
    }

    private func tokenStore() throws -> any AccessTokenStore {
        guard let tokens else {
            throw SyncError(
                .permanent,
                "the fake provider's account uses expiring access tokens, but this process has no token store (ProviderContext.tokens)")
        }
        return tokens
    }

    private func accessToken() async throws -> String {
        let ledger = ledger
        let apiKey = apiKey
        return try await tokenStore().accessToken(for: connection, minValidity: minTokenValidity) {
            do { return try ledger.issueToken(apiKey: apiKey) } catch let failure as FakeLedger.Failure {
                throw FakeProvider.classify(failure, flaws: [])
            }
        }
    }

    private func classify(_ failure: FakeLedger.Failure) -> SyncError { Self.classify(failure, flaws: flaws) }

    /// The four classes of `SyncError` for the ledger's answers: 429 → rate_limited with its
    /// Retry-After; 5xx and no answer → transient (a timeout keeps the slot held a while, the
    /// ledger may still be working); 401/403 → permanent (wrong credentials); 404 of a
    /// referenced record → dependency; any other 4xx → permanent with the ledger's message.
    static func classify(_ failure: FakeLedger.Failure, flaws: Flaws) -> SyncError {
        switch failure {
        case .noAnswer(let timedOut):
            return SyncError(
                .transient,
                timedOut ? "fake provider: no answer within the request timeout" : "fake provider: the connection closed without an answer",
                providerMayStillRunFor: timedOut ? .seconds(1) : nil)
        case .invalidToken:
            return SyncError(
                .transient, "fake provider HTTP 401: invalid_token (a new token did not help either)", providerCode: "invalid_token")
        case .status(let status, let message, let retryAfter):
            let text = "fake provider HTTP \(status): \(message)"
            switch status {
            case 429: return SyncError(.rateLimited, text, providerCode: "rate_limited", retryAfter: retryAfter)
            case 500...599: return SyncError(flaws.contains(.serverErrorIsPermanent) ? .permanent : .transient, text)
            case 401, 403: return SyncError(.permanent, text, providerCode: "unauthorized")
            case 404 where message.hasPrefix("customer ") || message.hasPrefix("invoice ") || message.hasPrefix("credit_memo "):
                return SyncError(.dependency, text, providerCode: "not_found")
            default: return SyncError(.permanent, text)
            }
        }
    }
}
