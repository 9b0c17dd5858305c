import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// NetSuite's REST record API for one account, in memory, over real HTTP: the stand-in of
/// the end-to-end tests, the demo and the benchmark (docs/netsuite.md, "The simulator").
///
/// It checks Token-Based Authentication as NetSuite does, validates and upserts records by
/// external id, enforces the account's concurrency limit, and injects seeded faults. Tests
/// then look at what it holds (`records`, `stats`, `loginAudit`), in process or over
/// `/_simulator/*`.
///
/// ```swift
/// let simulator = NetSuiteSimulator(configuration: .init(credentials: [credentials]))
/// let port = try await simulator.start()
/// // point a connection's base URL at simulator.baseURL, run workers …
/// #expect(simulator.records(.invoice).count == 10)
/// await simulator.stop()
/// ```
public final class NetSuiteSimulator: Sendable {
    public let configuration: Configuration
    let verifier: TBAVerifier
    let logger: Logger
    let state: Mutex<State>
    private let server = Mutex(Server())

    /// Counters since the start (or the last `reset()`).
    public struct Stats: Sendable {
        /// Requests to `/services/…`, rejected ones included.
        public var requests = 0
        /// Requests being processed right now.
        public var inFlight = 0
        /// The most requests ever in processing at once, counting each arriving request
        /// (even one then refused with 429) at the moment it arrives.
        public var maxInFlight = 0
        /// Requests refused with 429 because `concurrencyLimit` were already in processing.
        public var rejectedOverLimit = 0
        public var faultsInjected: [Fault: Int] = [:]
        /// Requests refused with 401 (the reasons are in `loginAudit`).
        public var authFailures = 0
        /// Requests that passed authentication signed with Token-Based Authentication
        /// (`Authorization: OAuth …`), and with an OAuth 2.0 bearer token: what a test of a
        /// connection moving from one auth kind to the other tells them apart by.
        public var tbaRequests = 0
        public var bearerRequests = 0
        /// Upserts that were validated and stored.
        public var writes = 0
        /// Records deleted (`DELETE …/record/v1/<type>/<id>`, `deleteRecord`).
        public var deletes = 0
        /// SuiteQL queries answered (`POST /services/rest/query/v1/suiteql`).
        public var queries = 0
    }

    /// Everything that changes while the simulator runs, behind one lock.
    struct State {
        var store = RecordStore()
        var items: [String: Item]
        var locationRequired: Bool
        var faultPlan: FaultPlan
        /// Faults for the next writes, before any seeded draw (`failNextWrites`).
        var forcedFaults: [ForcedFault] = []
        var latencyRandom: SplitMix64
        var nonces: NonceHistory
        var loginAudit: [LoginAuditEntry] = []
        var stats = Stats()
        /// Admitted requests' processing spans, oldest first, the first `requestLogCapacity`.
        var requestLog: [RequestSpan] = []
        /// The last `receivedWritesCapacity` write requests, oldest first.
        var receivedWrites: [ReceivedRequest] = []
        /// OAuth 2.0 access tokens issued → when they expire.
        var tokens: [String: Date] = [:]
        var tokenStats = TokenStats()
        var tokenRequests: [TokenRequest] = []
        /// Added to the real clock when a record is written (`advanceClock(by:)`).
        var clockOffset: TimeInterval = 0
    }

    /// A write request as it arrived (before validation): method, full URL with its query,
    /// and the body text byte for byte. What `ledgersync sync render` is compared with.
    public struct ReceivedRequest: Sendable, Equatable {
        public let method: String
        public let url: String
        public let body: String
    }

    static let receivedWritesCapacity = 10_000

    /// The write requests received (PUT and PATCH on records), oldest first, at most the last
    /// 10 000, whether or not they were accepted.
    public var receivedWrites: [ReceivedRequest] { state.withLock { $0.receivedWrites } }

    /// The HTTP server started by `start`, apart from `State` so that `reset()` cannot touch it.
    private struct Server {
        var task: Task<Void, Never>?
        var listeningURL: String?
        /// Starts the server's graceful shutdown (set before it runs).
        var shutdown: (@Sendable () async -> Void)?
    }

    /// The login audit keeps this many entries, the newest.
    static let loginAuditCapacity = 10_000

    public init(configuration: Configuration, logger: Logger = Logger(label: "ledgersync.simulator.netsuite")) {
        self.configuration = configuration
        self.logger = logger
        let toleranceSeconds = Int(configuration.timestampTolerance.components.seconds)
        verifier = TBAVerifier(realm: configuration.realm, credentials: configuration.credentials, toleranceSeconds: toleranceSeconds)
        state = Mutex(Self.initialState(configuration))
    }

