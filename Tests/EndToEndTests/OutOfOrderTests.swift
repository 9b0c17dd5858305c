import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Simulators
import Sync
import Testing

/// Documents that arrive before what they need (issue 12, "dependencies never hold a
/// lane"): payments and credit notes before their invoices, invoices (without an embedded
/// customer) before their customers, across 4 worker processes. A waiting job parks (queue
/// migration 009): it holds no place in its customer's lane and runs as soon as its
/// dependency is synced, never at the end of a timer. A payment whose invoice failed for good
/// fails at once, naming it, with one webhook; the customer's later documents run meanwhile.
@Suite("Out-of-order documents end to end", .serialized, .timeLimit(.minutes(5)))
struct OutOfOrderTests {
    static let webhookSecret = "WEBHOOK-SECRET-ooo-7c6b5a"

    /// The gap a waiter may have after its dependency: far below the 30 s fallback of a
    /// park while a job that creates the dependency is queued (and the 5 minutes while
    /// none is), so only a wake can explain it.
    static let promptly: TimeInterval = 5

    /// `json` with `key` removed from the document under `envelope`.
    static func removing(_ key: String, from json: String, envelope: String) throws -> String {
        var root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var document = try #require(root[envelope] as? [String: Any])
        document[key] = nil
        root[envelope] = document
        return String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
    }

