import API
import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// Connections, mappings, webhook endpoints and external refs over HTTP; secrets go in
/// and never come out.
@Suite(.timeLimit(.minutes(3)))
struct SyncAPITests {
    static let secretTexts = ["CONSUMER-SECRET-never-returned", "TOKEN-SECRET-never-returned", "ck-abcdef-123456", "tid-abcdef-123456"]

    @Test("connections: create, list, show and update answer without secrets; the database holds them sealed")
    func connectionSecretsAreWriteOnly() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            #expect(created.status == 201, "\(created)")
            let connection = try #require(created.object["connection"] as? [String: Any])
            let id = try #require(connection["id"] as? String)
            #expect(
                connection["secret_hints"] as? [String: String] == ["auth": "tba", "consumer_key": "ck-abc…", "token_id": "tid-ab…"],
                "\(connection)")
            #expect(connection["account_id"] as? String == "1234567_SB1")
            #expect(connection["limit_key"] as? String == "netsuite:\(id)")
            // The connection's concurrency limit became the queue's limit for its key.
            #expect(
                try await api.database.count("SELECT max_running FROM ledgersync.concurrency_limits WHERE limit_key = 'netsuite:\(id)'")
                    == 3)

            let rotated = try await api.request(
                "PATCH", "/v1/connections/\(id)",
                body: """
                    {"name": "renamed", "settings": {"base_url": null, "concurrency_limit": 2},
                     "secrets": {"consumer_key": "ck-rotated-999999", "consumer_secret": "ROTATED-SECRET-never-returned", "token_id": "tid-rotated-99999", "token_secret": "ROTATED-TOKEN-never-returned"}}
                    """)
            #expect(rotated.status == 200, "\(rotated)")
            let updated = try #require(rotated.object["connection"] as? [String: Any])
            #expect(updated["name"] as? String == "renamed" && (updated["settings"] as? [String: Any])?["base_url"] is NSNull)
            #expect(
                try await api.database.count("SELECT max_running FROM ledgersync.concurrency_limits WHERE limit_key = 'netsuite:\(id)'")
                    == 2)

            let listed = try await api.get("/v1/connections")
            let shown = try await api.get("/v1/connections/\(id)")
            #expect(listed.status == 200 && shown.status == 200)
            for answer in [created, rotated, listed, shown] {
                for secret in Self.secretTexts + ["ROTATED-SECRET-never-returned", "ROTATED-TOKEN-never-returned", "ck-rotated-999999"] {
                    #expect(!answer.text.contains(secret), "an answer holds a secret: \(answer)")
                }
            }
            let sealed: String = try await api.pool.query("SELECT secrets_sealed FROM ledgersync.connections").rows[0].decode(
                "secrets_sealed")
            #expect(!sealed.contains("ROTATED") && sealed.hasPrefix("v2:\(api.secretBox.keyID):"))
            // And the store, with the key, opens what was written.
            let stored = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).get(UUID(uuidString: id)!)
            #expect(stored.secrets["consumer_secret"] == "ROTATED-SECRET-never-returned")
        }
    }

    @Test("mappings: set, list and remove; tax details are checked as the CLI checks them")
    func mappings() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let id = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let set = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings",
                body: "{\"kind\": \"item\", \"billing_key\": \"api_calls\", \"provider_id\": \"42\", \"provider_name\": \"API calls\"}")
            #expect(set.status == 200, "\(set)")
            let badTax = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings",
                body: "{\"kind\": \"tax\", \"billing_key\": \"vat\", \"provider_id\": \"1\", \"details\": {\"nexus\": \"GB\"}}")
            #expect(badTax.status == 422 && (badTax.error["field"] as? String)?.hasPrefix("details") == true, "\(badTax)")
            let listed = try await api.get("/v1/connections/\(id)/mappings")
            let mappings = try #require(listed.object["mappings"] as? [[String: Any]])
            #expect(mappings.count == 1 && mappings[0]["provider_id"] as? String == "42")
            let removed = try await api.request("DELETE", "/v1/connections/\(id)/mappings?kind=item&billing_key=api_calls")
            #expect(removed.status == 204, "\(removed)")
            let again = try await api.request("DELETE", "/v1/connections/\(id)/mappings?kind=item&billing_key=api_calls")
            #expect(again.status == 404, "\(again)")
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.mappings") == 0)
        }
    }

    @Test("webhook endpoints: a given secret is never returned, a generated one once; ping enqueues one delivery to that endpoint")
    func webhookEndpoints() async throws {
        try await APIHarness.with { api in
            let given = try await api.post(
                "/v1/webhook-endpoints", "{\"url\": \"http://127.0.0.1:9/hooks\", \"secret\": \"WEBHOOK-SECRET-never-returned\"}")
            #expect(given.status == 201 && given.object["secret"] is NSNull, "\(given)")
            let generated = try await api.post(
                "/v1/webhook-endpoints",
                "{\"url\": \"http://127.0.0.1:9/other\", \"event_types\": [\"customer.accounting_provider_error\"]}")
            let secret = try #require(generated.object["secret"] as? String)
            #expect(secret.count >= 40, "a generated secret is returned once: \(generated)")
            let listed = try await api.get("/v1/webhook-endpoints")
            #expect((listed.object["webhook_endpoints"] as? [Any])?.count == 2)
            let id = try #require((given.object["webhook_endpoint"] as? [String: Any])?["id"] as? String)
            let shown = try await api.get("/v1/webhook-endpoints/\(id)")
            for answer in [given, listed, shown] {
                #expect(!answer.text.contains("WEBHOOK-SECRET-never-returned") && !answer.text.contains(secret), "\(answer)")
            }

            let ping = try await api.post("/v1/webhook-endpoints/\(id)/ping")
            #expect(ping.status == 202, "\(ping)")
            let jobID = try #require(ping.object["job_id"] as? Int)
            let job = try #require(try await api.queue.job(id: Int64(jobID)))
            #expect(job.kind == WebhookDelivery.kind)
            guard case .object(let args) = job.args else {
                Issue.record("args not an object")
                return
            }
            // Lower case, as PostgreSQL prints a uuid, so `args ->> 'endpoint_id' = id::text` matches.
            #expect(
                args["endpoint_id"] == .string(id.lowercased()) && args["event_type"] == .string(WebhookDelivery.pingEventType), "\(args)")

            let removed = try await api.request("DELETE", "/v1/webhook-endpoints/\(id)")
            #expect(removed.status == 204)
            #expect(try await api.get("/v1/webhook-endpoints/\(id)").status == 404)
        }
    }

    @Test("external refs: by connection, object type and billing id")
    func externalRefs() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let id = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let refs = ExternalRefStore(pool: api.pool)
            try await refs.record(
                connection: UUID(uuidString: id)!, objectType: .invoice, billingID: "inv_1", providerID: "901", customerBillingID: "cus_1")
            try await refs.record(connection: UUID(uuidString: id)!, objectType: .customer, billingID: "cus_1", providerID: "77")
            let invoices = try await api.get("/v1/external-refs?connection_id=\(id)&object_type=invoice&billing_id=inv_1")
            let list = try #require(invoices.object["external_refs"] as? [[String: Any]])
            #expect(
                list.count == 1 && list[0]["provider_id"] as? String == "901" && list[0]["customer_billing_id"] as? String == "cus_1",
                "\(invoices)")
            let all = try await api.get("/v1/external-refs?connection_id=\(id)")
            #expect((all.object["external_refs"] as? [Any])?.count == 2)
        }
    }

    @Test("/metrics parses as Prometheus text and its job counts are the database's")
    func metricsMatchTheDatabase() async throws {
        try await APIHarness.with { api in
            for state: JobState in [.available, .available, .failed, .completed, .running, .retryable, .cancelled] {
                _ = try await api.makeJob(state: state)
            }
            _ = try await api.makeJob(kind: "invoice.push", state: .failed)
            try await api.pool.query("UPDATE ledgersync.jobs SET queue = 'payments' WHERE kind = 'invoice.push'")
            let answer = try await api.get("/metrics")
            #expect(answer.status == 200 && answer.header("Content-Type")?.hasPrefix("text/plain") == true, "\(answer)")
            let samples = try PrometheusText.parse(answer.text)
            var fromMetrics: [String: Double] = [:]
            for sample in samples where sample.name == "ledgersync_jobs" {
                fromMetrics["\(sample.labels["state"] ?? "")/\(sample.labels["kind"] ?? "")/\(sample.labels["queue"] ?? "")"] = sample.value
            }
            var fromDatabase: [String: Double] = [:]
            for row in try await api.pool.query(
                "SELECT state::text AS s, kind, queue, count(*)::bigint AS n FROM ledgersync.jobs GROUP BY 1, 2, 3"
            ).rows {
                fromDatabase[
                    "\(try row.decode("s", as: String.self))/\(try row.decode("kind", as: String.self))/\(try row.decode("queue", as: String.self))"
                ] =
                    Double(try row.decode("n", as: Int64.self))
            }
            #expect(!fromDatabase.isEmpty && fromMetrics == fromDatabase)
            let errors = samples.filter { $0.name == "ledgersync_job_errors_last_hour" }
            #expect(
                errors.contains { $0.labels["class"] == "permanent" && $0.labels["kind"] == "invoice.push" } == false,
                "the fixture's errors are dated 10:00, outside the hour")
            #expect(samples.contains { $0.name == "ledgersync_jobs_completed_last_hour" && $0.value == 1 })
        }
    }
}

