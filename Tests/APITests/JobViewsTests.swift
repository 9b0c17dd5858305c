import Foundation
import JobQueue
import Testing

/// The API's job views name the billing object a sync job is about, and a completed job's
/// earlier errors are history, not its "last error".
@Suite(.timeLimit(.minutes(3)))
struct JobViewsTests {
    static let invoiceArgs =
        #"{"connection_id": "00000000-0000-0000-0000-000000000001", "invoice": {"lago_id": "inv-77", "number": "INV-2026-0077", "customer": {"lago_id": "cus-5"}}}"#
    static let earlierError = #"[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "transient", "message": "NetSuite HTTP 503"}]"#

    @Test("show and list: a sync job's billing object (kind, billing id, number, customer); null for other kinds")
    func billingObject() async throws {
        try await APIHarness.with { api in
            let invoiceJob = try await api.makeJob(kind: "invoice.push", state: .failed, args: Self.invoiceArgs)
            let memoJob = try await api.makeJob(
                kind: "credit_memo.push", state: .available,
                args: #"{"lago_id": "cn-3", "number": "CN-3", "lago_customer_id": "cus-9"}"#)
            let other = try await api.makeJob(kind: "test.echo", state: .available, args: #"{"invoice": {"lago_id": "x"}}"#)

            let shown = try #require(try await api.get("/v1/jobs/\(invoiceJob)").object["job"] as? [String: Any])
            let object = try #require(shown["billing_object"] as? [String: Any], "\(shown)")
            #expect(object["document"] as? String == "invoice")
            #expect(object["billing_id"] as? String == "inv-77")
            #expect(object["number"] as? String == "INV-2026-0077")
            #expect(object["customer_id"] as? String == "cus-5")

            let memo = try #require(try await api.get("/v1/jobs/\(memoJob)").object["job"] as? [String: Any])
            let memoObject = try #require(memo["billing_object"] as? [String: Any], "\(memo)")
            #expect(memoObject["document"] as? String == "credit_note" && memoObject["billing_id"] as? String == "cn-3")
            #expect(memoObject["number"] as? String == "CN-3" && memoObject["customer_id"] as? String == "cus-9")

            let plain = try #require(try await api.get("/v1/jobs/\(other)").object["job"] as? [String: Any])
            #expect(plain["billing_object"] is NSNull, "a non-sync kind names no billing object: \(plain)")

            let listed = try #require(try await api.get("/v1/jobs?kind=invoice.push").object["jobs"] as? [[String: Any]])
            #expect(listed.count == 1)
            #expect((listed.first?["billing_object"] as? [String: Any])?["billing_id"] as? String == "inv-77")
        }
    }

    @Test("dashboard: the job table and the job page name the billing object; a completed job's old error is not its last")
    func dashboard() async throws {
        try await APIHarness.with { api in
            let failed = try await api.makeJob(kind: "invoice.push", state: .failed, args: Self.invoiceArgs)
            let completed = try await api.makeJob(
                kind: "customer.sync", state: .completed,
                args: #"{"connection_id": "00000000-0000-0000-0000-000000000001", "customer": {"lago_id": "cus-31"}}"#)
            try await api.pool.query(
                "UPDATE ledgersync.jobs SET errors = $2::jsonb, attempt = 2 WHERE id = $1",
                [completed, #"[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "transient", "message": "STALE-ERROR"}]"#])
            let cookie = try await DashboardTests.signIn(api)
            let table = try await DashboardTests.page(api, "/dashboard/jobs", cookie: cookie)
            #expect(table.status == 200)
            #expect(table.text.contains("<th>Object</th>"))
            #expect(table.text.contains("invoice inv-77 (INV-2026-0077)"), "\(table.text)")
            #expect(table.text.contains("customer cus-31"))
            #expect(!table.text.contains("STALE-ERROR"), "a completed job shows an old error as its last")
            let page = try await DashboardTests.page(api, "/dashboard/jobs/\(failed)", cookie: cookie)
            #expect(page.text.contains("<th>Billing object</th><td>invoice inv-77 (INV-2026-0077)</td>"), "\(page.text)")
        }
    }

    @Test("a completed job with errors of earlier attempts: last_error is null, the errors stay listed; a failed one keeps it")
    func completedJobHasNoLastError() async throws {
        try await APIHarness.with { api in
            let completed = try await api.makeJob(kind: "invoice.push", state: .completed, args: Self.invoiceArgs)
            try await api.pool.query(
                "UPDATE ledgersync.jobs SET errors = $2::jsonb, attempt = 2 WHERE id = $1", [completed, Self.earlierError])
            let failed = try await api.makeJob(kind: "invoice.push", state: .failed, args: Self.invoiceArgs)

            let done = try #require(try await api.get("/v1/jobs/\(completed)").object["job"] as? [String: Any])
            #expect(done["last_error"] is NSNull, "\(done)")
            #expect((done["errors"] as? [[String: Any]])?.count == 1)

            let bad = try #require(try await api.get("/v1/jobs/\(failed)").object["job"] as? [String: Any])
            #expect((bad["last_error"] as? [String: Any])?["message"] as? String == "NetSuite said no")
        }
    }

    @Test("show and the dashboard's job page: what a waiting sync job waits for (the job that creates it, parked); null otherwise")
    func waitingFor() async throws {
        try await APIHarness.with { api in
            let invoiceJob = try await api.makeJob(kind: "invoice.push", state: .available, args: Self.invoiceArgs)
            let payment = try await api.makeJob(
                kind: "payment.apply", state: .available,
                args:
                    #"{"connection_id": "00000000-0000-0000-0000-000000000001", "customer_id": "cus-5", "payment": {"lago_id": "pay-1", "invoice_ids": ["inv-77"]}}"#
            )
            // As a worker leaves it: its wait recorded (sync 007) and parked on the invoice (queue 009).
            try await api.pool.query(
                "SELECT ledgersync.record_dependency_wait($1, '00000000-0000-0000-0000-000000000001', 'invoice', 'inv-77')", [payment])
            try await api.pool.query(
                "UPDATE ledgersync.jobs SET wait_key = 'sync:00000000-0000-0000-0000-000000000001:invoice:inv-77', run_at = now() + interval '30 seconds' WHERE id = $1",
                [payment])

            let shown = try #require(try await api.get("/v1/jobs/\(payment)").object["job"] as? [String: Any])
            let waiting = try #require(shown["waiting_for"] as? [String: Any], "\(shown)")
            #expect(waiting["object_type"] as? String == "invoice" && waiting["billing_id"] as? String == "inv-77")
            #expect(waiting["job_id"] as? Int64 == invoiceJob || (waiting["job_id"] as? Int).map(Int64.init) == invoiceJob, "\(waiting)")
            #expect(waiting["job_kind"] as? String == "invoice.push")
            #expect(waiting["parked"] as? Bool == true)
            #expect(waiting["since"] is String)

            let plain = try #require(try await api.get("/v1/jobs/\(invoiceJob)").object["job"] as? [String: Any])
            #expect(plain["waiting_for"] is NSNull, "\(plain)")

            let cookie = try await DashboardTests.signIn(api)
            let page = try await DashboardTests.page(api, "/dashboard/jobs/\(payment)", cookie: cookie)
            #expect(
                page.text.contains("<th>Waiting for</th><td class=waiting-for>invoice inv-77 (invoice.push job \(invoiceJob)), since "),
                "\(page.text)")
            #expect(page.text.contains("<a href=\"/dashboard/jobs/\(invoiceJob)\">job \(invoiceJob)</a>"))
            #expect(page.text.contains("parked: holds no place in its customer's lane"))
        }
    }
}