    /// `json` with `key` of the document under `envelope` set to `value`.
    static func setting(_ key: String, to value: Any, in json: String, envelope: String) throws -> String {
        var root = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var document = try #require(root[envelope] as? [String: Any])
        document[key] = value
        root[envelope] = document
        return String(decoding: try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys]), as: UTF8.self)
    }

    struct Finished {
        let state: String
        let finalizedAt: Date
        let runs: Int
    }

    static func finished(_ harness: SyncHarness, _ ids: [Int64]) async throws -> [Int64: Finished] {
        var result: [Int64: Finished] = [:]
        for row in try await harness.pool.query(
            "SELECT id, state::text AS state, finalized_at, attempt FROM ledgersync.jobs WHERE id = ANY ($1::bigint[])", [ids]
        ).rows {
            result[try row.decode("id")] = Finished(
                state: try row.decode("state"), finalizedAt: try row.decodeIfPresent("finalized_at", as: Date.self) ?? .distantFuture,
                runs: try row.decode("attempt"))
        }
        return result
    }

    @Test(
        "payments and credit notes before their invoices, invoices before their customers, 4 workers: each runs within seconds of its dependency, in enqueue order otherwise"
    )
    func outOfOrderAcrossFourWorkers() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let scenario = BillingScenario.generate(customers: 4, invoicesPerCustomer: 3, creditNoteEvery: 2, payments: 12, seed: 41)
            let workers = try harness.startWorkers(4, concurrency: 4)
            defer { for worker in workers { worker.stop() } }
            let started = Date()

            // Per customer, everything in the wrong order: payments and credit notes, then
            // the invoices (no customer in them), then the customer.
            var dependencyOf: [Int64: Int64] = [:] // waiter job → the job that creates what it needs
            var invoiceJobs: [String: [Int64]] = [:] // customer → its invoices' jobs, in enqueue order
            var waiterOfInvoice: [String: [Int64]] = [:]
            var allJobs: [Int64] = []
            for customer in scenario.customers {
                let invoices = scenario.invoices.filter { $0.customerID == customer.lagoID }
                for invoice in invoices {
                    for payment in scenario.payments where payment.invoiceID == invoice.lagoID {
                        let job = try await harness.enqueue(.paymentApply, payment.json, customerID: customer.lagoID)
                        waiterOfInvoice[invoice.lagoID, default: []].append(job)
                    }
                    for note in scenario.creditNotes where note.invoiceID == invoice.lagoID {
                        let job = try await harness.enqueue(.creditMemoPush, note.json, customerID: customer.lagoID)
                        waiterOfInvoice[invoice.lagoID, default: []].append(job)
                    }
                }
                for invoice in invoices {
                    let job = try await harness.enqueue(
                        .invoicePush, try Self.removing("customer", from: invoice.json, envelope: "invoice"), customerID: customer.lagoID)
                    invoiceJobs[customer.lagoID, default: []].append(job)
                    for waiter in waiterOfInvoice[invoice.lagoID] ?? [] { dependencyOf[waiter] = job }
                }
                let customerJob = try await harness.enqueue(.customerSync, customer.json)
                for job in invoiceJobs[customer.lagoID] ?? [] { dependencyOf[job] = customerJob }
                allJobs += (invoiceJobs[customer.lagoID] ?? []) + invoices.flatMap { waiterOfInvoice[$0.lagoID] ?? [] } + [customerJob]
            }
            #expect(dependencyOf.count >= 12 + 6, "the scenario has fewer waiters than meant")

            // Phase 2, once customer 0 is synced: one payment before its invoice, among
            // invoices of the same customer that need nothing but the customer.
            let first = scenario.customers[0]
            let firstInvoiceJob = try #require(invoiceJobs[first.lagoID]?.first)
            let firstCustomerJob = try #require(dependencyOf[firstInvoiceJob])
            #expect(try await eventually(timeout: .seconds(60)) { try await harness.job(firstCustomerJob).state == "completed" })
            let later = BillingScenario.generate(customers: 4, invoicesPerCustomer: 4, creditNoteEvery: 0, payments: 0, seed: 42)
                .invoices.filter { $0.customerID.hasPrefix("cus-00000-") }
            // The same customer in both scenarios: its documents are customer 0's.
            let laterInvoices = try later.prefix(3).map { invoice -> (String, String) in
                let id = "late-\(invoice.lagoID)"
                var json = try Self.setting("lago_id", to: id, in: invoice.json, envelope: "invoice")
                json = try Self.removing("customer", from: json, envelope: "invoice")
                return (id, json)
            }
            let earlyPayment =
                #"{"payment":{"amount_cents":1,"amount_currency":"USD","invoice_ids":["\#(laterInvoices[1].0)"],"lago_id":"pay-early","paid_at":"2026-11-10","payment_status":"succeeded","reference":"early","type":"manual"}}"#
            let paymentJob = try await harness.enqueue(.paymentApply, earlyPayment, customerID: first.lagoID)
            var phase2: [Int64] = []
            for (_, json) in laterInvoices { phase2.append(try await harness.enqueue(.invoicePush, json, customerID: first.lagoID)) }
            dependencyOf[paymentJob] = phase2[1]
            allJobs += [paymentJob] + phase2

            try await harness.waitUntilIdle(timeout: .seconds(120), workers: workers)
            await stop(workers)

            let done = try await Self.finished(harness, allJobs)
            let failed = done.filter { $0.value.state != "completed" }
            #expect(failed.isEmpty, "jobs not completed: \(failed.map { "\($0.key): \($0.value.state)" })")
            // Each waiter finished within seconds of what it waited for (a timer would be 30 s or more).
            for (waiter, dependency) in dependencyOf {
                let gap = try #require(done[waiter]).finalizedAt.timeIntervalSince(try #require(done[dependency]).finalizedAt)
                #expect(gap < Self.promptly, "job \(waiter) finished \(gap) s after job \(dependency), which it waited for")
            }
            let total = (done.values.map(\.finalizedAt).max() ?? started).timeIntervalSince(started)
            #expect(total < 25, "the whole out-of-order month took \(total) s: something waited for a timer")
            // Jobs of one customer that do not wait for each other ran in enqueue order.
            for (customer, jobs) in invoiceJobs {
                let order = jobs.sorted { (done[$0]?.finalizedAt ?? .distantFuture) < (done[$1]?.finalizedAt ?? .distantFuture) }
                #expect(order == jobs, "the invoices of \(customer) completed out of enqueue order: \(order) vs \(jobs)")
            }
            let phase2Order = phase2.sorted { (done[$0]?.finalizedAt ?? .distantFuture) < (done[$1]?.finalizedAt ?? .distantFuture) }
            #expect(phase2Order == phase2, "the waiting payment changed the order of the invoices around it")
            // The payment enqueued before them did not hold them: the invoice after the one
            // it waits for did not wait for the payment.
            #expect(try #require(done[phase2[2]]).finalizedAt.timeIntervalSince(try #require(done[phase2[0]]).finalizedAt) < Self.promptly)
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE wait_key IS NOT NULL AND state = 'available'") == 0)
            // Every record once at NetSuite.
            #expect(harness.simulator.records(.invoice).count == scenario.invoices.count + 3)
            #expect(Set(harness.simulator.records(.customer).map(\.externalID)).count == scenario.customers.count)
            #expect(harness.simulator.records(.customer).count == scenario.customers.count)
            #expect(harness.simulator.records(.customerPayment).count == scenario.payments.count + 1)
            #expect(harness.simulator.records(.creditMemo).count == scenario.creditNotes.count)
        }
    }

    @Test(
        "a payment whose invoice failed for good fails promptly naming that invoice and job, one webhook; the customer's later invoices are not held"
    )
    func dependencyThatFailedForGood() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            _ = try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(
                url: receiver.url, secret: Self.webhookSecret)
            let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 3, creditNoteEvery: 0, payments: 1, seed: 43)
            let customer = scenario.customers[0]
            let bad = scenario.invoices[0]
            let payment = scenario.payments[0]
            #expect(payment.invoiceID == bad.lagoID)
            // A bad document: its total is not a number. It fails for good at once.
            let badJSON = try Self.setting("total_amount_cents", to: "a lot", in: bad.json, envelope: "invoice")

            let paymentJob = try await harness.enqueue(.paymentApply, payment.json, customerID: customer.lagoID)
            let badJob = try await harness.enqueue(.invoicePush, badJSON)
            let good = try await [scenario.invoices[1], scenario.invoices[2]].asyncMap { try await harness.enqueue(.invoicePush, $0.json) }
            let started = Date()
            // The measured case of the issue ran with a 4-minute timeout.
            let workers = try harness.startWorkers(4, concurrency: 4, extra: ["--dependency-timeout", "4m"])
            defer { for worker in workers { worker.stop() } }
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            let settled = try await eventually(timeout: .seconds(30)) {
                try await harness.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state IN ('available', 'running', 'retryable')"
                ) == 0
            }
            #expect(settled)
            await stop(workers)

            let done = try await Self.finished(harness, [paymentJob, badJob] + good)
            #expect(done[badJob]?.state == "failed")
            #expect(good.allSatisfy { done[$0]?.state == "completed" }, "\(done)")
            let paid = try await harness.job(paymentJob)
            #expect(paid.state == "failed", "\(paid)")
            let message = paid.errors.last?["message"] as? String ?? ""
            #expect(paid.errors.last?["class"] as? String == "dependency", "\(paid.errors)")
            #expect(
                message.contains("invoice \(bad.lagoID) cannot be synced: its invoice.push job \(badJob) failed"),
                "the payment's reason does not name its invoice and that invoice's job: \(message)")
            #expect(message.contains("total_amount_cents"), "the reason does not carry the invoice's own: \(message)")
            let gap = try #require(done[paymentJob]).finalizedAt.timeIntervalSince(try #require(done[badJob]).finalizedAt)
            #expect(gap < Self.promptly, "the payment failed \(gap) s after its invoice did")
            // The customer's later invoices ran without waiting for the payment.
            for job in good {
                let took = try #require(done[job]).finalizedAt.timeIntervalSince(started)
                #expect(took < 15, "invoice job \(job) completed \(took) s after the workers started: it was held")
            }
            // One webhook for the payment (and one for the invoice itself).
            let forPayment = receiver.deliveries.filter { $0.body.contains(payment.lagoID) }
            #expect(forPayment.count == 1, "\(forPayment.count) webhooks name the payment")
            #expect(receiver.deliveries.count == 2, "\(receiver.deliveries.map(\.body))")
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.dependency_waits") == 0, "a wait outlived its job")
        }
    }

    @Test(
        "a payment whose invoice no job creates waits, parked and holding nothing, until --dependency-timeout, then fails; the customer's invoices run meanwhile"
    )
    func dependencyNothingCreates() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 2, creditNoteEvery: 0, payments: 0, seed: 44)
            let customer = scenario.customers[0]
            let orphan =
                #"{"payment":{"amount_cents":100,"amount_currency":"USD","invoice_ids":["inv-never"],"lago_id":"pay-orphan","paid_at":"2026-11-10","payment_status":"succeeded","reference":"orphan","type":"manual"}}"#
            let paymentJob = try await harness.enqueue(.paymentApply, orphan, customerID: customer.lagoID)
            let invoices = try await scenario.invoices.asyncMap { try await harness.enqueue(.invoicePush, $0.json) }
            let workers = try harness.startWorkers(2, concurrency: 4, extra: ["--dependency-timeout", "4s"])
            defer { for worker in workers { worker.stop() } }

            // The invoices behind the waiting payment run at once.
            #expect(
                try await eventually(timeout: .seconds(30)) {
                    try await harness.count(
                        "SELECT count(*) FROM ledgersync.jobs WHERE id = ANY ($1::bigint[]) AND state = 'completed'", [invoices]) == 2
                })
            let parked = try await harness.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE id = $1 AND state = 'available' AND wait_key IS NOT NULL", [paymentJob])
            let paymentState = try await harness.job(paymentJob).state
            #expect(parked == 1 || paymentState == "failed", "the payment neither parked nor failed: \(paymentState)")

            try await harness.waitUntilIdle(timeout: .seconds(30), workers: workers)
            await stop(workers)
            let paid = try await harness.job(paymentJob)
            #expect(paid.state == "failed", "\(paid)")
            let message = paid.errors.last?["message"] as? String ?? ""
            #expect(message.contains("waiting for invoice inv-never") && message.contains("no queued job creates it"), "\(message)")
            #expect(message.contains("gave up after waiting 4 s"), "\(message)")
            let row = try #require(
                try await harness.pool.query(
                    "SELECT extract(epoch FROM finalized_at - created_at)::float8 AS waited FROM ledgersync.jobs WHERE id = $1",
                    [paymentJob]
                ).rows.first)
            let waited: Double = try row.decode("waited")
            #expect(waited >= 4 && waited < 10, "the payment failed after \(waited) s, its timeout was 4 s")
        }
    }
}

extension Array {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async rethrows -> [T] {
        var result: [T] = []
        for element in self { result.append(try await transform(element)) }
        return result
    }
}
