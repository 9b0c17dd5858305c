import Foundation
import JobQueueTesting
import Simulators
import Sync
import Testing

/// The transaction lifecycle a billing system has, end to end through workers and the
/// simulator over HTTP: credit memos applied to their invoice, the refunded part of a credit
/// note, a payment over three invoices, voids, a customer in another subsidiary, and an
/// invoice in a second currency.
@Suite("Transaction lifecycle end to end", .serialized, .timeLimit(.minutes(5)))
struct LifecycleTests {
    static func creditNote(_ id: String, invoice: BillingScenario.Invoice, total: Int64, credit: Int64, refund: Int64) throws -> String {
        try jsonText([
            "credit_note": [
                "lago_id": id, "number": "CN-\(id)", "lago_invoice_id": invoice.lagoID, "issuing_date": "2026-11-03",
                "currency": invoice.currency.code,
                "items": [["lago_id": "\(id)-item", "amount_cents": total, "amount_currency": invoice.currency.code]],
                "sub_total_excluding_taxes_amount_cents": total, "taxes_amount_cents": 0, "total_amount_cents": total,
                "credit_amount_cents": credit, "refund_amount_cents": refund,
            ] as [String: Any]
        ])
    }

    static func money(_ cents: Int64, _ currency: Currency) -> String { Money(amountCents: cents, currency: currency).decimalString }

