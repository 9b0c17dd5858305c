import Foundation
import JobQueueTesting
import NetSuiteTesting
import Simulators
import Sync
import Testing

/// The sync's central promise, end to end: every record once, every amount to the minor
/// unit, whatever crashes — proven against a simulator that merges updates as NetSuite does
/// (a re-push without `?replace=` would double lines there), with the checker reading its
/// expectations from the documents, not from the payload code.
@Suite("A month pushed, then pushed again changed", .serialized, .timeLimit(.minutes(10)))
struct MonthOfChangesTests {
    /// A custom field whose value changes between the two revisions (the region metadata).
    static func mappings(connection: UUID) -> [Mapping] {
        BillingScenario.mappings(connection: connection) + [
            Mapping(
                connectionID: connection, kind: .customField, billingKey: "metadata.region", recordType: "customer",
                providerID: "custentity_region")
        ]
    }

    @Test(
        "2 workers, 10% faults, SIGKILLs: 200 customers and 600 invoices pushed, then all pushed again changed, with credit memos, refunds, payments over several invoices, voids and 50 sales orders: every record equals its latest document, none twice"
    )
    func monthOfChanges() async throws {
        let original = BillingScenario.generate(customers: 200, invoicesPerCustomer: 3, creditNoteEvery: 0, payments: 0, seed: 41)
        let changed = BillingScenario.generate(
            customers: 200, invoicesPerCustomer: 3, creditNoteEvery: 5, payments: 0, seed: 41, revision: 1)
        #expect(original.invoices.map(\.lagoID) == changed.invoices.map(\.lagoID), "a revision names the same invoices")
        // The edits are real: most invoices have other lines, every customer another address.
        let linesChanged = zip(original.invoices, changed.invoices).filter { $0.feeAmounts.count != $1.feeAmounts.count }.count
        #expect(linesChanged > 200, "lines removed or added on \(linesChanged) invoices")
        #expect(zip(original.customers, changed.customers).allSatisfy { $0.json != $1.json })

        let customerIndex = Dictionary(uniqueKeysWithValues: changed.customers.enumerated().map { ($1.lagoID, $0) })
        func customerNumber(_ invoice: BillingScenario.Invoice) -> Int { customerIndex[invoice.customerID]! }
        let invoiceByID = Dictionary(uniqueKeysWithValues: changed.invoices.map { ($0.lagoID, $0) })

        // Voids: the third invoice of every tenth customer (3, 13, …), which has no credit note.
        let voidedInvoices = Set(
            changed.invoices.enumerated().filter { $0.offset >= 400 && customerNumber($0.element) % 10 == 3 }.map(\.element.lagoID))
        // Credit notes: every third refunds half of its total; the notes of customers 5, 15, …
        // that refund nothing are voided.
        var creditNotes: [(json: String, lagoID: String, invoiceID: String, credit: Int64, refund: Int64, voided: Bool)] = []
        for (n, note) in changed.creditNotes.enumerated() where !voidedInvoices.contains(note.invoiceID) {
            var root = try jsonObject(note.json)
            var document = try #require(root["credit_note"] as? [String: Any])
            var credit = note.creditCents
            var refund = note.refundCents
            if n % 3 == 0 {
                credit = note.totalCents / 2
                refund = note.totalCents - credit
                document["credit_amount_cents"] = credit
                document["refund_amount_cents"] = refund
                root["credit_note"] = document
            }
            let voided = refund == 0 && customerNumber(invoiceByID[note.invoiceID]!) % 10 == 5
            creditNotes.append((try jsonText(root), note.lagoID, note.invoiceID, credit, refund, voided))
        }
        #expect(creditNotes.contains { $0.refund > 0 } && creditNotes.contains { $0.voided })
        let credited = Dictionary(creditNotes.map { ($0.invoiceID, $0.credit) }, uniquingKeysWith: +)

        // Payments: every fourth customer pays what is due on its invoices that are not voided,
        // in one payment over all of them, an amount per invoice.
        var payments: [(json: String, lagoID: String, customerID: String, applied: [String: Int64])] = []
        for (c, customer) in changed.customers.enumerated() where c % 4 == 1 {
            let paid = changed.invoices.filter { $0.customerID == customer.lagoID && !voidedInvoices.contains($0.lagoID) }
                .map { ($0, $0.totalCents - (credited[$0.lagoID] ?? 0)) }.filter { $0.1 > 0 }
            guard paid.count >= 2 else { continue }
            let total = paid.reduce(Int64(0)) { $0 + $1.1 }
            let lagoID = "pay-\(customer.lagoID)"
            let json = try jsonText([
                "payment": [
                    "lago_id": lagoID, "invoice_ids": paid.map(\.0.lagoID), "amount_cents": total,
                    "amount_currency": customer.currency.code,
                    "paid_at": "2026-11-20", "reference": "wire \(c)",
                    "invoice_amounts": paid.map { ["invoice_id": $0.0.lagoID, "amount_cents": $0.1] as [String: Any] },
                ] as [String: Any]
            ])
            payments.append((json, lagoID, customer.lagoID, Dictionary(uniqueKeysWithValues: paid.map { ($0.0.lagoID, $0.1) })))
        }
        #expect(payments.count > 40)

        // 50 sales orders: invoice-shaped documents of their own, under the same customers.
        var salesOrders: [(json: String, lagoID: String)] = []
        for invoice in changed.invoices.prefix(50) {
            var document = try #require(try jsonObject(invoice.json)["invoice"] as? [String: Any])
            let lagoID = "so-" + invoice.lagoID
            document["lago_id"] = lagoID
            document["number"] = "SO-" + (document["number"] as? String ?? "")
            salesOrders.append((try jsonText(["sales_order": document]), lagoID))
        }

        var configuration = SyncHarness.simulatorConfiguration(faultRate: 0.1, latency: 1...3)
        configuration.seed = 20_261_203
        try await SyncHarness.with(simulator: configuration, mappings: Self.mappings(connection:)) { harness in
            // Each customer's lane in the order a billing system produces its documents: the
            // month as first issued, then every object again as edited, then what follows.
            for (c, customer) in original.customers.enumerated() where c % 2 == 0 {
                try await harness.enqueue(.customerSync, customer.json)
            }
            for invoice in original.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            for customer in changed.customers { try await harness.enqueue(.customerSync, customer.json) }
            for invoice in changed.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            for note in creditNotes { try await harness.enqueue(.creditMemoPush, note.json) }
            for payment in payments { try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID) }
            for order in salesOrders { try await harness.enqueue(.salesOrderPush, order.json) }
            for invoice in changed.invoices where voidedInvoices.contains(invoice.lagoID) {
                try await harness.enqueue(.invoiceVoid, invoice.json)
            }
            for note in creditNotes where note.voided { try await harness.enqueue(.creditMemoVoid, note.json) }

            // The simulator's late answers (1.5 s) come after the client gave up (1 s); workers
            // are SIGKILLed while the simulator is answering one of their requests.
            var workers = try harness.startWorkers(2, requestTimeout: "1s")
            var kills = 0
            for round in 0..<3 {
                let inFlight = await eventually(timeout: .seconds(round == 0 ? 60 : 20), every: .milliseconds(5)) {
                    harness.simulator.stats.inFlight > 0
                }
                guard inFlight else { break }
                let victim = workers.removeFirst()
                victim.signal(SIGKILL)
                _ = await victim.waitForExit(timeout: .seconds(5))
                kills += 1
                workers.append(try harness.startWorker(requestTimeout: "1s"))
            }
            try await harness.waitUntilIdle(timeout: .seconds(420), workers: workers)
            await stop(workers)
            #expect(kills >= 1)
            let states = try await harness.jobStates()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "every job completes: \(states)")

