import Foundation
import JobQueue
import Testing

@testable import Sync

/// Stands for a JSON null in test tables.
enum JSONNull: Sendable { case null }

/// Documents modelled on Lago's API / webhook JSON (lago-api serializers, v1).
enum Fixtures {
    static let customer = """
        {
          "lago_id": "1a901a90-1a90-1a90-1a90-1a901a901a90",
          "external_id": "cus_2024_0042",
          "billing_entity_code": "acme_eu",
          "account_type": "customer",
          "name": "Gavin Belson Industries",
          "firstname": null,
          "lastname": null,
          "customer_type": "company",
          "legal_name": "Hooli SAS",
          "legal_number": "FR-123456789",
          "tax_identification_number": "FR40303265045",
          "email": "billing@hooli.example,ap@hooli.example",
          "phone": "+33 1 23 45 67 89",
          "url": "https://hooli.example",
          "address_line1": "5230 Penfield Ave",
          "address_line2": null,
          "city": "Paris",
          "zipcode": "75001",
          "state": null,
          "country": "FR",
          "currency": "EUR",
          "timezone": "Europe/Paris",
          "applicable_timezone": "Europe/Paris",
          "net_payment_term": 30,
          "created_at": "2024-01-15T09:12:00Z",
          "shipping_address": {
            "address_line1": "1 Warehouse Rd", "address_line2": null, "city": "Lyon",
            "zipcode": "69001", "state": null, "country": "FR"
          },
          "metadata": [
            {"lago_id": "8d1c...", "key": "salesforce_id", "value": "0015g00000XyZ", "display_in_invoice": false}
          ],
          "billing_configuration": {"invoice_grace_period": 3, "payment_provider": "stripe"}
        }
        """

    static let invoice = """
        {
          "lago_id": "f8e194df-5d90-4382-b146-c881d2c67f28",
          "billing_entity_code": "acme_eu",
          "sequential_id": 15,
          "number": "HOO-2024-0015",
          "issuing_date": "2024-05-01",
          "payment_due_date": "2024-05-31",
          "net_payment_term": 30,
          "invoice_type": "subscription",
          "status": "finalized",
          "payment_status": "pending",
          "payment_overdue": false,
          "currency": "EUR",
          "fees_amount_cents": 12501,
          "coupons_amount_cents": 1000,
          "credit_notes_amount_cents": 500,
          "prepaid_credit_amount_cents": 200,
          "progressive_billing_credit_amount_cents": 0,
          "sub_total_excluding_taxes_amount_cents": 11501,
          "taxes_amount_cents": 2300,
          "sub_total_including_taxes_amount_cents": 13801,
          "total_amount_cents": 13101,
          "version_number": 4,
          "self_billed": false,
          "file_url": "https://lago.example/invoice.pdf",
          "customer": \(customer),
          "subscriptions": [{"lago_id": "b7ab2926", "external_id": "sub_42", "plan_code": "startup"}],
          "fees": [
            {
              "lago_id": "6be23c42-47d2-45a3-9770-5b3572f225c3",
              "lago_charge_id": null,
              "lago_invoice_id": "f8e194df-5d90-4382-b146-c881d2c67f28",
              "external_subscription_id": "sub_42",
              "item": {"type": "subscription", "code": "startup", "name": "Startup plan",
                       "invoice_display_name": "Startup", "lago_item_id": "b7ab2926", "item_type": "Subscription"},
              "pay_in_advance": true,
              "invoiceable": true,
              "amount_cents": 10000,
              "amount_currency": "EUR",
              "precise_amount": "100.0",
              "taxes_amount_cents": 2000,
              "taxes_precise_amount": "20.0",
              "taxes_rate": 20.0,
              "total_amount_cents": 12000,
              "total_amount_currency": "EUR",
              "units": "1.0",
              "unit_amount_cents": 10000,
              "precise_unit_amount": "100.0",
              "description": "Monthly subscription",
              "events_count": 0,
              "from_date": "2024-05-01T00:00:00+00:00",
              "to_date": "2024-05-31T23:59:59+00:00",
              "applied_taxes": [
                {"lago_id": "a1", "lago_fee_id": "6be23c42", "lago_tax_id": "t1", "tax_name": "VAT",
                 "tax_code": "vat_20", "tax_rate": 20.0, "amount_cents": 2000, "amount_currency": "EUR"}
              ]
            },
            {
              "lago_id": "1f6b2a52-8f1e-4ad7-a0a7-7f5d0c7c1d11",
              "lago_charge_id": "c1",
              "item": {"type": "charge", "code": "api_calls", "name": "API calls", "lago_item_id": "bm1",
                       "item_type": "BillableMetric"},
              "amount_cents": 2501,
              "amount_currency": "EUR",
              "taxes_amount_cents": 500,
              "taxes_rate": 20,
              "total_amount_cents": 3001,
              "units": "1250.5",
              "unit_amount_cents": 2,
              "precise_unit_amount": "0.02",
              "events_count": 1300,
              "from_date": "2024-04-01T00:00:00Z",
              "to_date": "2024-04-30T23:59:59Z"
            },
            {
              "lago_id": "9c3f1a40-0000-4000-8000-000000000003",
              "item": {"type": "add_on", "code": "setup", "name": "Setup fee"},
              "amount_cents": 0,
              "amount_currency": "EUR",
              "units": 0
            }
          ],
          "credits": [
            {"lago_id": "cr1", "amount_cents": 1000, "amount_currency": "EUR", "before_taxes": true,
             "item": {"lago_item_id": "cp1", "type": "coupon", "code": "welcome", "name": "Welcome coupon"},
             "invoice": {"lago_id": "f8e194df", "payment_status": "pending"}},
            {"lago_id": "cr2", "amount_cents": 500, "amount_currency": "EUR", "before_taxes": false,
             "item": {"lago_item_id": "cn1", "type": "credit_note", "code": "HOO-2024-0014-CN1", "name": "HOO-2024-0014-CN1"}}
          ],
          "applied_taxes": [
            {"lago_id": "at1", "lago_invoice_id": "f8e194df", "lago_tax_id": "t1", "tax_name": "VAT",
             "tax_code": "vat_20", "tax_rate": 20.0, "tax_description": "French VAT", "amount_cents": 2300,
             "amount_currency": "EUR", "fees_amount_cents": 11501, "created_at": "2024-05-01T00:00:05Z"}
          ],
          "metadata": []
        }
        """

