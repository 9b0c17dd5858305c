import Foundation
import Sync

/// The conformance harness of the fake provider (`ProviderConformance.run(FakeHarness(…))`):
/// providers built by `FakeDriver.makeProvider` as a worker builds them, faults injected
/// into the `FakeLedger`, records read from it. Also a model for a real provider's harness.
public struct FakeHarness: ConformanceHarness {
    public let driver: FakeDriver
    /// A connection of the ledger's account whose API key the ledger accepts.
    public let connection: AccountingConnection
    /// The same account with an API key the ledger refuses; nil skips the credentials check.
    public let rejectedConnection: AccountingConnection?
    public let context: ProviderContext
    /// The Retry-After the ledger sends with an injected rate limit.
    public let rateLimitRetryHint: Duration?

    public init(
        driver: FakeDriver, connection: AccountingConnection, rejectedConnection: AccountingConnection?, context: ProviderContext,
        rateLimitRetryHint: Duration? = .seconds(7)
    ) {
        self.driver = driver
        self.connection = connection
        self.rejectedConnection = rejectedConnection
        self.context = context
        self.rateLimitRetryHint = rateLimitRetryHint
    }

    var ledger: FakeLedger { driver.ledger }

    /// The connection id of targets when the connection was never stored.
    static let unsavedConnectionID = UUID(uuid: (0, 0, 0, 0, 0, 0, 0x40, 0, 0x80, 0, 0, 0, 0, 0, 0xfa, 0x4e))

    public func provider() async throws -> any AccountingProvider {
        try driver.makeProvider(for: connection, context: context)
    }

    /// Built with a token store of its own: a token issued for the good credentials must not
    /// open the account for the refused ones (a stored connection has its own id; these two
    /// unsaved ones would share one token store entry).
    public func providerWithRejectedCredentials() async throws -> (any AccountingProvider)? {
        var context = context
        if context.tokens != nil { context.tokens = InMemoryTokenStore() }
        return try rejectedConnection.map { try driver.makeProvider(for: $0, context: context) }
    }

    public func target() -> SyncTarget {
        let id = connection.id ?? Self.unsavedConnectionID
        return SyncTarget(connectionID: id, connection: connection, mappings: MappingSet(connectionID: id, mappings: []))
    }

    public func inject(_ fault: ConformanceFault) async throws {
        switch fault {
        case .serverErrorBeforeWrite: ledger.inject(.serverErrorBeforeWrite)
        case .answerLost: ledger.inject(.answerLost)
        case .connectionDropped: ledger.inject(.connectionDropped)
        case .rateLimited: ledger.inject(.rateLimited(retryAfter: rateLimitRetryHint))
        case .tokenExpired: ledger.expireAllTokens()
        }
    }

    public func records(of type: ExternalRef.ObjectType) async throws -> [HeldRecord] {
        ledger.records(of: type).map { HeldRecord(providerID: $0.providerID, billingID: $0.billingID) }
    }

    public func differences(_ record: HeldRecord, from write: ProviderWrite, target: SyncTarget) async throws -> [String] {
        guard let held = ledger.record(providerID: record.providerID) else {
            return ["no record \(record.providerID) at the fake provider"]
        }
        guard let content = held.content else { return ["record \(record.providerID) holds no document"] }
        return content == write ? [] : ["record \(record.providerID) holds another document than the latest write of \(write.billingID)"]
    }

    /// An invoice the ledger refuses, as a provider refuses a document it finds invalid.
    public func refusal(billingID: String, customerRef: String) async throws -> ConformanceRefusal {
        let message = "the invoice's tax registration is not valid for this account"
        ledger.refuse(billingID: billingID, message: message)
        let invoice = try ConformanceDocuments.invoice(billingID, customerID: "\(billingID)-cus")
        return ConformanceRefusal(write: .invoice(invoice, customerRef: customerRef), target: target(), providerMessage: message)
    }

    public var tokenExpiry: ConformanceTokenExpiry {
        ledger.tokenLifetime == nil ? .never(reason: "this fake account takes its API key alone: no access token to expire") : .expires
    }
}