            let sim = harness.simulator
            #expect(sim.stats.faultsInjected.values.reduce(0, +) > 100, "faults were injected: \(sim.stats.faultsInjected)")
            #expect(sim.stats.maxInFlight <= 5)

            let connection = try await ConnectionStore(pool: harness.pool, secretBox: harness.box).get(harness.connectionID)
            let mappings = try await MappingStore(pool: harness.pool).mappingSet(connection: harness.connectionID)
            let target = SyncTarget(connectionID: harness.connectionID, connection: connection, mappings: mappings)
            func fields(_ recordType: String, _ args: String, _ path: [String]) -> SyncTarget {
                var t = target
                t.customFields = CustomFieldValue.resolve(mappings, recordType: recordType, args: args, at: path)
                return t
            }
            var differences: [String] = []

            // Customers: as last edited (address, email, the region custom field), once each.
            #expect(sim.records(.customer).count == 200)
            var customerRefs: [String: String] = [:]
            for customer in changed.customers {
                let document = try DocumentDecoder.decode(BillingCustomer.self, from: customer.json)
                let record = sim.record(.customer, externalID: customer.lagoID)
                customerRefs[customer.lagoID] = record?.internalID
                differences += RecordChecker.customer(document, record: record, target: fields("customer", customer.json, ["customer"]))
            }

