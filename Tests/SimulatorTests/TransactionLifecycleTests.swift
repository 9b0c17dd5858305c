import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import Testing

/// The receivables rules of the simulator (Sources/Simulators/NetSuite/Transactions.swift),
/// each with the case of the Oracle page it cites: credit memos and payments lower an
/// invoice's amount due and never below zero, customer refunds pay out what is left of a
/// credit memo, a transaction takes its customer's subsidiary and one of its currencies, and
/// a void (zero amounts) cannot undo what is applied.
@Suite(.timeLimit(.minutes(2))) struct TransactionLifecycleTests {
    static func apply(_ lines: [(doc: String, amount: String)]) -> String {
        let items = lines.map { #"{"doc": {"id": "\#($0.doc)"}, "apply": true, "amount": \#($0.amount)}"# }
        return #", "apply": {"items": [\#(items.joined(separator: ", "))]}"#
    }

    static func refund(_ externalID: String, customer: String, applies: [(doc: String, amount: String)]) -> String {
        #"{"externalId": "\#(externalID)", "customer": {"id": "\#(customer)"}, "tranDate": "2024-05-21""# + apply(applies) + "}"
    }

    @Test(
        "credit memo (Oracle 'Credit Memo'): its apply line lowers the invoice's amount due by exactly the credit; never beyond it, never another customer's invoice"
    )
    func creditMemoApplication() async throws {
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let bob = try await sim.createCustomer("bob")
            let invoice = try await sim.createInvoice("inv_1", customer: alice, amounts: ["80.00", "20.00"])
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "100.00")
            #expect(sim.simulator.status(.invoice, externalID: "inv_1") == "Open")

            let memo = try await sim.upsert(
                "creditMemo", "cm_1", Bodies.invoice("cm_1", customer: alice, amounts: ["30.00"], extra: Self.apply([(invoice, "30.00")])))
            #expect(memo.status == 204, "\(memo.text)")
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "70.00")
            #expect(sim.simulator.amountRemaining(.creditMemo, externalID: "cm_1") == "0.00")
            #expect(sim.simulator.status(.creditMemo, externalID: "cm_1") == "Fully Applied")

            // The GET answer carries the derived amount due and status.
            let read = try await sim.send("GET", sim.url("invoice", "eid:inv_1"))
            #expect(read.exactJSON?["amountRemaining"]?.numberText == "70.00")
            #expect(read.exactJSON?["status"]?["refName"]?.stringValue == "Open")

            // Re-sending the memo replaces its own application (it is not counted twice).
            let resent = try await sim.upsert(
                "creditMemo", "cm_1", Bodies.invoice("cm_1", customer: alice, amounts: ["30.00"], extra: Self.apply([(invoice, "30.00")])))
            #expect(resent.status == 204)
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "70.00")

            let over = try await sim.upsert(
                "creditMemo", "cm_2", Bodies.invoice("cm_2", customer: alice, amounts: ["90.00"], extra: Self.apply([(invoice, "70.01")])))
            #expect(over.status == 400)
            #expect(over.netSuiteError.path == "apply.items[0].amount")
            #expect(over.netSuiteError.detail == "The credit memo applies 70.01 to invoice \(invoice), whose amount due is 70.00.")
            #expect(over.errorClass == .permanent)

            let beyondTotal = try await sim.upsert(
                "creditMemo", "cm_3", Bodies.invoice("cm_3", customer: alice, amounts: ["5.00"], extra: Self.apply([(invoice, "6.00")])))
            #expect(beyondTotal.netSuiteError.path == "apply")

            let otherCustomer = try await sim.upsert(
                "creditMemo", "cm_4", Bodies.invoice("cm_4", customer: bob, amounts: ["5.00"], extra: Self.apply([(invoice, "5.00")])))
            #expect(otherCustomer.netSuiteError.path == "apply.items[0].doc")
            #expect(otherCustomer.errorClass == .permanent)

            // A payment and the credit together pay the invoice in full; a cent more is refused.
            let tooMuch = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: alice, payment: "70.01", applies: [(invoice, "70.01")]))
            #expect(tooMuch.netSuiteError.detail == "The payment applies 70.01 to invoice \(invoice), whose amount due is 70.00.")
            let paid = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: alice, payment: "70.00", applies: [(invoice, "70.00")]))
            #expect(paid.status == 204)
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "0.00")
            #expect(sim.simulator.status(.invoice, externalID: "inv_1") == "Paid In Full")
        }
    }

    @Test(
        "payment (Oracle 'Customer Payment' sample: apply lines with doc and amount) over three invoices: each amount due drops by its own amount"
    )
    func paymentOverThreeInvoices() async throws {
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let a = try await sim.createInvoice("inv_a", customer: alice, amounts: ["100.00"])
            let b = try await sim.createInvoice("inv_b", customer: alice, amounts: ["50.00"])
            let c = try await sim.createInvoice("inv_c", customer: alice, amounts: ["25.50"])
            let paid = try await sim.upsert(
                "customerPayment", "pay_1",
                Bodies.payment("pay_1", customer: alice, payment: "120.25", applies: [(a, "100.00"), (b, "20.00"), (c, "0.25")]))
            #expect(paid.status == 204, "\(paid.text)")
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_a") == "0.00")
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_b") == "30.00")
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_c") == "25.25")
            #expect(sim.simulator.status(.invoice, externalID: "inv_a") == "Paid In Full")
            #expect(sim.simulator.status(.invoice, externalID: "inv_b") == "Open")

            let over = try await sim.upsert(
                "customerPayment", "pay_2",
                Bodies.payment("pay_2", customer: alice, payment: "31.00", applies: [(b, "30.00"), (a, "1.00")]))
            #expect(over.netSuiteError.path == "apply.items[1].amount")
        }
    }

    @Test(
        "customer refund (Oracle 'Customer Refund': apply sublist): pays out what is left of a credit memo, no more; the memo is then fully applied"
    )
    func customerRefund() async throws {
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let bob = try await sim.createCustomer("bob")
            let invoice = try await sim.createInvoice("inv_1", customer: alice, amounts: ["100.00"])
            let memoResponse = try await sim.upsert(
                "creditMemo", "cm_1", Bodies.invoice("cm_1", customer: alice, amounts: ["50.00"], extra: Self.apply([(invoice, "20.00")])))
            #expect(memoResponse.status == 204)
            let memo = try #require(sim.simulator.record(.creditMemo, externalID: "cm_1")).internalID
            #expect(sim.simulator.amountRemaining(.creditMemo, externalID: "cm_1") == "30.00")
            #expect(sim.simulator.status(.creditMemo, externalID: "cm_1") == "Open")

            let tooMuch = try await sim.upsert(
                "customerRefund", "cm_1-refund", Self.refund("cm_1-refund", customer: alice, applies: [(memo, "30.01")]))
            #expect(tooMuch.status == 400)
            #expect(tooMuch.netSuiteError.path == "apply.items[0].amount")
            #expect(tooMuch.netSuiteError.detail == "The refund pays out 30.01 of credit memo \(memo), which has 30.00 left to apply.")

            let wrongCustomer = try await sim.upsert(
                "customerRefund", "r_bob", Self.refund("r_bob", customer: bob, applies: [(memo, "1.00")]))
            #expect(wrongCustomer.netSuiteError.path == "apply.items[0].doc")

            let notAMemo = try await sim.upsert("customerRefund", "r_2", Self.refund("r_2", customer: alice, applies: [(invoice, "1.00")]))
            #expect(notAMemo.netSuiteError.code == "INVALID_KEY_OR_REF")

            let empty = try await sim.upsert("customerRefund", "r_3", Self.refund("r_3", customer: alice, applies: []))
            #expect(empty.netSuiteError.path == "apply")

            let refund = try await sim.upsert(
                "customerRefund", "cm_1-refund", Self.refund("cm_1-refund", customer: alice, applies: [(memo, "30.00")]))
            #expect(refund.status == 204, "\(refund.text)")
            #expect(sim.simulator.record(.customerRefund, externalID: "cm_1-refund")?.total == "30.00")
            #expect(sim.simulator.amountRemaining(.creditMemo, externalID: "cm_1") == "0.00")
            #expect(sim.simulator.status(.creditMemo, externalID: "cm_1") == "Fully Applied")
            // The invoice is lowered by the credit only, not by the refund.
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "80.00")
        }
    }

    @Test("subsidiary (Oracle 'Associate Subsidiaries with Entities and Items'): a transaction takes its customer's subsidiary")
    func subsidiary() async throws {
        var configuration = NetSuiteSimulator.Configuration(credentials: [SimulatorHarness.credentials])
        configuration.catalogue.subsidiaries = ["1", "2"]
        try await SimulatorHarness.run(configuration) { sim in
            let created = try await sim.upsert("customer", "eu", Bodies.customer("eu", subsidiary: "2"))
            #expect(created.status == 204)
            let customer = try #require(sim.simulator.record(.customer, externalID: "eu")).internalID
            let wrong = try await sim.upsert(
                "invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["10.00"], extra: #", "subsidiary": {"id": "1"}"#))
            #expect(wrong.status == 400)
            #expect(wrong.netSuiteError.path == "subsidiary")
            #expect(wrong.errorClass == .permanent)
            let right = try await sim.upsert(
                "invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["10.00"], extra: #", "subsidiary": {"id": "2"}"#))
            #expect(right.status == 204)
            // Without a subsidiary the transaction inherits its customer's.
            let inherited = try await sim.upsert("invoice", "inv_2", Bodies.invoice("inv_2", customer: customer, amounts: ["10.00"]))
            #expect(inherited.status == 204)
        }
    }

    @Test(
        "currencies (Oracle 'Currency on Customer Transactions'): a transaction's currency must be one of its customer's; adding it to currencyList allows it"
    )
    func currencies() async throws {
        try await SimulatorHarness.run { sim in
            let created = try await sim.upsert("customer", "usd", Bodies.customer("usd", extra: #", "currency": {"id": "1"}"#))
            #expect(created.status == 204)
            let customer = try #require(sim.simulator.record(.customer, externalID: "usd")).internalID
            let euro = #", "currency": {"id": "2"}"#
            let refused = try await sim.upsert(
                "invoice", "inv_eur", Bodies.invoice("inv_eur", customer: customer, amounts: ["10.00"], extra: euro))
            #expect(refused.status == 400)
            #expect(refused.netSuiteError.path == "currency")
            #expect(refused.errorClass == .permanent)
            let primary = try await sim.upsert(
                "invoice", "inv_usd",
                Bodies.invoice("inv_usd", customer: customer, amounts: ["10.00"], extra: #", "currency": {"id": "1"}"#))
            #expect(primary.status == 204)

            let added = try await sim.upsert(
                "customer", "usd",
                Bodies.customer(
                    "usd",
                    extra: #", "currency": {"id": "1"}, "currencyList": {"items": [{"currency": {"id": "1"}}, {"currency": {"id": "2"}}]}"#)
            )
            #expect(added.status == 204)
            let allowed = try await sim.upsert(
                "invoice", "inv_eur", Bodies.invoice("inv_eur", customer: customer, amounts: ["10.00"], extra: euro))
            #expect(allowed.status == 204, "\(allowed.text)")
        }
    }

    @Test(
        "void (Oracle N/transaction Module: a direct void sets the total and every line to zero, the record stays): an open invoice can be zeroed, a paid one cannot"
    )
    func voids() async throws {
        // A void is an update that states the record's lines whole, so it names `item` in
        // `replace` as every upsert of the client does; without it the zero line would be
        // appended to the old one ("Updating a Sublist", section_1545295601).
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let open = try await sim.createInvoice("inv_open", customer: alice, amounts: ["40.00"])
            let paid = try await sim.createInvoice("inv_paid", customer: alice, amounts: ["60.00"])
            _ = open
            let payment = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: alice, payment: "10.00", applies: [(paid, "10.00")]))
            #expect(payment.status == 204)

            let voided = try await sim.upsert(
                "invoice", "inv_open", Bodies.invoice("inv_open", customer: alice, amounts: ["0.00"], extra: #", "memo": "VOID""#),
                replace: "item")
            #expect(voided.status == 204)
            #expect(sim.simulator.record(.invoice, externalID: "inv_open")?.total == "0.00")
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_open") == "0.00")
            #expect(sim.simulator.records(.invoice).count == 2, "a void keeps the record")

            let refused = try await sim.upsert(
                "invoice", "inv_paid", Bodies.invoice("inv_paid", customer: alice, amounts: ["0.00"], extra: #", "memo": "VOID""#),
                replace: "item")
            #expect(refused.status == 400)
            #expect(refused.netSuiteError.path == "item")
            #expect(refused.errorClass == .permanent)
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_paid") == "50.00")
        }
    }
}
