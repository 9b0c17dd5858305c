import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import Testing

/// The totals the Zoho Books simulator computes as Zoho's "Invoices" page describes them
/// (ZohoBooksTotals.swift): taxes by each line's `tax_id`, exclusive or inclusive lines, an
/// entity-level discount before or after tax, the adjustment last, each currency's precision.
@Suite("ZohoBooksSimulator totals", .timeLimit(.minutes(2)))
struct ZohoBooksTotalsTests {
    typealias H = ZohoBooksHarness
    static let standard = "460000000017094" // 20%
    static let reduced = "460000000017096" // 5%
    static let salesTax = "460000000017098" // 8.875%

    /// A JSON number member as an exact decimal.
    static func amount(_ json: ExactJSON?) -> ExactDecimal? { json?.numberText.flatMap { ExactDecimal($0) } }

    static func expectAmounts(_ record: ExactJSON, _ expected: [String: String], sourceLocation: SourceLocation = #_sourceLocation) {
        for (key, value) in expected.sorted(by: { $0.key < $1.key }) {
            #expect(
                amount(record[key]) == ExactDecimal(value), "\(key): \(record[key].map(\.description) ?? "absent")",
                sourceLocation: sourceLocation)
        }
    }

    /// POSTs a document of `module` with `members` (JSON text without braces) and returns the record.
    static func create(_ sim: H, _ module: String, _ resource: String, token: String, customer: String, _ members: String) async throws
        -> ExactJSON
    {
        let answer = try await sim.api("POST", "/\(module)", token: token, json: #"{"customer_id": "\#(customer)", \#(members)}"#)
        guard answer.status == 201, let record = answer.exactJSON?[resource] else {
            throw ZohoHarnessError("creating a \(resource) failed: \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
        return record
    }

    @Test("exclusive lines: each line's tax at its tax_percentage, rounded half up per line; the adjustment added last")
    func exclusiveTaxes() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #"""
                "is_inclusive_tax": false, "adjustment": -3.49, "line_items": [
                  {"name": "Seats", "rate": 5, "quantity": 2, "tax_id": "\#(Self.standard)"},
                  {"name": "Usage", "rate": 33.33, "tax_id": "\#(Self.salesTax)"},
                  {"name": "Tiny", "rate": 0.1, "tax_id": "\#(Self.reduced)"},
                  {"name": "Untaxed", "rate": 7}]
                """#)
            // 10 × 20% = 2; 33.33 × 8.875% = 2.9580375 → 2.96; 0.10 × 5% = 0.005 → 0.01 (half up).
            Self.expectAmounts(
                invoice, ["sub_total": "50.43", "tax_total": "4.97", "adjustment": "-3.49", "total": "51.91", "balance": "51.91"])
            let lines = try #require(invoice["line_items"]?.arrayValue)
            #expect(lines.map { Self.amount($0["item_total"]) } == ["10", "33.33", "0.1", "7"].map { ExactDecimal($0) })
            #expect(lines[1]["tax_name"] == .string("NY Sales Tax") && Self.amount(lines[1]["tax_percentage"]) == ExactDecimal("8.875"))
            let taxes = try #require(invoice["taxes"]?.arrayValue)
            #expect(taxes.map { $0["tax_name"]?.stringValue } == ["Standard Rate", "NY Sales Tax", "Reduced Rate"])
            #expect(taxes.map { Self.amount($0["tax_amount"]) } == ["2", "2.96", "0.01"].map { ExactDecimal($0) })
        }
    }

    @Test(
        "an entity-level discount before tax (amount or percentage) is shared over the lines before their tax; after tax it comes off the taxed total"
    )
    func discounts() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let lines =
                #""line_items": [{"name": "a", "rate": 60, "tax_id": "\#(Self.standard)"}, {"name": "b", "rate": 40, "tax_id": "\#(Self.standard)"}]"#
            // 10 off 100 before tax: taxes on 54 and 36 = 10.80 + 7.20.
            let amount = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""discount": 10, "discount_type": "entity_level", "is_discount_before_tax": true, \#(lines)"#)
            Self.expectAmounts(amount, ["sub_total": "100", "discount_amount": "10", "tax_total": "18", "total": "108"])
            // "12.5%" of 100 before tax: taxes on 87.50 = 17.50.
            let percent = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer, #""discount": "12.5%", \#(lines)"#)
            Self.expectAmounts(percent, ["discount_amount": "12.5", "tax_total": "17.5", "total": "105"])
            // 10% after tax: 10% of 120 = 12.
            let after = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""discount": "10%", "is_discount_before_tax": false, \#(lines)"#)
            Self.expectAmounts(after, ["discount_amount": "12", "tax_total": "20", "total": "108"])
            // A discount before tax shared unevenly: 1 off 3 lines of 1.00 at 8.875%: each line's
            // share 0.666… × 8.875% = 0.0591… → 0.06, three times.
            let shared = try await Self.create(
                sim, "salesorders", "salesorder", token: token, customer: customer,
                #""discount": 1, "line_items": [{"name": "a", "rate": 1, "tax_id": "\#(Self.salesTax)"}, {"name": "b", "rate": 1, "tax_id": "\#(Self.salesTax)"}, {"name": "c", "rate": 1, "tax_id": "\#(Self.salesTax)"}]"#
            )
            Self.expectAmounts(shared, ["sub_total": "3", "tax_total": "0.18", "total": "2.18"])
        }
    }

    @Test("item-level discounts come off each line before its tax; the entity discount is then not applied")
    func itemLevelDiscounts() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #"""
                "discount_type": "item_level", "discount": 50, "line_items": [
                  {"name": "a", "rate": 100, "discount": "10%", "tax_id": "\#(Self.standard)"},
                  {"name": "b", "rate": 25, "quantity": 2, "discount": 5, "tax_id": "\#(Self.standard)"}]
                """#)
            // 90 and 45, taxed 18 and 9.
            Self.expectAmounts(invoice, ["sub_total": "135", "discount_amount": "0", "tax_total": "27", "total": "162"])
            let lines = try #require(invoice["line_items"]?.arrayValue)
            #expect(lines.map { Self.amount($0["item_total"]) } == ["90", "45"].map { ExactDecimal($0) })
            let tooMuch = try await sim.api(
                "POST", "/invoices", token: token,
                json:
                    #"{"customer_id": "\#(customer)", "discount_type": "item_level", "line_items": [{"name": "a", "rate": 1, "discount": 2}]}"#
            )
            #expect(tooMuch.status == 400)
            #expect(tooMuch.exactJSON?["message"]?.stringValue?.contains("line_items[0].discount") == true)
        }
    }

    @Test("tax-inclusive lines: the total is Σ lines − discount + adjustment exactly; the tax inside is back-computed per line")
    func inclusive() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let lines =
                #""line_items": [{"name": "a", "rate": 120, "tax_id": "\#(Self.standard)"}, {"name": "b", "rate": 10.89, "tax_id": "\#(Self.salesTax)"}]"#
            let plain = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer, #""is_inclusive_tax": true, \#(lines)"#)
            // 120 × 20/120 = 20; 10.89 × 8.875/108.875 = 0.8877… → 0.89.
            Self.expectAmounts(plain, ["sub_total": "130.89", "tax_total": "20.89", "total": "130.89"])
            let discounted = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""is_inclusive_tax": true, "discount": 13.09, "is_discount_before_tax": true, "adjustment": -1, \#(lines)"#)
            // The tax is back-computed from each line's share of 117.80: 108 → 18; 9.801 → 0.799 → 0.80.
            Self.expectAmounts(discounted, ["discount_amount": "13.09", "tax_total": "18.8", "total": "116.8", "balance": "116.8"])
            let note = try await Self.create(
                sim, "creditnotes", "creditnote", token: token, customer: customer,
                #""creditnote_number": "CN-T1", "is_inclusive_tax": true, "line_items": [{"name": "a", "rate": 12, "tax_id": "\#(Self.standard)"}]"#
            )
            Self.expectAmounts(note, ["sub_total": "12", "tax_total": "2", "total": "12", "balance": "12"])
        }
    }

    @Test("amounts in the currency's precision: JPY without decimals, KWD with 3, the base currency without currency_id")
    func precision() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let yen = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""currency_id": "460000000000103", "line_items": [{"name": "a", "rate": 1001, "tax_id": "\#(Self.salesTax)"}]"#)
            // 1001 × 8.875% = 88.83875 → 89 yen.
            Self.expectAmounts(yen, ["tax_total": "89", "total": "1090"])
            let dinar = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""currency_id": "460000000000101", "line_items": [{"name": "a", "rate": 1.234, "tax_id": "\#(Self.standard)"}]"#)
            // 1.234 × 20% = 0.2468 → 0.247.
            Self.expectAmounts(dinar, ["tax_total": "0.247", "total": "1.481"])
            // The organization's base currency is USD: a line amount below a cent is rounded.
            let dollars = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""line_items": [{"name": "a", "rate": 0.125, "quantity": 3}]"#)
            Self.expectAmounts(dollars, ["sub_total": "0.38", "total": "0.38"])
        }
    }

    @Test("a bad discount, a discount over the sub total, a negative total or an unknown discount_type is refused naming the field")
    func refusals() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            for (members, text) in [
                (#""discount": "abc""#, "discount"), (#""discount": 10.01"#, "discount"), (#""discount": "101%""#, "discount"),
                (#""discount": -1"#, "discount"), (#""discount_type": "line""#, "discount_type"), (#""adjustment": -10.01"#, "negative"),
                (#""adjustment": "x""#, "adjustment"),
            ] {
                let answer = try await sim.api(
                    "POST", "/invoices", token: token,
                    json: #"{"customer_id": "\#(customer)", \#(members), "line_items": [{"name": "a", "rate": 10}]}"#)
                #expect(answer.status == 400, "\(members)")
                #expect(answer.exactJSON?["code"] == .number("4"), "\(members)")
                #expect(
                    answer.exactJSON?["message"]?.stringValue?.contains(text) == true,
                    "\(members): \(answer.exactJSON?["message"] ?? .null)")
            }
            #expect(sim.simulator.records("invoices").isEmpty)
        }
    }

    @Test("computed members are never taken from a request; an update recomputes them from what it changes and what it keeps")
    func computedOnUpdate() async throws {
        try await H.run { sim in
            let (token, _) = try await sim.exchange()
            let customer = try await sim.createContact("Acme", token: token)
            let invoice = try await Self.create(
                sim, "invoices", "invoice", token: token, customer: customer,
                #""total": 1, "tax_total": 99, "taxes": [], "discount_amount": 5, "discount": 10, "line_items": [{"name": "a", "rate": 100, "tax_id": "\#(Self.standard)"}]"#
            )
            Self.expectAmounts(invoice, ["discount_amount": "10", "tax_total": "18", "total": "108"])
            let id = try #require(invoice["invoice_id"]?.stringValue)
            // The update names only the lines: the discount is kept, the totals recomputed.
            let updated = try await sim.api(
                "PUT", "/invoices/\(id)", token: token, json: #"{"line_items": [{"name": "a", "rate": 200, "tax_id": "\#(Self.reduced)"}]}"#
            )
            #expect(updated.status == 200)
            let record = try #require(updated.exactJSON?["invoice"])
            Self.expectAmounts(
                record, ["sub_total": "200", "discount_amount": "10", "tax_total": "9.5", "total": "199.5", "balance": "199.5"])
            #expect(record["taxes"]?.arrayValue?.map { $0["tax_name"]?.stringValue } == ["Reduced Rate"])
        }
    }

    @Test("the demo reference data holds what BillingScenario's Zoho mappings name: items, taxes 20% and 8.875%, USD EUR JPY KWD, accounts")
    func demoReferenceData() {
        let demo = ZohoBooksSimulator.ReferenceData.demo
        let connection = UUID()
        for mapping in BillingScenario.zohoMappings(connection: connection) {
            switch mapping.kind {
            case .item, .defaultItem, .fallbackItem: #expect(demo.items.contains { $0.id == mapping.providerID }, "\(mapping.billingKey)")
            case .tax: #expect(demo.taxes.contains { $0.id == mapping.providerID }, "\(mapping.billingKey)")
            case .currency:
                let currency = demo.currencies.first { $0.id == mapping.providerID }
                #expect(currency?.code == mapping.billingKey)
                #expect(currency?.precision == Currency.named(mapping.billingKey)?.minorUnits, "\(mapping.billingKey)")
                for key in ["payment_account_id", "refund_account_id"] {
                    #expect(demo.accounts.contains { $0.id == mapping.details[key] }, "\(mapping.billingKey) \(key)")
                }
            case .customField: break
            }
        }
        #expect(Set(BillingScenario.zohoTaxIDs.map { id in demo.taxes.first { $0.id == id.value }?.percentage }) == ["20", "8.875"])
    }
}