            // Invoices: the latest lines, taxes and totals (or, voided, zero), once each, and
            // what is due on each to the minor unit.
            #expect(sim.records(.invoice).count == 600)
            let voidedNotes = Set(creditNotes.filter(\.voided).map(\.lagoID))
            let creditedNow = Dictionary(creditNotes.filter { !$0.voided }.map { ($0.invoiceID, $0.credit) }, uniquingKeysWith: +)
            let paidNow = Dictionary(payments.flatMap { $0.applied.map { ($0.key, $0.value) } }, uniquingKeysWith: +)
            var invoiceRefs: [String: String] = [:]
            for invoice in changed.invoices {
                let document = try DocumentDecoder.decode(BillingInvoice.self, from: invoice.json)
                let record = sim.record(.invoice, externalID: invoice.lagoID)
                invoiceRefs[invoice.lagoID] = record?.internalID
                let zero = Money(amountCents: 0, currency: invoice.currency).decimalString
                if voidedInvoices.contains(invoice.lagoID) {
                    let lines = record?.sublist("item") ?? []
                    let expectedLines =
                        document.fees.filter { $0.amountCents != 0 }.count + document.credits.filter { $0.amountCents != 0 }.count
                        + (document.prepaidCreditAmountCents != 0 ? 1 : 0)
                    if record?.total != zero || lines.count != expectedLines
                        || !lines.allSatisfy({ ($0["amount"]?.numberText).map { Decimal(string: $0) == 0 } ?? false })
                    {
                        differences.append(
                            "voided invoice \(invoice.lagoID): total \(record?.total ?? "none"), \(lines.count) lines (expected \(expectedLines), all zero)"
                        )
                    }
                    if sim.amountRemaining(.invoice, externalID: invoice.lagoID) != zero {
                        differences.append(
                            "voided invoice \(invoice.lagoID): \(sim.amountRemaining(.invoice, externalID: invoice.lagoID) ?? "none") due")
                    }
                    continue
                }
                differences += RecordChecker.invoice(
                    document, record: record, customerRef: customerRefs[invoice.customerID] ?? "missing",
                    target: fields("invoice", invoice.json, ["invoice"]))
                let due = invoice.totalCents - (creditedNow[invoice.lagoID] ?? 0) - (paidNow[invoice.lagoID] ?? 0)
                let expectedDue = Money(amountCents: due, currency: invoice.currency).decimalString
                let actualDue = sim.amountRemaining(.invoice, externalID: invoice.lagoID)
                if actualDue != expectedDue {
                    differences.append("invoice \(invoice.lagoID): \(actualDue ?? "none") due, expected \(expectedDue)")
                }
                let status = sim.status(.invoice, externalID: invoice.lagoID)
                if status != (due == 0 ? "Paid In Full" : "Open") {
                    differences.append("invoice \(invoice.lagoID): status \(status ?? "none") with \(expectedDue) due")
                }
            }

