import ExactJSON
import Foundation
import Simulators
import Sync
import Testing

@testable import NetSuite

/// The NetSuite bodies built from billing documents: exact money, every line mapped, lines plus
/// taxes equal to the billed total, and clear errors when something cannot be mapped.
@Suite(.timeLimit(.minutes(2))) struct NetSuitePayloadTests {
    static let connectionID = UUID(uuidString: "6f1c1a52-8d0e-4c0b-9a43-3b8a5f2b7c10")!

    static func target(_ mappings: [Mapping] = BillingScenario.mappings(connection: connectionID), location: String? = nil) -> SyncTarget {
        let connection = AccountingConnection(
            provider: "netsuite", name: "test", accountID: "1234567_SB1",
            settings: .init(defaultSubsidiary: "1", concurrencyLimit: 5, defaultLocation: location),
            secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"]))
        return SyncTarget(
            connectionID: connectionID, connection: connection, mappings: MappingSet(connectionID: connectionID, mappings: mappings))
    }

    static let scenario = BillingScenario.generate(customers: 8, invoicesPerCustomer: 6, creditNoteEvery: 3, payments: 20)

    /// Sums the `amount`s of a sublist's lines and the `taxAmount`s of its tax rows in minor units.
    static func cents(_ text: String, _ currency: Currency) throws -> Int64 { try Money(parsing: text, currency: currency).amountCents }

    static func number(_ json: ExactJSON?) -> String? {
        if case .number(let text)? = json { return text }
        return nil
    }

    static func items(_ json: ExactJSON?) -> [ExactJSON] {
        if case .array(let items)? = json?["items"] { return items }
        return []
    }

    @Test("every generated invoice: lines + taxes = total, to the minor unit, in USD, EUR, JPY and KWD")
    func invoicesAddUp() throws {
        var currencies = Set<String>()
        for generated in Self.scenario.invoices {
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
            let body = try NetSuitePayloads.invoice(invoice, customerRef: "77", target: Self.target())
            let lines = try Self.items(body["item"]).map { try Self.cents(Self.number($0["amount"])!, invoice.currency) }
            let taxes = try Self.items(body["taxDetails"]).map { try Self.cents(Self.number($0["taxAmount"])!, invoice.currency) }
            #expect(lines.reduce(0, +) + taxes.reduce(0, +) == invoice.totalAmountCents, "\(invoice.number)")
            #expect(taxes.reduce(0, +) == invoice.taxesAmountCents, "\(invoice.number)")
            #expect(body["entity"] == .reference("77"))
            #expect(body["externalId"] == .string(invoice.lagoID))
            #expect(body["taxDetailsOverride"] == .bool(true))
            currencies.insert(invoice.currency.code)
        }
        #expect(currencies == ["USD", "EUR", "JPY", "KWD"])
    }

    @Test("money is written with exactly the currency's digits, never through floating point")
    func exactMoneyText() throws {
        let kwd = try #require(Self.scenario.invoices.first { $0.currency == .kwd })
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: kwd.json)
        let body = try NetSuitePayloads.invoice(invoice, customerRef: "77", target: Self.target()).description
        let amounts = body.matches(of: /"amount":(-?[0-9.]+)/).map { String($0.output.1) }
        #expect(!amounts.isEmpty)
        for amount in amounts { #expect(amount.split(separator: ".").last?.count == 3, "KWD has 3 decimals: \(amount)") }

        let jpy = try #require(Self.scenario.invoices.first { $0.currency == .jpy })
        let yen = try NetSuitePayloads.invoice(
            try DocumentDecoder.decode(BillingInvoice.self, from: jpy.json), customerRef: "1", target: Self.target()
        ).description
        for amount in yen.matches(of: /"amount":(-?[0-9.]+)/).map({ String($0.output.1) }) {
            #expect(!amount.contains("."), "JPY has no decimals: \(amount)")
        }
    }

    @Test("items resolve one-to-one, then by default item, then fallback; deductions are negative lines")
    func itemResolution() throws {
        let generated = try #require(Self.scenario.invoices.first { $0.json.contains("\"coupon\"") && $0.json.contains("setup_fee") })
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
        let lines = Self.items(try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target())["item"])
        let items = lines.map { $0["item"] }
        #expect(items.contains(.reference("510"))) // subscription → default item
        #expect(items.contains(.reference("601"))) // api_calls → its own item
        #expect(items.contains(.reference("900"))) // storage_gb → fallback
        #expect(items.contains(.reference("602"))) // setup_fee → its own item
        let coupon = try #require(lines.first { $0["taxDetailsReference"] == .string("coupon_item") })
        #expect(coupon["item"] == .reference("530"))
        #expect(Self.number(coupon["amount"])?.hasPrefix("-") == true)
        #expect(lines.first { $0["item"] == .reference("601") }?["account"] == .reference("4010"))
    }

    @Test("a quantity and rate are sent only when their product is the amount")
    func quantityAndRate() throws {
        let generated = Self.scenario.invoices[0]
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: generated.json)
        let lines = Self.items(try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target())["item"])
        let calls = try #require(lines.first { $0["item"] == .reference("601") })
        #expect(Self.number(calls["quantity"]) == invoice.fees[1].units.description)
        let storage = try #require(lines.first { $0["item"] == .reference("900") })
        #expect(Self.number(storage["quantity"]) == "1") // 12.5 units, no exact unit price
        #expect(Self.number(storage["rate"]) == Self.number(storage["amount"]))
    }

    @Test("no item mapping and no fallback: invalid_mapping naming what was looked for")
    func missingMapping() throws {
        let mappings = BillingScenario.mappings(connection: Self.connectionID).filter { $0.kind != .fallbackItem }
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Self.scenario.invoices[0].json)
        let error = try #require(throws: StoreError.self) {
            try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target(mappings))
        }
        #expect(error.code == .invalidMapping)
        #expect(error.message.contains("no item mapping for \"storage_gb\""))
        #expect(error.jobError.errorClass == "invalid_mapping")
        #expect(error.jobError.action == .fail)
    }

    @Test("taxes without a mapping fail; a legacy tax item overrides the header total")
    func taxModes() throws {
        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Self.scenario.invoices[1].json)
        let noTax = BillingScenario.mappings(connection: Self.connectionID).filter { $0.kind != .tax }
        let error = try #require(throws: StoreError.self) {
            try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target(noTax))
        }
        #expect(error.message.contains("no tax mapping for tax code"))

        let legacy =
            noTax
            + ["vat_20", "us_sales"].map {
                Mapping(connectionID: Self.connectionID, kind: .tax, billingKey: $0, providerID: $0, details: ["legacy_tax_item": "77"])
            }
        let body = try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target(legacy))
        #expect(body["taxItem"] == .reference("77"))
        #expect(
            Self.number(body["taxAmountOverride"]) == Money(amountCents: invoice.taxesAmountCents, currency: invoice.currency).decimalString
        )
        #expect(body["taxDetails"] == nil)
    }

    @Test("customer: company or person, first email, subsidiary, address, custom fields")
    func customer() throws {
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: Self.scenario.customers[0].json)
        var target = Self.target()
        target.customFields = [CustomFieldValue(fieldID: "custentity_region", value: "EMEA")]
        let body = try NetSuitePayloads.customer(customer, target: target)
        #expect(body["isPerson"] == .bool(true))
        #expect(body["firstName"] == .string("Ada"))
        #expect(body["email"] == .string("billing0@example.com"))
        #expect(body["subsidiary"] == .reference("1"))
        #expect(body["currency"] == .reference("1"))
        #expect(body["custentity_region"] == .string("EMEA"))
        #expect(Self.items(body["addressBook"]).count == 1)
        let company = try DocumentDecoder.decode(BillingCustomer.self, from: Self.scenario.customers[1].json)
        #expect(try NetSuitePayloads.customer(company, target: target)["companyName"] == .string("Customer 1 Ltd"))
    }

    @Test("fields the document no longer has are sent as null: email, phone, dueDate, memo, mapped custom fields; addressBook always sent")
    func droppedFieldsAreCleared() throws {
        // The scenario's first customer without email, phone, address; a custom field mapped
        // on customers that this document does not fill.
        var json = try #require(try JSONSerialization.jsonObject(with: Data(Self.scenario.customers[0].json.utf8)) as? [String: Any])
        var document = json["customer"] as? [String: Any] ?? json
        for key in ["email", "phone", "address_line1", "address_line2", "city", "zipcode", "state", "country", "shipping_address"] {
            document.removeValue(forKey: key)
        }
        if json["customer"] != nil { json["customer"] = document } else { json = document }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: json), as: UTF8.self)
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: text)
        var mappings = BillingScenario.mappings(connection: Self.connectionID)
        mappings.append(
            Mapping(
                connectionID: Self.connectionID, kind: .customField, billingKey: "metadata.region", recordType: "customer",
                providerID: "custentity_region"))
        let body = try NetSuitePayloads.customer(customer, target: Self.target(mappings))
        #expect(body["email"] == .null)
        #expect(body["phone"] == .null)
        #expect(body["custentity_region"] == .null)
        #expect(body["addressBook"] == .sublist([]))
        #expect(NetSuiteRequest.replacedSublists(in: body) == ["addressBook"])

        let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: Self.scenario.invoices[0].json)
        let invoiceBody = try NetSuitePayloads.invoice(invoice, customerRef: "1", target: Self.target())
        #expect(invoiceBody["dueDate"] == (invoice.paymentDueDate.map { .string($0.isoDate) } ?? .null))
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: Self.scenario.payments[0].json)
        let paymentBody = try NetSuitePayloads.payment(
            payment, customerRef: "5", invoiceRefs: [payment.invoiceID: "99"], target: Self.target())
        #expect(paymentBody["memo"] == (payment.reference.map { .string($0) } ?? .null))
    }

    @Test("custom field mappings read metadata and document fields")
    func customFieldValues() throws {
        let mappings = MappingSet(
            connectionID: Self.connectionID,
            mappings: [
                Mapping(
                    connectionID: Self.connectionID, kind: .customField, billingKey: "metadata.region", recordType: "customer",
                    providerID: "custentity_region"),
                Mapping(
                    connectionID: Self.connectionID, kind: .customField, billingKey: "external_id", recordType: "customer",
                    providerID: "custentity_ext"),
                Mapping(
                    connectionID: Self.connectionID, kind: .customField, billingKey: "metadata.absent", recordType: "customer",
                    providerID: "custentity_x"),
            ])
        let document = try JSONSerialization.jsonObject(with: Data(Self.scenario.customers[0].json.utf8)) as! [String: Any]
        let values = CustomFieldValue.resolve(mappings, recordType: "customer", document: document["customer"] as! [String: Any])
        #expect(
            values == [
                CustomFieldValue(fieldID: "custentity_ext", value: "ACME-00000"),
                CustomFieldValue(fieldID: "custentity_region", value: "EMEA"),
            ])
    }

    @Test("credit memo: created from its invoice, lines + taxes = total; payment applies its amount")
    func creditMemoAndPayment() throws {
        for generated in Self.scenario.creditNotes {
            let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: generated.json)
            let body = try NetSuitePayloads.creditMemo(memo, customerRef: "5", invoiceRef: "99", target: Self.target())
            #expect(body["createdFrom"] == .reference("99"))
            let lines = try Self.items(body["item"]).map { try Self.cents(Self.number($0["amount"])!, memo.currency) }
            let taxes = try Self.items(body["taxDetails"]).map { try Self.cents(Self.number($0["taxAmount"])!, memo.currency) }
            #expect(lines.reduce(0, +) + taxes.reduce(0, +) == memo.totalAmountCents)
        }
        let payment = try DocumentDecoder.decode(BillingPayment.self, from: Self.scenario.payments[0].json)
        let body = try NetSuitePayloads.payment(payment, customerRef: "5", invoiceRefs: [payment.invoiceID: "99"], target: Self.target())
        let apply = Self.items(body["apply"])
        #expect(apply.count == 1)
        #expect(apply[0]["doc"] == .reference("99"))
        #expect(Self.number(apply[0]["amount"]) == payment.amount.decimalString)
        #expect(Self.number(body["payment"]) == payment.amount.decimalString)
    }

    @Test("a billing id NetSuite cannot take as an external id fails naming the field")
    func badExternalID() throws {
        let json = Self.scenario.customers[1].json.replacingOccurrences(of: "\"lago_id\":\"cus-", with: "\"lago_id\":\"cus/")
        let customer = try DocumentDecoder.decode(BillingCustomer.self, from: json)
        let error = try #require(throws: DocumentError.self) { try NetSuitePayloads.customer(customer, target: Self.target()) }
        #expect(error.field == "customer.lago_id")
    }

    @Test("the internal id comes from the Location header")
    func locationHeader() {
        #expect(NetSuiteClient.internalID(fromLocation: "https://x/services/rest/record/v1/invoice/647", recordType: "invoice") == "647")
        #expect(NetSuiteClient.internalID(fromLocation: "https://x/services/rest/record/v1/invoice/eid:abc", recordType: "invoice") == nil)
        #expect(NetSuiteClient.internalID(fromLocation: nil, recordType: "invoice") == nil)
        #expect(NetSuiteClient.internalID(fromLocation: "https://x/record/v1/invoice/", recordType: "invoice") == nil)
    }
}
