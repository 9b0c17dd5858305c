import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import NetSuite
import Postgres
import Simulators
import Sync
import Testing

/// An invoice line without an item mapping lands on the connection's fallback item: the job
/// completes, and says so where people look (sync migration 012) — `ledgersync jobs show`
/// and `jobs list`, GET /v1/jobs/{id}, the dashboard's job page, /metrics; so does a credit
/// note crediting that fee. Pushes of the same invoice and credit note once the code is
/// mapped remove the warnings.
@Suite("Fallback-item warning end to end", .serialized, .timeLimit(.minutes(5)))
struct FallbackWarningTests {
    /// An in-process API server over the harness's database, with a token and a dashboard
    /// cookie, stopped when `body` returns or throws.
    struct API {
        let baseURL: String
        let token: String
        let cookie: String
        /// For the connection test route, which this test does not call.
        static let http = HTTPClient(maxConcurrentRequests: 1)
        let http: HTTPClient

        func get(_ path: String, cookie: Bool = false) async throws -> (status: Int, text: String) {
            let headers = cookie ? [(name: "Cookie", value: self.cookie)] : [(name: "Authorization", value: "Bearer \(token)")]
            let response = try await http.execute(HTTPRequest(method: "GET", url: baseURL + path, headers: headers, timeout: .seconds(60)))
            return (response.status, String(decoding: response.body, as: UTF8.self))
        }

        /// The value of `ledgersync_job_warnings{code="fallback_item",kind="<kind>"}`.
        func gauge(_ kind: String = "invoice.push") async throws -> Double? {
            let metrics = try await get("/metrics")
            #expect(metrics.status == 200, "\(metrics.text.prefix(500))")
            let prefix = #"ledgersync_job_warnings{code="fallback_item",kind=""# + kind + #""} "#
            return metrics.text.split(separator: "\n").first { $0.hasPrefix(prefix) }.flatMap { Double($0.dropFirst(prefix.count)) }
        }

        static func with(_ harness: SyncHarness, _ body: (API) async throws -> Void) async throws {
            let migrations = JobQueue.migrations + SyncSchema.migrations + APISchema.migrations
            let pool = APIConfiguration.makePool(url: harness.database.url, maxConnections: 4)
            var configuration = APIConfiguration(
                host: "127.0.0.1", port: 0, pool: pool, secretBox: harness.box, migrations: migrations,
                providers: ProviderRegistry([NetSuiteDriver()]), providerContext: ProviderContext(http: Self.http))
            configuration.allowPrivateNetworks = true
            let ready = AsyncStream<Int>.makeStream()
            let server = Task {
                try await APIServer.run(configuration, gracefulShutdownSignals: []) { port in
                    ready.continuation.yield(port)
                    ready.continuation.finish()
                }
            }
            let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
            func stop() async {
                server.cancel()
                _ = await server.result
                http.shutdown()
                await pool.close()
            }
            do {
                var port = 0
                for await value in ready.stream { port = value }
                let baseURL = "http://127.0.0.1:\(port)"
                let (_, token) = try await APITokenStore(pool: harness.pool).create(name: "e2e", scopes: Set(APIScope.allCases))
                // The dashboard's sign-in, as a browser does it: a one-time code, a form post.
                let (code, _) = try await DashboardSessionStore(pool: harness.pool).createSignInCode(scopes: [.read], label: "e2e")
                let signIn = try await http.execute(
                    HTTPRequest(
                        method: "POST", url: baseURL + "/dashboard/sign-in",
                        headers: [(name: "Content-Type", value: "application/x-www-form-urlencoded")], body: Data("code=\(code)".utf8),
                        timeout: .seconds(60)))
                let setCookie = signIn.headers.first { $0.name.lowercased() == "set-cookie" }?.value
                let cookie = try #require(setCookie?.split(separator: ";").first.map(String.init), "sign-in answered \(signIn.status)")
                try await body(API(baseURL: baseURL, token: token, cookie: cookie, http: http))
            } catch {
                await stop()
                throw error
            }
            await stop()
        }
    }

    /// A credit note of 1.00 on `invoice`, its one item crediting the fee with item `code`.
    static func creditNote(crediting code: String, of invoice: BillingScenario.Invoice) throws -> String {
        let document = try #require(try jsonObject(invoice.json)["invoice"] as? [String: Any])
        let fees = try #require(document["fees"] as? [[String: Any]])
        let fee = try #require(fees.first { ($0["item"] as? [String: Any])?["code"] as? String == code })
        let currency = invoice.currency.code
        return try jsonText([
            "credit_note": [
                "lago_id": "cn-fallback", "number": "CN-FALLBACK", "lago_invoice_id": invoice.lagoID, "issuing_date": "2026-11-03",
                "currency": currency,
                "items": [["lago_id": "cn-fallback-item", "amount_cents": 100, "amount_currency": currency, "fee": fee] as [String: Any]],
                "sub_total_excluding_taxes_amount_cents": 100, "taxes_amount_cents": 0, "total_amount_cents": 100,
                "credit_amount_cents": 100, "refund_amount_cents": 0,
            ] as [String: Any]
        ])
    }

