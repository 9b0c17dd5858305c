import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator sales orders", .timeLimit(.minutes(2)))
struct ZohoBooksSalesOrderTests {
    typealias H = ZohoBooksHarness

    @Test("a sales order: customer_id and line_items required, totals exact, salesorder_number unique, get, update, list")
    func createGetUpdateList() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let body = #"""
                {"customer_id": "\#(customer)", "salesorder_number": "SO-7", "reference_number": "ord_1", "date": "2026-11-30",
                 "line_items": [{"item_id": "460000000020001", "rate": 0.1, "quantity": 3}, {"name": "Setup", "rate": 19.99}]}
                """#
            let created = try await sim.api("POST", "/salesorders?ignore_auto_number_generation=true", token: token, json: body)
            #expect(created.status == 201)
            #expect(created.exactJSON?["code"] == .number("0"))
            #expect(created.exactJSON?["message"] == .string("Sales Order Created Successfully."))
            let order = try #require(created.exactJSON?["salesorder"])
            let id = try #require(order["salesorder_id"]?.stringValue)
            #expect(order["salesorder_number"] == .string("SO-7"))
            #expect(order["total"] == .number("20.29"))
            #expect(order["status"] == .string("draft"))

            let duplicate = try await sim.api("POST", "/salesorders", token: token, json: body)
            #expect(duplicate.status == 400)
            #expect(duplicate.exactJSON?["code"] == .number("1001"))
            #expect(duplicate.exactJSON?["message"]?.stringValue?.contains("SO-7") == true)
            // ignore_auto_number_generation=true mandates the number.
            let noNumber = try await sim.api(
                "POST", "/salesorders?ignore_auto_number_generation=true", token: token,
                json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(noNumber.status == 400)
            #expect(noNumber.exactJSON?["message"]?.stringValue?.contains("salesorder_number") == true)
            let auto = try await sim.api(
                "POST", "/salesorders", token: token, json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(auto.exactJSON?["salesorder"]?["salesorder_number"]?.stringValue?.hasPrefix("SO-") == true)

            let noCustomer = try await sim.api("POST", "/salesorders", token: token, json: #"{"line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(noCustomer.status == 400)
            #expect(noCustomer.exactJSON?["message"]?.stringValue?.contains("customer_id") == true)
            let noLines = try await sim.api("POST", "/salesorders", token: token, json: #"{"customer_id": "\#(customer)"}"#)
            #expect(noLines.exactJSON?["message"]?.stringValue?.contains("line_items") == true)

            let updated = try await sim.api(
                "PUT", "/salesorders/\(id)", token: token, json: #"{"line_items": [{"name": "Setup", "rate": 5, "quantity": 2}]}"#)
            #expect(updated.status == 200)
            #expect(updated.exactJSON?["salesorder"]?["total"] == .number("10"))
            #expect(updated.exactJSON?["salesorder"]?["salesorder_number"] == .string("SO-7"))
            #expect(updated.exactJSON?["salesorder"]?["reference_number"] == .string("ord_1"))
            let fetched = try await sim.api("GET", "/salesorders/\(id)", token: token)
            #expect(fetched.exactJSON?["salesorder"]?["total"] == .number("10"))
            let absent = try await sim.api("GET", "/salesorders/1", token: token)
            #expect(absent.status == 404)
            #expect(absent.exactJSON?["code"] == .number("1002"))

            let listed = try await sim.api("GET", "/salesorders", token: token)
            #expect(listed.exactJSON?["salesorders"]?.arrayValue?.count == 2)
            let byReference = try await sim.api("GET", "/salesorders?reference_number=ord_1", token: token)
            #expect(byReference.exactJSON?["salesorders"]?.arrayValue?.map { $0["salesorder_id"] } == [.string(id)])
            let paged = try await sim.api("GET", "/salesorders?per_page=1&page=2", token: token)
            #expect(paged.exactJSON?["salesorders"]?.arrayValue?.count == 1)
            #expect(paged.exactJSON?["page_context"]?["has_more_page"] == .bool(false))
            #expect(
                try await sim.api("GET", "/salesorders?per_page=1", token: token).exactJSON?["page_context"]?["has_more_page"]
                    == .bool(true))
            #expect(try await sim.api("GET", "/salesorders?per_page=0", token: token).status == 400)

            let inspected = try await sim.inspect("GET", "/_simulator/records/salesorders")
            #expect(inspected.exactJSON?["records"]?.arrayValue?.count == 2)
        }
    }

    @Test("the upsert by a unique custom field works for sales orders; unknown item, tax and account ids are refused")
    func upsertAndReferences() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let headers: [(name: String, value: String)] = [
                ("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "so_1"), ("X-Upsert", "true"),
            ]
            func body(_ rate: String) -> String {
                #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": \#(rate), "tax_id": "460000000017094", "account_id": "460000000000388"}]}"#
            }
            let first = try await sim.api("PUT", "/salesorders", token: token, json: body("10"), headers: headers)
            #expect(first.status == 201)
            let id = try #require(first.exactJSON?["salesorder"]?["salesorder_id"]?.stringValue)
            let second = try await sim.api("PUT", "/salesorders", token: token, json: body("12.5"), headers: headers)
            #expect(second.status == 200)
            #expect(second.exactJSON?["salesorder"]?["salesorder_id"] == .string(id))
            #expect(sim.simulator.records("salesorders").count == 1)

            for (line, field) in [
                (#"{"item_id": "1", "rate": 1}"#, "line_items[0].item_id"),
                (#"{"name": "a", "rate": 1, "tax_id": "1"}"#, "line_items[0].tax_id"),
                (#"{"name": "a", "rate": 1, "account_id": "1"}"#, "line_items[0].account_id"),
            ] {
                let refused = try await sim.api(
                    "POST", "/salesorders", token: token, json: #"{"customer_id": "\#(customer)", "line_items": [\#(line)]}"#)
                #expect(refused.status == 400)
                #expect(refused.exactJSON?["message"]?.stringValue?.contains(field) == true)
            }
            let badCurrency = try await sim.api(
                "POST", "/invoices", token: token,
                json: #"{"customer_id": "\#(customer)", "currency_id": "7", "line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(badCurrency.exactJSON?["message"]?.stringValue?.contains("currency_id") == true)
            let contact = try await sim.api(
                "POST", "/contacts", token: token, json: #"{"contact_name": "Euro GmbH", "currency_id": "460000000000099"}"#)
            #expect(contact.status == 201)
            #expect(contact.exactJSON?["contact"]?["currency_id"] == .string("460000000000099"))
            #expect(
                try await sim.api("POST", "/contacts", token: token, json: #"{"contact_name": "X", "currency_id": "8"}"#).status == 400)
            #expect(sim.simulator.records("salesorders").count == 1)
        }
    }
}
