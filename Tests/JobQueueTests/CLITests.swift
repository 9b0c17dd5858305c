import API
import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// The `ledgersync` binary as users meet it: bad input gets one line and an exit code that
/// means something; the operator commands do what they say.
@Suite(.timeLimit(.minutes(3)))
struct CLITests {
    /// Exactly one line on stderr, and nothing that looks like a crash.
    func expectOneLineError(
        _ result: (status: Int32, stdout: String, stderr: String), status: Int32, mentioning text: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let lines = result.stderr.split(whereSeparator: \.isNewline)
        #expect(result.status == status, "exit \(result.status), stderr: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(lines.count == 1, "stderr should be one line: \(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(text), "stderr should mention '\(text)': \(result.stderr)", sourceLocation: sourceLocation)
        for crash in ["Fatal error", "Stack dump", "Backtrace", "Current stack trace"] {
            #expect(!result.stderr.contains(crash), sourceLocation: sourceLocation)
        }
    }

    @Test(
        "bad arguments: one line, exit 64",
        arguments: [
            (["jobs", "list", "--state", "bogus"], "unknown state 'bogus'"),
            (["worker", "--concurrency", "0"], "--concurrency must be from 1 to 10000, got 0"),
            (["worker", "--lease", "soon"], "soon"),
            (["jobs", "show", "abc"], "abc"),
            (["jobs", "retry"], "give a job id or a filter"),
            (["enqueue", "invoice.push", "--args", "[1,2]"], "--args must be a JSON object"),
            (["enqueue", "invoice.push", "--priority", "12"], "--priority must be from 0 to 9, got 12"),
            (["limits", "set", "acct"], "give the limit"),
            (["frobnicate"], "frobnicate"),
        ])
    func badArguments(arguments: [String], message: String) async throws {
        let result = try await LedgersyncProcess.run(arguments, databaseURL: "postgresql://nobody@127.0.0.1:1/none")
        expectOneLineError(result, status: 64, mentioning: message)
    }

    @Test(
        "a bad or missing DATABASE_URL: one line, exit 69 or 78",
        arguments: [
            ("postgresql://nobody@127.0.0.1:1/none", Int32(69), "cannot connect to PostgreSQL"),
            ("postgresql://[oops", Int32(69), "cannot connect to PostgreSQL"),
            ("host=127.0.0.1 port=notaport", Int32(69), "cannot connect to PostgreSQL"),
            ("", Int32(78), "DATABASE_URL is not set"),
        ])
    func badDatabaseURL(url: String, status: Int32, message: String) async throws {
        for command in [["jobs", "list"], ["migrate"], ["worker", "--diagnostic-kinds"]] {
            let result = try await LedgersyncProcess.run(command, databaseURL: url.isEmpty ? nil : url)
            expectOneLineError(result, status: status, mentioning: message)
        }
    }

    @Test("--help is full help, exit 0")
    func help() async throws {
        let result = try await LedgersyncProcess.run(["jobs", "retry", "--help"], databaseURL: nil)
        #expect(result.status == 0)
        #expect(result.stdout.contains("--older-than"))
    }

    @Test("migrate: two processes at once apply each migration once; an unmigrated or newer schema is refused")
    func migrate() async throws {
        let empty = try await TestDatabase.create(migrations: [])
        let refused = try await LedgersyncProcess.run(["jobs", "list"], databaseURL: empty.url)
        expectOneLineError(refused, status: 78, mentioning: "run `ledgersync migrate` first")

        async let first = LedgersyncProcess.run(["migrate"], databaseURL: empty.url)
        async let second = LedgersyncProcess.run(["migrate"], databaseURL: empty.url)
        let results = try await [first, second]
        #expect(results.allSatisfy { $0.status == 0 }, "\(results)")
        let rows = try await empty.pool.query("SELECT line, version FROM ledgersync.schema_migrations ORDER BY line, version").rows
        let applied = try rows.map { "\(try $0.decode("line", as: String.self))/\(try $0.decode("version", as: Int.self))" }
        // Both in (line, version) order, versions compared as numbers (sync/9 before sync/10).
        let expected = allMigrations.sorted { ($0.line, $0.version) < ($1.line, $1.version) }.map { "\($0.line)/\($0.version)" }
        #expect(applied == expected)
        let status = try await LedgersyncProcess.run(["migrate", "--status"], databaseURL: empty.url)
        // The last version of each line, not the count: lines are numbered per branch of work
        // (issue 11 gave out queue 006 and 007 to two branches), so one may lack a number.
        func last(_ migrations: [Migration]) -> Int { migrations.map(\.version).max() ?? 0 }
        #expect(status.stdout.contains("queue: version \(last(JobQueue.migrations)) of \(last(JobQueue.migrations))"))
        #expect(status.stdout.contains("sync: version \(last(SyncSchema.migrations)) of \(last(SyncSchema.migrations))"))
        #expect(status.stdout.contains("api: version \(last(APISchema.migrations)) of \(last(APISchema.migrations))"))

        try await empty.pool.query(
            "INSERT INTO ledgersync.schema_migrations (line, version, name) VALUES ('queue', 999, 'from the future')")
        let newer = try await LedgersyncProcess.run(["migrate"], databaseURL: empty.url)
        expectOneLineError(newer, status: 78, mentioning: "newer than")
        await empty.drop()
    }

