import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// The SQL face of the queue and each state transition, in-process against a real
/// PostgreSQL (no worker processes): enqueue, unique keys, fetch order, serial and limit
/// keys within one fetch, the result guards, rescue, prune, and operators' retry/cancel.
@Suite(.timeLimit(.minutes(2)))
struct QueueSQLTests {
    /// Claims up to `limit` jobs as `worker`, the way a worker does.
    func fetch(_ db: TestDatabase, worker: String = "test-worker", limit: Int = 10, lease: Double = 30) async throws -> [Row] {
        try await db.pool.query(
            "SELECT id, kind, attempt, serial_key, limit_key, run_id FROM ledgersync.fetch_jobs($1, $2, $3, $4)",
            [worker, "default", limit, lease]
        ).rows
    }

    /// The id of job `id`'s current (or last) run.
    func runID(_ db: TestDatabase, _ id: Int64) async throws -> Int64 {
        let row = try #require(try await db.pool.query("SELECT run_id FROM ledgersync.jobs WHERE id = $1", [id]).rows.first)
        return try row.decode("run_id")
    }

    @Test("unique keys under 8 concurrent enqueuers of the same key: one job, every caller gets its id")
    func uniqueKeyUnderConcurrentEnqueuers() async throws {
        try await withTestDatabase { db in
            let connections = try await withThrowingTaskGroup(of: Connection.self) { group in
                for _ in 0..<8 { group.addTask { try await Connection.connect(url: db.url) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            // Each enqueuer holds its transaction open a moment, so the others meet its
            // uncommitted row in the unique index and must wait for it.
            let ids = try await withThrowingTaskGroup(of: Int64.self) { group in
                for connection in connections {
                    group.addTask {
                        try await connection.transaction { connection in
                            let id: Int64 = try await connection.query(
                                "SELECT ledgersync.enqueue('invoice.push', '{}', unique_key => 'inv_42') AS id"
                            ).rows[0].decode("id")
                            try await connection.query("SELECT pg_sleep(0.05)")
                            return id
                        }
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for connection in connections { connection.close() }
            #expect(ids.count == 8)
            #expect(Set(ids).count == 1)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE unique_key = 'inv_42'") == 1)
        }
    }

    @Test("a unique key is free again once its job finished; a batch skips keys already held")
    func uniqueKeyScopedToUnfinishedJobs() async throws {
        try await withTestDatabase { db in
            let first = try await db.queue.enqueue(EnqueueRequest(kind: "k", uniqueKey: "u1"))
            #expect(try await db.queue.enqueue(EnqueueRequest(kind: "k", uniqueKey: "u1")) == first)
            let inserted = try await db.queue.enqueueMany([
                EnqueueRequest(kind: "k", uniqueKey: "u1"), EnqueueRequest(kind: "k", uniqueKey: "u2"),
                EnqueueRequest(kind: "k", uniqueKey: "u2"), EnqueueRequest(kind: "k"),
            ])
            #expect(inserted.count == 2, "u1 is held, the second u2 repeats the first")
            try await db.pool.query("UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now() WHERE id = $1", [first])
            let second = try await db.queue.enqueue(EnqueueRequest(kind: "k", uniqueKey: "u1"))
            #expect(second != first)
        }
    }

    @Test("enqueue from Swift inside the caller's transaction: the job exists only if it commits")
    func swiftEnqueueInCallersTransaction() async throws {
        try await withTestDatabase { db in
            struct Rollback: Error {}
            await #expect(throws: Rollback.self) {
                try await db.pool.withTransaction { connection in
                    try await db.queue.enqueue(EnqueueRequest(kind: "invoice.push"), on: connection)
                    try await db.queue.enqueueMany([EnqueueRequest(kind: "invoice.push")], on: connection)
                    throw Rollback()
                }
            }
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs") == 0)
            _ = try await db.pool.withTransaction { connection in
                try await db.queue.enqueue(EnqueueRequest(kind: "invoice.push"), on: connection)
            }
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs") == 1)
        }
    }

    @Test("a batch of thousands goes in a few statements, in order, with every field")
    func enqueueManyKeepsOrderAndFields() async throws {
        try await withTestDatabase { db in
            let runAt = Date(timeIntervalSince1970: 2_000_000_000.123456)
            var requests = (0..<12_000).map { EnqueueRequest(kind: "bulk", args: JSONText(#"{"n": \#($0)}"#)) }
            requests[0] = EnqueueRequest(
                kind: "full", args: JSONText(#"{"quote": "a \"b\" \\ c – é"}"#), queue: "sync", priority: 3, runAt: runAt,
                maxAttempts: 7, uniqueKey: "uk", serialKey: "sk", limitKey: "lk")
            let ids = try await db.queue.enqueueMany(requests)
            #expect(ids.count == 12_000)
            #expect(ids == ids.sorted())
            let last = try #require(try await db.queue.job(id: ids[11_999]))
            #expect(last.args == .object(["n": .number(11_999)]))
            let full = try #require(try await db.queue.job(id: ids[0]))
            #expect(full.kind == "full" && full.queue == "sync" && full.priority == 3 && full.maxAttempts == 7)
            #expect(full.uniqueKey == "uk" && full.serialKey == "sk" && full.limitKey == "lk")
            #expect(full.runAt == runAt)
            #expect(full.args == .object(["quote": .string(#"a "b" \ c – é"#)]))
        }
    }

    @Test(
        "bad input to the SQL functions names what is wrong and inserts nothing",
        arguments: [
            ("SELECT ledgersync.enqueue('k', '[1]')", "args must be a JSON object, got array"),
            ("SELECT ledgersync.enqueue('', '{}')", "kind must not be empty"),
            ("SELECT ledgersync.enqueue('k', '{}', priority => 12)", "priority must be 0 (most urgent) to 9, got 12"),
            ("SELECT ledgersync.enqueue('k', '{}', max_attempts => 0)", "max_attempts must be at least 1, got 0"),
            ("SELECT ledgersync.enqueue_many('{}')", "jobs must be a JSON array, got object"),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a"}, {"knd": "b"}]')"#, #"jobs[1]: unknown field "knd""#),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a"}, 7]')"#, "jobs[1]: must be a JSON object, got number"),
            (#"SELECT ledgersync.enqueue_many('[{"args": {}}]')"#, "jobs[0]: kind is missing or not a non-empty string"),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a", "args": [1]}]')"#, "jobs[0]: args must be a JSON object"),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a", "priority": "high"}]')"#, "jobs[0]: priority must be an integer from 0 to 9"),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a", "max_attempts": -1}]')"#, "jobs[0]: max_attempts must be a positive integer"),
            (
                #"SELECT ledgersync.enqueue_many('[{"kind": "a", "run_at": "tomorrow"}]')"#,
                "jobs[0]: run_at must be an ISO 8601 timestamp string"
            ),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a", "queue": ""}]')"#, "jobs[0]: queue must be a non-empty string"),
            (#"SELECT ledgersync.enqueue_many('[{"kind": "a", "serial_key": 42}]')"#, "jobs[0]: serial_key must be a string"),
        ])
    func badSQLInput(sql: String, message: String) async throws {
        try await withTestDatabase { db in
            let error = await #expect(throws: PostgresError.self) { try await db.pool.query(sql) }
            #expect(error?.message.contains(message) == true, "\(error.map(String.init(describing:)) ?? "")")
            #expect(error?.sqlState == "22023")
            let jobs = try await db.count("SELECT count(*) FROM ledgersync.jobs")
            #expect(jobs == 0)
        }
    }

    @Test("max_attempts defaults to the kind's default published by workers, else 20")
    func kindDefaults() async throws {
        try await withTestDatabase { db in
            try await db.pool.query("INSERT INTO ledgersync.job_kinds (kind, max_attempts) VALUES ('invoice.push', 8)")
            let a = try await db.queue.enqueue(EnqueueRequest(kind: "invoice.push"))
            let b = try await db.queue.enqueueMany([EnqueueRequest(kind: "invoice.push"), EnqueueRequest(kind: "other")])
            #expect(try await db.queue.job(id: a)?.maxAttempts == 8)
            #expect(try await db.queue.job(id: b[0])?.maxAttempts == 8)
            #expect(try await db.queue.job(id: b[1])?.maxAttempts == 20)
        }
    }

    @Test("fetch takes runnable jobs by priority, then run_at, then id; skips future and other queues")
    func fetchOrder() async throws {
        try await withTestDatabase { db in
            let now = Date()
            let late = try await db.queue.enqueue(EnqueueRequest(kind: "k", priority: 5))
            let urgent = try await db.queue.enqueue(EnqueueRequest(kind: "k", priority: 0))
            let older = try await db.queue.enqueue(EnqueueRequest(kind: "k", priority: 5, runAt: now.addingTimeInterval(-60)))
            _ = try await db.queue.enqueue(EnqueueRequest(kind: "k", runAt: now.addingTimeInterval(3600)))
            _ = try await db.queue.enqueue(EnqueueRequest(kind: "k", queue: "elsewhere"))
            let rows = try await db.pool.query(
                """
                WITH f AS (SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30))
                SELECT j.id FROM f JOIN ledgersync.jobs j USING (id) ORDER BY j.priority, j.run_at, j.id
                """
            ).rows.map { try $0.decode("id", as: Int64.self) }
            #expect(rows == [urgent, older, late])
            // A second fetch finds nothing more: the future job and the other queue stay.
            #expect(try await fetch(db).isEmpty)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running' AND locked_by = 'w'") == 3)
        }
    }

    @Test("fetch never claims more than asked, even from a large backlog")
    func fetchRespectsLimit() async throws {
        try await withTestDatabase { db in
            try await db.queue.enqueueMany((0..<500).map { _ in EnqueueRequest(kind: "k") })
            #expect(try await fetch(db, limit: 37).count == 37)
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'running'") == 37)
        }
    }

    @Test("serial keys: a job waits while an earlier job of its key is unfinished, even a retryable one")
    func serialKeyBlocksSuccessors() async throws {
        try await withTestDatabase { db in
            let first = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "acme"))
            let second = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "acme"))
            let other = try await db.queue.enqueue(EnqueueRequest(kind: "k", serialKey: "globex"))
            #expect(Set(try await fetch(db).map { try $0.decode("id", as: Int64.self) }) == [first, other])
            #expect(try await fetch(db).isEmpty, "second must wait for first")
            // first fails with attempts left: still unfinished, so second still waits.
            try await db.pool.query(
                QueueSQLText.retry, [[first], [try await runID(db, first)], [0.0], [JSONText(#"{"class":"transient"}"#)]])
            let refetched = try await fetch(db).map { try $0.decode("id", as: Int64.self) }
            #expect(refetched == [first], "the retried first job runs again before second")
            try await db.pool.query(QueueSQLText.complete, [[first], [try await runID(db, first)]])
            #expect(try await fetch(db).map { try $0.decode("id", as: Int64.self) } == [second])
        }
    }

    @Test("limit keys: one fetch claims no more than the free slots of a key")
    func limitKeyWithinOneFetch() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 3)
            try await db.queue.enqueueMany((0..<10).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            try await db.queue.enqueueMany((0..<4).map { _ in EnqueueRequest(kind: "k", limitKey: "unlimited") })
            let first = try await fetch(db, limit: 50)
            #expect(first.filter { (try? $0.decodeIfPresent("limit_key", as: String.self)) == "acct" }.count == 3)
            #expect(first.count == 7)
            #expect(try await fetch(db, limit: 50).isEmpty, "all 3 slots are taken")
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 4)
            #expect(try await fetch(db, limit: 50).count == 1)
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 0)
            try await db.pool.query(
                "UPDATE ledgersync.jobs SET state = 'completed', finalized_at = now(), locked_by = NULL, lease_expires_at = NULL WHERE state = 'running'"
            )
            #expect(try await fetch(db, limit: 50).isEmpty, "a limit of 0 pauses the key")
        }
    }

    @Test("limit keys: a run that gave its slot back no longer counts, until its job is claimed again")
    func limitSlotGivenBack() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 1)
            let ids = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            /// Fetches as `worker`, handing back the slots of `released` runs (id, run id).
            func fetch(_ worker: String, released: [(Int64, Int64)] = []) async throws -> [Int64] {
                try await db.pool.query(
                    "SELECT id FROM ledgersync.fetch_jobs($1, 'default', 10, 30, $2, $3)",
                    [worker, released.map(\.0), released.map(\.1)]
                ).rows.map { try $0.decode("id", as: Int64.self) }
            }
            #expect(try await fetch("a") == [ids[0]])
            #expect(try await fetch("a").isEmpty, "the one slot is held")
            let firstRun = try await runID(db, ids[0])
            #expect(try await fetch("b", released: [(ids[0], firstRun)]).isEmpty, "only the worker that holds a run can give its slot back")
            #expect(try await fetch("a", released: [(ids[0], firstRun + 1_000)]).isEmpty, "nor for another run")
            #expect(try await fetch("a", released: [(ids[0], firstRun)]) == [ids[1]], "the slot is taken by the next job at once")
            #expect(try await db.queue.job(id: ids[0])?.state == .running, "the first job still runs, without its slot")
            #expect(try await fetch("b").isEmpty, "the second job holds the slot now")

            // The first job is retried: claimed again, it holds a slot again.
            try await db.pool.query(QueueSQLText.retry, [[ids[0]], [firstRun], [0.0], [JSONText(#"{"class":"transient"}"#)]])
            let secondRun = try await runID(db, ids[1])
            #expect(try await fetch("b", released: [(ids[1], secondRun)]).isEmpty, "b does not hold the second job's run")
            #expect(
                try await fetch("a", released: [(ids[1], secondRun)]) == [ids[2]],
                "the third job has waited longer (run_at) than the retried one")
            #expect(try await fetch("a", released: [(ids[2], try await runID(db, ids[2]))]) == [ids[0]])
            // Its first run gave the slot back; this run holds one until it says otherwise.
            let holding = try await db.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE limit_key = 'acct' AND state = 'running' AND NOT limit_released")
            #expect(holding == 1)
            #expect(try await fetch("a").isEmpty)
        }
    }

    @Test("results are guarded by run: a late result of a rescued run changes nothing")
    func resultsGuardedByRun() async throws {
        try await withTestDatabase { db in
            let id = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            let staleRun = try #require(try await fetch(db, worker: "a", lease: 30).first).decode("run_id", as: Int64.self)
            // The lease runs out by the clock's own say-so, not by a sleep that hopes it has.
            try await db.pool.query("UPDATE ledgersync.jobs SET lease_expires_at = now() - interval '1 second' WHERE locked_by = 'a'")
            let rescued = try await db.pool.query(QueueSQLText.rescue, [100]).rows
            #expect(rescued.count == 1)
            // A rescued job waits a little (its run may have crashed the worker). The wait is
            // read from the row, measured from the rescue itself (its history entry has the same
            // now()): 1 s, jittered down by up to 25 %. (Not by fetching at once and expecting
            // nothing: on a loaded machine that second may already have passed.)
            let waitsBackoff = try await db.count(
                """
                SELECT count(*) FROM ledgersync.jobs
                WHERE run_at - (errors -> -1 ->> 'at')::timestamptz BETWEEN interval '0.74 seconds' AND interval '1.01 seconds'
                """)
            #expect(waitsBackoff == 1)
            // ... and then runs again elsewhere.
            try await db.pool.query("UPDATE ledgersync.jobs SET run_at = now()")
            #expect(try await fetch(db, worker: "b").count == 1)
            // Worker a comes back from the dead and reports its run as done.
            let stale = try await db.pool.query(QueueSQLText.complete, [[id], [staleRun]])
            #expect(stale.affectedRows == 0)
            let job = try #require(try await db.queue.job(id: id))
            #expect(job.state == .running && job.attempt == 2 && job.lockedBy == "b")
            #expect(job.errors.map(\.class) == ["lost"])
            #expect(try await db.pool.query(QueueSQLText.complete, [[id], [try await runID(db, id)]]).affectedRows == 1)
        }
    }

    @Test("rescue fails a lost job that has no attempts left; leases being renewed are left alone")
    func rescueRespectsAttemptsAndLeases() async throws {
        try await withTestDatabase { db in
            let lastTry = try await db.queue.enqueue(EnqueueRequest(kind: "k", maxAttempts: 1))
            _ = try await fetch(db, worker: "dead", lease: 30)
            let healthy = try await db.queue.enqueue(EnqueueRequest(kind: "k"))
            _ = try await fetch(db, worker: "alive", lease: 30)
            try await db.pool.query("UPDATE ledgersync.jobs SET lease_expires_at = now() - interval '1 second' WHERE locked_by = 'dead'")
            #expect(try await db.pool.query(QueueSQLText.rescue, [100]).rows.count == 1)
            #expect(try await db.queue.job(id: lastTry)?.state == .failed)
            #expect(try await db.queue.job(id: healthy)?.state == .running)
        }
    }

    @Test("pruning deletes finished jobs past their state's retention, and nothing else")
    func pruneByStateRetention() async throws {
        try await withTestDatabase { db in
            let ids = try await db.queue.enqueueMany((0..<5).map { _ in EnqueueRequest(kind: "k") })
            try await db.pool.query(
                """
                UPDATE ledgersync.jobs SET state = s.state::ledgersync.job_state, finalized_at = now() - s.age
                FROM (VALUES ($1::bigint, 'completed', interval '2 days'), ($2, 'completed', interval '1 hour'),
                             ($3, 'failed', interval '2 days'), ($4, 'cancelled', interval '8 days')) AS s(id, state, age)
                WHERE jobs.id = s.id
                """, [ids[0], ids[1], ids[2], ids[3]])
            let deleted = try await db.pool.query(QueueSQLText.prune, [86_400.0, 7 * 86_400.0, 30 * 86_400.0, 1000]).affectedRows
            #expect(deleted == 2)
            let left = try await db.pool.query("SELECT id FROM ledgersync.jobs ORDER BY id").rows.map {
                try $0.decode("id", as: Int64.self)
            }
            #expect(left == [ids[1], ids[2], ids[4]])
        }
    }

    @Test("operators retry failed jobs by filter (one more attempt each) and cancel by id")
    func operatorRetryAndCancel() async throws {
        try await withTestDatabase { db in
            let pushes = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "invoice.push", maxAttempts: 1) })
            let other = try await db.queue.enqueue(EnqueueRequest(kind: "customer.sync", maxAttempts: 1))
            _ = try await fetch(db)
            var runs: [Int64] = []
            for id in pushes + [other] { runs.append(try await runID(db, id)) }
            try await db.pool.query(
                QueueSQLText.fail, [pushes + [other], runs, Array(repeating: JSONText(#"{"class":"permanent"}"#), count: 4)])
            let retried = try await db.queue.retry(JobFilter(states: [.failed], kind: "invoice.push"))
            #expect(Set(retried) == Set(pushes))
            for id in pushes {
                let job = try #require(try await db.queue.job(id: id))
                #expect(job.state == .available && job.maxAttempts == 2 && job.finalizedAt == nil && job.errors.count == 1)
            }
            #expect(try await db.queue.job(id: other)?.state == .failed)
            #expect(try await db.queue.cancel(JobFilter(id: pushes[0])) == [pushes[0]])
            #expect(try await db.queue.cancel(JobFilter(id: pushes[0])).isEmpty, "already cancelled")
            #expect(try await db.queue.retry(JobFilter(id: pushes[1])).isEmpty, "available jobs are not retried")
            let stats = try await db.queue.stats()
            #expect(stats.first { $0.kind == "invoice.push" && $0.state == .available }?.jobs == 2)
        }
    }
}

/// The transition statements, as the worker runs them (the generated copies of sql/queue/queries).
enum QueueSQLText {
    static let complete = try! String(contentsOf: sqlFile("complete_jobs.sql"), encoding: .utf8)
    static let retry = try! String(contentsOf: sqlFile("retry_jobs.sql"), encoding: .utf8)
    static let fail = try! String(contentsOf: sqlFile("fail_jobs.sql"), encoding: .utf8)
    static let rescue = try! String(contentsOf: sqlFile("rescue_expired_leases.sql"), encoding: .utf8)
    static let prune = try! String(contentsOf: sqlFile("prune_finished_jobs.sql"), encoding: .utf8)

    static func sqlFile(_ name: String) -> URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("sql/queue/queries/\(name)")
    }
}
