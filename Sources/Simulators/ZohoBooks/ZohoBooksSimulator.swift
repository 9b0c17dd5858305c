import ExactJSON
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// Zoho Books (API v3) and Zoho's accounts server for a set of organizations, in memory, over
/// real HTTP: the stand-in of the Zoho Books tests and the demo (docs/zoho-books.md, "Zoho
/// Books simulator").
///
/// One simulator serves every data centre: requests without a prefix go to
/// `configuration.dataCenter`, requests under `/dc/<dc>/…` (for example `/dc/eu/oauth/v2/token`)
/// to that data centre. Each data centre has its own accounts server (`/oauth/v2/token`) and
/// API (`/books/v3/…`); a self client, an organization and the tokens issued belong to one data
/// centre, and the other data centres do not know them.
///
/// ```swift
/// let simulator = ZohoBooksSimulator(configuration: .init())
/// _ = try await simulator.start()
/// let code = try simulator.issueGrantCode(clientID: ZohoBooksSimulator.SelfClient.demo.clientID)
/// // exchange it at simulator.accountsURL(), call simulator.apiDomain() + "/books/v3/…"
/// await simulator.stop()
/// ```
public final class ZohoBooksSimulator: Sendable {
    public let configuration: Configuration
    let logger: Logger
    let state: Mutex<State>
    private let server = Mutex(Server())

    /// A self client created in a data centre's API console: what the grant codes, the
    /// token exchange and the refresh are checked against.
    public struct SelfClient: Sendable, Equatable {
        public var clientID: String
        public var clientSecret: String
        public var dataCenter: String

        public init(clientID: String, clientSecret: String, dataCenter: String = "com") {
            self.clientID = clientID
            self.clientSecret = clientSecret
            self.dataCenter = dataCenter
        }

        public static let demo = SelfClient(
            clientID: "1000.DEMOSELFCLIENT", clientSecret: "demo-self-client-secret", dataCenter: "com")
    }

    /// A Zoho Books organization, in one data centre.
    public struct Organization: Sendable, Equatable {
        public var id: String
        public var dataCenter: String
        /// What `GET /organizations` answers as `name`.
        public var name: String
        /// The base currency's code (`currency_code` in `GET /organizations`); it should be
        /// one of `ReferenceData.currencies`.
        public var currencyCode: String

        public init(id: String, dataCenter: String = "com", name: String = "Zylker Demo", currencyCode: String = "USD") {
            self.id = id
            self.dataCenter = dataCenter
            self.name = name
            self.currencyCode = currencyCode
        }

        public static let demo = Organization(id: "10234695", dataCenter: "com")
    }

    /// A failure injected into a write, the way Zoho or the network fails.
    public enum Fault: String, CaseIterable, Sendable, Codable {
        /// 500 with the envelope's internal error (code 1000) before anything is written.
        case serverError
        /// The write happens, the answer comes after `timeoutDelay`: a client with a shorter
        /// timeout gives up on a write that did happen (the answer is lost).
        case timeout
        /// The write happens, then the connection closes without an answer.
        case dropConnection
    }

