import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

/// The Zoho Books simulator's record times and the list parameters that read them
/// (Sources/Simulators/ZohoBooks/ZohoBooksRecordTimes.swift, each rule citing Zoho's page).
@Suite("ZohoBooksSimulator record times, last_modified_time filter and sorting", .timeLimit(.minutes(2)))
struct ZohoBooksRecordTimesTests {
    typealias H = ZohoBooksHarness

    static func invoiceBody(_ customer: String, rate: String = "10") -> String {
        #"{"customer_id": "\#(customer)", "date": "2026-11-30", "line_items": [{"name": "Seats", "rate": \#(rate), "quantity": 1}]}"#
    }

    @Test("created_time is set once, last_modified_time on every write and on a payment's invoice; a request cannot set them")
    func times() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let created = try await sim.api(
                "POST", "/invoices", token: token,
                json:
                    #"{"customer_id": "\#(customer)", "created_time": "2001-01-01T00:00:00+0000", "line_items": [{"name": "a", "rate": 10}]}"#
            )
            let invoice = try #require(created.exactJSON?["invoice"])
            let id = try #require(invoice["invoice_id"]?.stringValue)
            let createdTime = try #require(invoice["created_time"]?.stringValue)
            #expect(createdTime != "2001-01-01T00:00:00+0000")
            #expect(createdTime.hasSuffix("+0000") && createdTime.count == 24, "\(createdTime)")
            #expect(invoice["last_modified_time"]?.stringValue == createdTime)

            sim.simulator.advanceClock(by: 60)
            let updated = try await sim.api("PUT", "/invoices/\(id)", token: token, json: Self.invoiceBody(customer, rate: "12"))
            #expect(updated.exactJSON?["invoice"]?["created_time"]?.stringValue == createdTime)
            let modified = try #require(updated.exactJSON?["invoice"]?["last_modified_time"]?.stringValue)
            #expect(modified > createdTime)

            // A payment changes the invoice's balance: its last_modified_time moves too.
            sim.simulator.advanceClock(by: 60)
            let payment = try await sim.api(
                "POST", "/customerpayments", token: token,
                json:
                    #"{"customer_id": "\#(customer)", "payment_mode": "cash", "amount": 5, "date": "2026-12-01", "invoices": [{"invoice_id": "\#(id)", "amount_applied": 5}]}"#
            )
            #expect(payment.status == 201, "\(payment.text)")
            let paymentTime = try #require(payment.exactJSON?["payment"]?["last_modified_time"]?.stringValue)
            let read = try await sim.api("GET", "/invoices/\(id)", token: token)
            #expect(read.exactJSON?["invoice"]?["last_modified_time"]?.stringValue == paymentTime)
            #expect(paymentTime > modified)
        }
    }

    @Test("invoices filter on last_modified_time (strictly after); lists sort by the documented columns A or D; others are refused")
    func filterAndSort() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let first = try await sim.createContact("B first", token: token)
            sim.simulator.advanceClock(by: 10)
            let second = try await sim.createContact("A second", token: token)
            var invoices: [String] = []
            var times: [String] = []
            for _ in 0..<3 {
                sim.simulator.advanceClock(by: 10)
                let answer = try await sim.api("POST", "/invoices", token: token, json: Self.invoiceBody(first))
                invoices.append(try #require(answer.exactJSON?["invoice"]?["invoice_id"]?.stringValue))
                times.append(try #require(answer.exactJSON?["invoice"]?["last_modified_time"]?.stringValue))
            }
            func ids(_ answer: HTTPResponse, _ key: String, _ idKey: String) -> [String] {
                answer.exactJSON?[key]?.arrayValue?.compactMap { $0[idKey]?.stringValue } ?? []
            }
            let after = H.escape(times[0])
            let filtered = try await sim.api("GET", "/invoices?last_modified_time=\(after)", token: token)
            #expect(ids(filtered, "invoices", "invoice_id") == Array(invoices.dropFirst()))
            let bad = try await sim.api("GET", "/invoices?last_modified_time=yesterday", token: token)
            #expect(bad.status == 400)
            #expect(bad.exactJSON?["message"]?.stringValue?.contains("last_modified_time") == true)

            let newest = try await sim.api("GET", "/contacts?sort_column=last_modified_time&sort_order=D", token: token)
            #expect(ids(newest, "contacts", "contact_id") == [second, first])
            let byName = try await sim.api("GET", "/contacts?sort_column=contact_name&sort_order=A", token: token)
            #expect(ids(byName, "contacts", "contact_id") == [second, first])
            let paged = try await sim.api("GET", "/invoices?sort_column=created_time&sort_order=D&per_page=2&page=1", token: token)
            #expect(ids(paged, "invoices", "invoice_id") == [invoices[2], invoices[1]])
            #expect(paged.exactJSON?["page_context"]?["has_more_page"]?.boolValue == true)

            // Invoices document no last_modified_time sort; an unknown order is refused too.
            let undocumented = try await sim.api("GET", "/invoices?sort_column=last_modified_time", token: token)
            #expect(undocumented.status == 400)
            #expect(undocumented.exactJSON?["message"]?.stringValue?.contains("sort_column") == true)
            let order = try await sim.api("GET", "/contacts?sort_column=created_time&sort_order=down", token: token)
            #expect(order.status == 400)
            #expect(order.exactJSON?["message"]?.stringValue?.contains("sort_order") == true)
        }
    }
}