    @Test("limits list: a job that gave its slot back is running but not holding")
    func limitsList() async throws {
        try await withTestDatabase { db in
            try await db.queue.setConcurrencyLimit("acct", maxRunning: 2)
            let ids = try await db.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k", limitKey: "acct") })
            let claimed = try await db.pool.query("SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30)").rows.count
            #expect(claimed == 2)
            // The first run hands its slot back; the fetch that marks it claims the third job.
            let firstRun = try #require(try await db.pool.query("SELECT run_id FROM ledgersync.jobs WHERE id = $1", [ids[0]]).rows.first)
                .decode("run_id", as: Int64.self)
            let next = try await db.pool.query(
                "SELECT id FROM ledgersync.fetch_jobs('w', 'default', 10, 30, $1, $2)", [[ids[0]], [firstRun]]
            ).rows.map { try $0.decode("id", as: Int64.self) }
            #expect(next == [ids[2]])
            let list = try await LedgersyncProcess.run(["limits", "list", "--json"], databaseURL: db.url)
            #expect(list.status == 0, "\(list.stderr)")
            let limits = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            let acct = try #require(limits?.first { $0["limit_key"] as? String == "acct" })
            #expect(acct["max_running"] as? Int == 2)
            #expect(acct["holding"] as? Int == 2)
            #expect(acct["running"] as? Int == 3)
            let text = try await LedgersyncProcess.run(["limits", "list"], databaseURL: db.url)
            #expect(text.stdout.contains("HOLDING") && text.stdout.contains("acct"))
        }
    }

    @Test("jobs list, show, retry, cancel and stats, in text and JSON")
    func operatorCommands() async throws {
        try await withTestDatabase { db in
            let failing = try await db.queue.enqueue(EnqueueRequest(kind: "diag.fail", maxAttempts: 1))
            let waiting = try await db.queue.enqueue(
                EnqueueRequest(kind: "invoice.push", queue: "sync", runAt: Date().addingTimeInterval(3600)))
            let worker = try startWorkers(1, on: db)
            #expect(try await eventually { try await db.queue.job(id: failing)?.state == .failed })
            await stopWorkers(worker)

            let list = try await LedgersyncProcess.run(["jobs", "list", "--state", "failed"], databaseURL: db.url)
            #expect(list.status == 0)
            #expect(list.stdout.contains("diag.fail") && list.stdout.contains("diag.fail fails on purpose"))
            #expect(!list.stdout.contains("invoice.push"))

            let listJSON = try await LedgersyncProcess.run(["jobs", "list", "--queue", "sync", "--json"], databaseURL: db.url)
            let listed = try JSONSerialization.jsonObject(with: Data(listJSON.stdout.utf8)) as? [[String: Any]]
            #expect(listed?.count == 1)
            #expect((listed?.first?["id"] as? Int).map(Int64.init) == waiting)

            let show = try await LedgersyncProcess.run(["jobs", "show", "\(failing)", "--json"], databaseURL: db.url)
            let shown = try JSONSerialization.jsonObject(with: Data(show.stdout.utf8)) as? [String: Any]
            #expect(shown?["state"] as? String == "failed")
            #expect((shown?["errors"] as? [[String: Any]])?.first?["code"] as? String == "DIAG")

            let missing = try await LedgersyncProcess.run(["jobs", "show", "987654"], databaseURL: db.url)
            expectOneLineError(missing, status: 2, mentioning: "no job with id 987654")

            let retry = try await LedgersyncProcess.run(["jobs", "retry", "--kind", "diag.fail", "--json"], databaseURL: db.url)
            #expect(retry.status == 0)
            #expect(retry.stdout.contains("\(failing)"))
            #expect(try await db.queue.job(id: failing)?.state == .available)

            let retryAgain = try await LedgersyncProcess.run(["jobs", "retry", "\(waiting)"], databaseURL: db.url)
            expectOneLineError(retryAgain, status: 1, mentioning: "job \(waiting) is available")

            let cancel = try await LedgersyncProcess.run(["jobs", "cancel", "--queue", "sync"], databaseURL: db.url)
            #expect(cancel.status == 0 && cancel.stdout.contains("cancelled 1 job"))
            #expect(try await db.queue.job(id: waiting)?.state == .cancelled)

            let stats = try await LedgersyncProcess.run(["jobs", "stats", "--json"], databaseURL: db.url)
            let rows = try JSONSerialization.jsonObject(with: Data(stats.stdout.utf8)) as? [[String: Any]]
            #expect(
                rows?.contains {
                    $0["kind"] as? String == "invoice.push" && $0["state"] as? String == "cancelled" && $0["jobs"] as? Int == 1
                } == true)

            let enqueue = try await LedgersyncProcess.run(
                ["enqueue", "invoice.push", "--args", #"{"invoice_id": "inv_1"}"#, "--serial-key", "acme", "--json"], databaseURL: db.url)
            #expect(enqueue.status == 0 && enqueue.stdout.contains("\"id\""))
        }
    }
}