    static let creditNote = """
        {
          "lago_id": "5eb02857-a71e-4ea2-bcf9-57d3a41bc6ba",
          "billing_entity_code": "acme_eu",
          "sequential_id": 1,
          "number": "HOO-2024-0015-CN1",
          "lago_invoice_id": "f8e194df-5d90-4382-b146-c881d2c67f28",
          "invoice_number": "HOO-2024-0015",
          "issuing_date": "2024-05-10",
          "credit_status": "available",
          "refund_status": null,
          "reason": "duplicated_charge",
          "description": "API calls billed twice",
          "currency": "EUR",
          "total_amount_cents": 1681,
          "taxes_amount_cents": 280,
          "taxes_rate": 20.0,
          "sub_total_excluding_taxes_amount_cents": 1401,
          "balance_amount_cents": 1681,
          "credit_amount_cents": 1681,
          "refund_amount_cents": 0,
          "coupons_adjustment_amount_cents": 100,
          "created_at": "2024-05-10T08:00:00Z",
          "updated_at": "2024-05-10T08:00:00Z",
          "customer": \(customer),
          "items": [
            {"lago_id": "i1", "amount_cents": 1000, "amount_currency": "EUR",
             "fee": {"lago_id": "6be23c42-47d2-45a3-9770-5b3572f225c3",
                     "item": {"type": "subscription", "code": "startup", "name": "Startup plan"},
                     "amount_cents": 10000, "amount_currency": "EUR", "units": "1"}},
            {"lago_id": "i2", "amount_cents": 501, "amount_currency": "EUR"}
          ],
          "applied_taxes": [
            {"lago_id": "ct1", "lago_credit_note_id": "5eb02857", "lago_tax_id": "t1", "tax_name": "VAT",
             "tax_code": "vat_20", "tax_rate": 20.0, "base_amount_cents": 1401, "amount_cents": 280,
             "amount_currency": "EUR"}
          ]
        }
        """

    static let payment = """
        {
          "lago_id": "4e1a9e3c-0b8b-4f0e-9d0c-3f0e1c2d3e4f",
          "lago_customer_id": "1a901a90-1a90-1a90-1a90-1a901a901a90",
          "external_customer_id": "cus_2024_0042",
          "invoice_ids": ["f8e194df-5d90-4382-b146-c881d2c67f28"],
          "lago_payable_id": "f8e194df-5d90-4382-b146-c881d2c67f28",
          "payable_type": "Invoice",
          "amount_cents": 13101,
          "amount_currency": "EUR",
          "payment_status": "succeeded",
          "type": "manual",
          "reference": "wire 2024-05-20 #42",
          "external_payment_id": null,
          "paid_at": "2024-05-20",
          "created_at": "2024-05-20T14:03:11Z"
        }
        """