    @Test(
        "an unmapped fee completes on the fallback item with a warning in the CLI, the API, the dashboard and /metrics; mapped and pushed again, the warning goes"
    )
    func fallbackWarning() async throws {
        let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 1, creditNoteEvery: 0, payments: 0, seed: 17)
        let invoice = try #require(scenario.invoices.first)
        try #require(invoice.json.contains("\"storage_gb\""), "the scenario's invoice has a storage_gb fee, which has no item mapping")
        let expected = "1 line on the fallback item 900 (Billing (fallback)): storage_gb (Storage)"
        let storageItem = NetSuiteSimulator.Item(id: "960", name: "Storage", taxable: true)
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration(extraItems: [storageItem])) { harness in
            let workers = try harness.startWorkers(1)
            defer { Task { await stop(workers) } }
            let first = try await harness.enqueue(.invoicePush, invoice.json)
            // A credit note crediting part of the storage fee: its item lands on the fallback
            // item too, and its credit_memo.push job says so.
            let creditNote = try Self.creditNote(crediting: "storage_gb", of: invoice)
            let memoJob = try await harness.enqueue(.creditMemoPush, creditNote, customerID: invoice.customerID)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            #expect(try await harness.job(first).state == "completed")
            #expect(try await harness.job(memoJob).state == "completed")
            #expect(try await JobWarnings.warnings(jobID: memoJob, pool: harness.pool).map(\.message) == [expected])
            // The fallback item is what NetSuite got for that line.
            let record = try #require(harness.simulator.record(.invoice, externalID: invoice.lagoID))
            let items = record.sublist("item").compactMap { $0["item"]?["id"]?.stringValue }
            #expect(items.filter { $0 == "900" }.count == 1, "\(items)")

            // CLI: `jobs show` has a warnings section; `jobs list` marks the job.
            let show = try await LinkedRefsTests.ledgersync(["jobs", "show", "\(first)"], harness)
            #expect(show.status == 0, "\(show)")
            #expect(show.stdout.contains("  warnings:\n    fallback_item: \(expected)\n"), "\(show)")
            let list = try await LinkedRefsTests.ledgersync(["jobs", "list", "--kind", "invoice.push"], harness)
            #expect(list.stdout.contains("completed!"), "\(list)")

            try await API.with(harness) { api in
                let shown = try await api.get("/v1/jobs/\(first)")
                let job = try #require(
                    (try JSONSerialization.jsonObject(with: Data(shown.text.utf8)) as? [String: Any])?["job"] as? [String: Any],
                    "\(shown.text)")
                let warnings = try #require(job["warnings"] as? [[String: Any]], "\(job)")
                #expect(warnings.count == 1)
                #expect(warnings.first?["code"] as? String == "fallback_item")
                #expect(warnings.first?["message"] as? String == expected)
                #expect(warnings.first?["count"] as? Int == 1)

                let page = try await api.get("/dashboard/jobs/\(first)", cookie: true)
                #expect(page.status == 200)
                #expect(page.text.contains("<th>Warnings</th>") && page.text.contains("<b>fallback_item</b>: \(expected)"), "\(page.text)")

                #expect(try await api.gauge() == 1)
                #expect(try await api.gauge("credit_memo.push") == 1)
                #expect(try await api.gauge("sales_order.push") == 0)

                // The code gets its own item; the same invoice pushed again no longer uses
                // the fallback, and its earlier warning goes.
                try await MappingStore(pool: harness.pool).upsert(
                    .item(connectionID: harness.connectionID, code: "storage_gb", providerID: "960", providerName: "Storage"))
                let second = try await harness.enqueue(.invoicePush, invoice.json)
                let memoAgain = try await harness.enqueue(.creditMemoPush, creditNote, customerID: invoice.customerID)
                try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
                #expect(try await harness.job(second).state == "completed")
                #expect(try await harness.job(memoAgain).state == "completed")
                let again = try #require(harness.simulator.record(.invoice, externalID: invoice.lagoID))
                let itemsAgain = again.sublist("item").compactMap { $0["item"]?["id"]?.stringValue }
                #expect(!itemsAgain.contains("900") && itemsAgain.contains("960"), "\(itemsAgain)")

                for id in [first, second, memoJob, memoAgain] {
                    let view = try await api.get("/v1/jobs/\(id)")
                    #expect(view.text.contains(#""warnings":[]"#), "\(view.text)")
                    let html = try await api.get("/dashboard/jobs/\(id)", cookie: true)
                    #expect(!html.text.contains("<th>Warnings</th>"))
                }
                #expect(try await api.gauge() == 0, "the series stays, at 0, once no job has the warning")
                #expect(try await api.gauge("credit_memo.push") == 0)
            }
            let cleared = try await LinkedRefsTests.ledgersync(["jobs", "show", "\(first)"], harness)
            #expect(!cleared.stdout.contains("warnings:"), "\(cleared)")
            await stop(workers)
        }
    }
}
