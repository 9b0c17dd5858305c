import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Simulators
import Sync
import Testing

/// Paths of the sync kinds no other test went through: `sales_order.push`, a connection's
/// `objects_to_sync`, the webhook of a transient failure on the last attempt, and
/// `integration.provider_error` (a failure with no customer to name). Real worker processes
/// against the simulator; what happened is read from the simulator's records and counters,
/// the database and an independent webhook receiver.
@Suite("Sync paths end to end", .serialized, .timeLimit(.minutes(5)))
struct SyncPathsTests {
    static let webhookSecret = "WEBHOOK-SECRET-paths-1a2b3c"
    static let scenario = BillingScenario.generate(customers: 3, invoicesPerCustomer: 1, creditNoteEvery: 0, payments: 0, seed: 11)

    @Test("sales_order.push: the invoice-shaped document becomes one salesOrder at NetSuite, with its customer, and its ref")
    func salesOrderPush() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let invoice = Self.scenario.invoices[0]
            #expect(invoice.json.hasPrefix(#"{"invoice":"#))
            let orderJSON = #"{"sales_order":"# + invoice.json.dropFirst(#"{"invoice":"#.count)
            let job = try await harness.enqueue(.salesOrderPush, orderJSON)
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            await stop(workers)

            let state = try await harness.job(job)
            #expect(state.state == "completed", "\(state)")
            let orders = harness.simulator.records(.salesOrder)
            #expect(orders.map(\.externalID) == [invoice.lagoID])
            #expect(harness.simulator.records(.invoice).isEmpty, "a sales order must not be written as an invoice")
            #expect(harness.simulator.records(.customer).map(\.externalID) == [invoice.customerID], "the order's customer was pushed first")
            let ref = try await harness.refs.lookup(connection: harness.connectionID, objectType: .salesOrder, billingID: invoice.lagoID)
            #expect(ref?.providerID == orders.first?.internalID)
        }
    }

    @Test("objects_to_sync without invoice: an invoice.push job completes without a request; customer.sync still writes")
    func objectsToSync() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let store = ConnectionStore(pool: harness.pool, secretBox: harness.box)
            var connection = try await store.get(harness.connectionID)
            connection.settings.objectsToSync = ["customer"]
            _ = try await store.update(connection)

            let invoice = Self.scenario.invoices[1]
            let customer = try #require(Self.scenario.customers.first { $0.lagoID == invoice.customerID })
            let invoiceJob = try await harness.enqueue(.invoicePush, invoice.json)
            let customerJob = try await harness.enqueue(.customerSync, customer.json)
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            await stop(workers)

            #expect(try await harness.job(invoiceJob).state == "completed")
            #expect(try await harness.job(customerJob).state == "completed")
            #expect(harness.simulator.records(.invoice).isEmpty, "an invoice was written although the connection does not sync invoices")
            #expect(harness.simulator.records(.customer).map(\.externalID) == [customer.lagoID])
            #expect(harness.simulator.stats.requests == 1, "only the customer's request: \(harness.simulator.stats.requests)")
            #expect(try await harness.refs.lookup(connection: harness.connectionID, objectType: .invoice, billingID: invoice.lagoID) == nil)
        }
    }

    @Test("a 500 on the last attempt: the job fails as transient and sends its customer webhook, signed, naming the invoice and its number")
    func webhookOnLastTransientAttempt() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        var configuration = SyncHarness.simulatorConfiguration(faultRate: 1)
        configuration.faults = [.serverError]
        try await SyncHarness.with(simulator: configuration) { harness in
            try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(url: receiver.url, secret: Self.webhookSecret)
            let invoice = Self.scenario.invoices[2]
            let job = try await harness.enqueue(.invoicePush, invoice.json)
            try await harness.pool.query("UPDATE ledgersync.jobs SET max_attempts = 2 WHERE id = $1", [job])
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            #expect(try await eventually(timeout: .seconds(30)) { receiver.deliveries.count >= 1 })
            await stop(workers)

            let failed = try await harness.job(job)
            #expect(failed.state == "failed" && failed.attempt == 2, "\(failed)")
            #expect(failed.errors.map { $0["class"] as? String } == ["transient", "transient"], "\(failed.errors)")
            let deliveries = receiver.deliveries
            // One webhook: for the last attempt, none for the first (it was retried).
            #expect(deliveries.count == 1, "\(deliveries.map(\.body))")
            let delivery = try #require(deliveries.first)
            #expect(delivery.signatureValid)
            #expect(delivery.eventType == ProviderErrorEvent.customerErrorType)
            let object = try #require(delivery.json["accounting_provider_customer_error"] as? [String: Any], "\(delivery.body)")
            #expect(object["lago_customer_id"] as? String == invoice.customerID)
            #expect(object["billing_object_type"] as? String == "invoice")
            #expect(object["billing_object_id"] as? String == invoice.lagoID)
            let document = try JSONSerialization.jsonObject(with: Data(invoice.json.utf8)) as? [String: Any]
            let number = try #require((document?["invoice"] as? [String: Any])?["number"] as? String)
            #expect(object["billing_object_number"] as? String == number, "\(object)")
            #expect(object["job_id"] as? Int == Int(job))
            #expect((object["provider_error"] as? [String: Any])?["error_code"] as? String == "UNEXPECTED_ERROR", "\(object)")
        }
    }

    @Test("a job that names no customer fails as integration.provider_error, naming the document and its number")
    func integrationProviderError() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(url: receiver.url, secret: Self.webhookSecret)
            // A credit note without its customer or amounts: it cannot decode, and nothing
            // in it names a customer. Enqueued as a client of the queue would, without
            // enqueue_sync's derived keys.
            let args =
                #"{"connection_id": "\#(harness.connectionID.uuidString.lowercased())", "credit_note": {"lago_id": "cn-broken", "number": "CN-BROKEN"}}"#
            let job = try await JobQueue(pool: harness.pool).enqueue(EnqueueRequest(kind: "credit_memo.push", args: JSONText(args)))
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            #expect(try await eventually(timeout: .seconds(30)) { receiver.deliveries.count >= 1 })
            await stop(workers)

            let failed = try await harness.job(job)
            #expect(failed.state == "failed" && failed.attempt == 1, "\(failed)")
            let delivery = try #require(receiver.deliveries.first)
            #expect(receiver.deliveries.count == 1)
            #expect(delivery.signatureValid)
            #expect(delivery.eventType == ProviderErrorEvent.integrationErrorType)
            #expect(delivery.json["accounting_provider_customer_error"] == nil)
            let object = try #require(delivery.json["provider_error"] as? [String: Any], "\(delivery.body)")
            #expect(object["lago_integration_id"] as? String == harness.connectionID.uuidString.lowercased())
            #expect(object["billing_object_type"] as? String == "credit_note")
            #expect(object["billing_object_id"] as? String == "cn-broken")
            #expect(object["billing_object_number"] as? String == "CN-BROKEN")
            #expect(object["job_kind"] as? String == "credit_memo.push")
            #expect(harness.simulator.stats.requests == 0, "nothing was sent to NetSuite")
        }
    }
}

