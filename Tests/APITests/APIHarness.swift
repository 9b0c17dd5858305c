import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import NetSuite
import Postgres
import Sync
import Testing

/// A real API server on 127.0.0.1 (a free port), over a fresh database with every migration
/// line, and a token to call it with. Requests go over real HTTP (libcurl).
struct APIHarness {
    static let allMigrations = JobQueue.migrations + SyncSchema.migrations + APISchema.migrations
    /// The providers the executable registers.
    static let providers = ProviderRegistry([NetSuiteDriver()])
    /// For `POST /v1/connections/{id}/test`; shared by every test (never shut down: the
    /// process ends with the tests).
    static let http = HTTPClient(maxConcurrentRequests: 4)

    let database: TestDatabase
    let baseURL: String
    /// A token with every scope.
    let token: String
    let secretBox: SecretBox
    let http: HTTPClient
    /// The server's own pool, made as `ledgersync api` makes it (statement_timeout, bounded
    /// waits); `pool` is the test's, so a test holding the server's connections can still look.
    let apiPool: ConnectionPool
    let port: Int

    var pool: ConnectionPool { database.pool }
    var queue: JobQueue { JobQueue(pool: database.pool) }

    /// The server's limits, small where a test needs to reach them.
    struct Limits {
        var poolSize = 8
        var poolWaitTimeout = APIConfiguration.defaultPoolWaitTimeout
        var statementTimeout = APIConfiguration.defaultStatementTimeout
        var idleTimeout = APIConfiguration.defaultIdleTimeout
        var sessionLifetime = APIConfiguration.defaultSessionLifetime
        var secureCookies = false
    }

