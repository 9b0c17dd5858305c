import ArgumentParser
import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import Logging
import Postgres
import ServiceLifecycle
import Sync

struct Worker: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a worker process: take jobs from the queues and run them until SIGTERM/SIGINT.",
        discussion: """
            Run as many as you need, on as many machines as you need, against one database. On SIGTERM or SIGINT the worker stops taking jobs, lets running ones finish within --grace-period, hands the rest back to the queue, and exits 0.

            Environment: DATABASE_URL (or --database-url). LEDGERSYNC_SECRET_KEY: the key that sealed the connections' secrets (the same one `connections add` used; generate it once with `ledgersync secrets generate-key`); without it, or with another key, the worker exits 78, unless it runs only --diagnostic-kinds. LEDGERSYNC_SECRET_KEY_PREVIOUS: older keys, during a rotation (docs/operations.md). LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1: allow requests to loopback and private addresses, for a local simulator (`ledgersync simulate netsuite`) or receiver (docs/security.md). LOG_LEVEL: trace, debug, info (default), notice, warning, error, critical.
            """)

    @OptionGroup var database: DatabaseOptions

    @Option(
        help: "Jobs run at once in this process (a standby run waiting for a limit slot takes none; at most one per limit slot held)."
    ) var concurrency = 10
    @Option(help: "Comma-separated queues to take jobs from.") var queues = "default"
    @Option(help: "Longest wait before looking for work without a notification.") var pollInterval = DurationArgument(.seconds(1))
    @Option(help: "Lease of a running job; the heartbeat renews it every third of this.") var lease = DurationArgument(.seconds(30))
    @Option(help: "How often to look for jobs whose worker died.") var rescueInterval = DurationArgument(.seconds(15))
    @Option(help: "Time running jobs get to finish after SIGTERM/SIGINT.") var gracePeriod = DurationArgument(.seconds(30))
    @Option(help: "Keep completed jobs this long.") var keepCompleted = DurationArgument(.seconds(86_400))
    @Option(help: "Keep failed jobs this long.") var keepFailed = DurationArgument(.seconds(30 * 86_400))
    @Option(help: "Keep cancelled jobs this long.") var keepCancelled = DurationArgument(.seconds(7 * 86_400))
    @Option(help: "Database connections of this process (default: enough for the concurrency).") var connections: Int?
    @Option(
        help:
            "Most time a job may spend, in total, waiting out a provider's rate limits (429, concurrency refusals) before it fails for good."
    )
    var maxRateLimited = DurationArgument(.seconds(6 * 3600))
    @Flag(help: "Also run the diag.* job kinds (smoke tests, benchmarks; see docs/operations.md).") var diagnosticKinds = false
    @Option(help: "First retry delay of the sync and webhook kinds; later ones double, up to their cap.") var retryBaseDelay =
        DurationArgument(.seconds(5))
    @Option(help: "How long a sync job may wait for its customer or invoice before it fails.") var dependencyTimeout = DurationArgument(
        .seconds(86_400))
    @Option(help: "How long one request to a provider or a webhook endpoint may take.") var requestTimeout = DurationArgument(.seconds(60))
    @Option(
        name: [.customLong("server-timeout"), .customLong("netsuite-server-timeout")],
        help:
            "How long a provider may go on processing a request the worker stopped waiting for (default: the provider's own limit; NetSuite's: 15 minutes); a timed-out request's concurrency-limit slot stays held this long."
    )
    var serverTimeout: DurationArgument?
    /// For `ledgersync bench`: once connected and listening, print READY, wait for GO on
    /// stdin, and print the diag.noop call counts as a RESULT line on exit.
    @Flag(help: .hidden) var benchHandshake = false

    func validate() throws {
        guard (1...10_000).contains(concurrency) else { throw ValidationError("--concurrency must be from 1 to 10000, got \(concurrency)") }
        let names = queueList
        guard !names.isEmpty, names.allSatisfy({ !$0.isEmpty }) else {
            throw ValidationError("--queues needs at least one non-empty queue name")
        }
        guard lease.duration >= .milliseconds(300) else { throw ValidationError("--lease must be at least 300ms") }
        guard pollInterval.duration >= .milliseconds(10) else { throw ValidationError("--poll-interval must be at least 10ms") }
        if let connections, connections < 2 { throw ValidationError("--connections must be at least 2") }
        guard retryBaseDelay.duration >= .milliseconds(10) else { throw ValidationError("--retry-base-delay must be at least 10ms") }
        guard requestTimeout.duration >= .milliseconds(100) else { throw ValidationError("--request-timeout must be at least 100ms") }
        if let serverTimeout, serverTimeout.duration < .milliseconds(100) || serverTimeout.duration >= .seconds(7 * 86_400) {
            throw ValidationError("--server-timeout must be from 100ms to less than 7 days")
        }
    }

    var queueList: [String] { queues.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }

    func run() async throws {
        let logger = Logger(label: "ledgersync.worker")
        let pool = try await database.openPool(maxConnections: connections ?? min(max(4, concurrency / 4 + 3), 20))
        var registry = JobRegistry()
        if diagnosticKinds {
            try await DiagnosticKinds.prepare(pool)
            DiagnosticKinds.register(in: &registry)
        }
        let http = HTTPClient(maxConcurrentRequests: max(4, concurrency))
        var services: [any Service] = []
        // The sync kinds open sealed credentials, so they need the key; a worker started only
        // for diag.* kinds (smoke tests, benchmarks) does not.
        if ProcessInfo.processInfo.environment["LEDGERSYNC_SECRET_KEY"] != nil || !diagnosticKinds {
            let box: SecretBox
            do {
                box = try SecretBox.fromEnvironment()
            } catch let error as CryptoError {
                throw CLIError.config(error.message)
            }
            try await checkSecretKey(box, pool: pool)
            let sync = syncEnvironment(pool: pool, box: box, http: http)
            sync.register(in: &registry)
            // Leaderless: every worker keeps the change polls of every opted-in connection queued.
            services.append(
                ChangePollService(
                    scheduler: ChangePollScheduler(pool: pool, interval: sync.options.changes.scheduleInterval, logger: logger)))
        }
        let options = WorkerOptions(
            queues: queueList, concurrency: concurrency, pollInterval: pollInterval.duration, lease: lease.duration,
            rescueInterval: rescueInterval.duration, gracePeriod: gracePeriod.duration,
            retention: Retention(completed: keepCompleted.duration, cancelled: keepCancelled.duration, failed: keepFailed.duration),
            maxRateLimited: maxRateLimited.duration)
        let poolSize = pool.maxConnections
        let gate: (@Sendable () async -> Void)? =
            benchHandshake
            ? { @Sendable in
                await BenchHandshake.warm(pool, connections: poolSize)
                await BenchHandshake.readyThenWaitForGo()
            } : nil
        let worker = WorkerPool(pool: pool, registry: registry, options: options, logger: logger, startGate: gate)
        let group = ServiceGroup(
            configuration: .init(
                services: [worker as any Service] + services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
        await pool.close()
        http.shutdown()
        if benchHandshake { BenchHandshake.reportHandlerCalls() }
    }

    func syncEnvironment(pool: ConnectionPool, box: SecretBox, http: HTTPClient) -> SyncEnvironment {
        var options = SyncOptions()
        let base = retryBaseDelay.duration.seconds
        options.jobOptions.backoff = Backoff(base: base, cap: max(base, 1800))
        options.webhookOptions.backoff = Backoff(base: base, cap: max(base, 3600))
        options.dependencyTimeout = dependencyTimeout.duration
        let requestTimeout = requestTimeout.duration
        let serverTimeLimit = serverTimeout?.duration
        return SyncEnvironment(
            pool: pool, secretBox: box, http: http, options: options, providers: Providers.registry,
            providerContext: ProviderContext(
                http: http, requestTimeout: requestTimeout, serverTimeLimit: serverTimeLimit,
                // Access tokens (NetSuite OAuth 2.0) shared by every worker process, sealed.
                tokens: PostgresTokenStore(pool: pool, secretBox: box)))
    }
}

/// Runs `ChangePollScheduler` beside the worker until shutdown.
struct ChangePollService: Service {
    let scheduler: ChangePollScheduler

    func run() async throws {
        await cancelWhenGracefulShutdown { await scheduler.run() }
    }
}