/// A strict reader of the Prometheus text exposition format (0.0.4): every line is a
/// comment (`# HELP`, `# TYPE`), blank, or `name{label="value",…} value`.
enum PrometheusText {
    struct Sample {
        let name: String
        let labels: [String: String]
        let value: Double
    }

    struct Malformed: Error, CustomStringConvertible {
        let line: String
        var description: String { "not a Prometheus text line: \(line)" }
    }

    static func parse(_ text: String) throws -> [Sample] {
        var samples: [Sample] = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            if line.hasPrefix("# HELP ") || line.hasPrefix("# TYPE ") { continue }
            guard !line.hasPrefix("#") else { throw Malformed(line: String(line)) }
            var rest = Substring(line)
            let name = rest.prefix { $0.isLetter || $0.isNumber || $0 == "_" || $0 == ":" }
            guard !name.isEmpty, !(name.first!.isNumber) else { throw Malformed(line: String(line)) }
            rest = rest.dropFirst(name.count)
            var labels: [String: String] = [:]
            if rest.first == "{" {
                rest = rest.dropFirst()
                while rest.first != "}" {
                    let key = rest.prefix { $0 != "=" }
                    rest = rest.dropFirst(key.count)
                    guard rest.hasPrefix("=\"") else { throw Malformed(line: String(line)) }
                    rest = rest.dropFirst(2)
                    var value = ""
                    while let character = rest.first, character != "\"" {
                        if character == "\\" {
                            rest = rest.dropFirst()
                            guard let escaped = rest.first else { throw Malformed(line: String(line)) }
                            value.append(escaped == "n" ? "\n" : escaped)
                        } else {
                            value.append(character)
                        }
                        rest = rest.dropFirst()
                    }
                    guard rest.first == "\"" else { throw Malformed(line: String(line)) }
                    rest = rest.dropFirst()
                    labels[String(key)] = value
                    if rest.first == "," { rest = rest.dropFirst() }
                }
                rest = rest.dropFirst()
            }
            guard rest.first == " ", let value = Double(rest.dropFirst().split(separator: " ").first ?? "") else {
                throw Malformed(line: String(line))
            }
            samples.append(Sample(name: String(name), labels: labels, value: value))
        }
        return samples
    }
}
