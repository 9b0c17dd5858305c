import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

@Suite("NetSuiteSimulator records", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorRecordTests {
    @Test("an upsert creates the record, the next one with the same external id updates it in place")
    func upsertCreatesThenUpdates() async throws {
        try await SimulatorHarness.run { sim in
            let created = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"))
            #expect(created.status == 204)
            #expect(created.body.isEmpty)
            #expect(created.header("Location") == "\(sim.simulator.baseURL)/services/rest/record/v1/customer/100")

            let updated = try await sim.upsert(
                "customer", "cus_1", #"{"externalId": "cus_1", "companyName": "Acme Renamed", "subsidiary": {"id": "1"}}"#)
            #expect(updated.status == 204)
            #expect(updated.header("Location") == created.header("Location"))

            let records = sim.simulator.records(.customer)
            #expect(records.count == 1)
            let record = try #require(sim.simulator.record(.customer, externalID: "cus_1"))
            #expect(record.internalID == "100")
            #expect(record.writeCount == 2)
            #expect(record.string("companyName") == "Acme Renamed")
            // Merged, as Oracle's "Updating a Record Instance" says ("Any omitted fields are
            // considered unchanged"): the second body had no entityId, the first one's is kept.
            #expect(record.string("entityId") == "E-cus_1")
            #expect(record.updatedAt >= record.createdAt)
            #expect(sim.simulator.stats.writes == 2)

            // Internal ids count up across types.
            let invoice = try await sim.createInvoice("inv_1", customer: "100", amounts: ["10.00"])
            #expect(invoice == "101")
        }
    }

    @Test("record types in URLs match case-insensitively; Location uses the API's spelling")
    func recordTypeCase() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let response = try await sim.upsert("salesorder", "so_1", Bodies.invoice("so_1", customer: customer, amounts: ["5.00"]))
            #expect(response.status == 204)
            #expect(response.header("Location")?.hasSuffix("/salesOrder/101") == true)
            #expect(sim.simulator.records(.salesOrder).map(\.externalID) == ["so_1"])
        }
    }

    @Test("GET by internal id and by external id returns the fields, the id and the total")
    func getRecord() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let invoice = try await sim.createInvoice("inv_1", customer: customer, amounts: ["31.50", "-5.00"])
            for id in [invoice, "eid:inv_1"] {
                let response = try await sim.send("GET", sim.url("invoice", id))
                #expect(response.status == 200)
                let json = try #require(response.exactJSON)
                #expect(json["id"] == .string(invoice))
                #expect(json["externalId"] == .string("inv_1"))
                #expect(json["total"] == .number("26.50"))
                #expect(json["entity"]?["id"] == .string(customer))
            }

            let missing = try await sim.send("GET", sim.url("invoice", "eid:nope"))
            #expect(missing.status == 404)
            #expect(missing.netSuiteError.code == "NONEXISTENT_ID")
        }
    }

    @Test("other paths and methods get NetSuite-format 404 and 405")
    func notFoundAndMethodNotAllowed() async throws {
        try await SimulatorHarness.run { sim in
            let unknownType = try await sim.send("PUT", sim.url("vendorBill", "eid:x"), json: "{}")
            #expect(unknownType.status == 404)
            #expect(unknownType.exactJSON?["title"] == .string("Not Found"))

            // The query service serves only suiteql (LinkingTests); its other resources are unknown.
            let outside = try await sim.send("GET", sim.simulator.baseURL + "/services/rest/query/v1/workbook")
            #expect(outside.status == 404)

            let post = try await sim.send("POST", sim.url("customer", "eid:cus_1"), json: Bodies.customer("cus_1"))
            #expect(post.status == 405)
            #expect(post.netSuiteError.code == "METHOD_NOT_ALLOWED")

            let putByInternalID = try await sim.send("PUT", sim.url("customer", "100"), json: Bodies.customer("cus_1"))
            #expect(putByInternalID.status == 405)

            let badExternalID = try await sim.send("PUT", sim.url("customer", "eid:a.b"), json: Bodies.customer("a.b"))
            #expect(badExternalID.status == 400)
            #expect(sim.simulator.records(.customer).isEmpty)
        }
    }

    @Test("money is kept exactly: literals as sent, totals summed in decimal with the currency's digits")
    func exactMoney() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")

            _ = try await sim.createInvoice("float_trap", customer: customer, amounts: ["0.1", "0.2"])
            #expect(sim.simulator.record(.invoice, externalID: "float_trap")?.total == "0.3")

            // USD with SuiteTax rows: 31.50 - 5.00 + 6.30.
            let suiteTax =
                #", "taxDetailsOverride": true, "taxDetails": {"items": [{"taxDetailsReference": "fee_0", "taxBasis": 31.50, "taxRate": 20, "taxAmount": 6.30}]}"#
            _ = try await sim.createInvoice("usd", customer: customer, amounts: ["31.50", "-5.00"], extra: suiteTax)
            let usd = try #require(sim.simulator.record(.invoice, externalID: "usd"))
            #expect(usd.total == "32.80")
            #expect(usd.totalAmount == ExactDecimal(units: 3280, scale: 2))
            #expect(usd.sublist("item").first?["amount"] == .number("31.50"))
            #expect(usd.number("taxDetailsOverride") == nil)

            // KWD: three decimals, legacy tax override.
            _ = try await sim.createInvoice(
                "kwd", customer: customer, amounts: ["1.234", "2.000"], extra: #", "taxAmountOverride": 0.325"#)
            #expect(sim.simulator.record(.invoice, externalID: "kwd")?.total == "3.559")

            // JPY: no decimals.
            _ = try await sim.createInvoice("jpy", customer: customer, amounts: ["1234"], extra: #", "taxAmountOverride": 123"#)
            #expect(sim.simulator.record(.invoice, externalID: "jpy")?.total == "1357")

            let payment = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: customer, payment: "0.30", applies: []))
            #expect(payment.status == 204)
            #expect(sim.simulator.record(.customerPayment, externalID: "pay_1")?.total == "0.30")
            #expect(sim.simulator.record(.customerPayment, externalID: "pay_1")?.reference("customer") == customer)
        }
    }
}
