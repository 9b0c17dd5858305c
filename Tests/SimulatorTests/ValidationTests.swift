import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

/// Each rule answers in NetSuite's format with the path of the field, and the worker's
/// parser classifies the answer as docs/netsuite.md's table says.
@Suite("NetSuiteSimulator validation", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorValidationTests {
    @Test("customer: subsidiary required and known; company name, or first and last name for a person")
    func customerRules() async throws {
        try await SimulatorHarness.run { sim in
            let noSubsidiary = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1", subsidiary: nil))
            #expect(noSubsidiary.status == 400)
            #expect(noSubsidiary.exactJSON?["title"] == .string("Bad Request"))
            #expect(noSubsidiary.exactJSON?["status"] == .number("400"))
            #expect(noSubsidiary.netSuiteError.code == "USER_ERROR")
            #expect(noSubsidiary.netSuiteError.detail == "Please enter value(s) for: Subsidiary")
            #expect(noSubsidiary.netSuiteError.path == "subsidiary")
            #expect(noSubsidiary.errorClass == .permanent)

            let unknownSubsidiary = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1", subsidiary: "7"))
            #expect(unknownSubsidiary.netSuiteError.code == "INVALID_KEY_OR_REF")
            #expect(unknownSubsidiary.netSuiteError.path == "subsidiary")
            #expect(unknownSubsidiary.errorClass == .permanent)

            let person = try await sim.upsert("customer", "cus_2", #"{"isPerson": true, "firstName": "Ada", "subsidiary": {"id": "1"}}"#)
            #expect(person.status == 400)
            #expect(person.netSuiteError.detail == "Please enter value(s) for: Last Name")
            #expect(person.netSuiteError.path == "lastName")

            let company = try await sim.upsert("customer", "cus_3", #"{"isPerson": false, "subsidiary": {"id": "1"}}"#)
            #expect(company.netSuiteError.detail == "Please enter value(s) for: Company Name")

            let wholePerson = try await sim.upsert(
                "customer", "cus_2", #"{"isPerson": true, "firstName": "Ada", "lastName": "Lovelace", "subsidiary": {"id": "1"}}"#)
            #expect(wholePerson.status == 204)
            #expect(sim.simulator.stats.writes == 1)
        }
    }

    @Test("transactions: the entity must be an existing customer (a dependency to wait for)")
    func unknownEntity() async throws {
        try await SimulatorHarness.run { sim in
            let response = try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: "999", amounts: ["10.00"]))
            #expect(response.status == 400)
            #expect(response.netSuiteError.code == "INVALID_KEY_OR_REF")
            #expect(response.netSuiteError.path == "entity")
            #expect(response.netSuiteError.detail == "Invalid Field Value 999 for the following field: entity")
            #expect(response.errorClass == .dependency)
            #expect(sim.simulator.records(.invoice).isEmpty)
        }
    }

    @Test("transactions: every line's item must exist (a permanent error naming the line)")
    func unknownItem() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let body =
                #"{"entity": {"id": "\#(customer)"}, "item": {"items": [{"item": {"id": "510"}, "amount": 1.00}, {"item": {"id": "4242"}, "amount": 2.00}]}}"#
            let response = try await sim.upsert("invoice", "inv_1", body)
            #expect(response.status == 400)
            #expect(response.netSuiteError.code == "INVALID_KEY_OR_REF")
            #expect(response.netSuiteError.path == "item.items[1].item")
            #expect(response.errorClass == .permanent)

            let empty = try await sim.upsert("invoice", "inv_1", #"{"entity": {"id": "\#(customer)"}, "item": {"items": []}}"#)
            #expect(empty.netSuiteError.path == "item")

            sim.simulator.addItem(.init(id: "4242", name: "New item"))
            #expect(try await sim.upsert("invoice", "inv_1", body).status == 204)
        }
    }

    @Test("transactions: location is required when the form rule is on")
    func locationRule() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            sim.simulator.setLocationRequired(true)
            let missing = try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"]))
            #expect(missing.status == 400)
            #expect(missing.netSuiteError.code == "USER_ERROR")
            #expect(missing.netSuiteError.detail == "Please enter value(s) for: Location")
            #expect(missing.netSuiteError.path == "location")

            let withLocation = Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"], extra: #", "location": {"id": "3"}"#)
            #expect(try await sim.upsert("invoice", "inv_1", withLocation).status == 204)
        }
    }

    @Test("transactions: a tax-overridden transaction takes only taxable items, and tax rows must match lines")
    func taxOverrideRules() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let override = #", "taxDetailsOverride": true"#
            let nonTaxable = try await sim.upsert(
                "invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"], item: "700", extra: override))
            #expect(nonTaxable.status == 400)
            #expect(nonTaxable.netSuiteError.code == "USER_ERROR")
            #expect(nonTaxable.netSuiteError.path == "item.items[0].item")
            #expect(nonTaxable.netSuiteError.detail?.contains("not taxable") == true)
            #expect(nonTaxable.errorClass == .permanent)

            // Without the override the same item is fine.
            #expect(
                try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"], item: "700")).status
                    == 204)

            let strayRow = override + #", "taxDetails": {"items": [{"taxDetailsReference": "nowhere", "taxAmount": 0.20}]}"#
            let stray = try await sim.upsert(
                "invoice", "inv_2", Bodies.invoice("inv_2", customer: customer, amounts: ["1.00"], extra: strayRow))
            #expect(stray.netSuiteError.path == "taxDetails.items[0].taxDetailsReference")
        }
    }

    @Test("credit memo: createdFrom must be an existing invoice of the same customer")
    func creditMemoCreatedFrom() async throws {
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let bob = try await sim.createCustomer("bob")
            let invoice = try await sim.createInvoice("inv_1", customer: alice, amounts: ["10.00"])

            let unknown = try await sim.upsert(
                "creditMemo", "cn_1", Bodies.invoice("cn_1", customer: alice, amounts: ["2.00"], extra: #", "createdFrom": {"id": "999"}"#))
            #expect(unknown.netSuiteError.code == "INVALID_KEY_OR_REF")
            #expect(unknown.netSuiteError.path == "createdFrom")
            #expect(unknown.errorClass == .dependency)

            let otherCustomer = try await sim.upsert(
                "creditMemo", "cn_1",
                Bodies.invoice("cn_1", customer: bob, amounts: ["2.00"], extra: #", "createdFrom": {"id": "\#(invoice)"}"#))
            #expect(otherCustomer.netSuiteError.code == "USER_ERROR")
            #expect(otherCustomer.netSuiteError.path == "createdFrom")
            #expect(otherCustomer.errorClass == .permanent)

            let fine = try await sim.upsert(
                "creditmemo", "cn_1",
                Bodies.invoice("cn_1", customer: alice, amounts: ["2.00"], extra: #", "createdFrom": {"id": "\#(invoice)"}"#))
            #expect(fine.status == 204)
        }
    }

    @Test("payment: applies only to invoices of its customer, never beyond their amount due; its own upsert replaces its application")
    func paymentApplication() async throws {
        try await SimulatorHarness.run { sim in
            let alice = try await sim.createCustomer("alice")
            let bob = try await sim.createCustomer("bob")
            let invoice = try await sim.createInvoice("inv_1", customer: alice, amounts: ["80.00", "20.00"])

            let first = try await sim.upsert(
                "customerPayment", "pay_a", Bodies.payment("pay_a", customer: alice, payment: "60.00", applies: [(invoice, "60.00")]))
            #expect(first.status == 204)

            let over = try await sim.upsert(
                "customerPayment", "pay_b", Bodies.payment("pay_b", customer: alice, payment: "50.00", applies: [(invoice, "50.00")]))
            #expect(over.status == 400)
            #expect(over.netSuiteError.code == "USER_ERROR")
            #expect(over.netSuiteError.path == "apply.items[0].amount")
            #expect(over.netSuiteError.detail == "The payment applies 50.00 to invoice \(invoice), whose amount due is 40.00.")
            #expect(over.errorClass == .permanent)

            // Re-sending payment A with the whole amount replaces its own 60.00.
            let resent = try await sim.upsert(
                "customerPayment", "pay_a", Bodies.payment("pay_a", customer: alice, payment: "100.00", applies: [(invoice, "100.00")]))
            #expect(resent.status == 204)

            let secondInvoice = try await sim.createInvoice("inv_2", customer: alice, amounts: ["50.00"])
            let moreThanPayment = try await sim.upsert(
                "customerPayment", "pay_c", Bodies.payment("pay_c", customer: alice, payment: "1.00", applies: [(secondInvoice, "5.00")]))
            #expect(moreThanPayment.netSuiteError.path == "apply")
            #expect(moreThanPayment.errorClass == .permanent)

            let zeroApplied = try await sim.upsert(
                "customerPayment", "pay_c", Bodies.payment("pay_c", customer: alice, payment: "1.00", applies: [(secondInvoice, "0.00")]))
            #expect(zeroApplied.netSuiteError.path == "apply.items[0].amount")

            let wrongCustomer = try await sim.upsert(
                "customerPayment", "pay_d", Bodies.payment("pay_d", customer: bob, payment: "5.00", applies: [(invoice, "5.00")]))
            #expect(wrongCustomer.netSuiteError.path == "apply.items[0].doc")
            #expect(wrongCustomer.errorClass == .permanent)

            let unknownInvoice = try await sim.upsert(
                "customerPayment", "pay_e", Bodies.payment("pay_e", customer: alice, payment: "5.00", applies: [("999", "5.00")]))
            #expect(unknownInvoice.netSuiteError.code == "INVALID_KEY_OR_REF")
            #expect(unknownInvoice.netSuiteError.path == "apply.items[0].doc")
            #expect(unknownInvoice.errorClass == .dependency)

            let unknownCustomer = try await sim.upsert(
                "customerPayment", "pay_f", Bodies.payment("pay_f", customer: "999", payment: "5.00", applies: []))
            #expect(unknownCustomer.netSuiteError.path == "customer")
            #expect(unknownCustomer.errorClass == .dependency)

            let zeroPayment = try await sim.upsert(
                "customerPayment", "pay_g", Bodies.payment("pay_g", customer: bob, payment: "0", applies: []))
            #expect(zeroPayment.netSuiteError.path == "payment")

            #expect(sim.simulator.records(.customerPayment).map(\.externalID) == ["pay_a"])
        }
    }

    @Test("bodies: JSON only, externalId equal to the URL's, amounts numbers with at most 3 decimals")
    func bodyRules() async throws {
        try await SimulatorHarness.run { sim in
            let badJSON = try await sim.upsert("customer", "cus_1", #"{"companyName": "Acme",}"#)
            #expect(badJSON.status == 400)
            #expect(badJSON.netSuiteError.code == "USER_ERROR")

            let mismatch = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_2"))
            #expect(mismatch.netSuiteError.path == "externalId")

            let customer = try await sim.createCustomer("cus_1")
            let tooPrecise = try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.2345"]))
            #expect(tooPrecise.netSuiteError.path == "item.items[0].amount")
            #expect(tooPrecise.errorClass == .permanent)

            let quoted = try await sim.upsert(
                "invoice", "inv_1", #"{"entity": {"id": "\#(customer)"}, "item": {"items": [{"item": {"id": "510"}, "amount": "1.00"}]}}"#)
            #expect(quoted.netSuiteError.path == "item.items[0].amount")

            let exponent = try await sim.upsert(
                "invoice", "inv_1", #"{"entity": {"id": "\#(customer)"}, "item": {"items": [{"item": {"id": "510"}, "amount": 1e2}]}}"#)
            #expect(exponent.netSuiteError.path == "item.items[0].amount")
            #expect(sim.simulator.records(.invoice).isEmpty)
        }
    }
}
