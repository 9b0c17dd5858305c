import Foundation
import JobQueueTesting
import Simulators
import Sync
import Testing

/// The whole path: SQL enqueue → worker processes → signed requests → the NetSuite simulator →
/// external refs, under injected faults, a concurrency limit and killed workers.
@Suite("NetSuite sync end to end", .serialized, .timeLimit(.minutes(10)))
struct NetSuiteSyncTests {
    @Test("2 workers, 10% faults, limit 5: every record once, every amount exact, every payment on its invoice")
    func fullSync() async throws {
        let scenario = BillingScenario.generate(customers: 200, invoicesPerCustomer: 5, creditNoteEvery: 10, payments: 500)
        #expect(scenario.customers.count == 200 && scenario.invoices.count == 1000)
        #expect(scenario.creditNotes.count == 100 && scenario.payments.count == 500)
        let configuration = SyncHarness.simulatorConfiguration(faultRate: 0.1, latency: 1...3)
        try await SyncHarness.with(simulator: configuration) { harness in
            // One customer's documents in the order the billing system produces them. Every
            // other customer has no customer.sync job: its first invoice carries it.
            for (c, customer) in scenario.customers.enumerated() {
                if c % 2 == 0 { try await harness.enqueue(.customerSync, customer.json) }
                for invoice in scenario.invoices where invoice.customerID == customer.lagoID {
                    try await harness.enqueue(.invoicePush, invoice.json)
                }
                for note in scenario.creditNotes where note.customerID == customer.lagoID {
                    try await harness.enqueue(.creditMemoPush, note.json)
                }
                for payment in scenario.payments where payment.customerID == customer.lagoID {
                    try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID)
                }
            }
            // Under the simulator's late answers (1.5 s), the client gives up first.
            let workers = try harness.startWorkers(2, requestTimeout: "1s")
            try await harness.waitUntilIdle(timeout: .seconds(300), workers: workers)
            await stop(workers)

            let states = try await harness.jobStates()
            #expect(states["customer.sync/completed"] == 100)
            #expect(states["invoice.push/completed"] == 1000)
            #expect(states["credit_memo.push/completed"] == 100)
            #expect(states["payment.apply/completed"] == 500)
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "no job may fail: \(states)")

            let sim = harness.simulator
            let stats = sim.stats
            #expect(stats.maxInFlight <= 5, "the simulator saw \(stats.maxInFlight) requests at once")
            #expect(stats.faultsInjected.values.reduce(0, +) > 50, "faults were injected: \(stats.faultsInjected)")

            // Every record exactly once, under its billing id.
            let customers = sim.records(.customer)
            #expect(customers.count == 200)
            #expect(Set(customers.map(\.externalID)) == Set(scenario.customers.map(\.lagoID)))
            let invoices = Dictionary(uniqueKeysWithValues: sim.records(.invoice).map { ($0.externalID, $0) })
            #expect(sim.records(.invoice).count == 1000 && invoices.count == 1000)
            #expect(sim.records(.creditMemo).count == 100)
            #expect(sim.records(.customerPayment).count == 500)

