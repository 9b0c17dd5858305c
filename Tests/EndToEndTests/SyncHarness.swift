import API
import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync
import Testing

/// One end-to-end setup: a throwaway database with every migration, a NetSuite simulator over
/// real HTTP, a NetSuite connection pointing at it (credentials sealed), and `ledgersync
/// worker` processes that share the database and the secret key.
struct SyncHarness: Sendable {
    /// Test credentials, distinctive so a search of stored bytes and logs cannot miss them.
    static let credentials = NetSuiteCredentials(
        consumerKey: "e2e-consumer-key-a1b2c3", consumerSecret: "CONSUMER-SECRET-9f8e7d6c5b4a",
        tokenID: "e2e-token-id-d4e5f6", tokenSecret: "TOKEN-SECRET-1a2b3c4d5e6f")
    static let secretKey = SecretBox.generateKey()

    let database: TestDatabase
    let box: SecretBox
    let simulator: NetSuiteSimulator
    let connectionID: UUID

    var pool: ConnectionPool { database.pool }
    var refs: ExternalRefStore { ExternalRefStore(pool: pool) }
    var syncQueue: SyncQueue { SyncQueue(pool: pool) }

    /// Runs `body` with a fresh database, simulator and connection; tears them down after.
    static func with(
        simulator configuration: NetSuiteSimulator.Configuration,
        concurrencyLimit: Int = 5,
        mappings: (UUID) -> [Mapping] = BillingScenario.mappings(connection:),
        credentials: NetSuiteCredentials = credentials,
        _ body: (SyncHarness) async throws -> Void
    ) async throws {
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        do {
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": secretKey])
            let connection = try await ConnectionStore(pool: database.pool, secretBox: box).create(
                AccountingConnection(
                    provider: "netsuite", name: "NetSuite e2e", accountID: configuration.accountID,
                    settings: .init(
                        defaultSubsidiary: "1", objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: concurrencyLimit),
                    secrets: credentials.connectionSecrets))
            let id = try #require(connection.id)
            try await SyncEnvironment.applyLimits(
                of: connection, queue: JobQueue(pool: database.pool), providers: ProviderRegistry([NetSuiteDriver()]))
            let store = MappingStore(pool: database.pool)
            for mapping in mappings(id) { try await store.upsert(mapping) }
            try await body(SyncHarness(database: database, box: box, simulator: simulator, connectionID: id))
        } catch {
            await simulator.stop()
            await database.drop()
            throw error
        }
        await simulator.stop()
        await database.drop()
    }

