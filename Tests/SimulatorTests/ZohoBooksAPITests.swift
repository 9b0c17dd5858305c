import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator API: authentication, organization, contacts, invoices, upsert", .timeLimit(.minutes(2)))
struct ZohoBooksAPITests {
    typealias H = ZohoBooksHarness

    @Test("organization_id is required on every call; the header must be Zoho-oauthtoken with a token issued")
    func authenticationAndOrganization() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let missing = try await sim.api("GET", "/contacts", token: token, organizationID: nil)
            #expect(missing.status == 400)
            #expect(missing.exactJSON?["code"] == .number("2"))
            #expect(missing.exactJSON?["message"]?.stringValue?.contains("organization_id") == true)
            #expect(try await sim.api("GET", "/contacts", token: token, organizationID: "999").status == 400)

            let unknown = try await sim.api("GET", "/contacts", token: "1000.unknown")
            #expect(unknown.status == 401)
            #expect(unknown.exactJSON?["code"] != .number("0"))
            let bearer = try await sim.http.execute(
                HTTPRequest(
                    method: "GET", url: sim.simulator.apiDomain() + "/books/v3/contacts?organization_id=\(H.organization)",
                    headers: [("Authorization", "Bearer \(token)")]))
            #expect(bearer.status == 401)
            #expect(sim.simulator.stats.authFailures == 2)
        }
    }

    @Test("contacts: create (contact_name required), get, update; the envelope on each answer")
    func contacts() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let created = try await sim.api(
                "POST", "/contacts", token: token, json: #"{"contact_name": "Acme", "company_name": "Acme Ltd"}"#)
            #expect(created.status == 201)
            #expect(created.exactJSON?["code"] == .number("0"))
            #expect(created.exactJSON?["message"] == .string("The contact has been added."))
            let id = try #require(created.exactJSON?["contact"]?["contact_id"]?.stringValue)

            let noName = try await sim.api("POST", "/contacts", token: token, json: #"{"company_name": "Nameless"}"#)
            #expect(noName.status == 400)
            #expect(noName.exactJSON?["code"] == .number("4"))
            #expect(noName.exactJSON?["message"]?.stringValue?.contains("contact_name") == true)
            let long = String(repeating: "x", count: 201)
            #expect(try await sim.api("POST", "/contacts", token: token, json: #"{"contact_name": "\#(long)"}"#).status == 400)
            #expect(try await sim.api("POST", "/contacts", token: token, json: "[1]").status == 400)

            let updated = try await sim.api("PUT", "/contacts/\(id)", token: token, json: #"{"company_name": "Acme Inc"}"#)
            #expect(updated.status == 200)
            let fetched = try await sim.api("GET", "/contacts/\(id)", token: token)
            #expect(fetched.exactJSON?["contact"]?["company_name"] == .string("Acme Inc"))
            #expect(fetched.exactJSON?["contact"]?["contact_name"] == .string("Acme"))

            let absent = try await sim.api("GET", "/contacts/1", token: token)
            #expect(absent.status == 404)
            #expect(absent.exactJSON?["code"] == .number("1002"))
            #expect(try await sim.api("PUT", "/contacts/1", token: token, json: #"{"contact_name": "x"}"#).status == 404)
            #expect(sim.simulator.records("contacts").count == 1)
        }
    }

    @Test("invoices: customer_id and line_items required, totals exact, a number in use refused")
    func invoices() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let body = #"""
                {"customer_id": "\#(customer)", "invoice_number": "INV-7", "date": "2026-11-30",
                 "line_items": [{"name": "Seats", "rate": 0.1, "quantity": 3}, {"item_id": "460000000020001", "rate": 0.2}]}
                """#
            let created = try await sim.api("POST", "/invoices?ignore_auto_number_generation=true", token: token, json: body)
            #expect(created.status == 201)
            let invoice = try #require(created.exactJSON?["invoice"])
            #expect(created.exactJSON?["message"] == .string("The invoice has been created."))
            #expect(invoice["invoice_number"] == .string("INV-7"))
            #expect(invoice["total"] == .number("0.5"))
            #expect(invoice["balance"] == .number("0.5"))
            #expect(invoice["status"] == .string("draft"))

            let duplicate = try await sim.api("POST", "/invoices", token: token, json: body)
            #expect(duplicate.status == 400)
            #expect(duplicate.exactJSON?["code"] == .number("1001"))
            #expect(duplicate.exactJSON?["message"]?.stringValue?.contains("INV-7") == true)

            let noCustomer = try await sim.api("POST", "/invoices", token: token, json: #"{"line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(noCustomer.exactJSON?["message"]?.stringValue?.contains("customer_id") == true)
            let unknownCustomer = try await sim.api(
                "POST", "/invoices", token: token, json: #"{"customer_id": "1", "line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(unknownCustomer.status == 400)
            let noLines = try await sim.api("POST", "/invoices", token: token, json: #"{"customer_id": "\#(customer)"}"#)
            #expect(noLines.exactJSON?["message"]?.stringValue?.contains("line_items") == true)
            let badRate = try await sim.api(
                "POST", "/invoices", token: token, json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": "x"}]}"#)
            #expect(badRate.exactJSON?["message"]?.stringValue?.contains("line_items[0].rate") == true)

            // Without a number, the next of the series.
            let auto = try await sim.api(
                "POST", "/invoices", token: token,
                json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 19.99, "quantity": 2}]}"#)
            #expect(auto.exactJSON?["invoice"]?["invoice_number"]?.stringValue?.hasPrefix("INV-") == true)
            #expect(auto.exactJSON?["invoice"]?["total"] == .number("39.98"))

            // An update replaces line_items and recomputes the total.
            let id = try #require(invoice["invoice_id"]?.stringValue)
            let updated = try await sim.api(
                "PUT", "/invoices/\(id)", token: token, json: #"{"line_items": [{"name": "Seats", "rate": 1.05, "quantity": 2}]}"#)
            #expect(updated.status == 200)
            #expect(updated.exactJSON?["invoice"]?["total"] == .number("2.1"))
            #expect(updated.exactJSON?["invoice"]?["invoice_number"] == .string("INV-7"))
            #expect(sim.simulator.records("invoices").count == 2)
        }
    }

    @Test("PUT with X-Unique-Identifier-Key/-Value and X-Upsert: true creates once, then updates the same record")
    func upsert() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let headers: [(name: String, value: String)] = [
                ("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "inv_1"), ("X-Upsert", "true"),
            ]
            func body(_ rate: String) -> String {
                #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": \#(rate)}]}"#
            }
            let first = try await sim.api("PUT", "/invoices", token: token, json: body("10"), headers: headers)
            #expect(first.status == 201)
            let id = try #require(first.exactJSON?["invoice"]?["invoice_id"]?.stringValue)
            let fields = first.exactJSON?["invoice"]?["custom_fields"]?.arrayValue ?? []
            #expect(fields.contains { $0["api_name"] == .string("cf_ledgersync_id") && $0["value"] == .string("inv_1") })

            let second = try await sim.api("PUT", "/invoices", token: token, json: body("12.5"), headers: headers)
            #expect(second.status == 200)
            #expect(second.exactJSON?["invoice"]?["invoice_id"] == .string(id))
            #expect(second.exactJSON?["invoice"]?["total"] == .number("12.5"))
            #expect(sim.simulator.records("invoices").count == 1)

            // Without X-Upsert an unknown value is not created.
            let noUpsert = try await sim.api(
                "PUT", "/invoices", token: token, json: body("1"),
                headers: [("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "inv_2")])
            #expect(noUpsert.status == 404)
            // A field not configured as unique.
            let notUnique = try await sim.api(
                "PUT", "/invoices", token: token, json: body("1"),
                headers: [("X-Unique-Identifier-Key", "cf_other"), ("X-Unique-Identifier-Value", "inv_2"), ("X-Upsert", "true")])
            #expect(notUnique.status == 400)
            #expect(notUnique.exactJSON?["message"]?.stringValue?.contains("cf_other") == true)
            let noValue = try await sim.api(
                "PUT", "/invoices", token: token, json: body("1"), headers: [("X-Unique-Identifier-Key", "cf_ledgersync_id")])
            #expect(noValue.exactJSON?["message"]?.stringValue?.contains("X-Unique-Identifier-Value") == true)
            // The unique field refuses the same value on another record.
            let clash = try await sim.api(
                "POST", "/invoices", token: token,
                json:
                    #"{"customer_id": "\#(customer)", "custom_fields": [{"api_name": "cf_ledgersync_id", "value": "inv_1"}], "line_items": [{"name": "a", "rate": 1}]}"#
            )
            #expect(clash.status == 400)
            #expect(clash.exactJSON?["code"] == .number("1001"))

            // Contacts upsert the same way.
            let contactHeaders: [(name: String, value: String)] = [
                ("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "cus_9"), ("X-Upsert", "true"),
            ]
            #expect(
                try await sim.api("PUT", "/contacts", token: token, json: #"{"contact_name": "Nine"}"#, headers: contactHeaders).status
                    == 201)
            #expect(
                try await sim.api("PUT", "/contacts", token: token, json: #"{"contact_name": "Nine B"}"#, headers: contactHeaders).status
                    == 200)
            #expect(sim.simulator.records("contacts").count == 2)
        }
    }
}