    public struct Configuration: Sendable {
        /// The data centre of requests without a `/dc/<dc>` prefix.
        public var dataCenter: String
        public var selfClients: [SelfClient]
        public var organizations: [Organization]
        /// How long a grant code from `issueGrantCode` can be exchanged (Zoho's default: 3 minutes).
        public var grantCodeLifetime: Duration
        /// How long an access token works (Zoho: 1 hour, `expires_in: 3600`).
        public var accessTokenLifetime: Duration
        /// At most this many access tokens per refresh token per `refreshWindow` (PROVIDERS 3:
        /// 10 per 10 minutes); the code exchange counts as the first.
        public var accessTokensPerRefreshWindow: Int
        public var refreshWindow: Duration
        /// API requests per organization per `minuteWindow` (Zoho: 100 per minute).
        public var requestsPerWindow: Int
        public var minuteWindow: Duration
        /// API requests per organization per `dayLength` (Zoho: 1,000 to 10,000 by plan).
        public var dailyQuota: Int
        public var dayLength: Duration
        /// API requests of one organization in processing at once; one more gets 429.
        public var concurrencyLimit: Int
        /// The custom fields configured to refuse duplicate values, by module (`contacts`,
        /// `invoices`, `creditnotes`, `salesorders`, `customerpayments`): what
        /// `X-Unique-Identifier-Key` may name.
        public var uniqueCustomFields: [String: Set<String>]
        /// The currencies, taxes, items and accounts of every organization (seeded; what the
        /// reference endpoints list and what `currency_id`, `tax_id`, `item_id` and
        /// `account_id` are checked against).
        public var referenceData: ReferenceData
        public var faultRate: Double
        public var faults: Set<Fault>
        public var seed: UInt64
        public var timeoutDelay: Duration
        /// Processing time of each API request (to make concurrency observable in tests).
        public var latency: Duration

        public init(
            dataCenter: String = "com", selfClients: [SelfClient] = [.demo], organizations: [Organization] = [.demo],
            grantCodeLifetime: Duration = .seconds(180), accessTokenLifetime: Duration = .seconds(3600),
            accessTokensPerRefreshWindow: Int = 10, refreshWindow: Duration = .seconds(600),
            requestsPerWindow: Int = 100, minuteWindow: Duration = .seconds(60),
            dailyQuota: Int = 1000, dayLength: Duration = .seconds(86_400), concurrencyLimit: Int = 10,
            uniqueCustomFields: [String: Set<String>] = [
                "contacts": ["cf_ledgersync_id"], "invoices": ["cf_ledgersync_id"], "creditnotes": ["cf_ledgersync_id"],
                "salesorders": ["cf_ledgersync_id"], "customerpayments": ["cf_ledgersync_id"],
            ],
            referenceData: ReferenceData = .demo,
            faultRate: Double = 0, faults: Set<Fault> = Set(Fault.allCases), seed: UInt64 = 42,
            timeoutDelay: Duration = .seconds(30), latency: Duration = .zero
        ) {
            self.dataCenter = dataCenter
            self.selfClients = selfClients
            self.organizations = organizations
            self.grantCodeLifetime = grantCodeLifetime
            self.accessTokenLifetime = accessTokenLifetime
            self.accessTokensPerRefreshWindow = accessTokensPerRefreshWindow
            self.refreshWindow = refreshWindow
            self.requestsPerWindow = requestsPerWindow
            self.minuteWindow = minuteWindow
            self.dailyQuota = dailyQuota
            self.dayLength = dayLength
            self.concurrencyLimit = concurrencyLimit
            self.uniqueCustomFields = uniqueCustomFields
            self.referenceData = referenceData
            self.faultRate = faultRate
            self.faults = faults
            self.seed = seed
            self.timeoutDelay = timeoutDelay
            self.latency = latency
        }
    }

    /// Counters since the start (or the last `reset()`).
    public struct Stats: Sendable, Equatable {
        /// Requests to `/books/v3/…`, refused ones included.
        public var requests = 0
        public var inFlight = 0
        /// The most API requests in processing at once, counting each arriving request.
        public var maxInFlight = 0
        public var rejectedConcurrent = 0
        public var rejectedMinuteWindow = 0
        public var rejectedDailyQuota = 0
        public var authFailures = 0
        /// Creates and updates that were validated and stored.
        public var writes = 0
        public var faultsInjected: [Fault: Int] = [:]
        /// Calls of the token endpoint, by grant type, and how many were refused.
        public var tokenRequests = 0
        public var tokenRefusals = 0
        /// The most token requests in processing at once (two processes refreshing side by side).
        public var tokenMaxInFlight = 0
        public var tokenInFlight = 0
    }

