import Foundation
import JobQueue
import Postgres
import Synchronization

/// Job kinds for smoke tests and benchmarks of a deployment, run by `worker --diagnostic-kinds`:
///
/// - `diag.noop`: does nothing (throughput benchmarks), or only sleeps `sleep_ms`.
/// - `diag.record`: sleeps `sleep_ms`, then records the run (job id, attempt, worker, start
///   and end) in `ledgersync_diag.runs`, whose primary key on job_id makes a second
///   completed run of one job impossible to miss.
/// - `diag.fail`: always fails with a transient error (backoff 0.1 s doubling to 0.4 s).
enum DiagnosticKinds {
    static func prepare(_ pool: ConnectionPool) async throws {
        // Workers started together would race on CREATE … IF NOT EXISTS (it is not atomic
        // against a concurrent create); a transaction-scoped advisory lock lines them up.
        try await pool.withTransaction { connection in
            try await connection.execute(
                """
                SELECT pg_advisory_xact_lock(hashtext('ledgersync_diag'));
                CREATE SCHEMA IF NOT EXISTS ledgersync_diag;
                CREATE TABLE IF NOT EXISTS ledgersync_diag.runs (
                    job_id      bigint PRIMARY KEY,
                    attempt     integer NOT NULL,
                    worker      text NOT NULL,
                    serial_key  text,
                    limit_key   text,
                    started_at  timestamptz NOT NULL,
                    finished_at timestamptz NOT NULL
                );
                """)
        }
    }

    /// The kinds `register` adds, for `ledgersync api --diagnostic-kinds`.
    static let kinds: Set<String> = [Noop.kind, Record.kind, Fail.kind]

    static func register(in registry: inout JobRegistry) {
        registry.register(Noop())
        registry.register(Record())
        registry.register(Fail())
    }

    struct Noop: JobHandler {
        struct Args: Decodable, Sendable {
            /// Optional: how long the job takes, without touching the database (a run that
            /// ends while PostgreSQL is away, in the worker's tests).
            let sleepMS: Int?
            enum CodingKeys: String, CodingKey { case sleepMS = "sleep_ms" }
        }
        static let kind = "diag.noop"
        func run(_ args: Args, context: JobContext) async throws {
            if let sleep = args.sleepMS {
                guard (0...60_000).contains(sleep) else {
                    throw JobError.permanent("sleep_ms must be from 0 to 60000, got \(sleep)")
                }
                try await Task.sleep(for: .milliseconds(sleep))
            }
            noopCalls.withLock { $0.hit() }
        }
    }

    /// Calls of `diag.noop` in this process, for `ledgersync bench drain`'s handler-side
    /// rate (the same count, first and last call that the peer harness reports).
    struct HandlerCalls: Sendable {
        var count = 0
        var first: Double?
        var last: Double?

        mutating func hit() {
            let now = Date().timeIntervalSince1970
            if first == nil { first = now }
            last = now
            count += 1
        }
    }

    static let noopCalls = Mutex(HandlerCalls())

    struct Record: JobHandler {
        struct Args: Decodable, Sendable {
            var sleepMS: Int?
            enum CodingKeys: String, CodingKey { case sleepMS = "sleep_ms" }
        }
        static let kind = "diag.record"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 5, timeout: .seconds(60), backoff: Backoff(base: 0.2, cap: 1)) }

        func run(_ args: Args, context: JobContext) async throws {
            let started = Date()
            if let sleep = args.sleepMS {
                guard (0...60_000).contains(sleep) else {
                    throw JobError.permanent("sleep_ms must be from 0 to 60000, got \(sleep)")
                }
                try await Task.sleep(for: .milliseconds(sleep))
            }
            let job = context.job
            try await context.pool.query(
                """
                INSERT INTO ledgersync_diag.runs (job_id, attempt, worker, serial_key, limit_key, started_at, finished_at)
                VALUES ($1, $2, $3, $4, $5, $6, clock_timestamp())
                """,
                [job.id, job.attempt, context.workerID, job.serialKey, job.limitKey, started])
        }
    }

    struct Fail: JobHandler {
        struct Args: Decodable, Sendable {}
        static let kind = "diag.fail"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 20, timeout: .seconds(60), backoff: Backoff(base: 0.1, cap: 0.4)) }

        func run(_ args: Args, context: JobContext) async throws {
            throw JobError.transient("diag.fail fails on purpose (attempt \(context.job.attempt))", code: "DIAG")
        }
    }
}