extension SyncPathsTests {
    @Test("secrets sealed with another key: the job fails at once as invalid_config naming the connection, not a webhook endpoint")
    func invalidConfig() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let endpoint = try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(
                url: "http://127.0.0.1:9/unused", secret: Self.webhookSecret)
            // Rows sealed with a key this worker does not have (a rotation that did not
            // finish, a restore from another installation). The worker's own key check
            // passes: it is the right key for everything else.
            // The key check row, written with the right key first, as a running
            // installation has it.
            try await SecretKeyCheck.verify(pool: harness.pool, box: harness.box)
            let otherBox = try SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
            let connection = harness.connectionID.uuidString.lowercased()
            try await harness.pool.query(
                "UPDATE ledgersync.connections SET secrets_sealed = $2 WHERE id = $1::uuid",
                [
                    connection,
                    try otherBox.seal("{}", for: SealContext(table: "connections", row: harness.connectionID, column: "secrets_sealed")),
                ])
            try await harness.pool.query(
                "UPDATE ledgersync.webhook_endpoints SET secret_sealed = $2 WHERE id = $1::uuid",
                [
                    endpoint.id.uuidString.lowercased(),
                    try otherBox.seal("x", for: SealContext(table: "webhook_endpoints", row: endpoint.id, column: "secret_sealed")),
                ])

            let customer = Self.scenario.customers[0]
            let job = try await harness.enqueue(.customerSync, customer.json)
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            await stop(workers)

            let failed = try await harness.job(job)
            #expect(failed.state == "failed" && failed.attempt == 1, "failed at once, not retried: \(failed)")
            #expect(failed.errors.count == 1)
            #expect(failed.errors.first?["class"] as? String == "invalid_config", "\(failed.errors)")
            let message = failed.errors.first?["message"] as? String ?? ""
            #expect(message.contains("connection") && message.contains(connection), "\(message)")
            #expect(!message.contains("webhook"), "the job's error names a webhook endpoint: \(message)")
            #expect(harness.simulator.stats.requests == 0)
        }
    }
}