    private static func initialState(_ configuration: Configuration) -> State {
        State(
            items: Dictionary(configuration.items.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last }),
            locationRequired: configuration.locationRequired,
            faultPlan: FaultPlan(rate: configuration.faultRate, kinds: configuration.faults, seed: configuration.seed),
            // Its own stream, so latency draws never shift which writes get faults.
            latencyRandom: SplitMix64(seed: configuration.seed ^ 0x6C61_7465_6E63_7921),
            nonces: NonceHistory(retentionSeconds: 2 * Int(configuration.timestampTolerance.components.seconds)))
    }

    // MARK: - Running

    /// Starts serving in the background and returns the bound port (`port: 0` picks a free
    /// one); `stop()` ends it. One server at a time. No signal handling: the CLI does that.
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let (events, continuation) = AsyncStream.makeStream(of: Result<Int, any Error>.self)
        guard server.withLock({ $0.task == nil }) else { throw AlreadyStarted() }
        // Detached: the server must not inherit a caller's graceful-shutdown context (the CLI
        // runs inside a ServiceGroup); `stop()` alone ends it.
        let task = Task.detached { [self] in
            do {
                try await serve(host: host, port: port) { continuation.yield(.success($0)) }
                continuation.yield(.failure(SimulatorStopped()))
            } catch {
                continuation.yield(.failure(error))
            }
            continuation.finish()
        }
        server.withLock { $0.task = task }
        for await event in events {
            if case .failure = event { server.withLock { $0 = Server() } }
            return try event.get()
        }
        throw SimulatorStopped()
    }

    /// Stops the server started by `start` and waits until it has let go of its port.
    /// Requests in progress (a delayed answer included) are cut off.
    public func stop() async {
        let (task, shutdown) = server.withLock { server in
            defer { server = Server() }
            return (server.task, server.shutdown)
        }
        guard let task else { return }
        // A graceful shutdown: the listener closes, connections already accepted are still
        // served, idle kept-alive ones are closed. Cancelling the serving task instead can
        // drop a connection accepted but not yet read, and NIO traps on it ("Deinited
        // NIOAsyncWriter without calling finish()", apple/swift-nio#3481); CI hit that once.
        // A request still in progress after the grace period (a delayed answer) is cut by
        // cancelling, by then with nothing left unread.
        await shutdown?()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await task.value }
            group.addTask {
                try? await Task.sleep(for: SimulatorStop.gracePeriod)
                task.cancel()
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Serves in the calling task until it is cancelled; `onListening` gets the bound port.
    private func serve(host: String, port: Int, onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            responder: SimulatorResponder(simulator: self),
            configuration: .init(address: .hostname(host, port: port), serverName: "NetSuite simulator"),
            onServerRunning: { [self] channel in
                let boundPort = channel.localAddress?.port ?? port
                let reachableHost = host == "0.0.0.0" || host == "::" ? "127.0.0.1" : host
                let bracketed = reachableHost.contains(":") ? "[\(reachableHost)]" : reachableHost
                server.withLock { server in server.listeningURL = "http://\(bracketed):\(boundPort)" }
                await onListening(boundPort)
            },
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [app], logger: logger))
        server.withLock { $0.shutdown = { await group.triggerGracefulShutdown() } }
        try await group.run()
    }

    /// `http://127.0.0.1:<port>` once listening (a wildcard host becomes 127.0.0.1);
    /// before that, the URL with port 0.
    public var baseURL: String {
        server.withLock { $0.listeningURL } ?? "http://127.0.0.1:0"
    }

    struct AlreadyStarted: Error, CustomStringConvertible {
        var description: String { "the NetSuite simulator is already running; stop() it first" }
    }

    /// The server ended before it was listening, or `stop()` came first.
    struct SimulatorStopped: Error, CustomStringConvertible {
        var description: String { "the NetSuite simulator stopped before it was listening" }
    }

    // MARK: - Inspection

    /// Every record of `type`, in creation order.
    public func records(_ type: RecordType) -> [Record] {
        state.withLock { $0.store.records(type) }
    }

    public func record(_ type: RecordType, externalID: String) -> Record? {
        state.withLock { $0.store.record(type, externalID: externalID) }
    }

    public func record(_ type: RecordType, internalID: String) -> Record? {
        state.withLock { $0.store.record(type, internalID: internalID) }
    }

    /// A transaction's amount due (invoice) or credit left to apply (credit memo), and the
    /// status NetSuite derives from it, as GET answers them; nil for other records.
    public func amountRemaining(_ type: RecordType, externalID: String) -> String? {
        state.withLock { state in
            state.store.record(type, externalID: externalID).flatMap { record in
                state.store.derivedFields(record).first { $0.key == "amountRemaining" }?.value.numberText
            }
        }
    }

    public func status(_ type: RecordType, externalID: String) -> String? {
        state.withLock { state in
            state.store.record(type, externalID: externalID).flatMap { record in
                state.store.derivedFields(record).first { $0.key == "status" }?.value["refName"]?.stringValue
            }
        }
    }

    public var stats: Stats {
        state.withLock { $0.stats }
    }

    /// The simulator keeps the spans of this many admitted requests (since the start or the
    /// last `reset()`), about 16 bytes each.
    public static let requestLogCapacity = 1_000_000

    /// When each admitted request's processing started and ended, in order of ending (the
    /// first `requestLogCapacity`): what `ledgersync bench monthend` plots.
    public var requestLog: [RequestSpan] {
        state.withLock { $0.requestLog }
    }

    /// Failed logins, oldest first (the newest 10 000).
    public var loginAudit: [LoginAuditEntry] {
        state.withLock { $0.loginAudit }
    }

    /// The probability of a fault on each write from now on (clamped to 0…1).
    public func setFaultRate(_ rate: Double) {
        state.withLock { $0.faultPlan.rate = min(1, max(0, rate)) }
    }

    /// Adds an item, or replaces the one with its id.
    public func addItem(_ item: Item) {
        state.withLock { $0.items[item.id] = item }
    }

    public func setLocationRequired(_ required: Bool) {
        state.withLock { $0.locationRequired = required }
    }

    /// Back to the state right after `init`: no records, zero counters, an empty login audit,
    /// the configured items, rules and fault rate, and the fault draws from the seed's start.
    /// Kept: requests in progress, the nonces seen (a reset must not open replays) and the
    /// access tokens issued (a running client keeps working); the token counters restart.
    public func reset() {
        state.withLock { state in
            var fresh = Self.initialState(configuration)
            fresh.stats.inFlight = state.stats.inFlight
            fresh.nonces = state.nonces
            fresh.tokens = state.tokens
            fresh.tokenStats.inFlight = state.tokenStats.inFlight
            state = fresh
        }
    }
}
