import API
import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// Every migration line the ledgersync binary knows; its commands refuse a database
/// that lacks one.
let allMigrations = JobQueue.migrations + SyncSchema.migrations + APISchema.migrations

/// Runs `body` with a fresh database and drops it afterwards, also when `body` throws.
func withTestDatabase(_ body: (TestDatabase) async throws -> Void) async throws {
    try await TestDatabase.with(migrations: allMigrations, body)
}

/// Starts `count` real `ledgersync worker --diagnostic-kinds` processes on `database`.
func startWorkers(
    _ count: Int, on database: TestDatabase, concurrency: Int = 16, extra: [String] = []
) throws -> [LedgersyncProcess] {
    try (0..<count).map { _ in
        try LedgersyncProcess(
            [
                "worker", "--diagnostic-kinds", "--concurrency", "\(concurrency)", "--poll-interval", "100ms",
                "--lease", "5s", "--rescue-interval", "500ms",
            ] + extra,
            databaseURL: database.url)
    }
}

/// SIGTERMs the workers and expects each to exit 0 within the grace period.
func stopWorkers(_ workers: [LedgersyncProcess], sourceLocation: SourceLocation = #_sourceLocation) async {
    for worker in workers { worker.signal(SIGTERM) }
    for worker in workers {
        let status = await worker.waitForExit(timeout: .seconds(40))
        #expect(
            status == 0, "worker exited with \(status.map(String.init) ?? "nothing (still running)"):\n\(worker.output.suffix(3000))",
            sourceLocation: sourceLocation)
        worker.stop()
    }
}

extension TestDatabase {
    /// The first column of the first row, as Int.
    func count(_ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int {
        let rows = try await pool.query(sql, binds).rows
        let row = try #require(rows.first)
        return try row.decode(row.columns[0], as: Int.self)
    }

    /// Waits until the diag table exists (a worker created it) and `sql` counts `expected`.
    func waitForCount(_ sql: String, _ expected: Int, timeout: Duration = .seconds(120)) async throws -> Bool {
        try await eventually(timeout: timeout, every: .milliseconds(100)) {
            let exists = try await count("SELECT count(*) FROM pg_tables WHERE schemaname = 'ledgersync_diag'")
            guard exists > 0 else { return false }
            return try await count(sql) == expected
        }
    }

    var queue: JobQueue { JobQueue(pool: pool) }
}

/// One recorded run of a diag.record job.
struct RecordedRun {
    let jobID: Int64
    let attempt: Int
    let worker: String
    let serialKey: String?
    let limitKey: String?
    let startedAt: Date
    let finishedAt: Date

    static func all(in database: TestDatabase) async throws -> [RecordedRun] {
        try await database.pool.query(
            "SELECT job_id, attempt, worker, serial_key, limit_key, started_at, finished_at FROM ledgersync_diag.runs ORDER BY job_id"
        ).rows.map { row in
            RecordedRun(
                jobID: try row.decode("job_id"), attempt: try row.decode("attempt"), worker: try row.decode("worker"),
                serialKey: try row.decodeIfPresent("serial_key"), limitKey: try row.decodeIfPresent("limit_key"),
                startedAt: try row.decode("started_at"), finishedAt: try row.decode("finished_at"))
        }
    }
}
