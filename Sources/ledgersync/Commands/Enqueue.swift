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
        abstract: "Concurrency limits per limit key, enforced across every worker.",
        subcommands: [Set.self, List.self])

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a limit key's limit (0 pauses it; --remove lifts it).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The limit key, e.g. netsuite:1234567.") var key: String
        @Argument(help: "Most jobs of this key running at once.") var maxRunning: Int?
        @Flag(help: "Remove the limit.") var remove = false

        func validate() throws {
            if remove {
                guard maxRunning == nil else { throw ValidationError("give either a limit or --remove, not both") }
            } else {
                guard let maxRunning else { throw ValidationError("give the limit (a number from 0), or --remove") }
                guard maxRunning >= 0 else { throw ValidationError("the limit must be 0 or more, got \(maxRunning)") }
            }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            try await JobQueue(pool: pool).setConcurrencyLimit(key, maxRunning: remove ? nil : maxRunning)
            print(remove ? "limit of \(key) removed" : "limit of \(key) set to \(maxRunning!)")
            await pool.close()
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List limit keys with their limit and running jobs.",
            discussion:
                "HOLDING counts the running jobs that count against the limit; RUNNING also counts those that gave their slot back early (the provider has answered; they are recording the result). HELD AFTER TIMEOUT counts the slots of requests that timed out at the client and that the provider may still be processing (ledgersync.limit_holds; worker --server-timeout): they count against the limit too."
        )
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        struct Limit: Encodable {
            let limitKey: String
            let maxRunning: Int
            let holding: Int
            let running: Int
            let heldAfterTimeout: Int
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let limits = try await pool.query(
                """
                SELECT l.limit_key, l.max_running, r.holding, r.running, h.held_after_timeout
                FROM ledgersync.concurrency_limits l
                CROSS JOIN LATERAL (
                    SELECT count(*) FILTER (WHERE NOT j.limit_released) AS holding, count(*) AS running
                    FROM ledgersync.jobs j WHERE j.limit_key = l.limit_key AND j.state = 'running') AS r
                CROSS JOIN LATERAL (
                    SELECT count(*) AS held_after_timeout FROM ledgersync.limit_holds lh
                    WHERE lh.limit_key = l.limit_key AND lh.held_until > now()) AS h
                ORDER BY l.limit_key
                """
            ).rows.map { row in
                Limit(
                    limitKey: try row.decode("limit_key"), maxRunning: try row.decode("max_running"),
                    holding: try row.decode("holding"), running: try row.decode("running"),
                    heldAfterTimeout: try row.decode("held_after_timeout"))
            }
            await pool.close()
            if json { return try printJSON(limits) }
            guard !limits.isEmpty else { return print("no concurrency limits set") }
            var table = [["LIMIT KEY", "LIMIT", "HOLDING", "RUNNING", "HELD AFTER TIMEOUT"]]
            for limit in limits {
                table.append([limit.limitKey, "\(limit.maxRunning)", "\(limit.holding)", "\(limit.running)", "\(limit.heldAfterTimeout)"])
            }
            printTable(table)
        }
    }
}
