import Foundation
import JobQueueTesting
import NetSuite
import Simulators
import Sync
import Testing

/// Jobs that fail for good: no retry, one signed webhook each, a receiver that comes back late
/// still gets every event, and no secret leaks anywhere on the way.
@Suite("Provider errors end to end", .serialized, .timeLimit(.minutes(5)))
struct ProviderErrorTests {
    static let webhookSecret = "WEBHOOK-SECRET-5e6f7a8b9c0d"
    static let scenario = BillingScenario.generate(customers: 4, invoicesPerCustomer: 4, creditNoteEvery: 0, payments: 0, seed: 3)

    /// Scenario mappings without the fallback item, `storage_gb` on its own item, and
    /// `setup_fee` on an item the simulator knows as not taxable.
    static func strictMappings(_ connection: UUID) -> [Mapping] {
        BillingScenario.mappings(connection: connection).filter { $0.kind != .fallbackItem && $0.billingKey != "setup_fee" } + [
            .item(connectionID: connection, code: "storage_gb", providerID: "604"),
            .item(connectionID: connection, code: "setup_fee", providerID: "603"),
        ]
    }

    static var strictConfiguration: NetSuiteSimulator.Configuration {
        SyncHarness.simulatorConfiguration(extraItems: [
            NetSuiteSimulator.Item(id: "604", name: "Storage", taxable: true),
            NetSuiteSimulator.Item(id: "603", name: "Setup (not taxable)", taxable: false),
        ])
    }

    /// An invoice of the scenario with no add-on (so every line maps), with a fee code nothing maps.
    static var unmappableInvoice: BillingScenario.Invoice {
        let invoice = scenario.invoices.first { !$0.json.contains("setup_fee") }!
        return invoice
    }

    @Test("a missing mapping and a NetSuite validation error: failed at once, one signed webhook each")
    func permanentFailures() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        try await SyncHarness.with(simulator: Self.strictConfiguration, mappings: Self.strictMappings) { harness in
            try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(url: receiver.url, secret: Self.webhookSecret)
            let good = Self.scenario.invoices.first { !$0.json.contains("setup_fee") && $0.lagoID != Self.unmappableInvoice.lagoID }!
            let validation = Self.scenario.invoices.first { $0.json.contains("setup_fee") }!
            let unmappable = Self.unmappableInvoice
            let unmappableJSON = unmappable.json.replacingOccurrences(of: "\"storage_gb\"", with: "\"mystery_metric\"")

            let goodJob = try await harness.enqueue(.invoicePush, good.json)
            let mappingJob = try await harness.enqueue(.invoicePush, unmappableJSON)
            let validationJob = try await harness.enqueue(.invoicePush, validation.json)
            let workers = try harness.startWorkers(1)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            let delivered = try await eventually(timeout: .seconds(30)) { receiver.deliveries.count >= 2 }
            #expect(delivered)
            // "Nothing more arrives" read from the queue instead of waited out: every webhook
            // job there is has finished, and there are exactly the two that were delivered.
            let settled = try await eventually(timeout: .seconds(30)) {
                try await harness.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state IN ('available', 'running', 'retryable')"
                ) == 0
            }
            #expect(settled)
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver'") == 2)
            await stop(workers)

