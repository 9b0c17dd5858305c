import Sync

/// What a provider's test gives the conformance suite (`ProviderConformance.run`): the
/// provider, where it writes, a way to make its next write fail, and a look at what the
/// provider (the remote system) holds.
///
/// Every check uses billing ids of its own (`<prefix>-<check>-…`), so checks never see each
/// other's records and the harness needs no reset between them. Checks run one at a time.
public protocol ConformanceHarness: Sendable {
    /// The provider under test, as its driver builds it for the harness's connection.
    func provider() async throws -> any AccountingProvider
    /// A provider of the same account whose credentials the provider refuses (a wrong
    /// secret); nil when the harness cannot make one (the check is then skipped).
    func providerWithRejectedCredentials() async throws -> (any AccountingProvider)?
    /// The target of every write: the connection and mappings that map
    /// `ConformanceDocuments` (a subscription default item, the `conformance_usage` charge,
    /// USD).
    func target() -> SyncTarget
    /// Makes the provider's NEXT write request suffer `fault`, and only that one.
    func inject(_ fault: ConformanceFault) async throws
    /// The records the provider holds of `type`, with the billing id each was written for.
    func records(of type: ExternalRef.ObjectType) async throws -> [HeldRecord]
    /// How the held record differs from what `write` says it must be (one sentence each);
    /// empty when it equals the document.
    func differences(_ record: HeldRecord, from write: ProviderWrite, target: SyncTarget) async throws -> [String]
    /// A write the provider refuses, the way it refuses a bad document, and words of the
    /// provider's own message that the error must carry. `customerRef` is a customer the
    /// provider holds, for a refused transaction.
    func refusal(billingID: String, customerRef: String) async throws -> ConformanceRefusal
    /// The Retry-After the provider sends with the rate limit `inject(.rateLimited)` causes;
    /// nil when it gives none.
    var rateLimitRetryHint: Duration? { get }
    /// Whether the provider's access tokens expire; `.never(reason)` skips the token check.
    var tokenExpiry: ConformanceTokenExpiry { get }
}

/// A failure injected into one write.
public enum ConformanceFault: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The provider fails (HTTP 500) before it writes anything.
    case serverErrorBeforeWrite = "server_error_before_write"
    /// The write is applied, its answer never arrives (the client times out).
    case answerLost = "answer_lost"
    /// The write is applied, then the connection closes without an answer.
    case connectionDropped = "connection_dropped"
    /// The provider refuses the request for its rate or concurrency limit (HTTP 429 or its
    /// equivalent), without writing.
    case rateLimited = "rate_limited"
    /// Every access token issued so far stops working now, before the expiry the provider
    /// announced (the provider answers as it does for an expired token). Only for
    /// providers whose tokens expire.
    case tokenExpired = "token_expired"

    public var description: String { rawValue }

    /// The faults after which a write may or may not have happened; the same call again
    /// must leave exactly one record.
    public static let idempotencyFaults: [ConformanceFault] = [.serverErrorBeforeWrite, .answerLost, .connectionDropped]
}

/// A record the provider holds.
public struct HeldRecord: Sendable, Hashable {
    /// The provider's id of the record.
    public let providerID: String
    /// The billing id it was written for (its external id), nil when it has none.
    public let billingID: String?

    public init(providerID: String, billingID: String?) {
        self.providerID = providerID
        self.billingID = billingID
    }
}

/// A write the provider refuses.
public struct ConformanceRefusal: Sendable {
    public let write: ProviderWrite
    /// The target to write it with (a harness may refuse through the target, e.g. a mapping
    /// to a record the provider does not have).
    public let target: SyncTarget
    /// Words of the provider's refusal that the error's message must contain.
    public let providerMessage: String

    public init(write: ProviderWrite, target: SyncTarget, providerMessage: String) {
        self.write = write
        self.target = target
        self.providerMessage = providerMessage
    }
}

/// Whether a provider's access tokens expire.
public enum ConformanceTokenExpiry: Sendable {
    /// They expire: the token check runs (`inject(.tokenExpired)` must work).
    case expires
    /// They do not (NetSuite TBA); the reason is reported with the skipped check.
    case never(reason: String)
}
