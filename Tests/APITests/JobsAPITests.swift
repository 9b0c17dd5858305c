import API
import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// Enqueue, list, show, retry and cancel over HTTP, checked against the database.
@Suite(.timeLimit(.minutes(3)))
struct JobsAPITests {
    @Test("enqueue: 201 with the job; the same unique_key again returns that job with 200 and enqueues nothing")
    func enqueueIsIdempotentWithAUniqueKey() async throws {
        try await APIHarness.with { api in
            let body = """
                {"kind": "test.echo", "args": {"invoice": {"id": "inv_1", "amount": 12.30, "big": 12345678901234567890}},
                 "queue": "billing", "priority": 3, "max_attempts": 5, "unique_key": "invoice.push:inv_1",
                 "serial_key": "cus_1", "limit_key": "netsuite:1", "run_at": "2030-01-02T03:04:05Z"}
                """
            let first = try await api.post("/v1/jobs", body)
            #expect(first.status == 201, "\(first)")
            #expect(first.object["created"] as? Bool == true)
            let job = try #require(first.object["job"] as? [String: Any])
            let id = try #require(job["id"] as? Int)
            #expect(job["state"] as? String == "available" && job["queue"] as? String == "billing" && job["priority"] as? Int == 3)
            #expect(
                job["max_attempts"] as? Int == 5 && job["serial_key"] as? String == "cus_1" && job["limit_key"] as? String == "netsuite:1")
            #expect(job["run_at"] as? String == "2030-01-02T03:04:05.000Z")

            // A client retrying after a timeout: same unique key, nothing new.
            let again = try await api.post("/v1/jobs", body)
            #expect(again.status == 200, "\(again)")
            #expect(again.object["created"] as? Bool == false)
            #expect((again.object["job"] as? [String: Any])?["id"] as? Int == id)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs") == 1)

            // The args reached the database exactly as sent: no rounding through a Double.
            let stored: String = try await api.pool.query("SELECT args::text AS a FROM ledgersync.jobs WHERE id = $1", [Int64(id)]).rows[0]
                .decode("a")
            #expect(stored.contains("12.30") && stored.contains("12345678901234567890"), "\(stored)")
            // And come back so: the answer shows them as stored.
            #expect(first.text.contains("\"amount\":12.30") && first.text.contains("12345678901234567890"), "\(first)")
        }
    }

    @Test("a sync job enqueued over HTTP gets the keys ledgersync.enqueue_sync would give it, unless the client sets its own")
    func syncJobsGetTheirKeys() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            func enqueue(_ kind: String, _ document: String, extra: String = "") async throws -> [String: Any] {
                let answer = try await api.post(
                    "/v1/jobs", #"{"kind": "\#(kind)", "args": {"connection_id": "\#(connection)", \#(document)}\#(extra)}"#)
                #expect(answer.status == 201, "\(answer)")
                return try #require(answer.object["job"] as? [String: Any])
            }
            // The same keys as from SQL: one serial key per connection and customer, one limit key per connection.
            let invoice = try await enqueue("invoice.push", #""invoice": {"lago_id": "inv-1", "customer": {"lago_id": "cus-7"}}"#)
            let sqlJob = try await SyncQueue(pool: api.pool).enqueue(
                connection: try #require(UUID(uuidString: connection)), kind: .invoicePush,
                document: JSONText(#"{"invoice": {"lago_id": "inv-2", "customer": {"lago_id": "cus-7"}}}"#))
            let fromSQL: String = try await api.pool.query(
                "SELECT serial_key || ' ' || limit_key AS k FROM ledgersync.jobs WHERE id = $1", [sqlJob]
            ).rows[0].decode("k")
            #expect("\(invoice["serial_key"] as? String ?? "-") \(invoice["limit_key"] as? String ?? "-")" == fromSQL)
            #expect(invoice["serial_key"] as? String == "sync:\(connection):customer:cus-7")
            #expect(invoice["limit_key"] as? String == "netsuite:\(connection)")
            // A payment names only its invoice: the customer comes from the args' customer_id.
            let payment = try await enqueue(
                "payment.apply", #""payment": {"lago_id": "pay-1", "invoice_ids": ["inv-1"]}, "customer_id": "cus-7""#)
            #expect(payment["serial_key"] as? String == "sync:\(connection):customer:cus-7")
            // Keys the client gives are kept.
            let own = try await enqueue(
                "customer.sync", #""customer": {"lago_id": "cus-8"}"#, extra: #", "serial_key": "mine", "limit_key": "ours""#)
            #expect(own["serial_key"] as? String == "mine" && own["limit_key"] as? String == "ours")
        }
    }

    @Test("batch: all in one transaction; a held unique key is reported as existing")
    func batch() async throws {
        try await APIHarness.with { api in
            let held = try await api.makeJob(state: .available, uniqueKey: "k1")
            let answer = try await api.post(
                "/v1/jobs/batch",
                """
                {"jobs": [{"kind": "test.echo", "unique_key": "k1"}, {"kind": "test.echo", "args": {"n": 1}}, {"kind": "test.echo", "queue": "other"}]}
                """)
            #expect(answer.status == 201, "\(answer)")
            #expect(answer.object["created"] as? Int == 2 && answer.object["existing"] as? Int == 1)
            let jobs = try #require(answer.object["jobs"] as? [[String: Any]])
            #expect(jobs.count == 3 && jobs[0]["id"] as? Int == Int(held) && jobs[0]["created"] as? Bool == false)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs") == 3)
        }
    }

    @Test("list: filters by state, kind, queue, connection and creation time; the cursor pages through without overlap")
    func listAndPaginate() async throws {
        try await APIHarness.with { api in
            let connection = UUID().uuidString.lowercased()
            var ids: [Int64] = []
            for index in 0..<5 {
                ids.append(
                    try await api.queue.enqueue(EnqueueRequest(kind: "test.echo", args: JSONText("{\"n\": \(index)}"), queue: "paged")))
            }
            let mine = try await api.queue.enqueue(
                EnqueueRequest(kind: "test.echo", args: JSONText("{\"connection_id\": \"\(connection)\"}"), queue: "other"))
            let failed = try await api.makeJob(state: .failed)

            var seen: [Int] = []
            var cursor: String?
            var pages = 0
            repeat {
                let page = try await api.get("/v1/jobs?queue=paged&limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""))
                #expect(page.status == 200, "\(page)")
                let jobs = try #require(page.object["jobs"] as? [[String: Any]])
                seen += jobs.compactMap { $0["id"] as? Int }
                cursor = page.object["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen == ids.reversed().map(Int.init), "newest first, each once")
            #expect(pages == 3)

            let byConnection = try await api.get("/v1/jobs?connection_id=\(connection)")
            #expect((byConnection.object["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(mine)], "\(byConnection)")
            let byState = try await api.get("/v1/jobs?state=failed,cancelled&kind=test.echo")
            #expect((byState.object["jobs"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(failed)], "\(byState)")
            let future = try await api.get("/v1/jobs?created_after=2999-01-01T00:00:00Z")
            #expect((future.object["jobs"] as? [Any])?.isEmpty == true, "\(future)")
            let past = try await api.get("/v1/jobs?created_before=2999-01-01T00:00:00Z&limit=500")
            #expect((past.object["jobs"] as? [Any])?.count == 7, "\(past)")
        }
    }

    @Test("show, retry and cancel one job; retry and cancel by filter")
    func showRetryCancel() async throws {
        try await APIHarness.with { api in
            let failed = try await api.makeJob(state: .failed)
            let shown = try await api.get("/v1/jobs/\(failed)")
            #expect(shown.status == 200, "\(shown)")
            let job = try #require(shown.object["job"] as? [String: Any])
            let errors = try #require(job["errors"] as? [[String: Any]])
            #expect(
                errors.count == 1 && errors[0]["message"] as? String == "NetSuite said no" && errors[0]["code"] as? String == "USER_ERROR")
            #expect((job["last_error"] as? [String: Any])?["class"] as? String == "permanent")

            let retried = try await api.post("/v1/jobs/\(failed)/retry")
            #expect(retried.status == 200, "\(retried)")
            #expect(try await api.state(of: failed) == "available")
            #expect(try await api.database.count("SELECT max_attempts FROM ledgersync.jobs WHERE id = \(failed)") == 2, "one more attempt")

            let cancelled = try await api.post("/v1/jobs/\(failed)/cancel")
            #expect(cancelled.status == 200, "\(cancelled)")
            #expect(try await api.state(of: failed) == "cancelled")

            let a = try await api.makeJob(kind: "test.echo", state: .failed)
            let b = try await api.makeJob(kind: "test.echo", state: .failed)
            let untouched = try await api.makeJob(kind: "invoice.push", state: .failed)
            let bulkRetry = try await api.post("/v1/jobs/retry", "{\"state\": [\"failed\"], \"kind\": \"test.echo\"}")
            #expect(bulkRetry.status == 200 && bulkRetry.object["count"] as? Int == 2, "\(bulkRetry)")
            #expect(Set((bulkRetry.object["ids"] as? [Int]) ?? []) == [Int(a), Int(b)])
            #expect(try await api.state(of: untouched) == "failed")

            let bulkCancel = try await api.post("/v1/jobs/cancel", "{\"kind\": \"test.echo\", \"state\": \"available\"}")
            #expect(bulkCancel.status == 200 && bulkCancel.object["count"] as? Int == 2, "\(bulkCancel)")
            #expect(try await api.state(of: a) == "cancelled")
            #expect(try await api.state(of: b) == "cancelled")
        }
    }

    @Test("stats: counts by state, kind and queue, the oldest runnable job's age, throughput")
    func stats() async throws {
        try await APIHarness.with { api in
            // Ages set in the database, so each figure has one right value (give or take the
            // seconds the test itself takes): the oldest runnable job waits two hours; one job
            // completed now, one 30 minutes ago, one two hours ago (outside the hour).
            let old = try await api.makeJob(state: .available)
            _ = try await api.makeJob(state: .available)
            try await api.pool.query("UPDATE ledgersync.jobs SET run_at = now() - interval '2 hours' WHERE id = $1", [old])
            _ = try await api.makeJob(state: .completed)
            let halfHour = try await api.makeJob(state: .completed)
            let twoHours = try await api.makeJob(kind: "invoice.push", state: .completed)
            try await api.pool.query("UPDATE ledgersync.jobs SET finalized_at = now() - interval '30 minutes' WHERE id = $1", [halfHour])
            try await api.pool.query("UPDATE ledgersync.jobs SET finalized_at = now() - interval '2 hours' WHERE id = $1", [twoHours])
            _ = try await api.makeJob(kind: "invoice.push", state: .failed)
            let answer = try await api.get("/v1/stats")
            #expect(answer.status == 200, "\(answer)")
            let byState = try #require(answer.object["by_state"] as? [String: Int])
            #expect(byState == ["available": 2, "running": 0, "completed": 3, "retryable": 0, "failed": 1, "cancelled": 0], "\(byState)")
            #expect((answer.object["by_kind"] as? [String: Int]) == ["test.echo": 4, "invoice.push": 2])
            #expect((answer.object["by_queue"] as? [String: Int]) == ["default": 6])
            let oldest = try #require((answer.object["oldest_available_age_seconds"] as? NSNumber)?.doubleValue, "\(answer)")
            #expect(oldest >= 7_200 && oldest < 7_200 + 120, "oldest runnable age \(oldest) s, expected about two hours")
            #expect(answer.object["completed_last_minute"] as? Int == 1, "\(answer)")
            #expect(answer.object["completed_last_hour"] as? Int == 2, "\(answer)")
        }
    }

    @Test("healthz and readyz need no token; readyz is 503 when the schema is not the one the binary knows")
    func health() async throws {
        try await APIHarness.with { api in
            #expect(try await api.get("/healthz", token: "").status == 200)
            let ready = try await api.get("/readyz", token: "")
            #expect(ready.status == 200 && ready.object["status"] as? String == "ready", "\(ready)")
            let document = try await api.get("/openapi.json", token: "")
            #expect(document.status == 200 && document.object["openapi"] as? String == "3.0.3", "\(document.text.prefix(200))")

            try await api.pool.query("INSERT INTO ledgersync.schema_migrations (line, version, name) VALUES ('api', 99, 'from the future')")
            let notReady = try await api.get("/readyz", token: "")
            #expect(notReady.status == 503 && notReady.object["status"] as? String == "not_ready", "\(notReady)")
        }
    }
}

extension TestDatabase {
    /// The first column of the first row, as Int.
    func count(_ sql: String) async throws -> Int {
        let rows = try await pool.query("SELECT (\(sql))::bigint AS n").rows
        return Int(try rows[0].decode("n", as: Int64.self))
    }
}
