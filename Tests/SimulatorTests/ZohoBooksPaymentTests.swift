import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator customer payments, voids and refunds", .timeLimit(.minutes(2)))
struct ZohoBooksPaymentTests {
    typealias H = ZohoBooksHarness

    /// Creates an invoice of one line at `rate` and returns its invoice_id.
    static func invoice(_ sim: H, customer: String, rate: String, token: String) async throws -> String {
        let answer = try await sim.api(
            "POST", "/invoices", token: token,
            json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": \#(rate)}]}"#)
        return try #require(answer.exactJSON?["invoice"]?["invoice_id"]?.stringValue)
    }

    static func payment(_ customer: String, amount: String, _ lines: [(String, String)]) -> String {
        let invoices = lines.map { #"{"invoice_id": "\#($0.0)", "amount_applied": \#($0.1)}"# }.joined(separator: ", ")
        return #"""
            {"customer_id": "\#(customer)", "payment_mode": "banktransfer", "amount": \#(amount), "date": "2026-12-01",
             "reference_number": "pay_1", "invoices": [\#(invoices)]}
            """#
    }

    @Test("a payment over two invoices: balances fall exactly, statuses paid and partially_paid, never beyond a balance or the amount")
    func payOverInvoices() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let other = try await sim.createContact("Other", token: token)
            let first = try await Self.invoice(sim, customer: customer, rate: "10.10", token: token)
            let second = try await Self.invoice(sim, customer: customer, rate: "5", token: token)
            let foreign = try await Self.invoice(sim, customer: other, rate: "5", token: token)

            // Refusals first: nothing is applied by any of them.
            let overBalance = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "20", [(first, "10.11")]))
            #expect(overBalance.status == 400)
            #expect(overBalance.exactJSON?["code"] == .number("24016"))
            let overAmount = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "12", [(first, "10"), (second, "2.01")]))
            #expect(overAmount.status == 400)
            #expect(overAmount.exactJSON?["message"]?.stringValue?.contains("invoices") == true)
            let otherCustomer = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "5", [(foreign, "5")]))
            #expect(otherCustomer.status == 400)
            let unknownInvoice = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "5", [("1", "5")]))
            #expect(unknownInvoice.exactJSON?["code"] == .number("1002"))
            let noCustomer = try await sim.api(
                "POST", "/customerpayments", token: token, json: #"{"payment_mode": "cash", "amount": 1, "date": "2026-12-01"}"#)
            #expect(noCustomer.exactJSON?["code"] == .number("3004"))
            for (json, field) in [
                (#"{"customer_id": "\#(customer)", "amount": 1, "date": "2026-12-01"}"#, "payment_mode"),
                (#"{"customer_id": "\#(customer)", "payment_mode": "cash", "date": "2026-12-01"}"#, "amount"),
                (#"{"customer_id": "\#(customer)", "payment_mode": "cash", "amount": 0, "date": "2026-12-01"}"#, "amount"),
                (#"{"customer_id": "\#(customer)", "payment_mode": "cash", "amount": 1, "date": "01/12/2026"}"#, "date"),
                (
                    #"{"customer_id": "\#(customer)", "payment_mode": "cash", "amount": 1, "date": "2026-12-01", "account_id": "9"}"#,
                    "account_id"
                ),
            ] {
                let refused = try await sim.api("POST", "/customerpayments", token: token, json: json)
                #expect(refused.status == 400)
                #expect(refused.exactJSON?["message"]?.stringValue?.contains(field) == true, "\(field)")
            }
            #expect(sim.simulator.records("customerpayments").isEmpty)
            #expect(
                try await sim.api("GET", "/invoices/\(first)", token: token).exactJSON?["invoice"]?["balance"] == .number("10.1"))

            let created = try await sim.api(
                "POST", "/customerpayments", token: token,
                json: Self.payment(customer, amount: "13.00", [(first, "10.10"), (second, "2.5")]))
            #expect(created.status == 201)
            #expect(created.exactJSON?["code"] == .number("0"))
            let payment = try #require(created.exactJSON?["payment"])
            let paymentID = try #require(payment["payment_id"]?.stringValue)
            #expect(payment["amount"] == .number("13.00"))
            #expect(payment["unused_amount"] == .number("0.4"))
            #expect(payment["invoices"]?.arrayValue?.map { $0["amount_applied"] } == [.number("10.1"), .number("2.5")])
            let firstAfter = try await sim.api("GET", "/invoices/\(first)", token: token).exactJSON?["invoice"]
            #expect(firstAfter?["balance"] == .number("0"))
            #expect(firstAfter?["payment_made"] == .number("10.1"))
            #expect(firstAfter?["status"] == .string("paid"))
            let secondAfter = try await sim.api("GET", "/invoices/\(second)", token: token).exactJSON?["invoice"]
            #expect(secondAfter?["balance"] == .number("2.5"))
            #expect(secondAfter?["status"] == .string("partially_paid"))

            // An update that changes the applications: the old ones are taken back first.
            let moved = try await sim.api(
                "PUT", "/customerpayments/\(paymentID)", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(second)", "amount_applied": 5}]}"#)
            #expect(moved.status == 200)
            #expect(moved.exactJSON?["payment"]?["unused_amount"] == .number("8"))
            let firstMoved = try await sim.api("GET", "/invoices/\(first)", token: token).exactJSON?["invoice"]
            #expect(firstMoved?["balance"] == .number("10.1"))
            #expect(firstMoved?["status"] == .string("draft"))
            #expect(
                try await sim.api("GET", "/invoices/\(second)", token: token).exactJSON?["invoice"]?["status"] == .string("paid"))
            // An update naming no invoices keeps the applications; one beyond a balance changes nothing.
            let described = try await sim.api(
                "PUT", "/customerpayments/\(paymentID)", token: token, json: #"{"description": "December"}"#)
            #expect(described.exactJSON?["payment"]?["invoices"]?.arrayValue?.count == 1)
            let tooMuch = try await sim.api(
                "PUT", "/customerpayments/\(paymentID)", token: token,
                json:
                    #"{"invoices": [{"invoice_id": "\#(second)", "amount_applied": 5}, {"invoice_id": "\#(first)", "amount_applied": 8.01}]}"#
            )
            #expect(tooMuch.status == 400)
            #expect(
                try await sim.api("GET", "/invoices/\(second)", token: token).exactJSON?["invoice"]?["balance"] == .number("0"))
            // A payment's amount below what it applies is refused.
            #expect(try await sim.api("PUT", "/customerpayments/\(paymentID)", token: token, json: #"{"amount": 4}"#).status == 400)

            let fetched = try await sim.api("GET", "/customerpayments/\(paymentID)", token: token)
            #expect(fetched.exactJSON?["payment"]?["description"] == .string("December"))
            let listed = try await sim.api("GET", "/customerpayments?customer_id=\(customer)", token: token)
            #expect(listed.exactJSON?["customerpayments"]?.arrayValue?.count == 1)
            #expect(try await sim.api("GET", "/customerpayments/1", token: token).status == 404)
            let inspected = try await sim.inspect("GET", "/_simulator/records/customerpayments")
            #expect(inspected.exactJSON?["records"]?.arrayValue?.count == 1)

            // Deleted ("Delete a payment"): what it applied is due again, and the invoice it
            // paid may then be deleted ("Delete an invoice" refuses one with a payment applied).
            #expect(try await sim.api("DELETE", "/invoices/\(second)", token: token).status == 400)
            let deleted = try await sim.api("DELETE", "/customerpayments/\(paymentID)", token: token)
            #expect(deleted.status == 200)
            #expect(deleted.exactJSON?["message"] == .string("The payment has been deleted."))
            let secondReopened = try await sim.api("GET", "/invoices/\(second)", token: token).exactJSON?["invoice"]
            #expect(secondReopened?["balance"] == .number("5"))
            #expect(secondReopened?["status"] == .string("draft"))
            #expect(try await sim.api("GET", "/customerpayments/\(paymentID)", token: token).status == 404)
            #expect(try await sim.api("DELETE", "/customerpayments/\(paymentID)", token: token).status == 404)
            #expect(try await sim.api("DELETE", "/invoices/\(second)", token: token).status == 200)
        }
    }

    @Test("the upsert by a unique custom field works for payments: a retried create applies once")
    func upsertAppliesOnce() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.invoice(sim, customer: customer, rate: "100", token: token)
            let headers: [(name: String, value: String)] = [
                ("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "pay_1"), ("X-Upsert", "true"),
            ]
            let body = Self.payment(customer, amount: "60", [(invoice, "60")])
            let first = try await sim.api("PUT", "/customerpayments", token: token, json: body, headers: headers)
            #expect(first.status == 201)
            let again = try await sim.api("PUT", "/customerpayments", token: token, json: body, headers: headers)
            #expect(again.status == 200)
            #expect(again.exactJSON?["payment"]?["payment_id"] == first.exactJSON?["payment"]?["payment_id"])
            #expect(sim.simulator.records("customerpayments").count == 1)
            let after = try await sim.api("GET", "/invoices/\(invoice)", token: token).exactJSON?["invoice"]
            #expect(after?["balance"] == .number("40"))
            #expect(after?["payment_made"] == .number("60"))
        }
    }

    @Test("voiding an invoice takes back its payments and credits; a credit note is refunded in part, then voided")
    func voidsAndRefunds() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.invoice(sim, customer: customer, rate: "100", token: token)
            let paid = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "30", [(invoice, "30")]))
            let paymentID = try #require(paid.exactJSON?["payment"]?["payment_id"]?.stringValue)
            let note = try await sim.api(
                "POST", "/creditnotes", token: token,
                json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 50}]}"#)
            let noteID = try #require(note.exactJSON?["creditnote"]?["creditnote_id"]?.stringValue)
            let applied = try await sim.api(
                "POST", "/creditnotes/\(noteID)/invoices", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(invoice)", "amount_applied": 20}]}"#)
            #expect(applied.status == 201)
            let before = try await sim.api("GET", "/invoices/\(invoice)", token: token).exactJSON?["invoice"]
            #expect(before?["balance"] == .number("50"))
            #expect(before?["status"] == .string("partially_paid"))
            // What was applied can be read back (a client's check after a lost answer).
            let payments = try await sim.api("GET", "/invoices/\(invoice)/payments", token: token)
            #expect(payments.exactJSON?["payments"]?.arrayValue?.map { $0["payment_id"] } == [.string(paymentID)])
            let credits = try await sim.api("GET", "/invoices/\(invoice)/creditsapplied", token: token)
            #expect(credits.exactJSON?["credits"]?.arrayValue?.map { $0["amount_applied"] } == [.number("20")])
            let credited = try await sim.api("GET", "/creditnotes/\(noteID)/invoices", token: token)
            #expect(credited.exactJSON?["invoices_credited"]?.arrayValue?.map { $0["invoice_id"] } == [.string(invoice)])

            // A credit note with credits applied is not voided.
            #expect(try await sim.api("POST", "/creditnotes/\(noteID)/status/void", token: token).status == 400)

            let voided = try await sim.api("POST", "/invoices/\(invoice)/status/void", token: token)
            #expect(voided.status == 200)
            #expect(voided.exactJSON?["message"] == .string("Invoice status has been changed to Void."))
            let after = try await sim.api("GET", "/invoices/\(invoice)", token: token).exactJSON?["invoice"]
            #expect(after?["status"] == .string("void"))
            #expect(after?["balance"] == .number("0"))
            #expect(after?["payment_made"] == .number("0"))
            #expect(after?["credits_applied"] == .number("0"))
            let payment = try await sim.api("GET", "/customerpayments/\(paymentID)", token: token).exactJSON?["payment"]
            #expect(payment?["invoices"]?.arrayValue?.isEmpty == true)
            #expect(payment?["unused_amount"] == .number("30"))
            let noteAfter = try await sim.api("GET", "/creditnotes/\(noteID)", token: token).exactJSON?["creditnote"]
            #expect(noteAfter?["balance"] == .number("50"))
            #expect(noteAfter?["status"] == .string("open"))
            // Nothing more is applied to a void invoice.
            let credit = try await sim.api(
                "POST", "/creditnotes/\(noteID)/invoices", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(invoice)", "amount_applied": 1}]}"#)
            #expect(credit.exactJSON?["code"] == .number("12007"))
            #expect(
                try await sim.api(
                    "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "1", [(invoice, "1")])
                ).status == 400)

            // A refund of part of the credit note; not beyond its balance.
            let refund = try await sim.api(
                "POST", "/creditnotes/\(noteID)/refunds", token: token,
                json: #"{"date": "2026-12-02", "amount": 12.5, "refund_mode": "banktransfer", "from_account_id": "460000000000393"}"#)
            #expect(refund.status == 201)
            #expect(refund.exactJSON?["creditnote_refund"]?["amount"] == .number("12.5"))
            let refunded = try await sim.api("GET", "/creditnotes/\(noteID)", token: token).exactJSON?["creditnote"]
            #expect(refunded?["balance"] == .number("37.5"))
            #expect(refunded?["creditnote_refunds"]?.arrayValue?.count == 1)
            let refunds = try await sim.api("GET", "/creditnotes/\(noteID)/refunds", token: token)
            #expect(refunds.exactJSON?["creditnote_refunds"]?.arrayValue?.first?["amount"] == .number("12.5"))
            #expect(
                try await sim.api("GET", "/invoices/\(invoice)/payments", token: token).exactJSON?["payments"]?.arrayValue?.isEmpty
                    == true)
            #expect(
                try await sim.api(
                    "POST", "/creditnotes/\(noteID)/refunds", token: token, json: #"{"date": "2026-12-02", "amount": 37.51}"#
                ).status == 400)
            #expect(
                try await sim.api("POST", "/creditnotes/\(noteID)/refunds", token: token, json: #"{"amount": 1}"#).exactJSON?["message"]?
                    .stringValue?.contains("date") == true)
            #expect(try await sim.api("POST", "/creditnotes/\(noteID)/status/void", token: token).status == 400)

            // A credit note never applied nor refunded is voided: status void, balance 0, not applicable.
            let spare = try await sim.api(
                "POST", "/creditnotes", token: token,
                json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 5}]}"#)
            let spareID = try #require(spare.exactJSON?["creditnote"]?["creditnote_id"]?.stringValue)
            #expect(try await sim.api("POST", "/creditnotes/\(spareID)/status/void", token: token).status == 200)
            let spareAfter = try await sim.api("GET", "/creditnotes/\(spareID)", token: token).exactJSON?["creditnote"]
            #expect(spareAfter?["status"] == .string("void"))
            #expect(spareAfter?["balance"] == .number("0"))
            let other = try await Self.invoice(sim, customer: customer, rate: "5", token: token)
            let onVoid = try await sim.api(
                "POST", "/creditnotes/\(spareID)/invoices", token: token,
                json: #"{"invoices": [{"invoice_id": "\#(other)", "amount_applied": 1}]}"#)
            #expect(onVoid.exactJSON?["code"] == .number("12004"))
            #expect(try await sim.api("POST", "/invoices/1/status/void", token: token).status == 404)
        }
    }

    @Test("reference data: organizations without organization_id, currencies, taxes, items, chart of accounts")
    func referenceData() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let organizations = try await sim.api("GET", "/organizations", token: token, organizationID: nil)
            #expect(organizations.status == 200)
            let list = organizations.exactJSON?["organizations"]?.arrayValue ?? []
            #expect(list.map { $0["organization_id"] } == [.string(H.organization)])
            #expect(list.first?["currency_code"] == .string("USD"))
            #expect(try await sim.api("GET", "/organizations", token: "1000.nope", organizationID: nil).status == 401)

            let currencies = try await sim.api("GET", "/settings/currencies", token: token)
            let codes = currencies.exactJSON?["currencies"]?.arrayValue?.compactMap { $0["currency_code"]?.stringValue }
            #expect(codes == ["USD", "EUR", "KWD", "JPY"])
            #expect(currencies.exactJSON?["currencies"]?.arrayValue?.first?["is_base_currency"] == .bool(true))
            let taxes = try await sim.api("GET", "/settings/taxes", token: token)
            #expect(taxes.exactJSON?["taxes"]?.arrayValue?.first?["tax_percentage"] == .number("20"))
            let items = try await sim.api("GET", "/items", token: token)
            #expect(items.exactJSON?["items"]?.arrayValue?.count == ZohoBooksSimulator.ReferenceData.demo.items.count)
            let accounts = try await sim.api("GET", "/chartofaccounts", token: token)
            #expect(accounts.exactJSON?["chartofaccounts"]?.arrayValue?.first?["account_name"] == .string("Sales"))
            #expect(try await sim.api("GET", "/settings/currencies", token: token, organizationID: nil).status == 400)
        }

        // Configurable from Swift.
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.referenceData = .init(currencies: [.init(id: "1", code: "GBP", name: "Pound", symbol: "£")])
        configuration.organizations = [.init(id: "777", currencyCode: "GBP")]
        try await H.run(configuration) { sim in
            let (token, _) = try await sim.exchange()
            let currencies = try await sim.api("GET", "/settings/currencies", token: token, organizationID: "777")
            #expect(currencies.exactJSON?["currencies"]?.arrayValue?.map { $0["currency_id"] } == [.string("1")])
            #expect(try await sim.api("GET", "/items", token: token, organizationID: "777").exactJSON?["items"] == .array([]))
        }
    }

    @Test("faults are drawn for the new writes too (payments, voids, refunds, credits applied); stats count the writes")
    func faultsOnNewWrites() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.faults = [.serverError]
        try await H.run(configuration) { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.invoice(sim, customer: customer, rate: "10", token: token)
            let writes = sim.simulator.stats.writes
            sim.simulator.setFaultRate(1)
            let payment = try await sim.api(
                "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "1", [(invoice, "1")]))
            #expect(payment.status == 500)
            #expect(payment.exactJSON?["code"] == .number("1000"))
            #expect(try await sim.api("POST", "/invoices/\(invoice)/status/void", token: token).status == 500)
            #expect(
                try await sim.api(
                    "POST", "/salesorders", token: token,
                    json: #"{"customer_id": "\#(customer)", "line_items": [{"name": "a", "rate": 1}]}"#
                ).status == 500)
            #expect(sim.simulator.stats.faultsInjected[.serverError] == 3)
            #expect(sim.simulator.stats.writes == writes)
            #expect(sim.simulator.records("customerpayments").isEmpty)
            sim.simulator.setFaultRate(0)
            #expect(
                try await sim.api(
                    "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "1", [(invoice, "1")])
                ).status == 201)
            #expect(try await sim.api("POST", "/invoices/\(invoice)/status/void", token: token).status == 200)
            #expect(sim.simulator.stats.writes == writes + 2)
        }
    }

    @Test("a payment whose answer was lost (dropped connection) is applied once when the upsert is retried")
    func lostAnswerRetriedByUpsert() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.faults = [.dropConnection]
        try await H.run(configuration) { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.invoice(sim, customer: customer, rate: "50", token: token)
            let headers: [(name: String, value: String)] = [
                ("X-Unique-Identifier-Key", "cf_ledgersync_id"), ("X-Unique-Identifier-Value", "pay_lost"), ("X-Upsert", "true"),
            ]
            let body = Self.payment(customer, amount: "20", [(invoice, "20")])
            sim.simulator.setFaultRate(1)
            await #expect(throws: (any Error).self) {
                try await sim.api("PUT", "/customerpayments", token: token, json: body, headers: headers)
            }
            sim.simulator.setFaultRate(0)
            // The write happened: the retry finds the payment and re-applies the same amounts.
            let retried = try await sim.api("PUT", "/customerpayments", token: token, json: body, headers: headers)
            #expect(retried.status == 200)
            #expect(sim.simulator.records("customerpayments").count == 1)
            let after = try await sim.api("GET", "/invoices/\(invoice)", token: token).exactJSON?["invoice"]
            #expect(after?["balance"] == .number("30"))
            #expect(after?["payment_made"] == .number("20"))
        }
    }

    @Test("concurrent payments on one invoice never take it below zero")
    func concurrentPayments() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.concurrencyLimit = 100
        try await H.run(configuration) { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.invoice(sim, customer: customer, rate: "100", token: token)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        try await sim.api(
                            "POST", "/customerpayments", token: token, json: Self.payment(customer, amount: "12.5", [(invoice, "12.5")])
                        ).status
                    }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 201 }.count == 8)
            #expect(statuses.filter { $0 == 400 }.count == 8)
            let after = try await sim.api("GET", "/invoices/\(invoice)", token: token).exactJSON?["invoice"]
            #expect(after?["balance"] == .number("0"))
            #expect(after?["status"] == .string("paid"))
            #expect(sim.simulator.records("customerpayments").count == 8)
        }
    }
}
