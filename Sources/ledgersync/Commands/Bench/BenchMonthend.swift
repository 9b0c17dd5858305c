import ArgumentParser
import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync

/// `ledgersync bench monthend netsuite|zoho`: a month of billing documents (customers,
/// invoices, credit memos, payments; one customer much heavier than the rest) synced by real
/// worker processes to one simulated provider account at its limit, against the ideal.
struct BenchMonthend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "monthend",
        abstract:
            "A month-end run: N billing documents in per-customer lanes to one NetSuite account or Zoho Books organization at its limit.",
        discussion: """
            Builds a month with BillingScenario.generate (a tenth of the documents are customers, about 55% invoices of which --heavy belong to one customer, a credit memo every 10th invoice, the rest payments), enqueues each as a sync job (untimed; the sync's own keys: one serial lane per customer, the connection's limit key), starts P `ledgersync worker` processes, releases them together (READY/GO) and polls every 50 ms until no job is unfinished.
            netsuite: the simulator (this process) admits --limit requests at once and draws each request's time from a log-normal with median --median-ms and p99 --p99-ms (seeded). ideal = the sum of the simulator's request times / limit; ratio = wall / ideal.
            zoho: the simulator allows --window requests per --window-seconds (its 429 beyond), each request takes --zoho-latency-ms; the connection's request_window is the same. ideal = requests / (window / window-seconds); window_share = achieved requests/s over the window's rate.
            The simulator logs every admitted request's start and end; the bench writes the second-by-second share of the limit in use (netsuite: average requests in flight / limit; zoho: requests started in the trailing window / window) to monthend-<provider>.tsv in --plot-dir and draws monthend-<provider>.png with gnuplot when it is installed (scripts/install-deps.sh --bench).
            """)

    enum Provider: String, ExpressibleByArgument, CaseIterable { case netsuite, zoho }

    @Argument(help: "netsuite or zoho.") var provider: Provider
    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option(help: "Documents (default: 2000 for netsuite, 200 for zoho: 100 requests a minute make a 2–3 minute run).") var n: Int?
    @Option(help: "Extra invoices of the heavy customer (default: min(300, 15% of n)).") var heavy: Int?
    @Option(help: "Enqueue order of the documents: spread (each lane over the whole run) or grouped (by kind; the heavy lane last).")
    var order = MonthendMonth.Order.spread
    @Option(help: "Worker processes.") var procs = 2
    @Option(help: "Slots of each worker.") var slots = 8
    @Option(help: "Concurrent requests the account allows (simulator and connection).") var limit = 5
    @Option(help: "NetSuite: median request time.") var medianMs = 400.0
    @Option(help: "NetSuite: 99th percentile request time.") var p99Ms = 2000.0
    @Option(help: "Zoho: requests per window.") var window = 100
    @Option(help: "Zoho: the window's length.") var windowSeconds = 60.0
    @Option(help: "Zoho: time of each request.") var zohoLatencyMs = 100.0
    @Option(help: "Seed of the request times.") var seed: UInt64 = 2026
    @Option(help: "Where the .tsv and .png go (default: $OUT's directory, else the current one).") var plotDir: String?
    @Flag(help: "Write the .tsv but draw no PNG.") var noPng = false
    @Option(help: "Extra arguments for each worker.") var workerArgs = ""
    @Option(help: "Worker stderr goes here.") var log = "/tmp/ledgersync-bench-monthend-workers.log"
    @Option var timeout = 900.0

    func validate() throws {
        guard (n ?? 1) >= 10, procs > 0, slots > 0, limit > 0, window > 0, windowSeconds > 0, medianMs > 0, p99Ms >= medianMs else {
            throw ValidationError(
                "--n ≥ 10; --procs, --slots, --limit, --window, --window-seconds, --median-ms positive; --p99-ms ≥ --median-ms")
        }
    }

    func run() async throws {
        let documents = n ?? (provider == .netsuite ? 2000 : 200)
        let month = MonthendMonth(documents: documents, heavy: heavy, order: order)
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: 4)
        try await Bench.reset(pool)
        // One key for every run on this database: the first worker seals a key check row
        // under it (ledgersync.secret_key_check), and a later run under a new random key
        // would be refused. It seals only the simulators' demo credentials.
        let key = Bench.secretKey
        let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": key])
        let target = try await MonthendTarget.start(self, pool: pool, box: box)

        let sync = SyncQueue(pool: pool)
        try await pool.withConnection { db in
            try await db.query("BEGIN")
            for job in month.jobs {
                try await sync.enqueue(
                    connection: target.connectionID, kind: job.kind, document: JSONText(job.json), customerID: job.customerID, on: db)
            }
            try await db.query("COMMIT")
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
        let logBefore = target.requestLog().count
        let tGo = Date().timeIntervalSince1970
        for worker in workers { worker.go() }
        var tDone: Double?
        while Date().timeIntervalSince1970 < tGo + timeout {
            let left: Bool = try await pool.query(Bench.unfinishedQuery, prepare: true).rows[0].decode("left")
            if !left {
                tDone = Date().timeIntervalSince1970
                break
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        guard let tDone else { throw CLIError.failed("monthend timed out after \(timeout) s; see \(log)") }
        for worker in workers { _ = await worker.stop() }
        let spans = Array(target.requestLog().dropFirst(logBefore))
        let refused = target.refused()
        let maxInFlight = target.maxInFlight()
        await target.stop()
        try await ConnectionStore(pool: pool, secretBox: box, allowPrivateNetworks: true).delete(target.connectionID)

        let states = try await pool.query("SELECT state::text AS state, count(*)::bigint AS n FROM ledgersync.jobs GROUP BY 1")
            .rows.reduce(into: [String: Int]()) { $0[try $1.decode("state", as: String.self)] = try $1.decode("n", as: Int.self) }
        let wall = tDone - tGo
        let seconds = Int(ceil(max(wall, spans.map(\.end).max().map { $0 - tGo } ?? 0)))
        let busy = spans.reduce(0.0) { $0 + ($1.end - $1.start) }
        var fields: [String: Any] = [
            "cmd": "monthend", "provider": provider.rawValue, "documents": month.jobs.count, "customers": month.customers,
            "heavy_lane": month.heavyLane, "order": order.rawValue, "procs": procs, "slots": slots, "jobs": states,
            "completed": states["completed"] ?? 0, "requests": spans.count, "refused_429": refused, "max_in_flight": maxInFlight,
            "wall_s": Bench.round(wall, 3),
        ]
        var series: [[Double]] = []
        var header: [String] = []
        switch provider {
        case .netsuite:
            let perSecond = RequestSpan.busyPerSecond(spans, origin: tGo, count: seconds)
            let ideal = busy / Double(limit)
            header = ["second", "in_flight_avg", "share_of_limit"]
            series = perSecond.enumerated().map { [Double($0.offset), $0.element, $0.element / Double(limit)] }
            let plateau = perSecond.count > 2 ? perSecond.dropFirst().dropLast() : perSecond[...]
            fields.merge([
                "limit": limit, "median_ms": medianMs, "p99_ms": p99Ms, "seed": seed,
                "request_s": Bench.round(busy, 3), "series_request_s": Bench.round(perSecond.reduce(0, +), 3),
                "ideal_s": Bench.round(ideal, 3), "ratio": Bench.round(wall / ideal, 3),
                "mean_share": Bench.round(busy / wall / Double(limit), 3),
                "plateau_min_share": Bench.round((plateau.min() ?? 0) / Double(limit), 3),
            ]) { $1 }
        case .zoho:
            let starts = RequestSpan.startsPerSecond(spans, origin: tGo, count: seconds)
            let rate = Double(window) / windowSeconds
            let ideal = Double(spans.count) / rate
            let span = max(1, Int(windowSeconds.rounded()))
            header = ["second", "requests", "requests_in_trailing_window", "share_of_window"]
            var trailing = 0
            for (second, count) in starts.enumerated() {
                trailing += count - (second >= span ? starts[second - span] : 0)
                series.append([Double(second), Double(count), Double(trailing), Double(trailing) / Double(window)])
            }
            fields.merge([
                "limit": limit, "window": window, "window_s": windowSeconds, "latency_ms": zohoLatencyMs,
                "ideal_s": Bench.round(ideal, 3), "ratio": Bench.round(wall / ideal, 3),
                "rate": Bench.round(Double(spans.count) / wall, 3), "window_rate": Bench.round(rate, 3),
                "window_share": Bench.round(Double(spans.count) / wall / rate, 3),
                "series_requests": starts.reduce(0, +),
            ]) { $1 }
        }
        let directory = plotDir ?? ProcessInfo.processInfo.environment["OUT"].map { ($0 as NSString).deletingLastPathComponent } ?? "."
        let plot = try MonthendPlot.write(
            series: series, header: header, directory: directory.isEmpty ? "." : directory, provider: provider, fields: fields, draw: !noPng
        )
        fields["tsv"] = plot.tsv
        fields["png"] = plot.png ?? NSNull()
        Bench.emit(fields)
        try await Bench.reset(pool)
        await pool.close()
    }
}

/// The documents of the run, in enqueue order: every customer first, then the invoices,
/// credit memos and payments (a lane runs in enqueue order, so a customer precedes its
/// documents and an invoice its credit memo and payment).
struct MonthendMonth {
    struct Job {
        let kind: SyncJobKind
        let json: String
        let customerID: String?
    }

    let jobs: [Job]
    let customers: Int
    /// Documents in the heavy customer's lane (the customer itself included).
    let heavyLane: Int

    /// The enqueue order of the documents after the customers.
    enum Order: String, ExpressibleByArgument, CaseIterable {
        /// Each customer's documents spread over the whole run, as a month's documents arrive
        /// (the heavy customer's too).
        case spread
        /// By kind and index: the heavy customer's extra invoices after everyone else's.
        case grouped
    }

    init(documents: Int, heavy: Int?, order: Order = .spread) {
        let heavy = max(0, heavy ?? min(300, documents * 15 / 100))
        let customers = max(1, documents / 10)
        let spread = max(0, documents * 55 / 100 - heavy) / customers
        let invoices = customers * spread + heavy
        let notes = (invoices + 9) / 10
        let payments = max(0, min(invoices, documents - customers - invoices - notes))
        let scenario = BillingScenario.generate(
            customers: customers, invoicesPerCustomer: spread, creditNoteEvery: 10, payments: payments, seed: 31,
            firstCustomerExtraInvoices: heavy)
        var jobs = scenario.customers.map { Job(kind: .customerSync, json: $0.json, customerID: nil) }
        jobs += scenario.invoices.map { Job(kind: .invoicePush, json: $0.json, customerID: nil) }
        jobs += scenario.creditNotes.map { Job(kind: .creditMemoPush, json: $0.json, customerID: $0.customerID) }
        jobs += scenario.payments.map { Job(kind: .paymentApply, json: $0.json, customerID: $0.customerID) }
        if order == .spread {
            // Each lane's documents spread evenly over the enqueue order, in their own order:
            // the k-th of a lane of L sorts at (k + 0.5) / L. Customers stay first.
            let lanes = [scenario.invoices.map(\.customerID), scenario.creditNotes.map(\.customerID), scenario.payments.map(\.customerID)]
                .flatMap { $0 }
            let length = Dictionary(lanes.map { ($0, 1) }, uniquingKeysWith: +)
            var seen: [String: Int] = [:]
            let keys = lanes.map { lane -> Double in
                let k = seen[lane, default: 0]
                seen[lane] = k + 1
                return (Double(k) + 0.5) / Double(length[lane, default: 1])
            }
            let documents = jobs[customers...]
            let spreadOrder = zip(documents, keys).enumerated().sorted { ($0.element.1, $0.offset) < ($1.element.1, $1.offset) }
            jobs = Array(jobs[..<customers]) + spreadOrder.map(\.element.0)
        }
        self.jobs = jobs
        self.customers = customers
        let first = scenario.customers[0].lagoID
        heavyLane =
            1 + scenario.invoices.count { $0.customerID == first } + scenario.creditNotes.count { $0.customerID == first }
            + scenario.payments.count { $0.customerID == first }
    }
}

/// The simulated provider of the run, its connection, and what the bench reads of it.
struct MonthendTarget {
    let connectionID: UUID
    let requestLog: @Sendable () -> [RequestSpan]
    let refused: @Sendable () -> Int
    let maxInFlight: @Sendable () -> Int
    let stop: @Sendable () async -> Void

    static func start(_ bench: BenchMonthend, pool: ConnectionPool, box: SecretBox) async throws -> MonthendTarget {
        // The simulator is this process, on 127.0.0.1: the bench allows private networks
        // for its own connection and workers, whatever the shell says.
        let store = ConnectionStore(pool: pool, secretBox: box, allowPrivateNetworks: true)
        let mappings = MappingStore(pool: pool)
        switch bench.provider {
        case .netsuite:
            let credentials = NetSuiteSimulator.Configuration.demoCredentials
            var configuration = NetSuiteSimulator.Configuration()
            configuration.credentials = [credentials]
            configuration.concurrencyLimit = bench.limit
            configuration.seed = bench.seed
            configuration.latencyDistribution = .logNormal(medianMs: bench.medianMs, p99Ms: bench.p99Ms)
            configuration.items = BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) }
            let simulator = NetSuiteSimulator(configuration: configuration)
            _ = try await simulator.start()
            let connection = try await store.create(
                AccountingConnection(
                    provider: "netsuite", name: "bench \(UUID().uuidString.prefix(8))", accountID: configuration.accountID,
                    settings: .init(defaultSubsidiary: "1", baseURL: simulator.baseURL, concurrencyLimit: bench.limit),
                    secrets: credentials.connectionSecrets))
            guard let id = connection.id else { throw CLIError.failed("the connection got no id") }
            try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: Providers.registry)
            for mapping in BillingScenario.mappings(connection: id) { try await mappings.upsert(mapping) }
            return MonthendTarget(
                connectionID: id, requestLog: { simulator.requestLog }, refused: { simulator.stats.rejectedOverLimit },
                maxInFlight: { simulator.stats.maxInFlight }, stop: { await simulator.stop() })
        case .zoho:
            var configuration = ZohoBooksSimulator.Configuration(
                requestsPerWindow: bench.window, minuteWindow: .milliseconds(Int64(bench.windowSeconds * 1000)), dailyQuota: 1_000_000,
                dayLength: .seconds(86_400), concurrencyLimit: bench.limit, latency: .milliseconds(Int64(bench.zohoLatencyMs)))
            configuration.uniqueCustomFields = [
                "contacts": ["cf_ledgersync_id"], "invoices": ["cf_ledgersync_id"], "creditnotes": ["cf_ledgersync_id"],
                "salesorders": ["cf_ledgersync_id"], "customerpayments": ["cf_ledgersync_id"],
            ]
            let simulator = ZohoBooksSimulator(configuration: configuration)
            _ = try await simulator.start()
            let http = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true)
            defer { http.shutdown() }
            let client = ZohoBooksSimulator.SelfClient.demo
            var secrets = ConnectionSecrets()
            secrets["client_id"] = client.clientID
            secrets["client_secret"] = client.clientSecret
            secrets["grant_code"] = try simulator.issueGrantCode(clientID: client.clientID)
            var settings = AccountingConnection.Settings(objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: bench.limit)
            settings.extra = [
                "data_center": "com", "request_window": "\(bench.window)/\(Int(bench.windowSeconds.rounded()))s",
                "daily_quota": "1000000/1d",
            ]
            let prepared = try await Providers.registry.prepared(
                AccountingConnection(
                    provider: "zoho_books", name: "bench \(UUID().uuidString.prefix(8))",
                    accountID: ZohoBooksSimulator.Organization.demo.id,
                    settings: settings, secrets: secrets),
                context: ProviderContext(http: http))
            let connection = try await store.create(prepared)
            guard let id = connection.id else { throw CLIError.failed("the connection got no id") }
            try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: Providers.registry)
            for mapping in BillingScenario.zohoMappings(connection: id) { try await mappings.upsert(mapping) }
            return MonthendTarget(
                connectionID: id, requestLog: { simulator.requestLog },
                refused: { simulator.stats.rejectedMinuteWindow + simulator.stats.rejectedConcurrent + simulator.stats.rejectedDailyQuota },
                maxInFlight: { simulator.stats.maxInFlight }, stop: { await simulator.stop() })
        }
    }
}