    /// A call of the token endpoint as the accounts server saw it (no secrets: the client id
    /// and the outcome only).
    public struct TokenRequest: Sendable, Equatable {
        public let at: Date
        public let dataCenter: String
        public let grantType: String
        public let clientID: String
        /// nil when a token was issued, otherwise the `error` answered.
        public let error: String?
    }

    struct GrantCode {
        let clientID: String
        let dataCenter: String
        let scope: String
        let expires: Date
    }

    struct RefreshToken {
        let clientID: String
        let dataCenter: String
        let scope: String
        /// When each access token of the current and past windows was issued (pruned).
        var issued: [Date]
    }

    struct AccessToken {
        let dataCenter: String
        let expires: Date
    }

    /// One stored record of a module.
    struct StoredRecord {
        let id: String
        var body: ExactJSON
    }

    struct OrganizationData {
        var records: [String: [StoredRecord]] = [:]
        var inFlight = 0
        var windowStart: Date
        var windowCount = 0
        var dayStart: Date
        var dayCount = 0
    }

    struct State {
        var grantCodes: [String: GrantCode] = [:]
        var refreshTokens: [String: RefreshToken] = [:]
        var accessTokens: [String: AccessToken] = [:]
        var organizations: [String: OrganizationData]
        var stats = Stats()
        /// Admitted organization requests' processing spans, oldest first (capped).
        var requestLog: [RequestSpan] = []
        var tokenRequests: [TokenRequest] = []
        var random: SplitMix64
        var faultRate: Double
        var nextID: Int = 460_000_000_000_001
        /// Added to the real clock for the records' times (`advanceClock(by:)`).
        var clockOffset: TimeInterval = 0
    }

    private struct Server {
        var task: Task<Void, Never>?
        var listeningURL: String?
        /// Starts the server's graceful shutdown (set before it runs).
        var shutdown: (@Sendable () async -> Void)?
    }

    public init(configuration: Configuration = .init(), logger: Logger = Logger(label: "ledgersync.simulator.zohobooks")) {
        self.configuration = configuration
        self.logger = logger
        state = Mutex(Self.initialState(configuration, now: Date()))
    }

    static func initialState(_ configuration: Configuration, now: Date) -> State {
        State(
            organizations: Dictionary(
                configuration.organizations.map { ($0.id, OrganizationData(windowStart: now, dayStart: now)) },
                uniquingKeysWith: { first, _ in first }),
            random: SplitMix64(seed: configuration.seed), faultRate: configuration.faultRate)
    }

    // MARK: - Running

