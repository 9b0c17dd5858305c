import ArgumentParser
import ExactJSON
import Foundation
import JobQueue
import Postgres
import Sync

struct Enqueue: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Enqueue one job (the same as SELECT ledgersync.enqueue(...) in SQL).",
        discussion:
            "A sync job (invoice.push, …) given no --serial-key or --limit-key gets the keys ledgersync.enqueue_sync would give it; its --args must hold connection_id."
    )

    @OptionGroup var database: DatabaseOptions
    @Argument(help: "The job kind, e.g. invoice.push.") var kind: String
    @Option(help: "The job's arguments, a JSON object.") var args = "{}"
    @Option var queue = "default"
    @Option(help: "0 (most urgent) to 9.") var priority = 0
    @Option(help: "Run no sooner than this from now (e.g. 10m).") var delay: DurationArgument?
    @Option var maxAttempts: Int?
    @Option var uniqueKey: String?
    @Option var serialKey: String?
    @Option var limitKey: String?
    @Flag(help: "Print the result as JSON.") var json = false

    func validate() throws {
        guard !kind.isEmpty else { throw ValidationError("the job kind must not be empty") }
        guard (0...9).contains(priority) else { throw ValidationError("--priority must be from 0 to 9, got \(priority)") }
        if let maxAttempts, maxAttempts < 1 { throw ValidationError("--max-attempts must be at least 1") }
        let value: ExactJSON
        do {
            value = try ExactJSON.parse(Array(args.utf8))
        } catch  where error.isLimit {
            throw ValidationError("--args: args\(error.path): \(error.message) (at byte \(error.offset))")
        } catch {
            throw ValidationError("--args is not valid JSON: \(error.description)")
        }
        guard case .object = value else {
            throw ValidationError("--args must be a JSON object, e.g. '{\"invoice_id\": \"inv_1\"}'")
        }
        // The bounds every face holds args to (the SQL function checks the same), named here
        // as the API names them.
        if let violation = ArgsBounds.check(value, root: "args") {
            throw ValidationError("--args: \(violation.path): \(violation.message)")
        }
    }

    func run() async throws {
        let pool = try await database.openPool(maxConnections: 1)
        let queue = JobQueue(pool: pool)
        let request = EnqueueRequest(
            kind: kind, args: JSONText(args), queue: self.queue, priority: priority,
            runAt: delay.map { Date().addingTimeInterval($0.duration.seconds) }, maxAttempts: maxAttempts,
            uniqueKey: uniqueKey, serialKey: serialKey, limitKey: limitKey)
        let id: Int64
        if let sync = try syncRequest(request) {
            id = try await enqueueSync(sync, pool: pool)
        } else {
            id = try await queue.enqueue(request)
        }
        print(json ? "{\"id\":\(id)}" : "enqueued job \(id)")
        await pool.close()
    }

    /// A sync job without --serial-key or --limit-key: enqueued through
    /// `ledgersync.enqueue_sync` (sql/sync/014), in one call, as over HTTP and from SQL, so
    /// it gets its keys and customer there (without them a payment could overtake its
    /// invoice and the account's concurrency limit would not hold). Nil for any other job.
    func syncRequest(_ request: EnqueueRequest) throws -> SyncQueue.Request? {
        guard let kind = SyncJobKind(rawValue: kind), serialKey == nil, limitKey == nil else { return nil }
        guard let sync = SyncQueue.Request(request) else {
            throw CLIError.usage("--args: a \(kind.rawValue) job needs \"connection_id\", the UUID of its connection")
        }
        return sync
    }

    func enqueueSync(_ sync: SyncQueue.Request, pool: ConnectionPool) async throws -> Int64 {
        do {
            return try await pool.withConnection { try await SyncQueue(pool: pool).enqueue(sync, on: $0) }
        } catch let error as PostgresError where error.sqlState == "22023" {
            throw CLIError.usage("--args: \(error.message)")
        }
    }
}

