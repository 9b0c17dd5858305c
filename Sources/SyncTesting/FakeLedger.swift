import Foundation
import Sync
import Synchronization

/// The remote side of `FakeProvider`: one account of an in-memory accounting system, the
/// way a simulator is the remote side of a real provider. It holds records keyed by billing
/// id (an upsert by external id), checks credentials and access tokens, and fails the next
/// writes as a test tells it (`inject`). Tests look at what it holds (`records`).
///
/// It survives the providers built from it: the `ProviderRegistry` may rebuild a provider when
/// a connection changes, and the records must still be there, as they are at a real provider.
public final class FakeLedger: Sendable {
    /// A failure of one request, as the remote system (or the network) fails.
    public enum Fault: Sendable, Equatable {
        /// HTTP 500 before anything is written.
        case serverErrorBeforeWrite
        /// The write is applied, the answer never comes (the client times out).
        case answerLost
        /// The write is applied, then the connection closes without an answer.
        case connectionDropped
        /// HTTP 429, nothing written, with this Retry-After (nil: none).
        case rateLimited(retryAfter: Duration?)
    }

    /// What a request to the ledger gets instead of an answer; `FakeProvider` classifies it.
    public enum Failure: Error, Sendable, Equatable {
        /// An HTTP error answer: status, the ledger's message, its Retry-After.
        case status(Int, String, retryAfter: Duration? = nil)
        /// No answer at all; `timedOut`: the client gave up waiting (else the connection closed).
        case noAnswer(timedOut: Bool)
        /// 401 with `error="invalid_token"`: the access token is unknown, expired or revoked.
        case invalidToken
    }

    /// One record the ledger holds.
    public struct Record: Sendable, Equatable {
        public let providerID: String
        /// `customer`, `invoice`, `sales_order`, `credit_memo`, `payment`, `customer_refund`.
        public let recordType: String
        /// The billing id it was written for (its external id).
        public let billingID: String
        /// What the last write said, nil for a customer refund (see `refund`).
        public var content: ProviderWrite?
        /// A customer refund's credit memo and the provider's id of that memo.
        public var refund: (memo: BillingCreditMemo, customerRef: String, creditMemoRef: String)?
        public var voided = false
        /// Currencies added to a customer (`addCustomerCurrency`).
        public var currencies: Set<String> = []
        /// How many writes changed it (the first one included).
        public var writeCount = 1
        /// When it was created and last changed, by the ledger's clock (change polls read them).
        public var createdAt = Date()
        public var modifiedAt = Date()
        /// What a person typed in, for a record entered by hand (`enterByHand`).
        public var byHand: HandEntry?

        public static func == (a: Record, b: Record) -> Bool {
            a.providerID == b.providerID && a.recordType == b.recordType && a.billingID == b.billingID && a.content == b.content
                && a.refund?.memo == b.refund?.memo && a.refund?.customerRef == b.refund?.customerRef
                && a.refund?.creditMemoRef == b.refund?.creditMemoRef && a.voided == b.voided && a.currencies == b.currencies
                && a.writeCount == b.writeCount
        }
    }

    /// Counters since the start.
    public struct Stats: Sendable, Equatable {
        /// Requests received (writes and refused ones).
        public var requests = 0
        /// Writes applied.
        public var writes = 0
        /// Access tokens issued.
        public var tokensIssued = 0
        /// Requests refused for an invalid token.
        public var invalidTokens = 0
        public var faultsInjected = 0
    }

    /// The account id connections name (`connections.account_id`).
    public let accountID: String
    /// How long an access token lives; nil: the account takes the API key alone (no tokens).
    public let tokenLifetime: Duration?

    struct State {
        var apiKeys: Set<String>
        var records: [Record] = []
        var nextID = 1000
        var faults: [Fault] = []
        var refusals: [String: String] = [:]
        /// Token → (API key it was issued for, expiry).
        var tokens: [String: (apiKey: String, expiresAt: Date)] = [:]
        var stats = Stats()
        /// Reads (reconciliation's snapshots) still to fail with a transient error.
        var failingReads = 0
    }