            // Amounts to the minor unit; references to the right records.
            let customerIDs = Dictionary(uniqueKeysWithValues: customers.map { ($0.externalID, $0.internalID) })
            for invoice in scenario.invoices {
                let record = try #require(invoices[invoice.lagoID])
                #expect(
                    record.total == Money(amountCents: invoice.totalCents, currency: invoice.currency).decimalString, "\(invoice.lagoID)")
                #expect(record.reference("entity") == customerIDs[invoice.customerID])
                let lineAmounts = record.sublist("item").compactMap { $0["amount"]?.numberText }.prefix(invoice.feeAmounts.count)
                #expect(Array(lineAmounts) == invoice.feeAmounts.map { Money(amountCents: $0, currency: invoice.currency).decimalString })
            }
            for note in scenario.creditNotes {
                let record = try #require(sim.record(.creditMemo, externalID: note.lagoID))
                #expect(record.total == Money(amountCents: note.totalCents, currency: note.currency).decimalString)
                #expect(record.reference("createdFrom") == invoices[note.invoiceID]?.internalID)
            }
            for payment in scenario.payments {
                let record = try #require(sim.record(.customerPayment, externalID: payment.lagoID))
                let amount = Money(amountCents: payment.amountCents, currency: payment.currency).decimalString
                #expect(record.total == amount)
                #expect(record.reference("customer") == customerIDs[payment.customerID])
                let apply = record.sublist("apply")
                #expect(apply.count == 1)
                #expect(apply.first?["doc"]?.referenceID == invoices[payment.invoiceID]?.internalID)
                #expect(apply.first?["amount"]?.numberText == amount)
            }

            // Idempotence from the simulator's write counts (keying by external id alone
            // cannot show a duplicate): every stored write belongs to a record of the scenario,
            // and no invoice was written more often than its job ran.
            let allRecords = NetSuiteSimulator.RecordType.allCases.flatMap { sim.records($0) }
            #expect(allRecords.reduce(0) { $0 + $1.writeCount } == stats.writes, "writes \(stats.writes)")
            let attempts = try await harness.invoiceAttempts()
            for record in sim.records(.invoice) {
                let ran = attempts[record.externalID] ?? 0
                #expect(
                    (1...max(ran, 1)).contains(record.writeCount) && ran >= 1,
                    "\(record.externalID): written \(record.writeCount) times by \(ran) attempts")
            }

            // The billing side can read every provider id.
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.external_refs") == 200 + 1000 + 100 + 500)
            #expect(
                try await harness.count(
                    "SELECT count(*) FROM ledgersync.external_refs WHERE object_type = 'invoice' AND customer_billing_id IS NULL") == 0)
        }
    }

    @Test("workers SIGKILLed during invoice pushes: no duplicate at NetSuite, no job lost")
    func killedWorkers() async throws {
        let scenario = BillingScenario.generate(customers: 30, invoicesPerCustomer: 5, creditNoteEvery: 0, payments: 0, seed: 11)
        // Slow answers, so that kills land while requests are in flight.
        let configuration = SyncHarness.simulatorConfiguration(latency: 30...80)
        try await SyncHarness.with(simulator: configuration) { harness in
            for invoice in scenario.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            var workers = try harness.startWorkers(2, concurrency: 4)
            var kills = 0
            for round in 0..<4 {
                // Kill while the simulator is answering a request, not at fixed times that a
                // busy machine turns into "between requests" or "after the end". The first
                // kill must find one; later rounds stop once no work is left to interrupt.
                let inFlight = await eventually(timeout: .seconds(round == 0 ? 60 : 15), every: .milliseconds(5)) {
                    harness.simulator.stats.inFlight > 0
                }
                if round == 0 { #expect(inFlight, "no request ever in flight to interrupt") }
                guard inFlight else { break }
                let victim = workers.removeFirst()
                victim.signal(SIGKILL)
                _ = await victim.waitForExit(timeout: .seconds(5))
                kills += 1
                workers.append(try harness.startWorker(concurrency: 4))
            }
            try await harness.waitUntilIdle(timeout: .seconds(180), workers: workers)
            await stop(workers)

            #expect(kills >= 1)
            let states = try await harness.jobStates()
            #expect(states["invoice.push/completed"] == 150, "\(states)")
            let records = harness.simulator.records(.invoice)
            #expect(records.count == 150)
            #expect(Set(records.map(\.externalID)) == Set(scenario.invoices.map(\.lagoID)))
            #expect(harness.simulator.records(.customer).count == 30)

            // "No duplicate" from the write counts, not from the store's keying alone: 150
            // creates, and every further write to an invoice is an update made by another
            // attempt of its own job (never two writes from one attempt).
            let attempts = try await harness.invoiceAttempts()
            var updates = 0
            for record in records {
                let ran = attempts[record.externalID] ?? 0
                #expect(
                    ran >= 1 && record.writeCount >= 1 && record.writeCount <= ran,
                    "\(record.externalID): written \(record.writeCount) times by \(ran) attempts")
                updates += record.writeCount - 1
            }
            #expect(updates <= attempts.values.reduce(0, +) - 150)
            let allRecords = NetSuiteSimulator.RecordType.allCases.flatMap { harness.simulator.records($0) }
            #expect(allRecords.reduce(0) { $0 + $1.writeCount } == harness.simulator.stats.writes)
            // A record written again holds what one write holds: the billing document's total
            // and number, whichever attempt wrote it last.
            for invoice in scenario.invoices {
                let record = try #require(harness.simulator.record(.invoice, externalID: invoice.lagoID))
                #expect(
                    record.total == Money(amountCents: invoice.totalCents, currency: invoice.currency).decimalString,
                    "\(invoice.lagoID), written \(record.writeCount) times")
                let document = try JSONSerialization.jsonObject(with: Data(invoice.json.utf8)) as? [String: Any]
                let number = try #require((document?["invoice"] as? [String: Any])?["number"] as? String)
                #expect(record.string("tranId") == number, "\(invoice.lagoID)")
            }
            // Kills interrupted work: some jobs needed more than one attempt (rescued), and
            // their second write went to the same record.
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt > 1") > 0)
        }
    }
}