/// The per-second series as TSV, and its PNG drawn by gnuplot when it is installed.
enum MonthendPlot {
    static func write(
        series: [[Double]], header: [String], directory: String, provider: BenchMonthend.Provider, fields: [String: Any], draw: Bool
    ) throws -> (tsv: String, png: String?) {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let base = (directory as NSString).appendingPathComponent("monthend-\(provider.rawValue)")
        let tsv = base + ".tsv"
        var text = "# " + header.joined(separator: "\t") + "\n"
        for row in series {
            text += row.map { $0 == $0.rounded() ? String(Int($0)) : String(format: "%.4f", $0) }.joined(separator: "\t") + "\n"
        }
        try text.write(toFile: tsv, atomically: true, encoding: .utf8)
        guard draw, let gnuplot = which("gnuplot") else { return (tsv, nil) }
        let png = base + ".png"
        let (title, ylabel, column): (String, String, Int)
        switch provider {
        case .netsuite:
            title =
                "NetSuite month-end: \(fields["documents"] ?? "") documents, limit \(fields["limit"] ?? ""), wall/ideal \(fields["ratio"] ?? "")"
            ylabel = "share of the concurrency limit in use"
            column = 3
        case .zoho:
            title =
                "Zoho Books month-end: \(fields["documents"] ?? "") documents, \(fields["window"] ?? "") req/\(fields["window_s"] ?? "") s, 429s \(fields["refused_429"] ?? "")"
            ylabel = "requests in the trailing window / window"
            column = 4
        }
        let script = """
            set terminal pngcairo size 1000,500 noenhanced
            set output '\(png)'
            set title '\(title)'
            set xlabel 'seconds since GO'
            set ylabel '\(ylabel)'
            set yrange [0:1.25]
            set grid
            set key top right
            plot '\(tsv)' using 1:\(column) with steps lw 2 title 'in use', 1.0 with lines dt 2 lc rgb 'red' title 'limit'
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: gnuplot)
        let input = Pipe()
        process.standardInput = input
        try process.run()
        input.fileHandleForWriting.write(Data(script.utf8))
        try input.fileHandleForWriting.close()
        process.waitUntilExit()
        return (tsv, process.terminationStatus == 0 ? png : nil)
    }

    static func which(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }
}