    /// The simulator's defaults for these tests: the scenario's items, the test credentials.
    static func simulatorConfiguration(
        faultRate: Double = 0, latency: ClosedRange<Double> = 0...0, timeoutDelay: Duration = .milliseconds(1500),
        extraItems: [NetSuiteSimulator.Item] = []
    ) -> NetSuiteSimulator.Configuration {
        var configuration = NetSuiteSimulator.Configuration()
        configuration.credentials = [credentials]
        configuration.concurrencyLimit = 5
        configuration.faultRate = faultRate
        configuration.seed = 20_261_121
        configuration.latency = latency
        configuration.timeoutDelay = timeoutDelay
        configuration.items = BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) } + extraItems
        return configuration
    }

    /// `count` worker processes running the sync kinds, with retries fast enough for a test.
    /// `requestTimeout` is generous by default, so that a loaded machine's slow answer is not
    /// a timeout; tests of the simulator's late-answer fault set it below `timeoutDelay`.
    /// `netsuiteServerTimeout` is how long a timed-out request's limit slot stays held: the
    /// simulator, unlike NetSuite (15 minutes), is done with a request once its
    /// `timeoutDelay` (1.5 s by default) has passed.
    func startWorkers(
        _ count: Int, concurrency: Int = 8, requestTimeout: String = "10s", netsuiteServerTimeout: String = "3s", extra: [String] = []
    ) throws -> [LedgersyncProcess] {
        try (0..<count).map { _ in
            try startWorker(
                concurrency: concurrency, requestTimeout: requestTimeout, netsuiteServerTimeout: netsuiteServerTimeout, extra: extra)
        }
    }

    func startWorker(
        concurrency: Int = 8, requestTimeout: String = "10s", netsuiteServerTimeout: String = "3s", extra: [String] = [],
        environment: [String: String] = [:]
    ) throws -> LedgersyncProcess {
        try LedgersyncProcess(
            [
                "worker", "--concurrency", "\(concurrency)", "--poll-interval", "100ms", "--lease", "3s",
                "--rescue-interval", "500ms", "--retry-base-delay", "200ms", "--request-timeout", requestTimeout,
                "--server-timeout", netsuiteServerTimeout,
            ] + extra,
            databaseURL: database.url, environment: environment.merging(["LEDGERSYNC_SECRET_KEY": Self.secretKey]) { a, _ in a })
    }

    /// Enqueues on the harness's connection, or on `connection` (one made by `addConnection`).
    @discardableResult
    func enqueue(_ kind: SyncJobKind, _ json: String, customerID: String? = nil, connection: UUID? = nil) async throws -> Int64 {
        try await syncQueue.enqueue(connection: connection ?? connectionID, kind: kind, document: JSONText(json), customerID: customerID)
    }

    /// Another NetSuite connection in the same database (another account, e.g. a second
    /// simulator), with its own credentials, limit and mappings. Returns its id.
    func addConnection(
        name: String, accountID: String, baseURL: String, credentials: NetSuiteCredentials, concurrencyLimit: Int,
        mappings: (UUID) -> [Mapping]
    ) async throws -> UUID {
        let connection = try await ConnectionStore(pool: pool, secretBox: box).create(
            AccountingConnection(
                provider: "netsuite", name: name, accountID: accountID,
                settings: .init(defaultSubsidiary: "1", objectsToSync: [], baseURL: baseURL, concurrencyLimit: concurrencyLimit),
                secrets: credentials.connectionSecrets))
        let id = try #require(connection.id)
        try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: ProviderRegistry([NetSuiteDriver()]))
        let store = MappingStore(pool: pool)
        for mapping in mappings(id) { try await store.upsert(mapping) }
        return id
    }

    /// Waits until no job is available, running or retryable.
    func waitUntilIdle(timeout: Duration, workers: [LedgersyncProcess] = []) async throws {
        let idle = try await eventually(timeout: timeout, every: .milliseconds(250)) {
            try await count("SELECT count(*) FROM ledgersync.jobs WHERE state IN ('available', 'running', 'retryable')") == 0
        }
        let pending = try await jobStates()
        #expect(idle, "jobs still pending: \(pending)\n\(workers.map { String($0.output.suffix(2000)) }.joined(separator: "\n---\n"))")
    }

    func count(_ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int {
        try await countRows(pool, sql, binds)
    }

    /// Jobs by kind and state, e.g. ["invoice.push/completed": 1000].
    func jobStates() async throws -> [String: Int] { try await jobStatesByKind(pool) }

    /// The attempts of each invoice.push job, by the invoice's billing id (its args are the
    /// document as enqueued).
    func invoiceAttempts() async throws -> [String: Int] {
        var attempts: [String: Int] = [:]
        for row in try await pool.query(
            "SELECT args->'invoice'->>'lago_id' AS id, attempt FROM ledgersync.jobs WHERE kind = 'invoice.push'"
        ).rows {
            attempts[try row.decode("id", as: String.self), default: 0] += try row.decode("attempt", as: Int.self)
        }
        return attempts
    }

    /// A job's state, attempt and error history.
    func job(_ id: Int64) async throws -> (state: String, attempt: Int, errors: [[String: Any]]) {
        let row = try #require(
            try await pool.query(
                "SELECT state::text AS state, attempt, errors::text AS errors FROM ledgersync.jobs WHERE id = $1", [id]
            ).rows.first)
        let errors =
            try JSONSerialization.jsonObject(with: Data((try row.decode("errors", as: String.self)).utf8)) as? [[String: Any]] ?? []
        return (try row.decode("state"), try row.decode("attempt"), errors)
    }
}

/// The first column of the first row of `sql`, as an Int (a count).
func countRows(_ pool: ConnectionPool, _ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int {
    let row = try #require(try await pool.query(sql, binds).rows.first)
    return try row.decode(row.columns[0], as: Int.self)
}

/// Jobs by kind and state, e.g. ["invoice.push/completed": 1000].
func jobStatesByKind(_ pool: ConnectionPool) async throws -> [String: Int] {
    var states: [String: Int] = [:]
    for row in try await pool.query("SELECT kind || '/' || state::text AS k, count(*)::int AS n FROM ledgersync.jobs GROUP BY 1").rows {
        states[try row.decode("k")] = try row.decode("n")
    }
    return states
}

/// A document's JSON object, to edit before enqueueing.
func jsonObject(_ json: String) throws -> [String: Any] {
    try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
}

/// The JSON text of an edited document (keys sorted).
func jsonText(_ object: [String: Any]) throws -> String {
    String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
}

/// SIGTERMs workers and waits for them.
func stop(_ workers: [LedgersyncProcess]) async {
    for worker in workers { worker.signal(SIGTERM) }
    for worker in workers {
        _ = await worker.waitForExit(timeout: .seconds(20))
        worker.stop()
    }
}