extension SyncPathsTests {
    @Test(
        "NetSuite's 429s (its limit below the connection's): jobs snooze as rate_limited without using attempts, and every record is written once"
    )
    func rateLimitSnoozes() async throws {
        var configuration = SyncHarness.simulatorConfiguration(latency: 200...200)
        // The account accepts one request at once; the connection believes it has five.
        configuration.concurrencyLimit = 1
        try await SyncHarness.with(simulator: configuration, concurrencyLimit: 5) { harness in
            let customers = BillingScenario.generate(customers: 8, invoicesPerCustomer: 0, creditNoteEvery: 0, payments: 0, seed: 5)
                .customers
            var jobs: [Int64] = []
            for customer in customers { jobs.append(try await harness.enqueue(.customerSync, customer.json)) }
            let workers = try harness.startWorkers(1, concurrency: 8)
            try await harness.waitUntilIdle(timeout: .seconds(120), workers: workers)
            await stop(workers)

            let stats = harness.simulator.stats
            #expect(stats.rejectedOverLimit > 0, "the simulator refused nothing: the test did not reach its limit")
            #expect(stats.writes == customers.count, "writes: \(stats.writes)")
            #expect(Set(harness.simulator.records(.customer).map(\.externalID)) == Set(customers.map(\.lagoID)))
            for id in jobs {
                let job = try await harness.job(id)
                // A rate-limited snooze gives its attempt back: each job used exactly one.
                #expect(job.state == "completed" && job.attempt == 1, "job \(id): \(job)")
            }
            let snoozed = try await harness.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE kind = 'customer.sync' AND rate_limited_seconds > 0")
            #expect(snoozed > 0, "no job recorded time snoozed for a rate limit")
        }
    }
}

extension SyncPathsTests {
    @Test(
        "a payment waiting for its invoice says which job it waits for (jobs show) and wakes when the invoice is pushed, before its snooze ends"
    )
    func dependencyWaitAndWake() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 1, creditNoteEvery: 0, payments: 1, seed: 21)
            let customer = scenario.customers[0]
            let invoice = scenario.invoices[0]
            let payment = scenario.payments[0]
            #expect(payment.invoiceID == invoice.lagoID)
            let workers = try harness.startWorkers(1, concurrency: 4)
            defer { for worker in workers { worker.stop() } }

            let customerJob = try await harness.enqueue(.customerSync, customer.json)
            // The invoice's job is queued but held back, so the payment has to wait for it.
            let invoiceJob = try await harness.enqueue(.invoicePush, invoice.json)
            try await harness.pool.query("UPDATE ledgersync.jobs SET run_at = now() + interval '1 hour' WHERE id = $1", [invoiceJob])
            #expect(try await eventually(timeout: .seconds(60)) { try await harness.job(customerJob).state == "completed" })
            // Enqueued as a client of the queue would, outside the customer's serial lane
            // (in it, the held-back invoice would keep the payment from running at all).
            let args =
                #"{"connection_id": "\#(harness.connectionID.uuidString.lowercased())", "customer_id": "\#(customer.lagoID)", "#
                + payment.json.dropFirst()
            let paymentJob = try await JobQueue(pool: harness.pool).enqueue(EnqueueRequest(kind: "payment.apply", args: JSONText(args)))

            // The payment runs, finds no invoice and snoozes with its wait recorded.
            let waiting = try await eventually(timeout: .seconds(60)) {
                let recorded =
                    try await harness.count("SELECT count(*) FROM ledgersync.dependency_waits WHERE job_id = $1", [paymentJob]) == 1
                let snoozed = try await harness.job(paymentJob).state == "available"
                return recorded && snoozed
            }
            #expect(waiting, "the payment did not record its wait")
            let snoozeEnd: Date = try await harness.pool.query(
                "SELECT run_at FROM ledgersync.jobs WHERE id = $1", [paymentJob]
            ).rows[0].decode("run_at")

            let show = try await LedgersyncProcess.run(["jobs", "show", "\(paymentJob)"], databaseURL: harness.database.url)
            #expect(
                show.stdout.contains("waiting for invoice \(invoice.lagoID) (invoice.push job \(invoiceJob)), since "), "\(show.stdout)")
            #expect(show.stdout.contains("billing object: payment \(payment.lagoID)"), "\(show.stdout)")

            // The invoice is let go: once it is pushed, the payment is woken and completes
            // before its 30-second snooze would have ended.
            try await harness.pool.query("UPDATE ledgersync.jobs SET run_at = now() WHERE id = $1", [invoiceJob])
            let done = try await eventually(timeout: .seconds(60)) { try await harness.job(paymentJob).state == "completed" }
            #expect(done)
            let finished: Date = try await harness.pool.query(
                "SELECT finalized_at FROM ledgersync.jobs WHERE id = $1", [paymentJob]
            ).rows[0].decode("finalized_at")
            #expect(
                finished < snoozeEnd, "the payment completed at \(finished), not before its snooze ended at \(snoozeEnd): it was not woken")
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.dependency_waits") == 0, "a wait outlived the wake")
            #expect(harness.simulator.records(.customerPayment).map(\.externalID) == [payment.lagoID])
            await stop(workers)
        }
    }
}