    @Test(
        "credit memos lower their invoice's amount due by exactly the credit, a refund pays out the rest, a payment over three invoices, voids, a subsidiary, a second currency"
    )
    func lifecycle() async throws {
        let scenario = BillingScenario.generate(customers: 2, invoicesPerCustomer: 6, creditNoteEvery: 0, payments: 0, seed: 12)
        let usd = scenario.customers[0]
        let eur = scenario.customers[1]
        #expect(usd.currency == .usd && eur.currency == .eur)
        let invoices = scenario.invoices.filter { $0.customerID == usd.lagoID && $0.totalCents >= 400 }
        try #require(invoices.count >= 5, "the scenario has five USD invoices worth at least 4.00")
        let (a, b, c, d, e) = (invoices[0], invoices[1], invoices[2], invoices[3], invoices[4])

        var configuration = SyncHarness.simulatorConfiguration()
        configuration.catalogue.subsidiaries = ["1", "2"]
        try await SyncHarness.with(simulator: configuration) { harness in
            // The USD customer's documents, in the order the billing system produces them.
            for invoice in [a, b, c, d, e] { try await harness.enqueue(.invoicePush, invoice.json) }
            // Credit note 1 credits a quarter of invoice A; credit note 2 credits 1.00 of B and
            // refunds 2.00; credit note 3 credits 3.00 of E, then is voided.
            let cn1Credit = a.totalCents / 4
            try await harness.enqueue(
                .creditMemoPush, try Self.creditNote("cn1", invoice: a, total: cn1Credit, credit: cn1Credit, refund: 0),
                customerID: usd.lagoID)
            try await harness.enqueue(
                .creditMemoPush, try Self.creditNote("cn2", invoice: b, total: 300, credit: 100, refund: 200), customerID: usd.lagoID)
            try await harness.enqueue(
                .creditMemoPush, try Self.creditNote("cn3", invoice: e, total: 300, credit: 300, refund: 0), customerID: usd.lagoID)
            // One payment: the rest of A, 1.50 of B, all of C.
            let applications: [(BillingScenario.Invoice, Int64)] = [(a, a.totalCents - cn1Credit), (b, 150), (c, c.totalCents)]
            let paymentTotal = applications.reduce(0) { $0 + $1.1 }
            let payment = try jsonText([
                "payment": [
                    "lago_id": "pay-3", "invoice_ids": applications.map(\.0.lagoID), "amount_cents": paymentTotal, "amount_currency": "USD",
                    "paid_at": "2026-11-10",
                    "invoice_amounts": applications.map { ["invoice_id": $0.0.lagoID, "amount_cents": $0.1] as [String: Any] },
                ] as [String: Any]
            ])
            try await harness.enqueue(.paymentApply, payment, customerID: usd.lagoID)
            try await harness.enqueue(.invoiceVoid, d.json)
            try await harness.enqueue(
                .creditMemoVoid, try Self.creditNote("cn3", invoice: e, total: 300, credit: 300, refund: 0), customerID: usd.lagoID)

            // An invoice of the USD customer in EUR: its currency is added to the customer first.
            var euroInvoice = try jsonObject(a.json.replacingOccurrences(of: "\"USD\"", with: "\"EUR\""))
            var euroDocument = try #require(euroInvoice["invoice"] as? [String: Any])
            euroDocument["lago_id"] = "inv-usd-customer-in-eur"
            euroDocument["number"] = "EUR-1"
            var embedded = try #require(euroDocument["customer"] as? [String: Any])
            embedded["currency"] = "USD"
            euroDocument["customer"] = embedded
            euroInvoice["invoice"] = euroDocument
            try await harness.enqueue(.invoicePush, try jsonText(euroInvoice))

            // The EUR customer belongs to subsidiary 2 (Lago's netsuite_subsidiary).
            let eurInvoice = try #require(scenario.invoices.first { $0.customerID == eur.lagoID })
            var subsidiaryInvoice = try jsonObject(eurInvoice.json)
            var subsidiaryDocument = try #require(subsidiaryInvoice["invoice"] as? [String: Any])
            var subsidiaryCustomer = try #require(subsidiaryDocument["customer"] as? [String: Any])
            subsidiaryCustomer["netsuite_subsidiary"] = "2"
            subsidiaryDocument["customer"] = subsidiaryCustomer
            subsidiaryInvoice["invoice"] = subsidiaryDocument
            try await harness.enqueue(.invoicePush, try jsonText(subsidiaryInvoice))

            let workers = try harness.startWorkers(2)
            try await harness.waitUntilIdle(timeout: .seconds(120), workers: workers)
            await stop(workers)
            let states = try await harness.jobStates()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "every job completes: \(states)")

            let sim = harness.simulator
            func due(_ invoice: BillingScenario.Invoice) -> String? { sim.amountRemaining(.invoice, externalID: invoice.lagoID) }
            // A: its total less the quarter credited less the payment's rest: nothing due.
            #expect(due(a) == "0.00")
            #expect(sim.status(.invoice, externalID: a.lagoID) == "Paid In Full")
            // B: less 1.00 credited and 1.50 paid, to the cent.
            #expect(due(b) == Self.money(b.totalCents - 100 - 150, .usd))
            #expect(sim.status(.invoice, externalID: b.lagoID) == "Open")
            #expect(due(c) == "0.00")
            // E: credit note 3 was voided, so E is due in full again.
            #expect(due(e) == Self.money(e.totalCents, .usd))

            // The credit memos: applied to their invoices, cn2's rest refunded.
            let cn1 = try #require(sim.record(.creditMemo, externalID: "cn1"))
            let aRecord = try #require(sim.record(.invoice, externalID: a.lagoID))
            #expect(cn1.sublist("apply").first?["doc"]?.referenceID == aRecord.internalID)
            #expect(cn1.sublist("apply").first?["amount"]?.numberText == Self.money(cn1Credit, .usd))
            let cn2 = try #require(sim.record(.creditMemo, externalID: "cn2"))
            let refund = try #require(sim.record(.customerRefund, externalID: "cn2-refund"))
            #expect(refund.total == "2.00")
            #expect(refund.sublist("apply").first?["doc"]?.referenceID == cn2.internalID)
            #expect(sim.status(.creditMemo, externalID: "cn2") == "Fully Applied")
            #expect(sim.records(.customerRefund).count == 1, "cn1 and cn3 refund nothing")

            // The payment: one line per invoice with its own amount.
            let paymentRecord = try #require(sim.record(.customerPayment, externalID: "pay-3"))
            #expect(paymentRecord.total == Self.money(paymentTotal, .usd))
            #expect(paymentRecord.sublist("apply").compactMap { $0["amount"]?.numberText } == applications.map { Self.money($0.1, .usd) })

            // The voids: the same records, every amount zero, memo VOID.
            let voidedInvoice = try #require(sim.record(.invoice, externalID: d.lagoID))
            #expect(voidedInvoice.total == "0.00")
            #expect(voidedInvoice.string("memo") == "VOID")
            #expect(due(d) == "0.00")
            let voidedMemo = try #require(sim.record(.creditMemo, externalID: "cn3"))
            #expect(voidedMemo.total == "0.00")
            #expect(voidedMemo.sublist("apply").isEmpty)
            #expect(sim.records(.invoice).count == 7 && sim.records(.creditMemo).count == 3, "voids keep their records, none twice")

            // The customer in subsidiary 2, and its invoice with it.
            let eurCustomer = try #require(sim.record(.customer, externalID: eur.lagoID))
            #expect(eurCustomer.reference("subsidiary") == "2")
            #expect(sim.record(.invoice, externalID: eurInvoice.lagoID)?.reference("subsidiary") == "2")
            #expect(sim.record(.customer, externalID: usd.lagoID)?.reference("subsidiary") == "1")

            // EUR was added to the USD customer, and the EUR invoice taken.
            let usdCustomer = try #require(sim.record(.customer, externalID: usd.lagoID))
            #expect(usdCustomer.reference("currency") == "1")
            #expect(usdCustomer.sublist("currencyList").compactMap { $0["currency"]?.referenceID } == ["1", "2"])
            #expect(sim.record(.invoice, externalID: "inv-usd-customer-in-eur")?.reference("currency") == "2")
        }
    }

    @Test(
        "2 workers, 10% faults: every invoice's amount due is its total less its credit less what one payment per customer spread over its invoices paid; refunds and voids once"
    )
    func underFaults() async throws {
        let scenario = BillingScenario.generate(customers: 24, invoicesPerCustomer: 4, creditNoteEvery: 0, payments: 0, seed: 31)
        var credited: [String: Int64] = [:]
        var paid: [String: Int64] = [:]
        var notes: [(id: String, customerID: String, credit: Int64, refund: Int64, json: String)] = []
        var payments: [(customerID: String, json: String)] = []
        var voided: [BillingScenario.Invoice] = []
        for (c, customer) in scenario.customers.enumerated() {
            let own = scenario.invoices.filter { $0.customerID == customer.lagoID && $0.totalCents >= 400 }
            guard own.count >= 3 else { continue }
            // The first invoice gets a credit note that credits half its total (a third of the
            // note) and refunds the rest; the last is voided; the others are paid, with the
            // credited one, by one payment spread over them (every third customer pays half).
            let credit = own[0].totalCents / 2
            let refund = credit / 2 + 1
            let noteID = "cn-\(own[0].lagoID)"
            notes.append(
                (
                    noteID, customer.lagoID, credit, refund,
                    try Self.creditNote(noteID, invoice: own[0], total: credit + refund, credit: credit, refund: refund)
                ))
            credited[own[0].lagoID] = credit
            let payable = own.dropLast()
            var applications: [[String: Any]] = []
            for invoice in payable {
                let due = invoice.totalCents - (credited[invoice.lagoID] ?? 0)
                let amount = c % 3 == 0 ? max(1, due / 2) : due
                paid[invoice.lagoID] = amount
                applications.append(["invoice_id": invoice.lagoID, "amount_cents": amount])
            }
            let total = applications.reduce(Int64(0)) { $0 + ($1["amount_cents"] as? Int64 ?? 0) }
            payments.append(
                (
                    customer.lagoID,
                    try jsonText([
                        "payment": [
                            "lago_id": "pay-\(customer.lagoID)", "invoice_ids": payable.map(\.lagoID), "amount_cents": total,
                            "amount_currency": customer.currency.code, "paid_at": "2026-11-10", "invoice_amounts": applications,
                        ] as [String: Any]
                    ])
                ))
            voided.append(own[own.count - 1])
        }
        try #require(notes.count >= 15, "enough customers with three invoices")

        let configuration = SyncHarness.simulatorConfiguration(faultRate: 0.1, latency: 1...3)
        try await SyncHarness.with(simulator: configuration) { harness in
            for customer in scenario.customers {
                for invoice in scenario.invoices where invoice.customerID == customer.lagoID {
                    try await harness.enqueue(.invoicePush, invoice.json)
                }
                for note in notes where note.customerID == customer.lagoID {
                    try await harness.enqueue(.creditMemoPush, note.json, customerID: note.customerID)
                }
                for payment in payments where payment.customerID == customer.lagoID {
                    try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID)
                }
                for invoice in voided where invoice.customerID == customer.lagoID {
                    try await harness.enqueue(.invoiceVoid, invoice.json)
                }
            }
            let workers = try harness.startWorkers(2, requestTimeout: "1s")
            try await harness.waitUntilIdle(timeout: .seconds(180), workers: workers)
            await stop(workers)
            let states = try await harness.jobStates()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "every job completes: \(states)")

            let sim = harness.simulator
            #expect(sim.stats.faultsInjected.values.reduce(0, +) > 0, "faults were injected")
            #expect(sim.records(.invoice).count == scenario.invoices.count, "no invoice twice, voided ones kept")
            #expect(sim.records(.creditMemo).count == notes.count)
            #expect(sim.records(.customerRefund).count == notes.count, "one refund per note, none twice")
            #expect(sim.records(.customerPayment).count == payments.count)
            let voidedIDs = Set(voided.map(\.lagoID))
            for invoice in scenario.invoices {
                let due =
                    voidedIDs.contains(invoice.lagoID)
                    ? 0 : invoice.totalCents - (credited[invoice.lagoID] ?? 0) - (paid[invoice.lagoID] ?? 0)
                #expect(sim.amountRemaining(.invoice, externalID: invoice.lagoID) == Self.money(due, invoice.currency), "\(invoice.lagoID)")
            }
            for note in notes {
                let refund = try #require(sim.record(.customerRefund, externalID: "\(note.id)-refund"))
                let currency = try #require(scenario.customers.first { $0.lagoID == note.customerID }).currency
                #expect(refund.total == Self.money(note.refund, currency))
                #expect(sim.status(.creditMemo, externalID: note.id) == "Fully Applied")
            }
        }
    }
}
