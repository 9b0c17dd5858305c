import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator credit notes", .timeLimit(.minutes(2)))
struct ZohoBooksCreditNoteTests {
    typealias H = ZohoBooksHarness

    @Test("a credit note: created with its number (12018 on a number in use), applied to invoices exactly, never beyond a balance")
    func createAndApply() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            func invoice(_ rate: String) async throws -> String {
                let answer = try await sim.api(
                    "POST", "/invoices", token: token,
                    json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": \#(rate)}]}"#)
                return try #require(answer.exactJSON?["invoice"]?["invoice_id"]?.stringValue)
            }
            let first = try await invoice("10.10")
            let second = try await invoice("5")
            let body = #"{"customer_id": "\#(customer)", "creditnote_number": "CN-1", "line_items": [{"name": "a", "rate": 12.5}]}"#
            let created = try await sim.api("POST", "/creditnotes", token: token, json: body)
            #expect(created.status == 201)
            let note = try #require(created.exactJSON?["creditnote"])
            let noteID = try #require(note["creditnote_id"]?.stringValue)
            #expect(note["total"] == .number("12.5"))
            #expect(note["balance"] == .number("12.5"))
            #expect(note["status"] == .string("open"))

            let duplicate = try await sim.api("POST", "/creditnotes", token: token, json: body)
            #expect(duplicate.status == 400)
            #expect(duplicate.exactJSON?["code"] == .number("12018"))

            // More than the first invoice's balance: refused, nothing applied.
            let over = try await sim.api(
                "POST", "/creditnotes/\(noteID)/invoices", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(first)", "amount_applied": 10.11}]}"#)
            #expect(over.status == 400)
            #expect(over.exactJSON?["message"]?.stringValue?.contains("invoices[0].amount_applied") == true)

            let applied = try await sim.api(
                "POST", "/creditnotes/\(noteID)/invoices", token: token,
                json:
                    #"{"invoices": [{"invoice_id": "\#(first)", "amount_applied": 10.1}, {"invoice_id": "\#(second)", "amount_applied": 2.4}]}"#
            )
            #expect(applied.status == 201)
            #expect(applied.exactJSON?["code"] == .number("0"))
            let firstAfter = try await sim.api("GET", "/invoices/\(first)", token: token).exactJSON?["invoice"]
            #expect(firstAfter?["balance"] == .number("0"))
            #expect(firstAfter?["credits_applied"] == .number("10.1"))
            #expect(try await sim.api("GET", "/invoices/\(second)", token: token).exactJSON?["invoice"]?["balance"] == .number("2.6"))
            let noteAfter = try await sim.api("GET", "/creditnotes/\(noteID)", token: token).exactJSON?["creditnote"]
            #expect(noteAfter?["balance"] == .number("0"))
            #expect(noteAfter?["status"] == .string("closed"))

            // The credit note is used up; an update of an invoice keeps what was applied.
            let more = try await sim.api(
                "POST", "/creditnotes/\(noteID)/invoices", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(second)", "amount_applied": 0.01}]}"#)
            #expect(more.status == 400)
            let updated = try await sim.api(
                "PUT", "/invoices/\(second)", token: token, json: #"{"line_items": [{"name": "a", "rate": 6}], "balance": 99}"#)
            #expect(updated.exactJSON?["invoice"]?["balance"] == .number("3.6"))
            let tooLow = try await sim.api("PUT", "/invoices/\(second)", token: token, json: #"{"line_items": [{"name": "a", "rate": 1}]}"#)
            #expect(tooLow.status == 400)
            #expect(
                try await sim.api(
                    "POST", "/creditnotes/1/invoices", token: token,
                    json: #"{"invoices": [{"invoice_id": "\#(second)", "amount_applied": 1}]}"#
                ).status == 404)
        }
    }
}