    /// The fixture with one value replaced (nil removes the key, JSONNull.null makes it null).
    static func edit(_ json: String, _ path: [any Sendable], _ value: (any Sendable)?) throws -> String {
        let value: Any? = value is JSONNull ? NSNull() : value
        func apply(_ node: Any, _ path: ArraySlice<Any>) -> Any? {
            guard let step = path.first else { return value }
            if let key = step as? String, var object = node as? [String: Any] {
                object[key] = path.count == 1 ? value : apply(object[key] as Any, path.dropFirst())
                return object
            }
            if let index = step as? Int, var array = node as? [Any] {
                array[index] = apply(array[index], path.dropFirst()) as Any
                return array
            }
            return node
        }
        let object = try JSONSerialization.jsonObject(with: Data(json.utf8))
        let edited = apply(object, path.map { $0 as Any }[...]) as Any
        return String(decoding: try JSONSerialization.data(withJSONObject: edited), as: UTF8.self)
    }
}

@Suite(.timeLimit(.minutes(2))) struct DocumentTests {
    @Test func customerDecodes() throws {
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: Fixtures.customer)
        #expect(customer.lagoID == "1a901a90-1a90-1a90-1a90-1a901a901a90")
        #expect(customer.externalID == "cus_2024_0042")
        #expect(customer.name == "Gavin Belson Industries")
        #expect(customer.customerType == .company)
        #expect(customer.address.city == "Paris")
        #expect(customer.address.country == "FR")
        #expect(customer.shippingAddress?.city == "Lyon")
        #expect(customer.currency == .eur)
        #expect(customer.taxIdentificationNumber == "FR40303265045")
        #expect(customer.metadata.first?.key == "salesforce_id")
    }

    @Test func minimalCustomerWithExternalCustomerIDDecodes() throws {
        let customer = try DocumentDecoder.decode(
            BillingCustomer.self, from: #"{"lago_id": "c1", "external_customer_id": "ext-1", "currency": null}"#)
        #expect(customer.externalID == "ext-1")
        #expect(customer.currency == nil)
        #expect(customer.address.isEmpty)
        #expect(customer.metadata.isEmpty)
    }

    @Test func invoiceDecodes() throws {
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Fixtures.invoice)
        #expect(invoice.number == "HOO-2024-0015")
        #expect(invoice.issuingDate.isoDate == "2024-05-01")
        #expect(invoice.issuingDate.monthDayYear == "5/1/2024")
        #expect(invoice.paymentDueDate?.isoDate == "2024-05-31")
        #expect(invoice.currency == .eur)
        #expect(invoice.customer?.externalID == "cus_2024_0042")
        #expect(invoice.fees.map(\.kind) == [.subscription, .charge, .addOn])
        #expect(invoice.fees.map(\.itemCode) == ["startup", "api_calls", "setup"])
        #expect(invoice.fees.map(\.units.description) == ["1", "1250.5", "0"])
        #expect(invoice.fees[1].preciseUnitAmount?.description == "0.02")
        #expect(invoice.fees[1].amount.decimalString == "25.01")
        #expect(invoice.fees[0].taxes.first?.rate.description == "20")
        #expect(invoice.fees[0].taxesRate?.description == "20")
        #expect(invoice.fees[0].fromDate?.isoDate == "2024-05-01")
        #expect(invoice.coupons.map(\.amountCents) == [1000])
        #expect(invoice.credits.map(\.kind) == [.coupon, .creditNote])
        #expect(invoice.taxes.map(\.code) == ["vat_20"])
        #expect(invoice.taxesAmount.decimalString == "23.00")
        #expect(invoice.prepaidCreditAmount.decimalString == "2.00")
        #expect(invoice.total.decimalString == "131.01")
    }

    @Test func invoiceWithoutOptionalPartsDecodes() throws {
        let json = """
            {"lago_id": "i1", "number": "N-1", "issuing_date": "2024-01-31", "currency": "JPY",
             "fees": [{"lago_id": "f1", "item": {"type": "minimum_commitment", "code": "min", "name": "Minimum"},
                       "amount_cents": 5000, "amount_currency": "JPY", "units": 1}],
             "fees_amount_cents": 5000, "taxes_amount_cents": 500, "total_amount_cents": 5500}
            """
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        #expect(invoice.fees[0].kind == .commitment)
        #expect(invoice.total.decimalString == "5500")
        #expect(invoice.customer == nil)
        #expect(invoice.credits.isEmpty && invoice.taxes.isEmpty)
    }

    @Test func kuwaitiInvoiceRendersThreeDecimals() throws {
        let json = """
            {"lago_id": "i1", "number": "N-1", "issuing_date": "2024-01-31", "currency": "KWD",
             "fees": [{"lago_id": "f1", "item": {"type": "charge", "code": "gb", "name": "Storage"},
                       "amount_cents": 1234, "amount_currency": "KWD", "units": "0.5"}],
             "fees_amount_cents": 1234, "taxes_amount_cents": 0, "total_amount_cents": 1234}
            """
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
        #expect(invoice.total.decimalString == "1.234")
    }

    @Test func webhookEnvelopeIsUnwrapped() throws {
        let webhook = #"{"webhook_type": "invoice.created", "object_type": "invoice", "invoice": \#(Fixtures.invoice)}"#
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: webhook)
        #expect(invoice.number == "HOO-2024-0015")
        let api = #"{"invoice": \#(try Fixtures.edit(Fixtures.invoice, ["fees", 1, "units"], "-3"))}"#
        #expect(throws: DocumentError(field: "invoice.fees[1].units", message: #"must not be negative, got "-3""#)) {
            try DocumentDecoder.decode(BillingInvoice.self, from: api)
        }
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: #"{"customer": \#(Fixtures.customer)}"#)
        #expect(customer.externalID == "cus_2024_0042")
    }

    @Test func salesOrderIsAnInvoiceShape() throws {
        let order = try DocumentDecoder.decode(BillingSalesOrder.self, from: Fixtures.invoice)
        #expect(order.number == "HOO-2024-0015")
        #expect(order.fees.count == 3)
        let bad = try Fixtures.edit(Fixtures.invoice, ["fees", 1, "units"], "-3")
        #expect(throws: DocumentError(field: "sales_order.fees[1].units", message: #"must not be negative, got "-3""#)) {
            try DocumentDecoder.decode(BillingSalesOrder.self, from: bad)
        }
    }

    @Test func creditNoteDecodes() throws {
        let note = try DocumentDecoder.decode(BillingCreditMemo.self, from: Fixtures.creditNote)
        #expect(note.number == "HOO-2024-0015-CN1")
        #expect(note.lagoInvoiceID == "f8e194df-5d90-4382-b146-c881d2c67f28")
        #expect(note.reason == "duplicated_charge")
        #expect(note.items.map(\.amountCents) == [1000, 501])
        #expect(note.items[0].fee?.itemCode == "startup")
        #expect(note.taxes.first?.baseAmountCents == 1401)
        #expect(note.total.decimalString == "16.81")
    }

    @Test func paymentDecodes() throws {
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: Fixtures.payment)
        #expect(payment.invoiceID == "f8e194df-5d90-4382-b146-c881d2c67f28")
        #expect(payment.amount.decimalString == "131.01")
        #expect(payment.date.isoDate == "2024-05-20")
        #expect(payment.reference == "wire 2024-05-20 #42")
        let single = try DocumentDecoder.decode(
            BillingPayment.self,
            from:
                #"{"lago_id": "p1", "invoice_id": "inv1", "amount_cents": 1, "amount_currency": "JPY", "created_at": "2024-02-29T23:00:00-05:00"}"#
        )
        #expect(single.invoiceIDs == ["inv1"])
        #expect(single.date.isoDate == "2024-02-29")
    }

    static let badInvoices: [(String, [any Sendable], (any Sendable)?, String, String)] = [
        ("missing field", ["fees", 0, "amount_cents"], nil, "invoice.fees[0].amount_cents", "is required"),
        ("missing top-level field", ["number"], nil, "invoice.number", "is required"),
        ("null where required", ["number"], JSONNull.null, "invoice.number", "must not be null"),
        ("null fee list", ["fees"], JSONNull.null, "invoice.fees", "must not be null"),
        ("wrong type", ["total_amount_cents"], "13101", "invoice.total_amount_cents", "expected an integer, got a string"),
        ("wrong type in a list", ["fees"], ["x": 1], "invoice.fees", "expected an array, got an object"),
        (
            "fractional cents", ["fees", 0, "amount_cents"], 12.5, "invoice.fees[0].amount_cents",
            "expected an integer amount in minor units (cents) within 64 bits, got 12.5"
        ),
        ("negative units", ["fees", 1, "units"], "-3", "invoice.fees[1].units", #"must not be negative, got "-3""#),
        ("negative numeric units", ["fees", 1, "units"], -2.5, "invoice.fees[1].units", #"must not be negative, got "-2.5""#),
        (
            "units not a number", ["fees", 1, "units"], "lots", "invoice.fees[1].units",
            #"expected a decimal number like "12.5", got "lots""#
        ),
        (
            "negative amount", ["credits", 0, "amount_cents"], -1000, "invoice.credits[0].amount_cents",
            "must not be negative, got -1000"
        ),
        (
            "unknown currency", ["currency"], "XXY", "invoice.currency",
            #"unknown currency "XXY" (expected an ISO 4217 code such as "USD")"#
        ),
        (
            "unknown fee currency", ["fees", 2, "amount_currency"], "EURO", "invoice.fees[2].amount_currency",
            #"unknown currency "EURO" (expected an ISO 4217 code such as "USD")"#
        ),
        (
            "fee in another currency", ["fees", 0, "amount_currency"], "USD", "invoice.fees[0].amount_currency",
            "must be the document's currency EUR, got USD"
        ),
        (
            "unknown fee type", ["fees", 0, "item", "type"], "bogus", "invoice.fees[0].item.type",
            #"unknown fee type "bogus" (expected one of: subscription, charge, add_on, fixed_charge, commitment, credit)"#
        ),
        (
            "tax rate out of range", ["applied_taxes", 0, "tax_rate"], 120, "invoice.applied_taxes[0].tax_rate",
            #"must be a percentage from 0 to 100, got "120""#
        ),
        (
            "bad date", ["issuing_date"], "2024-02-30", "invoice.issuing_date",
            #"not a date: "2024-02-30" (expected YYYY-MM-DD or an ISO 8601 date-time)"#
        ),
        (
            "bad date-time", ["fees", 1, "to_date"], "2024-04-30T25:00:00Z", "invoice.fees[1].to_date",
            #"not a date: "2024-04-30T25:00:00Z" (expected YYYY-MM-DD or an ISO 8601 date-time)"#
        ),
        ("embedded customer field", ["customer", "external_id"], nil, "invoice.customer.external_id", "is required"),
        (
            "embedded customer country", ["customer", "country"], "France", "invoice.customer.country",
            #"expected an ISO 3166-1 alpha-2 country code like "US", got "France""#
        ),
        (
            "inconsistent total", ["total_amount_cents"], 13102, "invoice.total_amount_cents",
            "must equal fees_amount_cents - progressive_billing_credit_amount_cents - coupons_amount_cents"
                + " + taxes_amount_cents - credit_notes_amount_cents - prepaid_credit_amount_cents = 13101, got 13102"
        ),
        (
            "fees header against lines", ["fees_amount_cents"], 12500, "invoice.fees_amount_cents",
            "must equal the sum of fees[].amount_cents = 12501, got 12500"
        ),
        (
            "coupons header against credits", ["coupons_amount_cents"], 900, "invoice.coupons_amount_cents",
            "must equal the sum of credits[] of type coupon = 1000, got 900"
        ),
        (
            "fee total", ["fees", 1, "total_amount_cents"], 3000, "invoice.fees[1].total_amount_cents",
            "must equal amount_cents + taxes_amount_cents = 3001, got 3000"
        ),
    ]

    @Test("bad invoices name the field", arguments: badInvoices)
    func badInvoice(_ name: String, path: [any Sendable], value: (any Sendable)?, field: String, message: String) throws {
        let json = try Fixtures.edit(Fixtures.invoice, path, value)
        let error = try #require(throws: DocumentError.self) { try DocumentDecoder.decode(BillingInvoice.self, from: json) }
        #expect(error.field == field, "\(name)")
        #expect(error.message == message, "\(name)")
        #expect(!error.description.contains("\n"))
    }

    static let badOthers: [(String, String, [any Sendable], (any Sendable)?, String, String)] = [
        ("credit_note", Fixtures.creditNote, ["lago_invoice_id"], nil, "credit_note.lago_invoice_id", "is required"),
        ("credit_note", Fixtures.creditNote, ["items"], [Int](), "credit_note.items", "must have at least one item"),
        (
            "credit_note", Fixtures.creditNote, ["items", 1, "amount_cents"], -501, "credit_note.items[1].amount_cents",
            "must not be negative, got -501"
        ),
        (
            "credit_note", Fixtures.creditNote, ["items", 0, "fee", "units"], "-1", "credit_note.items[0].fee.units",
            #"must not be negative, got "-1""#
        ),
        (
            "credit_note", Fixtures.creditNote, ["total_amount_cents"], 1600, "credit_note.total_amount_cents",
            "must equal sub_total_excluding_taxes_amount_cents + taxes_amount_cents = 1681, got 1600"
        ),
        (
            "credit_note", Fixtures.creditNote, ["sub_total_excluding_taxes_amount_cents"], 1501,
            "credit_note.sub_total_excluding_taxes_amount_cents",
            "must equal the sum of items[].amount_cents - coupons_adjustment_amount_cents = 1401, got 1501"
        ),
        (
            "credit_note", Fixtures.creditNote, ["issuing_date"], "10/05/2024", "credit_note.issuing_date",
            #"not a date: "10/05/2024" (expected YYYY-MM-DD or an ISO 8601 date-time)"#
        ),
        ("payment", Fixtures.payment, ["amount_cents"], 0, "payment.amount_cents", "must be positive, got 0"),
        (
            "payment", Fixtures.payment, ["amount_currency"], "ABC", "payment.amount_currency",
            #"unknown currency "ABC" (expected an ISO 4217 code such as "USD")"#
        ),
        ("payment", Fixtures.payment, ["invoice_ids"], [Int](), "payment.invoice_ids", "must name at least one invoice"),
        ("payment", Fixtures.payment, ["invoice_ids"], nil, "payment.invoice_ids", "is required"),
        ("payment", Fixtures.payment, ["invoice_ids", 0], 42, "payment.invoice_ids[0]", "expected a string, got a number"),
        ("payment", Fixtures.payment, ["paid_at"], nil, "payment.paid_at", "is required (or created_at)"),
        ("customer", Fixtures.customer, ["lago_id"], "", "customer.lago_id", "must not be empty"),
        (
            "customer", Fixtures.customer, ["customer_type"], "robot", "customer.customer_type",
            "Cannot initialize Kind from invalid String value robot"
        ),
        ("customer", Fixtures.customer, ["metadata", 0, "value"], JSONNull.null, "customer.metadata[0].value", "must not be null"),
    ]

    @Test("bad credit notes, payments and customers name the field", arguments: badOthers)
    func badOther(_ kind: String, fixture: String, path: [any Sendable], value: (any Sendable)?, field: String, message: String) throws {
        var json = try Fixtures.edit(fixture, path, value)
        if kind == "payment" && field == "payment.paid_at" { json = try Fixtures.edit(json, ["created_at"], nil) }
        let error = try #require(throws: DocumentError.self) {
            switch kind {
            case "credit_note": _ = try DocumentDecoder.decode(BillingCreditMemo.self, from: json)
            case "payment": _ = try DocumentDecoder.decode(BillingPayment.self, from: json)
            default: _ = try DocumentDecoder.decode(BillingCustomer.self, from: json)
            }
        }
        #expect(error.field == field)
        #expect(error.message == message)
    }

    @Test(
        "not JSON or not an object",
        arguments: [("{", "is not valid JSON"), ("[1, 2]", "must be a JSON object"), ("", "is not valid JSON")])
    func notAnObject(json: String, message: String) {
        #expect(throws: DocumentError(field: "invoice", message: message)) {
            try DocumentDecoder.decode(BillingInvoice.self, from: json)
        }
    }

    @Test func customRootPrefixesPaths() throws {
        let json = try Fixtures.edit(Fixtures.payment, ["amount_cents"], -5)
        #expect(throws: DocumentError(field: "args.payment.amount_cents", message: "must be positive, got -5")) {
            try DocumentDecoder.decode(BillingPayment.self, from: Data(json.utf8), root: "args.payment")
        }
    }

    @Test func jobErrorFailsWithoutRetry() throws {
        let json = try Fixtures.edit(Fixtures.invoice, ["fees", 2, "units"], "-3")
        let error = try #require(throws: DocumentError.self) { try DocumentDecoder.decode(BillingInvoice.self, from: json) }
        let jobError = error.jobError
        #expect(jobError.action == .fail)
        #expect(jobError.errorClass == "invalid_document")
        #expect(jobError.message == #"invoice.fees[2].units: must not be negative, got "-3""#)
        #expect(jobError.description == #"invalid_document: invoice.fees[2].units: must not be negative, got "-3""#)
    }
}