    /// Starts serving in the background and returns the bound port (`port: 0` picks a free one).
    public func start(host: String = "127.0.0.1", port: Int = 0) async throws -> Int {
        let (events, continuation) = AsyncStream.makeStream(of: Result<Int, any Error>.self)
        guard server.withLock({ $0.task == nil }) else { throw SimulatorError("the Zoho Books simulator is already running") }
        let task = Task.detached { [self] in
            do {
                try await serve(host: host, port: port) { continuation.yield(.success($0)) }
                continuation.yield(.failure(SimulatorError("the Zoho Books simulator stopped before it was listening")))
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
        throw SimulatorError("the Zoho Books simulator stopped before it was listening")
    }

    /// Stops the server and waits until it has let go of its port.
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

    private func serve(host: String, port: Int, onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            responder: ZohoBooksResponder(simulator: self),
            configuration: .init(address: .hostname(host, port: port), serverName: "Zoho Books simulator"),
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

    /// `http://127.0.0.1:<port>` once listening.
    public var baseURL: String {
        server.withLock { $0.listeningURL } ?? "http://127.0.0.1:0"
    }

    /// The accounts server of a data centre (nil: the default one); POST `…/oauth/v2/token`.
    public func accountsURL(dataCenter: String? = nil) -> String {
        baseURL + Self.prefix(dataCenter ?? configuration.dataCenter, configuration)
    }

    /// The `api_domain` of a data centre: the API is under `…/books/v3`.
    public func apiDomain(dataCenter: String? = nil) -> String {
        accountsURL(dataCenter: dataCenter)
    }

    static func prefix(_ dataCenter: String, _ configuration: Configuration) -> String {
        dataCenter == configuration.dataCenter ? "" : "/dc/\(dataCenter)"
    }

    struct SimulatorError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    // MARK: - Inspection

    public var stats: Stats { state.withLock { $0.stats } }

    /// The simulator keeps the spans of this many admitted requests (since the start or the
    /// last `reset()`).
    public static let requestLogCapacity = 1_000_000

    /// When each admitted organization request's processing started and ended, in order of
    /// ending: what `ledgersync bench monthend` turns into requests per second.
    public var requestLog: [RequestSpan] { state.withLock { $0.requestLog } }

    public var tokenRequests: [TokenRequest] { state.withLock { $0.tokenRequests } }

    /// The records of `module` (`contacts`, `invoices`, `creditnotes`, `salesorders`,
    /// `customerpayments`) of an organization, in creation order,
    /// as GET answers them.
    public func records(_ module: String, organizationID: String = Organization.demo.id) -> [ExactJSON] {
        state.withLock { $0.organizations[organizationID]?.records[module]?.map(\.body) ?? [] }
    }

    /// The probability of a fault on each write from now on (clamped to 0…1).
    public func setFaultRate(_ rate: Double) {
        state.withLock { $0.faultRate = min(1, max(0, rate)) }
    }

    /// Back to the state after `init`: no records, zero counters, the windows restarted.
    /// Kept: the grant codes, refresh and access tokens issued (a running client keeps working).
    public func reset() {
        state.withLock { state in
            var fresh = Self.initialState(configuration, now: Date())
            fresh.grantCodes = state.grantCodes
            fresh.refreshTokens = state.refreshTokens
            fresh.accessTokens = state.accessTokens
            fresh.stats.inFlight = state.stats.inFlight
            fresh.stats.tokenInFlight = state.stats.tokenInFlight
            for (id, data) in state.organizations { fresh.organizations[id]?.inFlight = data.inFlight }
            state = fresh
        }
    }

    static func json(_ value: ExactJSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: value.description)))
    }
}

/// Routes a request: `/_simulator/…` is the inspection API, `[/dc/<dc>]/oauth/v2/token` an
/// accounts server, `[/dc/<dc>]/books/v3/…` the API of a data centre.
struct ZohoBooksResponder: HTTPResponder {
    let simulator: ZohoBooksSimulator

    func respond(to request: Request, context: ConnectionContext) async throws -> Response {
        var path = request.uri.path
        if path.hasPrefix("/_simulator/") { return await simulator.inspectionResponse(to: request) }
        var dataCenter = simulator.configuration.dataCenter
        if path.hasPrefix("/dc/") {
            let rest = path.dropFirst("/dc/".count)
            let name = rest.prefix { $0 != "/" }
            dataCenter = String(name)
            path = String(rest.dropFirst(name.count))
        }
        if path == "/oauth/v2/token" {
            guard request.method == .post else {
                return ZohoBooksSimulator.json(.object([("error", .string("invalid_request"))]), status: .methodNotAllowed)
            }
            return await simulator.tokenEndpoint(request, dataCenter: dataCenter)
        }
        if path.hasPrefix("/books/v3/") {
            switch await simulator.api(request, dataCenter: dataCenter, path: String(path.dropFirst("/books/v3".count))) {
            case .answer(let response):
                return response
            case .answerLate(let response, let delay):
                try? await Task.sleep(for: delay)
                return response
            case .dropConnection:
                await context.closeConnection()
                return Response(status: .internalServerError)
            }
        }
        return ZohoBooksSimulator.envelope(code: 5, message: "Invalid URL Passed", status: .notFound)
    }
}