struct Limits: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Concurrency limits and rate windows per limit key, enforced across every worker.",
        subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Set a limit key's concurrency limit (0 pauses it) and/or its rate windows.",
            discussion:
                "limits set KEY 5 sets the concurrency limit and leaves the windows; limits set KEY --window 100/60s --window 1000/1d sets the windows (replacing the key's windows) and leaves the concurrency limit; both may be given at once. A window is STARTS/LENGTH with a unit s, m, h or d: at most STARTS jobs of the key start in any span of LENGTH (a sliding window; exact up to 200 starts, above that counted in groups of STARTS/200, never over). --remove lifts the concurrency limit and the windows; --remove-windows only the windows."
        )
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The limit key, e.g. netsuite:1234567.") var key: String
        @Argument(help: "Most jobs of this key running at once.") var maxRunning: Int?
        @Option(name: .customLong("window"), help: "A rate window, STARTS/LENGTH (e.g. 100/60s, 1000/1d); repeat for several.")
        var windows: [String] = []
        @Flag(help: "Remove the concurrency limit and the rate windows.") var remove = false
        @Flag(help: "Remove the rate windows only.") var removeWindows = false

        func validate() throws {
            if remove {
                guard maxRunning == nil, windows.isEmpty, !removeWindows else {
                    throw ValidationError("give either a limit and/or windows, or --remove, not both")
                }
            } else {
                guard maxRunning != nil || !windows.isEmpty || removeWindows else {
                    throw ValidationError("give the limit (a number from 0), --window STARTS/LENGTH, or --remove")
                }
                if let maxRunning, maxRunning < 0 { throw ValidationError("the limit must be 0 or more, got \(maxRunning)") }
                guard !(removeWindows && !windows.isEmpty) else {
                    throw ValidationError("give either --window or --remove-windows, not both")
                }
                let lengths = try parsedWindows().map(\.seconds)
                guard Swift.Set(lengths).count == lengths.count else { throw ValidationError("--window: two windows of the same length") }
            }
        }

        func parsedWindows() throws -> [RateWindow] {
            try windows.map { text in
                do { return try RateWindow(parsing: text) } catch { throw ValidationError("--window \(error)") }
            }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let queue = JobQueue(pool: pool)
            if remove {
                try await queue.setConcurrencyLimit(key, maxRunning: nil)
                try await queue.setRateWindows(key, [])
                print("limit and rate windows of \(key) removed")
            } else {
                if let maxRunning {
                    try await queue.setConcurrencyLimit(key, maxRunning: maxRunning)
                    print("limit of \(key) set to \(maxRunning)")
                }
                if removeWindows {
                    try await queue.setRateWindows(key, [])
                    print("rate windows of \(key) removed")
                } else if !windows.isEmpty {
                    let parsed = try parsedWindows()
                    try await queue.setRateWindows(key, parsed)
                    print("rate windows of \(key) set to \(parsed.map(\.text).joined(separator: ", "))")
                }
            }
            await pool.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List limit keys with their limit, running jobs, and rate windows.",
            discussion:
                "HOLDING counts the running jobs that count against the limit; RUNNING also counts those that gave their slot back early (the provider has answered; they are recording the result). HELD AFTER TIMEOUT counts the slots of requests that timed out at the client and that the provider may still be processing (ledgersync.limit_holds; worker --server-timeout): they count against the limit too. Rate windows (sliding): USED is the starts of the last LENGTH (a provider's 429 marks all of them used), LEFT what remains, TURNS IN when LEFT next rises (a start frees, or the oldest counted start leaves the window). In JSON a key with windows but no concurrency limit has no max_running."
        )
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        struct Limit: Encodable {
            let limitKey: String
            let maxRunning: Int?
            let holding: Int
            let running: Int
            let heldAfterTimeout: Int
            var windows: [Window] = []
        }

        struct Window: Encodable {
            let window: String
            let seconds: Int
            let maxStarts: Int
            let used: Int
            let left: Int
            let turnsInSeconds: Double
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            var limits = try await pool.query(
                """
                SELECT k.limit_key, l.max_running, r.holding, r.running, h.held_after_timeout
                FROM (SELECT limit_key FROM ledgersync.concurrency_limits
                      UNION SELECT limit_key FROM ledgersync.rate_windows) AS k
                LEFT JOIN ledgersync.concurrency_limits l ON l.limit_key = k.limit_key
                CROSS JOIN LATERAL (
                    SELECT count(*) FILTER (WHERE NOT j.limit_released) AS holding, count(*) AS running
                    FROM ledgersync.jobs j WHERE j.limit_key = k.limit_key AND j.state = 'running') AS r
                CROSS JOIN LATERAL (
                    SELECT count(*) AS held_after_timeout FROM ledgersync.limit_holds lh
                    WHERE lh.limit_key = k.limit_key AND lh.held_until > now()) AS h
                ORDER BY k.limit_key
                """
            ).rows.map { row in
                Limit(
                    limitKey: try row.decode("limit_key"), maxRunning: try row.decodeIfPresent("max_running"),
                    holding: try row.decode("holding"), running: try row.decode("running"),
                    heldAfterTimeout: try row.decode("held_after_timeout"))
            }
            let windows = try await JobQueue(pool: pool).rateWindows()
            await pool.close()
            for index in limits.indices {
                limits[index].windows = windows.filter { $0.limitKey == limits[index].limitKey }.map { window in
                    Window(
                        window: RateWindow(maxStarts: window.maxStarts, seconds: window.seconds).text, seconds: window.seconds,
                        maxStarts: window.maxStarts, used: window.used, left: window.left, turnsInSeconds: window.turnsInSeconds)
                }
            }
            if json { return try printJSON(limits) }
            guard !limits.isEmpty else { return print("no concurrency limits or rate windows set") }
            var table = [["LIMIT KEY", "LIMIT", "HOLDING", "RUNNING", "HELD AFTER TIMEOUT"]]
            for limit in limits {
                table.append([
                    limit.limitKey, limit.maxRunning.map { "\($0)" } ?? "none", "\(limit.holding)", "\(limit.running)",
                    "\(limit.heldAfterTimeout)",
                ])
            }
            printTable(table)
            let windowed = limits.filter { !$0.windows.isEmpty }
            guard !windowed.isEmpty else { return }
            print("")
            var windowTable = [["LIMIT KEY", "WINDOW", "USED", "LEFT", "TURNS IN"]]
            for limit in windowed {
                for window in limit.windows {
                    windowTable.append([
                        limit.limitKey, window.window, "\(window.used)", "\(window.left)", Self.seconds(window.turnsInSeconds),
                    ])
                }
            }
            printTable(windowTable)
        }

        /// `12 s`, `0.4 s`, `3 h 5 min`: how long until a window turns.
        static func seconds(_ value: Double) -> String {
            guard value.isFinite, value >= 0, value < 1e9 else { return "\(value) s" }
            if value < 10 { return "\((value * 10).rounded(.up) / 10) s" }
            let whole = Int(value.rounded(.up))
            if whole < 3600 { return "\(whole) s" }
            return "\(whole / 3600) h \((whole % 3600) / 60) min"
        }
    }
}