            #expect(try await harness.job(goodJob).state == "completed")
            let mapping = try await harness.job(mappingJob)
            #expect(mapping.state == "failed" && mapping.attempt == 1)
            #expect(mapping.errors.first?["class"] as? String == "invalid_mapping")
            #expect((mapping.errors.first?["message"] as? String)?.contains("no item mapping for \"mystery_metric\"") == true)
            let rejected = try await harness.job(validationJob)
            #expect(rejected.state == "failed" && rejected.attempt == 1)
            #expect(rejected.errors.first?["class"] as? String == "permanent")
            #expect(rejected.errors.first?["code"] as? String == "USER_ERROR")
            #expect(
                (rejected.errors.first?["message"] as? String)?.contains("603") == true,
                "the provider's message names the item: \(rejected.errors)")

            let deliveries = receiver.deliveries
            #expect(deliveries.count == 2)
            #expect(deliveries.allSatisfy { $0.signatureValid })
            #expect(try await verifyWithStandardWebhooksPackage(deliveries, secret: Self.webhookSecret) == [true, true])
            #expect(
                try await verifyWithStandardWebhooksPackage(deliveries, secret: "another secret") == [false, false],
                "the package can refuse")
            #expect(Set(deliveries.compactMap(\.uniqueKey)).count == 2)
            #expect(deliveries.allSatisfy { $0.eventType == ProviderErrorEvent.customerErrorType })
            let codes = deliveries.compactMap { delivery -> String? in
                let object = delivery.json["accounting_provider_customer_error"] as? [String: Any]
                #expect(
                    object?["lago_customer_id"] as? String
                        == (delivery.body.contains(unmappable.lagoID) ? unmappable.customerID : validation.customerID))
                #expect(object?["accounting_provider"] as? String == "netsuite")
                return (object?["provider_error"] as? [String: Any])?["error_code"] as? String
            }
            #expect(Set(codes) == ["invalid_mapping", "USER_ERROR"])
        }
    }

    @Test("a webhook receiver that is down for a while gets every event once it is back")
    func receiverComesBack() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        let port = try await receiver.start()
        await receiver.stop() // the port is known; nobody listens on it now
        try await SyncHarness.with(simulator: Self.strictConfiguration, mappings: Self.strictMappings) { harness in
            try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(
                url: "http://127.0.0.1:\(port)/hooks", secret: Self.webhookSecret, eventTypes: [ProviderErrorEvent.customerErrorType])
            let failing = Self.scenario.invoices.filter { !$0.json.contains("setup_fee") }.prefix(3)
            for invoice in failing {
                try await harness.enqueue(.invoicePush, invoice.json.replacingOccurrences(of: "\"storage_gb\"", with: "\"mystery_metric\""))
            }
            let workers = try harness.startWorkers(1)
            // Deliveries fail while the receiver is down, and are retried.
            let retried = try await eventually(timeout: .seconds(30)) {
                try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND attempt >= 2") == 3
            }
            #expect(retried)
            try await receiver.start(port: port)
            defer { Task { await receiver.stop() } }
            let delivered = try await eventually(timeout: .seconds(60)) {
                try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state = 'completed'") == 3
            }
            #expect(delivered)
            await stop(workers)
            #expect(receiver.deliveries.count == 3)
            #expect(Set(receiver.deliveries.compactMap(\.uniqueKey)).count == 3)
            #expect(receiver.deliveries.allSatisfy { $0.signatureValid })
            #expect(try await verifyWithStandardWebhooksPackage(receiver.deliveries, secret: Self.webhookSecret) == [true, true, true])
        }
    }

    @Test("no secret in the stored bytes, the logs, the job errors or the webhooks")
    func secretsStaySecret() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        // The worker signs with a wrong token secret: NetSuite answers 401, the job fails.
        var wrong = SyncHarness.credentials
        wrong.tokenSecret = "WRONG-TOKEN-SECRET-77aa88bb"
        try await SyncHarness.with(simulator: Self.strictConfiguration, mappings: Self.strictMappings, credentials: wrong) { harness in
            try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(url: receiver.url, secret: Self.webhookSecret)
            let job = try await harness.enqueue(.customerSync, Self.scenario.customers[0].json)
            // Debug logging: every log line the worker can write is searched.
            let workers = [try harness.startWorker(environment: ["LOG_LEVEL": "debug"])]
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            let delivered = try await eventually(timeout: .seconds(30)) { receiver.deliveries.count == 1 }
            await stop(workers)
            // Searching zero webhooks for secrets would prove nothing.
            try #require(delivered && receiver.deliveries.count == 1, "no webhook arrived to search")

            let failed = try await harness.job(job)
            #expect(failed.state == "failed")
            #expect(failed.errors.first?["code"] as? String == "INVALID_LOGIN")
            #expect(harness.simulator.loginAudit.contains { $0.reason == .badSignature })

            let secrets = [
                SyncHarness.credentials.consumerSecret, SyncHarness.credentials.tokenSecret, wrong.tokenSecret,
                Self.webhookSecret, SyncHarness.secretKey,
            ]
            // The receiver's URL (with its query) is not a secret: it is stored and listed in
            // plain text (docs/connections.md); the signature is what authenticates a delivery.
            // What PostgreSQL wrote to disk for the tables that hold secrets, and every job row.
            _ = try await harness.pool.query("CHECKPOINT")
            var stored = ""
            for table in ["ledgersync.connections", "ledgersync.webhook_endpoints"] {
                let row = try #require(
                    try await harness.pool.query(
                        "SELECT encode(pg_read_binary_file(pg_relation_filepath($1)), 'escape') AS bytes", [table]
                    ).rows.first)
                stored += try row.decode("bytes", as: String.self)
            }
            for row in try await harness.pool.query("SELECT row_to_json(j)::text AS j FROM ledgersync.jobs j").rows {
                stored += try row.decode("j", as: String.self)
            }
            #expect(stored.contains("v2:\(harness.box.keyID):"), "sealed values are there")
            let logs = workers.map(\.output).joined()
            let webhooks = receiver.deliveries.map(\.body).joined()
            for secret in secrets {
                #expect(!stored.contains(secret), "a secret is in the database")
                #expect(!logs.contains(secret), "a secret is in a log line")
                #expect(!webhooks.contains(secret), "a secret is in a webhook")
            }
        }
    }

    @Test(
        "bad billing documents fail at once, naming the field",
        arguments: [
            ("missing field", ["\"number\":\"INV-": "\"numero\":\"INV-"], "invoice.number: is required"),
            ("wrong type", ["\"fees_amount_cents\":": "\"fees_amount_cents\":\"x\",\"ignored\":"], "invoice.fees_amount_cents"),
            ("negative quantity", ["\"units\":\"1\"": "\"units\":\"-3\""], "invoice.fees[0].units: must not be negative"),
            ("unknown currency", ["\"currency\":\"USD\"": "\"currency\":\"XYZ\""], "invoice.currency"),
        ])
    func badDocuments(name: String, edits: [String: String], field: String) async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            var json = Self.scenario.invoices[0].json
            for (from, to) in edits {
                #expect(json.contains(from), "fixture has \(from)")
                json = json.replacingOccurrences(of: from, with: to)
            }
            let id = try await harness.enqueue(.invoicePush, json)
            let workers = try harness.startWorkers(1)
            try await harness.waitUntilIdle(timeout: .seconds(30), workers: workers)
            await stop(workers)
            let job = try await harness.job(id)
            #expect(job.state == "failed" && job.attempt == 1, "\(name): not retried")
            #expect(job.errors.count == 1)
            #expect(job.errors.first?["class"] as? String == "invalid_document")
            #expect((job.errors.first?["message"] as? String)?.contains(field) == true, "\(name): \(job.errors)")
            #expect(harness.simulator.records(.invoice).isEmpty)
        }
    }

    @Test("an invoice whose tax amounts add up past Int64 fails as invalid_document naming the field; the worker lives on")
    func overflowingTaxes() async throws {
        // Every applied tax at Int64.max: each is a valid amount, their sum is not. Before
        // issue 11 the payload summed them unchecked and the worker trapped, and the rescued
        // job trapped the next worker.
        let crafted = Self.scenario.invoices.first { $0.json.components(separatedBy: "\"tax_code\"").count >= 4 }!
        let json = Self.everyTax(of: crafted.json, at: Int64.max)
        #expect(json != crafted.json, "the fixture has applied taxes")
        let good = Self.scenario.invoices.filter { $0.lagoID != crafted.lagoID }.prefix(2).map(\.json)
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let craftedJob = try await harness.enqueue(.invoicePush, json)
            let firstGood = try await harness.enqueue(.invoicePush, good[0])
            let secondGood = try await harness.enqueue(.invoicePush, good[1])
            let workers = try harness.startWorkers(1)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            let alive = workers[0].process.isRunning
            let log = String(workers[0].output.suffix(2000))
            await stop(workers)
            #expect(alive, "the worker is alive: \(log)")

            let job = try await harness.job(craftedJob)
            #expect(job.state == "failed" && job.attempt == 1, "failed on its first run, not rescued: \(job)")
            #expect(job.errors.count == 1 && job.errors.first?["class"] as? String == "invalid_document", "\(job.errors)")
            #expect((job.errors.first?["message"] as? String)?.contains("applied_taxes[].amount_cents") == true, "\(job.errors)")
            let states = [try await harness.job(firstGood).state, try await harness.job(secondGood).state]
            #expect(states == ["completed", "completed"])
        }
    }

    /// `json` with the amount of every applied tax set to `cents` (the scenario writes keys
    /// sorted: amount_cents, amount_currency, tax_code, …).
    static func everyTax(of json: String, at cents: Int64) -> String {
        guard let regex = try? NSRegularExpression(pattern: #""amount_cents":[0-9]+,"amount_currency":"([A-Z]{3})","tax_code""#) else {
            return json
        }
        return regex.stringByReplacingMatches(
            in: json, range: NSRange(json.startIndex..., in: json),
            withTemplate: #""amount_cents":\#(cents),"amount_currency":"$1","tax_code""#)
    }
}