    let state: Mutex<State>

    /// `apiKeys`: the keys the account accepts. `tokenLifetime`: set for an account whose
    /// requests need an access token issued for a key (`issueToken`), which expires.
    public init(accountID: String = "fake-account", apiKeys: Set<String> = ["fake-api-key"], tokenLifetime: Duration? = nil) {
        self.accountID = accountID
        self.tokenLifetime = tokenLifetime
        state = Mutex(State(apiKeys: apiKeys))
    }

    // MARK: - Test controls

    /// Fails the next request (in order, one fault each) with `fault`.
    public func inject(_ fault: Fault) {
        state.withLock { $0.faults.append(fault) }
    }

    /// Fails the next `count` record reads (reconciliation's snapshots) with a transient error:
    /// a provider's bad moment while a reconcile reads it back.
    public func failNextReads(_ count: Int) {
        state.withLock { $0.failingReads += count }
    }

    /// Whether this read is one of those `failNextReads` asked to fail (counting it).
    func drawReadFailure() -> Bool {
        state.withLock { state in
            guard state.failingReads > 0 else { return false }
            state.failingReads -= 1
            return true
        }
    }

    /// Refuses every write of `billingID` with HTTP 400 and `message`, the way a provider
    /// refuses a document it finds invalid.
    public func refuse(billingID: String, message: String) {
        state.withLock { $0.refusals[billingID] = message }
    }

    /// Every token issued so far stops working now (the provider revoked them, or its clock
    /// ran ahead): the next request with one gets `invalidToken`.
    public func expireAllTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    public func addAPIKey(_ key: String) { state.withLock { _ = $0.apiKeys.insert(key) } }
    public func removeAPIKey(_ key: String) { state.withLock { _ = $0.apiKeys.remove(key) } }

    // MARK: - Inspection

    /// Every record of `recordType` (`customer`, `invoice`, … see `Record.recordType`), oldest first.
    public func records(_ recordType: String) -> [Record] {
        state.withLock { $0.records.filter { $0.recordType == recordType } }
    }

    public func records(of type: ExternalRef.ObjectType) -> [Record] { records(type.rawValue) }

    public func record(providerID: String) -> Record? {
        state.withLock { $0.records.first { $0.providerID == providerID } }
    }

    public var stats: Stats { state.withLock { $0.stats } }

    // MARK: - Requests (what FakeProvider calls)

    /// Whether `apiKey` opens the account (`connections test`).
    public func accepts(apiKey: String) -> Bool { state.withLock { $0.apiKeys.contains(apiKey) } }

    /// The token endpoint: a new access token for `apiKey`, valid for `tokenLifetime`.
    public func issueToken(apiKey: String, now: Date = Date()) throws(Failure) -> IssuedToken {
        try state.withLock { state throws(Failure) -> IssuedToken in
            state.stats.requests += 1
            guard state.apiKeys.contains(apiKey) else { throw .status(401, "invalid_client: the API key is not valid for this account") }
            let lifetime = tokenLifetime ?? .seconds(3600)
            let token = "fake-token-\(UUID().uuidString.lowercased())"
            let expiresAt = now.addingTimeInterval(Double(lifetime.components.seconds) + Double(lifetime.components.attoseconds) / 1e18)
            state.tokens[token] = (apiKey, expiresAt)
            state.stats.tokensIssued += 1
            return IssuedToken(accessToken: token, expiresAt: expiresAt)
        }
    }

    /// Who sends a request: an API key, or an access token when the account uses tokens.
    public enum Credential: Sendable {
        case apiKey(String)
        case token(String)
    }

