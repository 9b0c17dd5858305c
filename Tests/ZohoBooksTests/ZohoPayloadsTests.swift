import ExactJSON
import Foundation
import Simulators
import Sync
import Testing

@testable import ZohoBooks

/// The Zoho Books bodies built from billing documents: exact money in each currency's digits,
/// every line mapped, Σ lines − discount + taxes + adjustment equal to the billed total in
/// minor units, and clear errors naming the field when a document cannot go to Zoho.
@Suite(.timeLimit(.minutes(2))) struct ZohoPayloadsTests {
    static let connectionID = UUID(uuidString: "0b7d4f8e-2c1a-4e55-9d0f-6a1b2c3d4e5f")!
    static let unique = "cf_ledgersync_id"

    /// The scenario's mappings with Zoho-shaped ids: digits for items, taxes and currencies.
    static func mappings(_ extra: [Mapping] = []) -> [Mapping] {
        let c = connectionID
        return [
            .fallbackItem(connectionID: c, providerID: "900", providerName: "Billing (fallback)"),
            .defaultItem(connectionID: c, for: .subscription, providerID: "510"),
            .defaultItem(connectionID: c, for: .minimumCommitment, providerID: "520"),
            .defaultItem(connectionID: c, for: .coupon, providerID: "530"),
            .defaultItem(connectionID: c, for: .creditNote, providerID: "540"),
            .defaultItem(connectionID: c, for: .prepaidCredit, providerID: "550"),
            .item(connectionID: c, code: "api_calls", providerID: "601", accountCode: "4010"),
            Mapping(connectionID: c, kind: .item, billingKey: "setup_fee", providerID: "602", details: ["account_id": "4020"]),
            Mapping(connectionID: c, kind: .tax, billingKey: "vat_20", providerID: "7001"),
            Mapping(connectionID: c, kind: .tax, billingKey: "us_sales", providerID: "7002"),
            Mapping(
                connectionID: c, kind: .currency, billingKey: "USD", providerID: "11",
                details: ["payment_account_id": "3001", "payment_mode": "banktransfer", "refund_account_id": "3002"]),
            Mapping(connectionID: c, kind: .currency, billingKey: "EUR", providerID: "12"),
            Mapping(connectionID: c, kind: .currency, billingKey: "JPY", providerID: "13", details: ["refund_account_id": "3003"]),
            Mapping(connectionID: c, kind: .currency, billingKey: "KWD", providerID: "14"),
        ] + extra
    }

    static func target(_ mappings: [Mapping] = mappings(), customFields: [CustomFieldValue] = []) -> SyncTarget {
        let connection = AccountingConnection(
            provider: "zoho_books", name: "zoho", accountID: "10234695", settings: .init(extra: ["data_center": "com"]),
            secrets: ConnectionSecrets(["client_id": "1000.X", "client_secret": "s", "refresh_token": "r"]))
        return SyncTarget(
            connectionID: connectionID, connection: connection, mappings: MappingSet(connectionID: connectionID, mappings: mappings),
            customFields: customFields)
    }

    static let scenario = BillingScenario.generate(customers: 8, invoicesPerCustomer: 6, creditNoteEvery: 3, payments: 20)

    static func number(_ json: ExactJSON?) -> String? { json?.numberText }

    static func cents(_ json: ExactJSON?, _ currency: Currency) throws -> Int64 {
        let text = try #require(number(json))
        return try Money(parsing: text, currency: currency).amountCents
    }

    /// rate × quantity of a line in minor units, exactly (fails when not a whole minor unit).
    static func lineCents(_ line: ExactJSON, _ currency: Currency) throws -> Int64 {
        let rateText = try #require(number(line["rate"]))
        let quantityText = try #require(number(line["quantity"]))
        let rate = try #require(ExactDecimal(rateText))
        let quantity = try #require(ExactDecimal(quantityText))
        var units = rate.units * quantity.units
        var scale = rate.scale + quantity.scale
        while scale < currency.minorUnits {
            units *= 10
            scale += 1
        }
        while scale > currency.minorUnits {
            #expect(units % 10 == 0, "rate × quantity is not a whole minor unit: \(line)")
            units /= 10
            scale -= 1
        }
        return Int64(units)
    }

    /// Σ lines − discount + adjustment of an invoice or sales order body: its total at Zoho,
    /// the lines being tax-inclusive (no tax is added, whatever Zoho's rounding).
    static func total(_ body: ExactJSON, _ currency: Currency) throws -> Int64 {
        #expect(body["is_inclusive_tax"] == .bool(true))
        let lines = try (body["line_items"]?.arrayValue ?? []).map { try lineCents($0, currency) }
        let discount = body["discount"] == nil ? 0 : try cents(body["discount"], currency)
        let adjustment = body["adjustment"] == nil ? 0 : try cents(body["adjustment"], currency)
        return lines.reduce(0, +) - discount + adjustment
    }

    static func decimals(_ text: String) -> Int { text.split(separator: ".").count > 1 ? text.split(separator: ".")[1].count : 0 }

    // MARK: - Invoices and sales orders

    @Test(
        "every generated invoice: tax-inclusive lines, Σ lines − discount + adjustment = total, to the minor unit, in USD, EUR, JPY and KWD"
    )
    func invoicesAddUp() throws {
        var currencies = Set<String>()
        var sawDiscount = false
        var sawAdjustment = false
        for generated in Self.scenario.invoices {
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
            let body = try ZohoPayloads.invoice(invoice, customerID: "460000000012345", uniqueField: Self.unique, target: Self.target())
            #expect(try Self.total(body, invoice.currency) == invoice.totalAmountCents, "\(invoice.number)")
            // Each line is its fee's amount plus the fee's tax (the scenario's fee taxes are on
            // the full amount); the discount is the coupon plus the coupon's tax.
            let lines = try (body["line_items"]?.arrayValue ?? []).map { try Self.lineCents($0, invoice.currency) }
            #expect(lines == invoice.fees.map { $0.amountCents + $0.taxesAmountCents }, "\(invoice.number)")
            let feeTaxes = invoice.fees.map(\.taxesAmountCents).reduce(0, +)
            let discount = body["discount"] == nil ? 0 : try Self.cents(body["discount"], invoice.currency)
            #expect(discount == (invoice.couponsAmountCents == 0 ? 0 : invoice.couponsAmountCents + feeTaxes - invoice.taxesAmountCents))
            #expect(body["customer_id"] == .string("460000000012345"))
            #expect(body["invoice_number"] == .string(invoice.number))
            #expect(body["date"] == .string(invoice.issuingDate.isoDate))
            #expect(body["due_date"] == .string(invoice.paymentDueDate!.isoDate))
            #expect(body["is_inclusive_tax"] == .bool(true))
            let taxID = invoice.currency == .usd || invoice.currency == .kwd ? "7002" : "7001"
            for line in body["line_items"]?.arrayValue ?? [] { #expect(line["tax_id"] == .string(taxID)) }
            // Every amount carries exactly the currency's digits.
            for key in ["discount", "adjustment"] {
                if let text = Self.number(body[key]) { #expect(Self.decimals(text) == invoice.currency.minorUnits, "\(key) \(text)") }
            }
            sawDiscount = sawDiscount || body["discount"] != nil
            sawAdjustment = sawAdjustment || body["adjustment"] != nil
            currencies.insert(invoice.currency.code)
        }
        #expect(currencies == ["USD", "EUR", "JPY", "KWD"])
        #expect(sawDiscount && sawAdjustment)
    }

    static func invoiceJSON(
        currency: String, fees: [(code: String, type: String, units: String, price: String?, cents: Int64)], coupon: Int64 = 0,
        creditNote: Int64 = 0, prepaid: Int64 = 0, progressive: Int64 = 0, taxes: [(code: String, rate: String, cents: Int64)] = [],
        number: String = "INV-1", feeTaxes: Bool = false
    ) -> String {
        let feeTotal = fees.map(\.cents).reduce(0, +)
        let taxTotal = taxes.map(\.cents).reduce(0, +)
        let total = feeTotal - coupon - progressive + taxTotal - creditNote - prepaid
        func tax(_ t: (code: String, rate: String, cents: Int64)) -> String {
            #"{"tax_code":"\#(t.code)","tax_rate":"\#(t.rate)","amount_cents":\#(t.cents)}"#
        }
        let feeJSON = fees.enumerated().map { i, f in
            let price = f.price.map { #","precise_unit_amount":"\#($0)""# } ?? ""
            let applied = feeTaxes && i == 0 ? "[" + taxes.map(tax).joined(separator: ",") + "]" : "[]"
            return
                #"{"lago_id":"fee-\#(i)","item":{"type":"\#(f.type)","code":"\#(f.code)","name":"\#(f.code) name"},"units":"\#(f.units)","amount_cents":\#(f.cents),"amount_currency":"\#(currency)","applied_taxes":\#(applied)\#(price)}"#
        }
        var credits: [String] = []
        if coupon > 0 {
            credits.append(
                #"{"item":{"type":"coupon","code":"c","name":"Coupon"},"amount_cents":\#(coupon),"amount_currency":"\#(currency)"}"#)
        }
        if creditNote > 0 {
            credits.append(
                #"{"item":{"type":"credit_note","code":"cn","name":"CN"},"amount_cents":\#(creditNote),"amount_currency":"\#(currency)"}"#)
        }
        if progressive > 0 {
            credits.append(
                #"{"item":{"type":"invoice","code":"p","name":"P"},"amount_cents":\#(progressive),"amount_currency":"\#(currency)"}"#)
        }
        return """
            {"lago_id":"inv-1","number":"\(number)","issuing_date":"2026-10-31T23:00:00Z","payment_due_date":"2026-11-30",
             "currency":"\(currency)","fees":[\(feeJSON.joined(separator: ","))],"credits":[\(credits.joined(separator: ","))],
             "applied_taxes":[\(feeTaxes ? "" : taxes.map(tax).joined(separator: ","))],
             "fees_amount_cents":\(feeTotal),"coupons_amount_cents":\(coupon),"credit_notes_amount_cents":\(creditNote),
             "prepaid_credit_amount_cents":\(prepaid),"progressive_billing_credit_amount_cents":\(progressive),
             "taxes_amount_cents":\(taxTotal),"total_amount_cents":\(total)}
            """
    }

    @Test("amounts are the currency's decimals from minor units: USD 12.34, JPY 1234, KWD 1.234")
    func amountsPerCurrency() throws {
        for (currency, expected) in [("USD", "12.34"), ("JPY", "1234"), ("KWD", "1.234"), ("EUR", "12.34")] {
            let json = Self.invoiceJSON(
                currency: currency, fees: [("pro_plan", "subscription", "1", nil, 1234), ("s", "charge", "3", nil, 1000)], coupon: 5,
                creditNote: 7, prepaid: 1)
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
            let body = try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
            let lines = try #require(body["line_items"]?.arrayValue)
            #expect(lines[0]["rate"] == .number(expected), "\(currency)")
            #expect(lines[0]["quantity"] == .number("1"))
            let minor = Currency.named(currency)!.minorUnits
            let five = minor == 0 ? "5" : "0." + String(repeating: "0", count: minor - 1) + "5"
            #expect(body["discount"] == .number(five), "\(currency)")
            let eight = minor == 0 ? "-8" : "-0." + String(repeating: "0", count: minor - 1) + "8"
            #expect(body["adjustment"] == .number(eight), "\(currency)")
            #expect(try Self.total(body, invoice.currency) == invoice.totalAmountCents)
            // No binary floating point anywhere on the way: the text has no exponent or long tail.
            #expect(!body.description.contains("e-") && !body.description.contains("0000001"))
        }
    }

    @Test(
        "coupons and progressive billing are a discount before tax with their tax; credit notes and prepaid credits a negative adjustment")
    func discountsAndAdjustments() throws {
        let json = Self.invoiceJSON(
            currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 10_000)], coupon: 1_001, creditNote: 250, prepaid: 99,
            progressive: 500, taxes: [("vat_20", "20", 1_700)])
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        let body = try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
        // The line is 100.00 + 20% = 120.00; the deduction 15.01 takes its tax with it: the full
        // line's tax 20.00 less the billed 17.00 is 3.00, so the discount is 18.01 and
        // 120.00 − 18.01 − 3.49 = 98.50 is the billed total.
        #expect(body["line_items"]?.arrayValue?[0]["rate"] == .number("120.00"))
        #expect(body["discount"] == .number("18.01"))
        #expect(body["discount_type"] == .string("entity_level"))
        #expect(body["is_discount_before_tax"] == .bool(true))
        #expect(body["adjustment"] == .number("-3.49"))
        #expect(body["adjustment_description"] == .string("Applied credit notes and prepaid credits"))
        #expect(try Self.total(body, .usd) == invoice.totalAmountCents)
        #expect(body["line_items"]?.arrayValue?[0]["tax_id"] == .string("7001"))

        let plain = try ZohoPayloads.invoice(
            try DocumentDecoder.decode(
                BillingInvoice.self, from: Self.invoiceJSON(currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 100)])),
            customerID: "1", uniqueField: Self.unique, target: Self.target())
        for key in ["discount", "discount_type", "is_discount_before_tax", "adjustment", "adjustment_description"] {
            #expect(plain[key] == nil, "\(key)")
        }
        #expect(plain["line_items"]?.arrayValue?[0]["tax_id"] == nil)
    }

    @Test("items resolve one-to-one, then by default item, then fallback; account_id from the item mapping")
    func itemResolution() throws {
        let generated = try #require(Self.scenario.invoices.first { $0.json.contains("setup_fee") })
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
        let lines = try #require(
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())["line_items"]?.arrayValue)
        let items = lines.map { $0["item_id"] }
        #expect(items.contains(.string("510"))) // subscription → default item
        #expect(items.contains(.string("900"))) // storage_gb → fallback
        #expect(lines.first { $0["item_id"] == .string("601") }?["account_id"] == .string("4010")) // account_code
        #expect(lines.first { $0["item_id"] == .string("602") }?["account_id"] == .string("4020")) // details.account_id
        #expect(lines.first { $0["item_id"] == .string("510") }?["account_id"] == nil)
        #expect(lines.map { $0["item_order"] } == (1...lines.count).map { .number(String($0)) })
    }

    @Test("a quantity and rate are sent only when exact in Zoho's precision; else one unit at the amount")
    func quantityAndRate() throws {
        let json = Self.invoiceJSON(
            currency: "USD",
            fees: [
                ("api_calls", "charge", "1500", "0.01", 1500), // exact, rate in cents
                ("storage_gb", "charge", "12.5", nil, 1007), // no unit price
                ("tiny", "charge", "1000", "0.0125", 1250), // exact, but a rate finer than a cent
                ("q", "charge", "0.125", "80", 1000), // exact, but a quantity with 3 decimals
                ("wrong", "charge", "3", "1.00", 299), // not exact
                ("huge", "charge", "10000000000", "0.01", 10_000_000_000), // exact, but a quantity of 11 digits
            ])
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        let lines = try #require(
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())["line_items"]?.arrayValue)
        #expect(lines[0]["quantity"] == .number("1500") && lines[0]["rate"] == .number("0.01"))
        #expect(lines[1]["quantity"] == .number("1") && lines[1]["rate"] == .number("10.07"))
        #expect(lines[2]["quantity"] == .number("1") && lines[2]["rate"] == .number("12.50"))
        #expect(lines[3]["quantity"] == .number("1") && lines[3]["rate"] == .number("10.00"))
        #expect(lines[4]["quantity"] == .number("1") && lines[4]["rate"] == .number("2.99"))
        #expect(lines[5]["quantity"] == .number("1") && lines[5]["rate"] == .number("100000000.00"))
        #expect(try lines.map { try Self.lineCents($0, .usd) } == [1500, 1007, 1250, 1000, 299, 10_000_000_000])
    }

    @Test("a taxed line: its quantity at the price with its tax when that is a whole minor unit, else one unit at amount + tax")
    func taxedQuantityAndRate() throws {
        let json = Self.invoiceJSON(
            currency: "USD",
            fees: [
                ("api_calls", "charge", "4", "2.50", 1000), // 12.00 / 4 = 3.00
                ("s", "charge", "1500", "0.01", 1500), // 18.00 / 1500 is not a whole cent
            ],
            taxes: [("vat_20", "20", 500)])
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        let body = try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
        let lines = try #require(body["line_items"]?.arrayValue)
        #expect(lines[0]["quantity"] == .number("4") && lines[0]["rate"] == .number("3.00"))
        #expect(lines[1]["quantity"] == .number("1") && lines[1]["rate"] == .number("18.00"))
        #expect(lines.allSatisfy { $0["tax_id"] == .string("7001") })
        #expect(try Self.total(body, .usd) == invoice.totalAmountCents)
    }

    @Test("the billing system's rounding of its taxes against per-line taxes moves a line's tax, never the total")
    func taxRoundingOnLines() throws {
        // Three lines of 1.03 at 20%: 0.206 each → 0.21 per line (0.63), but billed on the sum:
        // 3.09 × 20% = 0.618 → 0.62. The cent over comes off the first line.
        for (billed, rates) in [(Int64(62), ["1.23", "1.24", "1.24"]), (64, ["1.25", "1.24", "1.24"])] {
            let json = Self.invoiceJSON(
                currency: "USD", fees: [("a", "charge", "1", nil, 103), ("b", "charge", "1", nil, 103), ("c", "charge", "1", nil, 103)],
                taxes: [("vat_20", "20", billed)])
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
            let body = try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
            #expect(body["line_items"]?.arrayValue?.map { $0["rate"] } == rates.map { .number($0) }, "\(billed)")
            #expect(try Self.total(body, .usd) == invoice.totalAmountCents)
            #expect(body["discount"] == nil)
        }
    }

    @Test("a fee's own taxes pick its tax_id; several taxes name a tax group by their codes joined with +")
    func taxGroups() throws {
        let json = Self.invoiceJSON(
            currency: "EUR", fees: [("pro_plan", "subscription", "1", nil, 10_000), ("s", "charge", "1", nil, 100)],
            taxes: [("vat_20", "20", 2_000), ("eco", "1", 100)], feeTaxes: true)
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        let error = try #require(throws: StoreError.self) {
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
        }
        #expect(error.code == .invalidMapping)
        #expect(error.message.contains("\"eco+vat_20\"") && error.message.contains("tax group"))
        let group = Mapping(connectionID: Self.connectionID, kind: .tax, billingKey: "eco+vat_20", providerID: "7100")
        let lines = try #require(
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target(Self.mappings([group])))[
                "line_items"]?.arrayValue)
        #expect(lines[0]["tax_id"] == .string("7100"))
        #expect(lines[1]["tax_id"] == nil) // this fee has no tax of its own
        // The group's taxes (20% + 1%) are inside the first line: 100.00 + 21.00.
        #expect(lines.map { $0["rate"] } == [.number("121.00"), .number("1.00")])
    }

    @Test("no item mapping and no fallback, or an unmapped tax: invalid_mapping naming what was looked for")
    func missingMappings() throws {
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Self.scenario.invoices[0].json)
        let noFallback = Self.mappings().filter { $0.kind != .fallbackItem }
        let error = try #require(throws: StoreError.self) {
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target(noFallback))
        }
        #expect(error.code == .invalidMapping)
        #expect(error.message.contains("no item mapping for \"storage_gb\""))
        #expect(error.jobError.errorClass == "invalid_mapping")

        let noTax = Self.mappings().filter { $0.kind != .tax }
        let taxError = try #require(throws: StoreError.self) {
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target(noTax))
        }
        #expect(taxError.code == .invalidMapping)
        #expect(taxError.message.contains("no tax mapping for tax code \"us_sales\""))
    }

    @Test("a number longer than Zoho's 100 characters, or a bad unique field, is refused naming the field")
    func numbersAndUniqueField() throws {
        let long = String(repeating: "9", count: 101)
        let invoice = try DocumentDecoder.decode(
            BillingInvoice.self, from: Self.invoiceJSON(currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 100)], number: long))
        let error = try #require(throws: DocumentError.self) {
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
        }
        #expect(error.field == "invoice.number")
        #expect(error.message.contains("at most 100"))
        let order = try DocumentDecoder.decode(
            BillingSalesOrder.self,
            from: Self.invoiceJSON(currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 100)], number: long))
        let orderError = try #require(throws: DocumentError.self) {
            try ZohoPayloads.salesOrder(order, customerID: "1", uniqueField: Self.unique, target: Self.target())
        }
        #expect(orderError.field == "sales_order.number")

        let ok = try DocumentDecoder.decode(
            BillingInvoice.self, from: Self.invoiceJSON(currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 100)]))
        let fieldError = try #require(throws: StoreError.self) {
            try ZohoPayloads.invoice(ok, customerID: "1", uniqueField: "ledgersync_id", target: Self.target())
        }
        #expect(fieldError.field == "unique_field")
    }

    @Test("custom fields: the unique field with the billing id first, then the mapped values, by api_name")
    func customFields() throws {
        let invoice = try DocumentDecoder.decode(
            BillingInvoice.self, from: Self.invoiceJSON(currency: "USD", fees: [("pro_plan", "subscription", "1", nil, 100)]))
        let target = Self.target(customFields: [
            CustomFieldValue(fieldID: "cf_region", value: "EMEA"), CustomFieldValue(fieldID: Self.unique, value: "spoofed"),
        ])
        let body = try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: target)
        #expect(
            body["custom_fields"]
                == .array([
                    .object([("api_name", .string(Self.unique)), ("value", .string("inv-1"))]),
                    .object([("api_name", .string("cf_region")), ("value", .string("EMEA"))]),
                ]))
        #expect(body["reference_number"] == .string("inv-1"))
        #expect(body["currency_id"] == .string("11"))
        #expect(body["date"] == .string("2026-10-31")) // the date part as written, not shifted
    }

    @Test("a sales order is the invoice's body with salesorder_number and no due date, adding up the same")
    func salesOrder() throws {
        for generated in Self.scenario.invoices.prefix(12) {
            let order = try DocumentDecoder.decode(BillingSalesOrder.self, from: generated.json)
            let body = try ZohoPayloads.salesOrder(order, customerID: "2", uniqueField: Self.unique, target: Self.target())
            #expect(body["salesorder_number"] == .string(order.number))
            #expect(body["invoice_number"] == nil && body["due_date"] == nil)
            #expect(try Self.total(body, order.currency) == order.totalAmountCents)
        }
    }

    @Test("a document whose amounts overflow 64 bits is refused, never trapped")
    func overflow() throws {
        // Decoded without validation, as a hostile document could reach a payload builder.
        let json = """
            {"lago_id":"inv-x","number":"INV-X","issuing_date":"2026-10-01","currency":"USD",
             "fees":[{"lago_id":"f","item":{"type":"subscription","code":"pro_plan","name":"P"},"units":"1",
                      "amount_cents":9223372036854775807,"amount_currency":"USD"}],
             "fees_amount_cents":9223372036854775807,"taxes_amount_cents":9223372036854775807,"total_amount_cents":1}
            """
        let invoice = try JSONDecoder().decode(BillingInvoice.self, from: Data(json.utf8))
        let error = try #require(throws: DocumentError.self) {
            try ZohoPayloads.invoice(invoice, customerID: "1", uniqueField: Self.unique, target: Self.target())
        }
        #expect(error.field == "invoice.total_amount_cents")
    }

    // MARK: - Contacts

    @Test("a company contact: name, company, currency, billing address, contact persons and the unique field")
    func companyContact() throws {
        let generated = Self.scenario.customers[1] // a company, EUR
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: generated.json)
        let target = Self.target(customFields: [CustomFieldValue(fieldID: "cf_region", value: "AMER")])
        let body = try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: target)
        #expect(body["contact_name"] == .string("Customer 1 Ltd"))
        #expect(body["company_name"] == .string("Customer 1 Ltd"))
        #expect(body["contact_type"] == .string("customer"))
        #expect(body["customer_sub_type"] == .string("business"))
        #expect(body["currency_id"] == .string("12"))
        #expect(
            body["billing_address"]
                == .object([
                    ("address", .string("1 Main Street")), ("city", .string("Springfield")), ("zip", .string("12345")),
                    ("country", .string("US")),
                ]))
        let persons = try #require(body["contact_persons"]?.arrayValue)
        #expect(persons.map { $0["email"] } == [.string("billing1@example.com"), .string("ap1@example.com")])
        #expect(persons.map { $0["is_primary_contact"] } == [.bool(true), .bool(false)])
        #expect(
            body["custom_fields"]
                == .array([
                    .object([("api_name", .string(Self.unique)), ("value", .string(customer.lagoID))]),
                    .object([("api_name", .string("cf_region")), ("value", .string("AMER"))]),
                ]))
    }

    @Test("updating a contact Zoho has: persons whose email Zoho knows carry their contact_person_id, others none")
    func contactPersonIDs() throws {
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: Self.scenario.customers[1].json)
        let existing = ExactJSON.array([
            .object([("contact_person_id", .string("460000000026051")), ("email", .string("BILLING1@example.com"))]),
            .object([("contact_person_id", .number("460000000026052")), ("email", .string("someone-else@example.com"))]),
        ])
        let body = try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: Self.target(), existingPersons: existing)
        let persons = try #require(body["contact_persons"]?.arrayValue)
        #expect(persons[0]["contact_person_id"] == .string("460000000026051"))
        #expect(persons[0]["email"] == .string("billing1@example.com"))
        #expect(persons[1]["contact_person_id"] == nil)
        let plain = try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: Self.target())
        #expect(try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: Self.target(), existingPersons: nil) == plain)
        #expect(body["contact_name"] == plain["contact_name"] && body["custom_fields"] == plain["custom_fields"])
    }

    @Test("an individual: no company name, the person's names on the primary contact person")
    func individualContact() throws {
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: Self.scenario.customers[0].json)
        let body = try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: Self.target())
        #expect(body["contact_name"] == .string("Ada Lovelace 0"))
        #expect(body["company_name"] == nil)
        #expect(body["customer_sub_type"] == .string("individual"))
        let primary = try #require(body["contact_persons"]?.arrayValue?.first)
        #expect(primary["first_name"] == .string("Ada") && primary["last_name"] == .string("Lovelace 0"))
    }

    @Test("a name over Zoho's 200 characters, or a street over 500, is refused naming the billing field")
    func contactLimits() throws {
        let longName = String(repeating: "n", count: 201)
        let customer = try DocumentDecoder.decode(
            BillingCustomer.self, from: #"{"lago_id":"c1","external_id":"E1","name":"\#(longName)","customer_type":"company"}"#)
        let error = try #require(throws: DocumentError.self) {
            try ZohoPayloads.contact(customer, uniqueField: Self.unique, target: Self.target())
        }
        #expect(error.field == "customer.name")
        #expect(error.message.contains("at most 200"))
        let legal = try DocumentDecoder.decode(
            BillingCustomer.self, from: #"{"lago_id":"c1","external_id":"E1","name":"N","legal_name":"\#(longName)"}"#)
        #expect(throws: DocumentError.self) { try ZohoPayloads.contact(legal, uniqueField: Self.unique, target: Self.target()) }

        let street = String(repeating: "s", count: 501)
        let addressed = try DocumentDecoder.decode(
            BillingCustomer.self, from: #"{"lago_id":"c1","external_id":"E1","name":"N","address_line1":"\#(street)"}"#)
        let streetError = try #require(throws: DocumentError.self) {
            try ZohoPayloads.contact(addressed, uniqueField: Self.unique, target: Self.target())
        }
        #expect(streetError.field == "customer.address_line1")

        let bare = try DocumentDecoder.decode(BillingCustomer.self, from: #"{"lago_id":"c1","external_id":"E-77"}"#)
        let body = try ZohoPayloads.contact(bare, uniqueField: Self.unique, target: Self.target())
        #expect(body["contact_name"] == .string("E-77"))
        #expect(body["contact_persons"] == nil && body["billing_address"] == nil && body["currency_id"] == nil)
    }

    // MARK: - Credit notes

    @Test("every generated credit note: tax-inclusive lines, Σ lines = total, its own number, the credited part applied")
    func creditNotesAddUp() throws {
        var currencies = Set<String>()
        for generated in Self.scenario.creditNotes {
            let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: generated.json)
            let body = try ZohoPayloads.creditNote(memo, customerID: "5", uniqueField: Self.unique, target: Self.target())
            let lines = try (body["line_items"]?.arrayValue ?? []).map { try Self.lineCents($0, memo.currency) }
            #expect(lines.reduce(0, +) == memo.totalAmountCents, "\(memo.number)")
            #expect(body["is_inclusive_tax"] == .bool(true))
            #expect(body["creditnote_number"] == .string(memo.number))
            #expect(body["line_items"]?.arrayValue?.first?["item_id"] == .string("540")) // no fee: the credit note default item
            let application = try ZohoPayloads.creditApplication(memo, invoiceID: "9001")
            let applied = try #require(application["invoices"]?.arrayValue?.first)
            #expect(applied["invoice_id"] == .string("9001"))
            #expect(try Self.cents(applied["amount_applied"], memo.currency) == generated.creditCents)
            currencies.insert(memo.currency.code)
        }
        #expect(currencies.count == 4)
    }

    static func memoJSON(items: [Int64], coupons: Int64, tax: Int64, credit: Int64? = nil, refund: Int64? = nil, currency: String = "USD")
        -> String
    {
        let sub = items.reduce(0, +) - coupons
        let itemJSON = items.enumerated().map { i, cents in
            #"{"lago_id":"it-\#(i)","amount_cents":\#(cents),"amount_currency":"\#(currency)","fee":{"lago_id":"f\#(i)","item":{"type":"charge","code":"api_calls","name":"API calls"},"units":"1","amount_cents":\#(cents),"amount_currency":"\#(currency)","applied_taxes":[]}}"#
        }
        let creditPart = credit.map { #","credit_amount_cents":\#($0)"# } ?? ""
        let refundPart = refund.map { #","refund_amount_cents":\#($0)"# } ?? ""
        return """
            {"lago_id":"cn-1","number":"CN-1","lago_invoice_id":"inv-1","invoice_number":"INV-1","issuing_date":"2026-11-02",
             "currency":"\(currency)","reason":"other","items":[\(itemJSON.joined(separator: ","))],
             "applied_taxes":[{"tax_code":"vat_20","tax_rate":"20","amount_cents":\(tax)}],
             "sub_total_excluding_taxes_amount_cents":\(sub),"coupons_adjustment_amount_cents":\(coupons),
             "taxes_amount_cents":\(tax),"total_amount_cents":\(sub + tax)\(creditPart)\(refundPart)}
            """
    }

    @Test("a credit note's coupons adjustment comes off its lines in order before their tax, keeping Σ lines = total")
    func creditNoteCoupons() throws {
        let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: Self.memoJSON(items: [300, 1_000], coupons: 450, tax: 170))
        let body = try ZohoPayloads.creditNote(memo, customerID: "5", uniqueField: Self.unique, target: Self.target())
        let lines = try #require(body["line_items"]?.arrayValue)
        #expect(lines.map { $0["rate"] } == [.number("0.00"), .number("10.20")]) // 8.50 + 20%
        #expect(lines.map { $0["item_id"] } == [.string("601"), .string("601")])
        #expect(lines.map { $0["account_id"] } == [.string("4010"), .string("4010")])
        #expect(lines.map { $0["tax_id"] } == [.string("7001"), .string("7001")])
        #expect(body["reference_number"] == .string("INV-1"))
        #expect(body["currency_id"] == .string("11"))
        #expect(try lines.map { try Self.lineCents($0, .usd) }.reduce(0, +) == memo.totalAmountCents)
    }

    @Test("a refund: its amount from the account of the currency mapping; none set is invalid_mapping; nothing refunded is refused")
    func refunds() throws {
        let memo = try DocumentDecoder.decode(
            BillingCreditMemo.self, from: Self.memoJSON(items: [1_000], coupons: 0, tax: 200, credit: 700, refund: 500))
        let body = try ZohoPayloads.creditNoteRefund(memo, target: Self.target())
        #expect(body["amount"] == .number("5.00"))
        #expect(body["from_account_id"] == .string("3002"))
        #expect(body["refund_mode"] == .string("others"))
        #expect(body["date"] == .string("2026-11-02"))
        #expect(
            try Self.cents(try ZohoPayloads.creditApplication(memo, invoiceID: "1")["invoices"]?.arrayValue?[0]["amount_applied"], .usd)
                == 700)

        let euro = try DocumentDecoder.decode(
            BillingCreditMemo.self, from: Self.memoJSON(items: [1_000], coupons: 0, tax: 200, credit: 700, refund: 500, currency: "EUR"))
        let error = try #require(throws: StoreError.self) { try ZohoPayloads.creditNoteRefund(euro, target: Self.target()) }
        #expect(error.code == .invalidMapping)
        #expect(error.message.contains("details.refund_account_id") && error.message.contains("EUR"))

        let none = try DocumentDecoder.decode(BillingCreditMemo.self, from: Self.memoJSON(items: [1_000], coupons: 0, tax: 200))
        let noRefund = try #require(throws: DocumentError.self) { try ZohoPayloads.creditNoteRefund(none, target: Self.target()) }
        #expect(noRefund.field == "credit_note.refund_amount_cents")
        let allRefunded = try DocumentDecoder.decode(
            BillingCreditMemo.self, from: Self.memoJSON(items: [1_000], coupons: 0, tax: 200, credit: 0, refund: 1_200))
        let noCredit = try #require(throws: DocumentError.self) { try ZohoPayloads.creditApplication(allRefunded, invoiceID: "1") }
        #expect(noCredit.field == "credit_note.credit_amount_cents")
    }

    // MARK: - Payments

    @Test("every generated payment: its amount on its invoice, date yyyy-mm-dd, mode and account from the currency mapping")
    func payments() throws {
        for generated in Self.scenario.payments {
            let payment = try DocumentDecoder.decode(BillingPayment.self, from: generated.json)
            let body = try ZohoPayloads.payment(
                payment, customerID: "5", invoiceRefs: [generated.invoiceID: "9001"], uniqueField: Self.unique, target: Self.target())
            #expect(try Self.cents(body["amount"], payment.currency) == generated.amountCents)
            let applied = try #require(body["invoices"]?.arrayValue)
            #expect(applied.count == 1 && applied[0]["invoice_id"] == .string("9001"))
            #expect(try Self.cents(applied[0]["amount_applied"], payment.currency) == generated.amountCents)
            #expect(body["date"] == .string("2026-11-10"))
            #expect(body["reference_number"] == payment.reference.map { .string($0) })
            if payment.currency == .usd {
                #expect(body["payment_mode"] == .string("banktransfer") && body["account_id"] == .string("3001"))
            } else {
                #expect(body["payment_mode"] == .string("others") && body["account_id"] == nil)
            }
        }
    }

    static func paymentJSON(reference: String = "wire 1") -> String {
        """
        {"lago_id":"pay-1","invoice_ids":["inv-a","inv-b","inv-c"],"amount_cents":100001,"amount_currency":"KWD",
         "invoice_amounts":[{"invoice_id":"inv-a","amount_cents":50000},{"invoice_id":"inv-b","amount_cents":50000},
                            {"invoice_id":"inv-c","amount_cents":1}],
         "reference":"\(reference)","paid_at":"2026-11-10T23:30:00-05:00"}
        """
    }

    @Test("a payment over several invoices: each applied amount to its ref, Σ applied = amount; a missing ref names the invoice")
    func paymentOverSeveralInvoices() throws {
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: Self.paymentJSON())
        let refs = ["inv-a": "1", "inv-b": "2", "inv-c": "3"]
        let body = try ZohoPayloads.payment(payment, customerID: "5", invoiceRefs: refs, uniqueField: Self.unique, target: Self.target())
        #expect(body["amount"] == .number("100.001"))
        #expect(body["date"] == .string("2026-11-10"))
        let applied = try #require(body["invoices"]?.arrayValue)
        #expect(applied.map { $0["invoice_id"] } == [.string("1"), .string("2"), .string("3")])
        #expect(applied.map { $0["amount_applied"] } == [.number("50.000"), .number("50.000"), .number("0.001")])
        #expect(try applied.map { try Self.cents($0["amount_applied"], .kwd) }.reduce(0, +) == payment.amountCents)
        #expect(body["custom_fields"]?.arrayValue?.first == .object([("api_name", .string(Self.unique)), ("value", .string("pay-1"))]))

        let error = try #require(throws: DocumentError.self) {
            try ZohoPayloads.payment(
                payment, customerID: "5", invoiceRefs: ["inv-a": "1", "inv-c": "3"], uniqueField: Self.unique, target: Self.target())
        }
        #expect(error.field == "payment.invoice_ids[1]")
        #expect(error.message.contains("\"inv-b\""))

        let long = try DocumentDecoder.decode(BillingPayment.self, from: Self.paymentJSON(reference: String(repeating: "r", count: 101)))
        let referenceError = try #require(throws: DocumentError.self) {
            try ZohoPayloads.payment(long, customerID: "5", invoiceRefs: refs, uniqueField: Self.unique, target: Self.target())
        }
        #expect(referenceError.field == "payment.reference")
    }

    @Test("applied amounts over the payment, or past 64 bits, are refused with overflow-checked sums")
    func paymentApplicationsChecked() throws {
        // Decoded without validation: the builder checks on its own.
        func unvalidated(_ amounts: [Int64], total: Int64) throws -> BillingPayment {
            let entries = amounts.enumerated().map { #"{"invoice_id":"i\#($0.offset)","amount_cents":\#($0.element)}"# }
            let ids = amounts.indices.map { "\"i\($0)\"" }
            let json = """
                {"lago_id":"p","invoice_ids":[\(ids.joined(separator: ","))],"amount_cents":\(total),"amount_currency":"USD",
                 "invoice_amounts":[\(entries.joined(separator: ","))],"paid_at":"2026-11-10"}
                """
            return try JSONDecoder().decode(BillingPayment.self, from: Data(json.utf8))
        }
        let refs = ["i0": "1", "i1": "2"]
        let over = try #require(throws: DocumentError.self) {
            try ZohoPayloads.payment(
                try unvalidated([60, 50], total: 100), customerID: "5", invoiceRefs: refs, uniqueField: Self.unique, target: Self.target())
        }
        #expect(over.field == "payment.invoice_amounts" && over.message.contains("110"))
        let overflow = try #require(throws: DocumentError.self) {
            try ZohoPayloads.payment(
                try unvalidated([Int64.max, 1], total: 100), customerID: "5", invoiceRefs: refs, uniqueField: Self.unique,
                target: Self.target())
        }
        #expect(overflow.field == "payment.invoice_amounts" && overflow.message.contains("64-bit"))
    }
}