            // Credit memos applied to their invoice (voided: zero, applied to nothing), the
            // refunded parts as customer refunds applied to their credit memo.
            #expect(sim.records(.creditMemo).count == creditNotes.count)
            #expect(sim.records(.customerRefund).count == creditNotes.filter { $0.refund > 0 }.count)
            for note in creditNotes {
                let document = try DocumentDecoder.decode(BillingCreditMemo.self, from: note.json)
                let record = sim.record(.creditMemo, externalID: note.lagoID)
                let invoice = invoiceByID[note.invoiceID]!
                if voidedNotes.contains(note.lagoID) {
                    let zero = Money(amountCents: 0, currency: document.currency).decimalString
                    if record?.total != zero || !(record?.sublist("apply").isEmpty ?? false) {
                        differences.append(
                            "voided credit memo \(note.lagoID): total \(record?.total ?? "none"), \(record?.sublist("apply").count ?? -1) apply lines"
                        )
                    }
                    continue
                }
                differences += RecordChecker.creditMemo(
                    document, record: record, customerRef: customerRefs[invoice.customerID] ?? "missing",
                    invoiceRef: invoiceRefs[note.invoiceID] ?? "missing", target: fields("credit_memo", note.json, ["credit_note"]))
                if note.refund > 0 {
                    let refund = sim.record(.customerRefund, externalID: document.refundExternalID)
                    let apply = refund?.sublist("apply") ?? []
                    let amount = Money(amountCents: note.refund, currency: document.currency).decimalString
                    if apply.count != 1 || apply.first?["doc"]?.referenceID != record?.internalID
                        || apply.first?["amount"]?.numberText != amount
                    {
                        differences.append(
                            "refund of \(note.lagoID): \(apply.count) apply lines, expected one of \(amount) on credit memo \(record?.internalID ?? "none")"
                        )
                    }
                }
            }

            // Payments: one apply line per invoice paid, each with its amount.
            #expect(sim.records(.customerPayment).count == payments.count)
            for payment in payments {
                let document = try DocumentDecoder.decode(BillingPayment.self, from: payment.json)
                differences += RecordChecker.payment(
                    document, record: sim.record(.customerPayment, externalID: payment.lagoID),
                    customerRef: customerRefs[payment.customerID] ?? "missing", invoiceRefs: invoiceRefs,
                    target: fields("payment", payment.json, ["payment"]))
            }

            // Sales orders, once each, equal to their documents.
            #expect(sim.records(.salesOrder).count == 50)
            for order in salesOrders {
                let document = try DocumentDecoder.decode(BillingSalesOrder.self, from: order.json)
                differences += RecordChecker.invoice(
                    document.invoice, record: sim.record(.salesOrder, externalID: order.lagoID),
                    customerRef: customerRefs[document.invoice.customer?.lagoID ?? ""] ?? "missing",
                    target: fields("sales_order", order.json, ["sales_order"]), recordType: "sales_order")
            }

            #expect(differences.isEmpty, "\(differences.count) differences, the first: \(differences.prefix(20).joined(separator: "\n"))")

            // None twice: every write the simulator stored belongs to one of these records.
            let all = NetSuiteSimulator.RecordType.allCases.flatMap { sim.records($0) }
            #expect(all.reduce(0) { $0 + $1.writeCount } == sim.stats.writes)
            #expect(all.count == 200 + 600 + creditNotes.count + creditNotes.filter { $0.refund > 0 }.count + payments.count + 50)
        }
    }
}