    /// A write request: authenticates, draws the next fault, checks the refusals and
    /// references, then creates or updates the record. `existingID`: update that record by
    /// id (404 when there is none); else upsert by `(recordType, billingID)`; `alwaysCreate`
    /// makes a new record every time (the broken fake's flaw). `apply` turns the record's
    /// content into the new content. Returns the record's id.
    func write(
        _ credential: Credential, recordType: String, billingID: String, existingID: String?, references: [(kind: String, id: String)],
        alwaysCreate: Bool = false, now: Date = Date(), apply: (inout Record) -> Void
    ) throws(Failure) -> String {
        let (id, fault) = try state.withLock { state throws(Failure) -> (String, Fault?) in
            state.stats.requests += 1
            try authenticate(credential, state: &state, now: now)
            let fault = state.faults.isEmpty ? nil : state.faults.removeFirst()
            if fault != nil { state.stats.faultsInjected += 1 }
            switch fault {
            case .serverErrorBeforeWrite?: throw .status(500, "Internal server error (fake), nothing written")
            case .rateLimited(let retryAfter)?:
                throw .status(429, "Too many requests (fake): the account's request limit is reached", retryAfter: retryAfter)
            default: break
            }
            if let message = state.refusals[billingID] { throw .status(400, message) }
            for reference in references
            where !state.records.contains(where: { $0.providerID == reference.id && $0.recordType == reference.kind }) {
                throw .status(404, "\(reference.kind) \(reference.id) does not exist")
            }
            let index: Int?
            if alwaysCreate {
                index = nil
            } else if let existingID {
                guard let found = state.records.firstIndex(where: { $0.providerID == existingID && $0.recordType == recordType }) else {
                    throw .status(404, "no \(recordType) record has id \(existingID)")
                }
                index = found
            } else {
                index = state.records.firstIndex { $0.recordType == recordType && $0.billingID == billingID }
            }
            let id: String
            if let index {
                apply(&state.records[index])
                state.records[index].writeCount += 1
                state.records[index].modifiedAt = now
                id = state.records[index].providerID
            } else {
                state.nextID += 1
                var record = Record(providerID: "\(state.nextID)", recordType: recordType, billingID: billingID, content: nil)
                record.createdAt = now
                record.modifiedAt = now
                apply(&record)
                state.records.append(record)
                id = record.providerID
            }
            state.stats.writes += 1
            return (id, fault)
        }
        switch fault {
        case .answerLost?: throw .noAnswer(timedOut: true)
        case .connectionDropped?: throw .noAnswer(timedOut: false)
        default: return id
        }
    }

    /// Updates the record `recordType` of `billingID` (or `existingID`) in place: a void, a
    /// currency added. 404 when there is none.
    func update(
        _ credential: Credential, recordType: String, billingID: String, existingID: String?, now: Date = Date(),
        apply: (inout Record) -> Void
    ) throws(Failure) -> String {
        let id: String
        if let existingID { id = existingID } else { id = try lookup(recordType, billingID) }
        return try write(credential, recordType: recordType, billingID: billingID, existingID: id, references: [], now: now, apply: apply)
    }

    private func lookup(_ recordType: String, _ billingID: String) throws(Failure) -> String {
        guard let record = state.withLock({ $0.records.first { $0.recordType == recordType && $0.billingID == billingID } }) else {
            throw .status(404, "\(recordType) with external id \(billingID) does not exist")
        }
        return record.providerID
    }

    private func authenticate(_ credential: Credential, state: inout State, now: Date) throws(Failure) {
        switch credential {
        case .apiKey(let key):
            guard tokenLifetime == nil else { throw .status(401, "this account takes access tokens, not API keys") }
            guard state.apiKeys.contains(key) else { throw .status(401, "invalid API key") }
        case .token(let token):
            guard let issued = state.tokens[token], issued.expiresAt > now, state.apiKeys.contains(issued.apiKey) else {
                state.stats.invalidTokens += 1
                throw .invalidToken
            }
        }
    }
}