    /// Runs `body` against a running server and stops it afterwards, also when `body` throws.
    /// `allowPrivateNetworks` false makes the server refuse webhook and connection URLs on
    /// loopback and private networks, as a production server does. `providers`: the drivers
    /// the server knows (a test may register a provider of its own); `providerHTTP`, what the
    /// routes that call a provider send with (one allowing loopback reaches a simulator).
    static func with(
        knownKinds: Set<String> = APIConfiguration.syncKinds.union(["test.echo"]), limits: Limits = Limits(),
        allowPrivateNetworks: Bool = true,
        providers: ProviderRegistry = Self.providers, providerHTTP: HTTPClient = Self.http, _ body: (APIHarness) async throws -> Void
    ) async throws {
        try await TestDatabase.with(migrations: allMigrations) { database in
            let box = try SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
            let apiPool = APIConfiguration.makePool(
                url: database.url, maxConnections: limits.poolSize, statementTimeout: limits.statementTimeout,
                waitTimeout: limits.poolWaitTimeout)
            var configuration = APIConfiguration(
                host: "127.0.0.1", port: 0, pool: apiPool, secretBox: box, migrations: allMigrations,
                providers: providers,
                providerContext: ProviderContext(
                    http: providerHTTP, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: database.pool, secretBox: box)),
                knownKinds: knownKinds,
                idleTimeout: limits.idleTimeout, dashboardSessionLifetime: limits.sessionLifetime, secureCookies: limits.secureCookies)
            configuration.allowPrivateNetworks = allowPrivateNetworks
            let ready = AsyncStream<Int>.makeStream()
            var logger = Logger(label: "test.api")
            // Cancelling the server at the end logs its interrupted accept loop as an error.
            logger.logLevel = .critical
            let server = Task {
                try await APIServer.run(configuration, logger: logger, gracefulShutdownSignals: []) { port in
                    ready.continuation.yield(port)
                    ready.continuation.finish()
                }
            }
            var port = 0
            for await value in ready.stream { port = value }
            let (_, token) = try await APITokenStore(pool: database.pool).create(name: "tests", scopes: Set(APIScope.allCases))
            // The server under test is on 127.0.0.1.
            let http = HTTPClient(maxConcurrentRequests: 8, allowPrivateNetworks: true)
            let harness = APIHarness(
                database: database, baseURL: "http://127.0.0.1:\(port)", token: token, secretBox: box, http: http, apiPool: apiPool,
                port: port)
            do {
                try await body(harness)
            } catch {
                server.cancel()
                _ = await server.result
                http.shutdown()
                await apiPool.close()
                throw error
            }
            server.cancel()
            _ = await server.result
            http.shutdown()
            await apiPool.close()
        }
    }

    /// One answer: status, body text, and the body parsed as JSON when it is JSON.
    struct Answer: CustomStringConvertible {
        let status: Int
        let headers: [(name: String, value: String)]
        let text: String
        var json: Any? { try? JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed]) }
        var object: [String: Any] { json as? [String: Any] ?? [:] }
        /// The `error` object of an error answer.
        var error: [String: Any] { object["error"] as? [String: Any] ?? [:] }
        var description: String { "HTTP \(status): \(text.prefix(2000))" }

        func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    }

    /// Sends a request. `token` nil sends the harness's token; "" sends none.
    func request(
        _ method: String, _ path: String, body: String? = nil, token: String? = nil, headers: [(name: String, value: String)] = []
    ) async throws -> Answer {
        var allHeaders = headers
        let bearer = token ?? self.token
        if !bearer.isEmpty { allHeaders.append(("Authorization", "Bearer \(bearer)")) }
        if body != nil { allHeaders.append(("Content-Type", "application/json")) }
        // A bound against a hung server, not a latency target: with every suite running at once
        // on 2 loaded cores, one request has been seen to take over 20 s (trivial PostgresTests
        // took 40 s in that run), so 20 s failed tests that were only slow.
        let response = try await http.execute(
            HTTPRequest(method: method, url: baseURL + path, headers: allHeaders, body: body.map { Data($0.utf8) }, timeout: .seconds(60)))
        return Answer(status: response.status, headers: response.headers, text: String(decoding: response.body, as: UTF8.self))
    }

    func get(_ path: String, token: String? = nil) async throws -> Answer { try await request("GET", path, token: token) }
    func post(_ path: String, _ body: String? = nil, token: String? = nil) async throws -> Answer {
        try await request("POST", path, body: body, token: token)
    }

    /// Row counts of every table the API writes, and every job's state, to show that a
    /// refused request changed nothing.
    func snapshot() async throws -> [String: String] {
        var snapshot: [String: String] = [:]
        for table in [
            "jobs", "connections", "mappings", "webhook_endpoints", "external_refs", "concurrency_limits", "api_tokens",
            "dashboard_sessions",
            "dashboard_sign_in_codes",
        ] {
            let rows = try await pool.query("SELECT count(*)::bigint AS n FROM ledgersync.\(table)").rows
            snapshot[table] = String(try rows[0].decode("n", as: Int64.self))
        }
        // What retry and cancel would change.
        let states = try await pool.query(
            "SELECT coalesce(string_agg(id || ':' || state::text || ':' || max_attempts, ',' ORDER BY id), '') AS s FROM ledgersync.jobs"
        ).rows
        snapshot["job states"] = try states[0].decode("s", as: String.self)
        return snapshot
    }

    /// A job in `state`, made directly in the database (the states a worker would lead it to).
    func makeJob(kind: String = "test.echo", state: JobState, uniqueKey: String? = nil, args: String = "{}") async throws -> Int64 {
        let id = try await queue.enqueue(EnqueueRequest(kind: kind, args: JSONText(args), uniqueKey: uniqueKey))
        switch state {
        case .available: break
        case .failed, .completed, .cancelled:
            try await pool.query(
                """
                UPDATE ledgersync.jobs SET state = $2::ledgersync.job_state, attempt = 1, max_attempts = 1, attempted_at = now(), finalized_at = now(),
                    errors = CASE WHEN $2 = 'failed' THEN '[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "permanent", "message": "NetSuite said no", "code": "USER_ERROR"}]'::jsonb ELSE '[]'::jsonb END
                WHERE id = $1
                """, [id, state.rawValue])
        case .retryable:
            try await pool.query(
                "UPDATE ledgersync.jobs SET state = 'retryable', attempt = 1, run_at = now() + interval '1 hour' WHERE id = $1", [id])
        case .running:
            try await pool.query(
                "UPDATE ledgersync.jobs SET state = 'running', attempt = 1, attempted_at = now(), locked_by = 'test', lease_expires_at = now() + interval '1 hour' WHERE id = $1",
                [id])
        }
        return id
    }

    func state(of id: Int64) async throws -> String {
        try await pool.query("SELECT state::text AS s FROM ledgersync.jobs WHERE id = $1", [id]).rows[0].decode("s")
    }

    /// A NetSuite connection body with credentials that must never come back.
    static func connectionBody(name: String = "NetSuite prod", secret: String = "CONSUMER-SECRET-never-returned") -> String {
        """
        {"provider": "netsuite", "name": "\(name)", "account_id": "1234567_SB1",
         "settings": {"default_subsidiary": "1", "concurrency_limit": 3, "base_url": "http://127.0.0.1:9/netsuite"},
         "secrets": {"consumer_key": "ck-abcdef-123456", "consumer_secret": "\(secret)", "token_id": "tid-abcdef-123456", "token_secret": "TOKEN-SECRET-never-returned"}}
        """
    }
}
