import ArgumentParser
import Foundation
import JobQueue
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync

struct BenchSync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Sustained NetSuite requests/s under an account concurrency limit, with real worker processes.",
        discussion: """
            Starts the NetSuite simulator in this process (--latency-ms per request, --limit requests at once, one more gets 429), creates a NetSuite connection with that concurrency limit, enqueues N customer.sync jobs (one upsert each; untimed), starts P `ledgersync worker` processes and releases them together (READY/GO), and polls every 50 ms until no job is unfinished. rate = requests the simulator accepted / (t_done - t_go); the ceiling is limit / latency (100 req/s for 5 and 50 ms), and `ratio` is rate over that ceiling. `refused_429` counts requests the simulator refused for the limit: the queue's limit key should make that 0.
            """)

    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option var n = 1000
    @Option(help: "Worker processes.") var procs = 4
    @Option(help: "Slots of each worker.") var slots = 8
    @Option(help: "The account's concurrency limit (simulator and connection).") var limit = 5
    @Option(help: "Simulator processing time of each request.") var latencyMs = 50.0
    @Option(help: "Extra arguments for each worker.") var workerArgs = ""
    @Option(help: "Worker stderr goes here.") var log = "/tmp/ledgersync-bench-sync-workers.log"
    @Option var timeout = 600.0

    func run() async throws {
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: 4)
        try await Bench.reset(pool)

        let credentials = NetSuiteSimulator.Configuration.demoCredentials
        var configuration = NetSuiteSimulator.Configuration()
        configuration.credentials = [credentials]
        configuration.concurrencyLimit = limit
        configuration.latency = latencyMs...latencyMs
        configuration.items = BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) }
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()

        let key = Bench.secretKey // the same as every bench command's: see there
        let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": key])
        // The simulator is this process, on 127.0.0.1: the bench allows private networks
        // for its own connection and workers, whatever the shell says.
        let connection = try await ConnectionStore(pool: pool, secretBox: box, allowPrivateNetworks: true).create(
            AccountingConnection(
                provider: "netsuite", name: "bench \(UUID().uuidString.prefix(8))", accountID: configuration.accountID,
                settings: .init(defaultSubsidiary: "1", baseURL: simulator.baseURL, concurrencyLimit: limit),
                secrets: credentials.connectionSecrets))
        guard let connectionID = connection.id else { throw CLIError.failed("the connection got no id") }
        try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: Providers.registry)
        let mappings = MappingStore(pool: pool)
        for mapping in BillingScenario.mappings(connection: connectionID) { try await mappings.upsert(mapping) }
        let scenario = BillingScenario.generate(customers: n, invoicesPerCustomer: 0, creditNoteEvery: 1_000_000, payments: 0)
        let sync = SyncQueue(pool: pool)
        for customer in scenario.customers {
            try await sync.enqueue(connection: connectionID, kind: .customerSync, document: JSONText(customer.json))
        }
        try await pool.query("CHECKPOINT")
        try await pool.query("ANALYZE ledgersync.jobs")

        let extra = workerArgs.split(separator: " ").map(String.init)
        let workers = try (0..<procs).map { _ in
            try BenchWorkerProcess(
                arguments: ["--concurrency", "\(slots)"] + extra, databaseURL: url,
                environment: ["LEDGERSYNC_SECRET_KEY": key, "LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "1"], logPath: log)
        }
        defer { for worker in workers { worker.kill9() } }
        for worker in workers { try await worker.waitUntilReady() }
        let before = simulator.stats
        let tGo = Date().timeIntervalSince1970
        for worker in workers { worker.go() }
        let unfinished = Bench.unfinishedQuery
        var tDone: Double?
        while Date().timeIntervalSince1970 < tGo + timeout {
            let left: Bool = try await pool.query(unfinished, prepare: true).rows[0].decode("left")
            if !left {
                tDone = Date().timeIntervalSince1970
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let tDone else { throw CLIError.failed("sync timed out after \(timeout) s") }
        let after = simulator.stats
        for worker in workers { _ = await worker.stop() }
        await simulator.stop()
        let completed = try await pool.query("SELECT count(*)::bigint AS n FROM ledgersync.jobs WHERE state = 'completed'")
            .rows[0].decode("n", as: Int.self)
        let requests = after.requests - before.requests
        let refused = after.rejectedOverLimit - before.rejectedOverLimit
        let accepted = requests - refused
        let seconds = tDone - tGo
        let rate = Double(accepted) / seconds
        let ceiling = Double(limit) / (latencyMs / 1000)
        let spans = simulator.requestLog.filter { $0.start >= tGo }
        let gaps = SyncRunGaps(spans: spans, tGo: tGo, tDone: tDone, limit: limit)
        Bench.emit([
            "cmd": "sync", "n": n, "procs": procs, "slots": slots, "limit": limit, "latency_ms": latencyMs,
            "completed": completed, "requests": requests, "refused_429": refused, "max_in_flight": after.maxInFlight,
            "secs": Bench.round(seconds, 3), "rate": Bench.round(rate, 1), "ceiling": Bench.round(ceiling, 1),
            "ratio": Bench.round(rate / ceiling, 3),
            "request_ms_mean": Bench.round(gaps.meanRequestMs, 2), "busy_share": Bench.round(gaps.busyShare, 3),
            "first_request_ms": Bench.round(gaps.firstRequestMs, 1), "tail_ms": Bench.round(gaps.tailMs, 1),
            "handover_ms_p50": Bench.round(gaps.handoverP50Ms, 2), "handover_ms_p90": Bench.round(gaps.handoverP90Ms, 2),
            "slow_handovers": gaps.slowHandovers, "slow_handover_ms": Bench.round(gaps.slowHandoverMs, 1),
        ])
        try await Bench.reset(pool)
        await pool.close()
    }
}

/// Where a sync run's wall time went, from the simulator's log of admitted requests: how long
/// a request took inside the simulator (its sleep, and what the sleep overshoots), what
/// share of `limit` × wall the requests filled, the time from GO to the first request (the
/// workers' first fetch and loads), and from the last answer to the bench seeing every job
/// finished (the last result's store, and the bench's 50 ms poll). And the hand-overs: each
/// request after the first `limit` is paired with the earliest answer before it not yet
/// paired (the slot that answer freed), and the time between the two is that slot's idle
/// time. A hand-over inside a worker (to a standby run) takes a millisecond or two; a slow
/// one (over 5 ms) is mostly a slot that went back through the database because its worker
/// had no standby run ready (docs/performance.md, "The whole table at fc80e39").
struct SyncRunGaps {
    var meanRequestMs = 0.0
    var busyShare = 0.0
    var firstRequestMs = 0.0
    var tailMs = 0.0
    var handoverP50Ms = 0.0
    var handoverP90Ms = 0.0
    var slowHandovers = 0
    var slowHandoverMs = 0.0

    init(spans: [RequestSpan], tGo: Double, tDone: Double, limit: Int) {
        guard let first = spans.map(\.start).min(), let last = spans.map(\.end).max(), limit > 0, tDone > tGo else { return }
        let busy = spans.reduce(0.0) { $0 + ($1.end - $1.start) }
        meanRequestMs = busy / Double(spans.count) * 1000
        busyShare = busy / (Double(limit) * (tDone - tGo))
        firstRequestMs = (first - tGo) * 1000
        tailMs = (tDone - last) * 1000

        let starts = spans.map(\.start).sorted()
        let ends = spans.map(\.end).sorted()
        var freed = 0 // answers paired so far
        var answered = 0 // answers before the current start
        var handovers: [Double] = []
        for start in starts.dropFirst(limit) {
            while answered < ends.count, ends[answered] <= start { answered += 1 }
            guard freed < answered else { continue } // more in flight than the limit: not a hand-over
            handovers.append((start - ends[freed]) * 1000)
            freed += 1
        }
        handovers.sort()
        guard !handovers.isEmpty else { return }
        handoverP50Ms = handovers[handovers.count / 2]
        handoverP90Ms = handovers[handovers.count * 9 / 10]
        let slow = handovers.filter { $0 > 5 }
        slowHandovers = slow.count
        slowHandoverMs = slow.reduce(0, +)
    }
}
