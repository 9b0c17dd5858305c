import ExactJSON
import Foundation
import Sync

// The request bodies of Zoho Books API v3 (docs/zoho-books.md "Payloads"). Every function is
// pure: a billing document and the connection's mappings in, the request body out. Money is
// exact decimal text built from integer minor units (`Money.decimalString`), never a Double;
// every sum is overflow-checked.
//
// Fields come from Zoho's pages and the OpenAPI files Zoho publishes beside them ("Download
// … OpenAPI Document" on each page):
// - "Contacts" https://www.zoho.com/books/api/v3/contacts/ (contacts.yml, create-a-contact-request)
// - "Invoices" https://www.zoho.com/books/api/v3/invoices/ (invoices.yml, create-an-invoice-request)
// - "Sales Order" https://www.zoho.com/books/api/v3/sales-order/ (sales-order.yml, create-a-sales-order-request)
// - "Credit Notes" https://www.zoho.com/books/api/v3/credit-notes/ (credit-notes.yml:
//   create-a-credit-note-request, credit-to-an-invoice-request, refund-credit-note-request)
// - "Customer Payments" https://www.zoho.com/books/api/v3/customer-payments/ (customer-payments.yml,
//   create-a-payment-request)
//
// Failures: `StoreError.invalidMapping` when a line or a tax cannot be mapped or an account
// the body needs has no mapping, `DocumentError` (naming the document's field) when a document
// cannot be expressed at Zoho Books, e.g. a number longer than Zoho takes.

/// The request bodies of Zoho Books API v3, one per record the sync writes.
public enum ZohoPayloads {
    /// `contact_name` and `company_name`: "Max-length [200]" (Contacts; the OpenAPI file gives
    /// the limit on `company_name`, PROVIDERS 3 on `contact_name`).
    static let nameLimit = 200
    /// `invoice_number`: "Maximum length is 100 characters" (Invoices); `creditnote_number`:
    /// "Max-Length [100]" (Credit Notes). Sales Order documents no length: the same 100 is used.
    static let numberLimit = 100
    /// `reference_number`: "Max-length [100]" (Customer Payments, Credit Notes).
    static let referenceLimit = 100
    /// The most decimals a line `quantity` is sent with. Zoho documents `quantity` as a
    /// number with no precision; 2 is the fewest decimals an organization can be set to
    /// show, so a quantity with more is sent as one unit at the line's amount instead.
    static let quantityDecimals = 2
    /// A quantity at or above this is sent as one unit at the amount: a number of more digits
    /// than a money amount has is not one Zoho documents taking.
    static let maxQuantity: Int64 = 10_000_000_000
    /// `payment_mode`: "This can be check, cash, creditcard, banktransfer, bankremittance,
    /// autotransaction or others" (Customer Payments).
    public static let paymentModes = ["check", "cash", "creditcard", "banktransfer", "bankremittance", "autotransaction", "others"]
    /// What is sent when the currency mapping names no mode: the billing system does not say
    /// how the money came, and "others" claims nothing.
    static let defaultMode = "others"

    // MARK: - Contact

    /// `POST|PUT /contacts`: the billing customer as a Zoho contact (`contact_type: customer`),
    /// with the unique custom field (`uniqueField`, e.g. `cf_ledgersync_id`) holding `customer.lagoID`.
    public static func contact(_ customer: BillingCustomer, uniqueField: String, target: SyncTarget) throws -> ExactJSON {
        let root = "customer"
        var body = Body()
        // contact_name (required): "Display name for the contact" (Contacts).
        let (nameField, name) = try contactName(customer, root: root)
        try requireLength(name, nameLimit, field: nameField, what: "a Zoho Books contact name")
        body.set("contact_name", .string(name))
        // company_name: "Legal or registered contact's company name … Max-length [200]".
        if customer.customerType != .individual, let company = nonBlank(customer.legalName) ?? nonBlank(customer.name) {
            try requireLength(
                company, nameLimit, field: "\(root).\(nonBlank(customer.legalName) != nil ? "legal_name" : "name")", what: "a company name")
            body.set("company_name", .string(company))
        }
        // contact_type: "Allowed values: customer, vendor"; customer_sub_type: "individual, business".
        body.set("contact_type", .string("customer"))
        if let kind = customer.customerType {
            body.set("customer_sub_type", .string(kind == .individual ? "individual" : "business"))
        }
        // currency_id: "The currency_id must correspond to a valid currency configured" (Contacts).
        if let currency = customer.currency, let id = target.mappings.currency(currency.code) {
            body.set("currency_id", .string(id))
        }
        body.set(string: "website", customer.url)
        if let billing = try address(customer.address, field: "\(root)") { body.set("billing_address", billing) }
        if let shipping = customer.shippingAddress, let json = try address(shipping, field: "\(root).shipping_address") {
            body.set("shipping_address", json)
        }
        if let persons = try contactPersons(customer, root: root) { body.set("contact_persons", persons) }
        body.set("custom_fields", try customFields(uniqueField: uniqueField, value: customer.lagoID, target: target))
        return body.json
    }

    /// The contact body for updating a contact Zoho already has: every contact person whose
    /// email (case aside) is one of `existingPersons` (the `contact_persons` of Zoho's answer
    /// for that contact, each with `contact_person_id` and `email`) carries that person's
    /// `contact_person_id`, so Zoho updates the person instead of adding another one
    /// (update-a-contact-request: `contact_persons[].contact_person_id`, Contacts). Nil or an
    /// empty list gives `contact(_:uniqueField:target:)`'s body.
    public static func contact(_ customer: BillingCustomer, uniqueField: String, target: SyncTarget, existingPersons: ExactJSON?)
        throws -> ExactJSON
    {
        let body = try contact(customer, uniqueField: uniqueField, target: target)
        var ids: [String: String] = [:]
        for person in existingPersons?.arrayValue ?? [] {
            guard let email = person["email"]?.stringValue, !email.isEmpty else { continue }
            let id = person["contact_person_id"]?.stringValue ?? person["contact_person_id"]?.numberText
            if let id, ids[email.lowercased()] == nil { ids[email.lowercased()] = id }
        }
        guard !ids.isEmpty, case .object(let members) = body else { return body }
        return .object(
            members.map { member in
                guard member.key == "contact_persons", let persons = member.value.arrayValue else { return member }
                let stamped = persons.map { person -> ExactJSON in
                    guard let email = person["email"]?.stringValue, let id = ids[email.lowercased()] else { return person }
                    return .object([("contact_person_id", .string(id))] + person.objectMembers)
                }
                return (key: member.key, value: .array(stamped))
            })
    }

    /// The display name: the legal name, else the name, else first and last name, else the
    /// customer's own id (Zoho requires one). Returns the field it came from for errors.
    static func contactName(_ customer: BillingCustomer, root: String) throws -> (String, String) {
        if let legal = nonBlank(customer.legalName) { return ("\(root).legal_name", legal) }
        if let name = nonBlank(customer.name) { return ("\(root).name", name) }
        let person = [customer.firstname, customer.lastname].compactMap(nonBlank).joined(separator: " ")
        if !person.isEmpty { return ("\(root).firstname", person) }
        guard let external = nonBlank(customer.externalID) else {
            throw DocumentError(
                field: "\(root).name", message: "is required for a Zoho Books contact (or legal_name, firstname, external_id)")
        }
        return ("\(root).external_id", external)
    }

    /// `billing_address` / `shipping_address`: `address` (street 1, Max-length [500]),
    /// `street2` [255], `city` [100], `state` [100], `zip` [50], `country` [100] (Contacts).
    static func address(_ a: BillingCustomer.Address, field: String) throws -> ExactJSON? {
        guard !a.isEmpty else { return nil }
        var body = Body()
        let parts: [(String, String?, String, Int)] = [
            ("address", a.addressLine1, "address_line1", 500), ("street2", a.addressLine2, "address_line2", 255),
            ("city", a.city, "city", 100), ("state", a.state, "state", 100), ("zip", a.zipcode, "zipcode", 50),
            ("country", a.country, "country", 100),
        ]
        for (key, value, source, limit) in parts {
            guard let value = nonBlank(value) else { continue }
            try requireLength(value, limit, field: "\(field).\(source)", what: "Zoho Books' \(key)")
            body.set(key, .string(value))
        }
        return body.json
    }

    /// `contact_persons`: one per email of the customer's (Lago allows a comma-separated
    /// list), the first primary with the first phone and the customer's first and last name;
    /// `email` Max-length [100], `phone` [50], `first_name`/`last_name` [100] (Contacts).
    static func contactPersons(_ customer: BillingCustomer, root: String) throws -> ExactJSON? {
        let emails = list(customer.email)
        let phone = list(customer.phone).first
        guard !emails.isEmpty || phone != nil else { return nil }
        var persons: [ExactJSON] = []
        for index in 0..<max(emails.count, 1) {
            var person = Body()
            if index == 0 {
                if let first = nonBlank(customer.firstname) {
                    try requireLength(first, 100, field: "\(root).firstname", what: "a contact person's first_name")
                    person.set("first_name", .string(first))
                }
                if let last = nonBlank(customer.lastname) {
                    try requireLength(last, 100, field: "\(root).lastname", what: "a contact person's last_name")
                    person.set("last_name", .string(last))
                }
            }
            if index < emails.count {
                try requireLength(emails[index], 100, field: "\(root).email", what: "a contact person's email")
                person.set("email", .string(emails[index]))
            }
            if index == 0, let phone {
                try requireLength(phone, 50, field: "\(root).phone", what: "a contact person's phone")
                person.set("phone", .string(phone))
            }
            person.set("is_primary_contact", .bool(index == 0))
            persons.append(person.json)
        }
        return .array(persons)
    }

    // MARK: - Invoice and sales order

    /// `POST|PUT /invoices`.
    public static func invoice(_ invoice: BillingInvoice, customerID: String, uniqueField: String, target: SyncTarget) throws -> ExactJSON {
        try transaction(
            invoice, customerID: customerID, uniqueField: uniqueField, target: target, root: "invoice", numberKey: "invoice_number")
    }

    /// `POST|PUT /salesorders`: the invoice's body with `salesorder_number` (Sales Order:
    /// `customer_id`, `salesorder_number`, `reference_number`, `date`, `line_items` with
    /// `item_id`, `rate`, `quantity`, `tax_id`; `discount`, `is_discount_before_tax`,
    /// `discount_type`, `adjustment`, `adjustment_description`, `custom_fields`). A sales order has
    /// no due date.
    public static func salesOrder(_ order: BillingSalesOrder, customerID: String, uniqueField: String, target: SyncTarget) throws
        -> ExactJSON
    {
        try transaction(
            order.invoice, customerID: customerID, uniqueField: uniqueField, target: target, root: "sales_order",
            numberKey: "salesorder_number")
    }

    /// An invoice or a sales order. How the billing total is kept exactly whatever Zoho's tax
    /// rounding (docs/zoho-books.md "Payloads"): Zoho's API takes no tax amount, it computes
    /// the tax from the tax's rate; so the lines are sent tax-inclusive (`is_inclusive_tax:
    /// true`, Invoices: "Used to specify whether the line item rates are inclusive or
    /// exclusive of tax") and the amount due is Σ lines − discount + adjustment, which Zoho
    /// adds up without rounding anything; Zoho back-computes the tax inside each line (its
    /// split, which may differ from the billing system's by rounding):
    /// - fee lines at their amount plus their tax (`lineTaxes`), `rate` × `quantity` or one
    ///   unit at that amount;
    /// - coupons and progressive-billing credits, which billing takes off before tax, as the
    ///   document's `discount` including their tax (the tax of the full lines less the
    ///   billing taxes), an amount (`discount_type: entity_level`, `is_discount_before_tax:
    ///   true`): Invoices, "discount … as a fixed amount (e.g., 190 for $190)"; Sales Order,
    ///   "Format: percentage (e.g., "12.5%") or amount (e.g., "190")";
    /// - each line keeps its `tax_id` (the fee's taxes, else the invoice's), so Zoho records
    ///   the tax part;
    /// - applied credit notes and prepaid credits, which billing takes off after tax, as a
    ///   negative `adjustment`: Invoices, "Positive values add to the total, negative values
    ///   reduce the total. This amount is applied after tax calculation".
    /// Σ lines − discount + adjustment is checked to equal `total_amount_cents`.
    static func transaction(
        _ invoice: BillingInvoice, customerID: String, uniqueField: String, target: SyncTarget, root: String, numberKey: String
    ) throws -> ExactJSON {
        let currency = invoice.currency
        try requireNumber(invoice.number, field: "\(root).number")
        let fees = invoice.fees.allSatisfy { $0.amountCents == 0 } ? invoice.fees : invoice.fees.filter { $0.amountCents != 0 }
        guard !fees.isEmpty else {
            throw DocumentError(field: "\(root).fees", message: "has no line to push (Zoho Books needs at least one line item)")
        }
        let field = "\(root).total_amount_cents"
        let overflow = DocumentError(field: field, message: "the document's amounts do not fit in 64-bit minor units when added up")
        let feeTaxes = fees.contains { !$0.taxes.isEmpty }
        let discountNet: Money
        let adjustment: Money
        do {
            discountNet = try Money(amountCents: invoice.couponsAmountCents, currency: currency)
                .adding(Money(amountCents: invoice.progressiveBillingCreditAmountCents, currency: currency))
            adjustment = try Money(amountCents: invoice.creditNotesAmountCents, currency: currency)
                .adding(Money(amountCents: invoice.prepaidCreditAmountCents, currency: currency)).negated()
        } catch { throw overflow }

        // Each line's tax: the fee's own when nothing comes off before tax; else the tax of its
        // full amount at its rates (the tax of the deduction then goes with the discount).
        var items: [Mapping] = []
        var taxIDs: [String?] = []
        var nominal: [Int64] = []
        for fee in fees {
            items.append(try target.mappings.resolveItem(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode))
            let taxes = feeTaxes ? fee.taxes : invoice.taxes
            taxIDs.append(try taxID(taxes, target: target))
            if discountNet.isZero && feeTaxes {
                nominal.append(fee.taxesAmountCents)
            } else {
                guard let tax = tax(on: fee.amountCents, rates: taxes) else { throw overflow }
                nominal.append(tax)
            }
        }
        guard let nominalSum = checkedSum(nominal) else { throw overflow }
        // What of the full lines' tax the deduction before tax takes with it.
        let discountTax = discountNet.isZero ? 0 : max(0, nominalSum - invoice.taxesAmountCents)
        guard let lineTaxTotal = checkedSum([invoice.taxesAmountCents, discountTax]) else { throw overflow }
        let lineTaxes = spread(nominal, to: lineTaxTotal, amounts: fees.map(\.amountCents))

        var lines: [ExactJSON] = []
        var grossAmounts: [Money] = []
        for (index, fee) in fees.enumerated() {
            let gross: Money
            do { gross = try fee.amount.adding(Money(amountCents: lineTaxes[index], currency: currency)) } catch { throw overflow }
            let description = fee.invoiceDisplayName ?? fee.description ?? fee.itemName
            lines.append(
                try line(
                    item: items[index], fee: fee, gross: gross, currency: currency, description: description, taxID: taxIDs[index],
                    index: index))
            grossAmounts.append(gross)
        }

        let discount: Money
        let expected: Money
        do {
            discount = try discountNet.adding(Money(amountCents: discountTax, currency: currency))
            expected = try Money.sum(grossAmounts, currency: currency).subtracting(discount).adding(adjustment)
        } catch { throw overflow }
        guard expected == invoice.total else {
            throw DocumentError(
                field: field,
                message:
                    "\(invoice.totalAmountCents) is not the lines with their taxes \(grossAmounts.map(\.amountCents)) less discounts with their taxes \(discount.amountCents) plus adjustment \(adjustment.amountCents) = \(expected.amountCents)"
            )
        }

        var body = Body()
        body.set("customer_id", .string(customerID))
        body.set(numberKey, .string(invoice.number))
        // reference_number: "External reference number or identifier for the invoice" (Invoices).
        body.set("reference_number", .string(invoice.lagoID))
        // date / due_date: "Use the format yyyy-mm-dd" (Invoices).
        body.set("date", .string(invoice.issuingDate.isoDate))
        if root == "invoice", let due = invoice.paymentDueDate { body.set("due_date", .string(due.isoDate)) }
        if let id = target.mappings.currency(currency.code) { body.set("currency_id", .string(id)) }
        // is_inclusive_tax: the lines carry their tax, so the total is exactly the bill's.
        body.set("is_inclusive_tax", .bool(true))
        body.set("line_items", .array(lines))
        if !discount.isZero {
            body.set("discount", .number(discount.decimalString))
            body.set("discount_type", .string("entity_level"))
            body.set("is_discount_before_tax", .bool(true))
        }
        if !adjustment.isZero {
            body.set("adjustment", .number(adjustment.decimalString))
            var parts: [String] = []
            if invoice.creditNotesAmountCents != 0 { parts.append("credit notes") }
            if invoice.prepaidCreditAmountCents != 0 { parts.append("prepaid credits") }
            body.set("adjustment_description", .string("Applied " + parts.joined(separator: " and ")))
        }
        body.set("custom_fields", try customFields(uniqueField: uniqueField, value: invoice.lagoID, target: target))
        return body.json
    }

    /// One line: `item_id` (required in create-an-invoice-request's line items), `description`,
    /// `rate` and `quantity` ("This value is multiplied by the rate to calculate the line item
    /// total"), `tax_id`, `account_id` ("Account ID that has to be associated to the line item").
    /// `gross` is the fee's amount with its tax (the line is tax-inclusive). The fee's own
    /// quantity is sent only when its unit price times it is exactly its amount, the price has
    /// no more decimals than the currency and the quantity no more than `quantityDecimals`, and
    /// `gross` divided by the quantity is a whole minor unit (the price with its tax); else
    /// one unit at `gross`.
    static func line(
        item: Mapping, fee: BillingFee, gross: Money, currency: Currency, description: String, taxID: String?, index: Int
    ) throws -> ExactJSON {
        var body = Body()
        body.set("item_id", .string(item.providerID))
        body.set("item_order", .number(String(index + 1)))
        body.set(string: "description", description)
        let unitPrice =
            fee.preciseUnitAmount
            ?? fee.unitAmountCents.flatMap { ExactDecimal(Money(amountCents: $0, currency: currency).decimalString) }
        if let unitPrice, !fee.units.isZero, !fee.units.isNegative, fee.units.scale <= quantityDecimals,
            fee.units.compare(to: maxQuantity) < 0,
            unitPrice.scale <= currency.minorUnits, exactProduct(fee.units, unitPrice, equals: fee.amount),
            let grossPrice = wholeUnitPrice(gross, quantity: fee.units)
        {
            body.set("rate", .number(grossPrice.decimalString))
            body.set("quantity", .number(fee.units.description))
        } else {
            body.set("rate", .number(gross.decimalString))
            body.set("quantity", .number("1"))
        }
        if let taxID { body.set("tax_id", .string(taxID)) }
        if let account = accountID(item) { body.set("account_id", .string(account)) }
        return body.json
    }

    /// `amount` / `quantity` when it is a whole number of minor units, else nil.
    static func wholeUnitPrice(_ amount: Money, quantity: ExactDecimal) -> Money? {
        guard quantity.units > 0 else { return nil }
        var units = Int128(amount.amountCents)
        for _ in 0..<quantity.scale {
            let (next, overflow) = units.multipliedReportingOverflow(by: 10)
            guard !overflow else { return nil }
            units = next
        }
        guard units % quantity.units == 0, let cents = Int64(exactly: units / quantity.units) else { return nil }
        return Money(amountCents: cents, currency: amount.currency)
    }

    /// The tax of `amountCents` at the sum of `rates` (percent), rounded half up to a minor
    /// unit; nil on overflow.
    static func tax(on amountCents: Int64, rates: [BillingAppliedTax]) -> Int64? {
        // Σ rates in units of 10^-scale (Int128, checked).
        let scale = rates.map(\.rate.scale).max() ?? 0
        func scaled(_ value: Int128, from: Int) -> Int128? {
            var units = value
            for _ in from..<scale {
                let (next, overflow) = units.multipliedReportingOverflow(by: 10)
                if overflow { return nil }
                units = next
            }
            return units
        }
        var rate: Int128 = 0
        for tax in rates {
            guard let units = scaled(tax.rate.units, from: tax.rate.scale) else { return nil }
            let (sum, overflow) = rate.addingReportingOverflow(units)
            guard !overflow else { return nil }
            rate = sum
        }
        guard rate != 0 else { return 0 }
        guard let divisor = scaled(100, from: 0) else { return nil }
        let (product, overflow) = Int128(amountCents).multipliedReportingOverflow(by: rate)
        guard !overflow else { return nil }
        let quotient = product / divisor
        let remainder = product % divisor
        let rounded = remainder.magnitude >= divisor.magnitude - remainder.magnitude ? quotient + (product < 0 ? -1 : 1) : quotient
        return Int64(exactly: rounded)
    }

    /// `nominal` changed as little as possible to add up to `total`: a surplus comes off the
    /// largest taxes first (none below zero), a shortfall goes on the line with the largest tax
    /// (else the largest amount). The difference is the billing system's rounding of its taxes
    /// against one computed per line.
    static func spread(_ nominal: [Int64], to total: Int64, amounts: [Int64]) -> [Int64] {
        var taxes = nominal
        guard let sum = checkedSum(nominal), sum != total, !taxes.isEmpty else { return taxes }
        let order = taxes.indices.sorted { (taxes[$0], amounts[$0], -$0) > (taxes[$1], amounts[$1], -$1) }
        if sum > total {
            var surplus = sum - total
            for at in order where surplus > 0 {
                let off = min(surplus, taxes[at])
                taxes[at] -= off
                surplus -= off
            }
        } else {
            taxes[order[0]] += total - sum
        }
        return taxes
    }

    /// Σ values, nil on overflow.
    static func checkedSum(_ values: [Int64]) -> Int64? {
        var total: Int64 = 0
        for value in values {
            let (next, overflow) = total.addingReportingOverflow(value)
            if overflow { return nil }
            total = next
        }
        return total
    }

    /// Whether quantity × rate is exactly `amount` (false on any overflow).
    static func exactProduct(_ quantity: ExactDecimal, _ rate: ExactDecimal, equals amount: Money) -> Bool {
        let (product, overflow) = quantity.units.multipliedReportingOverflow(by: rate.units)
        guard !overflow else { return false }
        var left = product
        var leftScale = quantity.scale + rate.scale
        var right = Int128(amount.amountCents)
        var rightScale = amount.currency.minorUnits
        while leftScale < rightScale {
            let (next, o) = left.multipliedReportingOverflow(by: 10)
            guard !o else { return false }
            (left, leftScale) = (next, leftScale + 1)
        }
        while rightScale < leftScale {
            let (next, o) = right.multipliedReportingOverflow(by: 10)
            guard !o else { return false }
            (right, rightScale) = (next, rightScale + 1)
        }
        return left == right
    }

    // MARK: - Credit note

    /// `POST|PUT /creditnotes`: `customer_id`, `date`, `creditnote_number` and `line_items` are
    /// required (create-a-credit-note-request); the number is the billing number, sent with
    /// `ignore_auto_number_generation=true` by the provider. One line per credited item,
    /// tax-inclusive like an invoice's (`is_inclusive_tax: true`): its amount plus its tax
    /// (`rate`: "Rate of the line item", `quantity` 1), `tax_id` by its taxes, so Zoho's total
    /// is the credit note's to the minor unit. A credit note takes no `discount` or
    /// `adjustment` (the request lists neither), so the coupons adjustment comes off the lines'
    /// amounts, first line first, before their tax; the lines' taxes are each line's amount at
    /// its rates, changed by the billing system's rounding so they add up to
    /// `taxes_amount_cents`; Σ lines is checked to equal `total_amount_cents`.
    public static func creditNote(_ memo: BillingCreditMemo, customerID: String, uniqueField: String, target: SyncTarget) throws
        -> ExactJSON
    {
        let root = "credit_note"
        let currency = memo.currency
        try requireNumber(memo.number, field: "\(root).number")
        let items = memo.items.filter { $0.amountCents != 0 || memo.items.allSatisfy({ $0.amountCents == 0 }) }
        guard !items.isEmpty else { throw DocumentError(field: "\(root).items", message: "has no line to push") }
        let itemTaxes = items.contains { !($0.fee?.taxes.isEmpty ?? true) }
        // The coupons adjustment, taken off the lines in order; validation makes sure
        // Σ items − adjustment (the sub total) is not negative.
        var left = memo.couponsAdjustmentAmountCents
        var amounts: [Int64] = []
        for item in items {
            let off = min(left, item.amountCents)
            amounts.append(item.amountCents - off)
            left -= off
        }
        guard left == 0 else {
            throw DocumentError(
                field: "\(root).coupons_adjustment_amount_cents",
                message: "\(memo.couponsAdjustmentAmountCents) is more than the items it adjusts")
        }
        let overflow = DocumentError(
            field: "\(root).total_amount_cents", message: "the document's amounts do not fit in 64-bit minor units")
        var mappings: [Mapping] = []
        var taxIDs: [String?] = []
        var nominal: [Int64] = []
        for (index, item) in items.enumerated() {
            if let fee = item.fee {
                mappings.append(try target.mappings.resolveItem(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode))
            } else {
                mappings.append(try target.mappings.resolveItem(feeKind: .creditNote, code: nil))
            }
            let taxes = itemTaxes ? (item.fee?.taxes ?? []) : memo.taxes
            taxIDs.append(try taxID(taxes, target: target))
            guard let tax = tax(on: amounts[index], rates: taxes) else { throw overflow }
            nominal.append(tax)
        }
        let lineTaxes = spread(nominal, to: memo.taxesAmountCents, amounts: amounts)
        var lines: [ExactJSON] = []
        var grossAmounts: [Money] = []
        for (index, item) in items.enumerated() {
            let gross: Money
            do {
                gross = try Money(amountCents: amounts[index], currency: currency).adding(
                    Money(amountCents: lineTaxes[index], currency: currency))
            } catch { throw overflow }
            grossAmounts.append(gross)
            var line = Body()
            line.set("item_id", .string(mappings[index].providerID))
            line.set(string: "description", item.fee.map { $0.invoiceDisplayName ?? $0.itemName } ?? "Credit")
            line.set("rate", .number(gross.decimalString))
            line.set("quantity", .number("1"))
            if let taxID = taxIDs[index] { line.set("tax_id", .string(taxID)) }
            if let account = accountID(mappings[index]) { line.set("account_id", .string(account)) }
            lines.append(line.json)
        }
        let expected: Money
        do { expected = try Money.sum(grossAmounts, currency: currency) } catch { throw overflow }
        guard expected == memo.total else {
            throw DocumentError(
                field: "\(root).total_amount_cents",
                message:
                    "\(memo.totalAmountCents) is not the lines with their taxes \(grossAmounts.map(\.amountCents)) = \(expected.amountCents)"
            )
        }
        var body = Body()
        body.set("customer_id", .string(customerID))
        body.set("creditnote_number", .string(memo.number))
        // reference_number: "Max-Length [100]"; Zoho's own example holds the invoice number.
        if let number = nonBlank(memo.invoiceNumber), number.count <= referenceLimit { body.set("reference_number", .string(number)) }
        body.set("date", .string(memo.issuingDate.isoDate))
        if let id = target.mappings.currency(currency.code) { body.set("currency_id", .string(id)) }
        body.set("is_inclusive_tax", .bool(true))
        body.set("line_items", .array(lines))
        body.set(string: "notes", memo.description ?? memo.reason)
        body.set("custom_fields", try customFields(uniqueField: uniqueField, value: memo.lagoID, target: target))
        return body.json
    }

    /// `POST /creditnotes/{id}/invoices`: the credit note's amount applied to its invoice
    /// (credit-to-an-invoice-request: `invoices` of `invoice_id`, `amount_applied`). The
    /// credited part only (`appliedToInvoiceCents`); a credit note that credits nothing (all
    /// refunded) has nothing to apply: the caller skips the request.
    public static func creditApplication(_ memo: BillingCreditMemo, invoiceID: String) throws -> ExactJSON {
        let applied = memo.appliedToInvoiceCents
        guard applied > 0 else {
            throw DocumentError(
                field: "credit_note.credit_amount_cents",
                message: "is \(applied): nothing of credit note \(memo.number) is applied to its invoice (skip the application)")
        }
        return .object([
            (
                "invoices",
                .array([
                    .object([
                        ("invoice_id", .string(invoiceID)),
                        ("amount_applied", .number(Money(amountCents: applied, currency: memo.currency).decimalString)),
                    ])
                ])
            )
        ])
    }

    /// `POST /creditnotes/{id}/refunds`: the refunded part of a credit note
    /// (refund-credit-note-request: `date`, `refund_mode`, `reference_number`, `amount`,
    /// `from_account_id` "The account from which credit note is refunded", `description`).
    /// The account comes from the currency mapping's `details.refund_account_id` (the bank
    /// account in the credit note's currency), the mode from `details.refund_mode` ("others"
    /// when not set). Zoho's OpenAPI file marks no field required; the account is required
    /// here because a refund must leave some account.
    public static func creditNoteRefund(_ memo: BillingCreditMemo, target: SyncTarget) throws -> ExactJSON {
        let root = "credit_note"
        guard memo.refundCents > 0 else {
            throw DocumentError(field: "\(root).refund_amount_cents", message: "is \(memo.refundCents): there is no refund to push")
        }
        let details = target.mappings.mapping(.currency, memo.currency.code)?.details ?? [:]
        guard let account = nonBlank(details["refund_account_id"]) else {
            throw StoreError(
                .invalidMapping, field: "mappings",
                "a refund of credit note \(memo.number) needs the account it is paid from: set details.refund_account_id on the currency mapping of \(memo.currency.code) on connection \(target.connectionID.uuidString.lowercased())"
            )
        }
        var body = Body()
        body.set("date", .string(memo.issuingDate.isoDate))
        body.set("refund_mode", .string(nonBlank(details["refund_mode"]) ?? defaultMode))
        if memo.number.count <= referenceLimit { body.set("reference_number", .string(memo.number)) }
        body.set("amount", .number(Money(amountCents: memo.refundCents, currency: memo.currency).decimalString))
        body.set("from_account_id", .string(account))
        body.set("description", .string("Refund of credit note \(memo.number)"))
        return body.json
    }

    // MARK: - Payment

    /// `POST|PUT /customerpayments`: one payment spread over its invoices (`invoiceRefs`: billing
    /// invoice id → Zoho invoice id). create-a-payment-request: `customer_id`, `payment_mode`,
    /// `amount`, `date` ("Format [yyyy-mm-dd]"), `invoices` of `invoice_id` and `amount_applied`
    /// are required; `reference_number` "Max-length [100]"; `account_id` "ID of the cash/bank
    /// account the payment has to be deposited" from the currency mapping's
    /// `details.payment_account_id` (left out when not set: Zoho then uses its default);
    /// `payment_mode` from `details.payment_mode`, else "others".
    public static func payment(
        _ payment: BillingPayment, customerID: String, invoiceRefs: [String: String], uniqueField: String, target: SyncTarget
    ) throws -> ExactJSON {
        let root = "payment"
        let currency = payment.currency
        var invoices: [ExactJSON] = []
        var applied = Money.zero(currency)
        for (index, application) in payment.applications.enumerated() {
            guard let ref = invoiceRefs[application.invoiceID] else {
                throw DocumentError(
                    field: "\(root).invoice_ids[\(index)]",
                    message: "invoice \"\(application.invoiceID)\" is not at Zoho Books (it has no ref on this connection yet)")
            }
            let amount = Money(amountCents: application.amountCents, currency: currency)
            do { applied = try applied.adding(amount) } catch {
                throw DocumentError(field: "\(root).invoice_amounts", message: "the amounts do not fit in 64-bit minor units when added up")
            }
            invoices.append(.object([("invoice_id", .string(ref)), ("amount_applied", .number(amount.decimalString))]))
        }
        guard applied.amountCents <= payment.amountCents else {
            throw DocumentError(
                field: "\(root).invoice_amounts",
                message: "the amounts applied add up to \(applied.amountCents), more than amount_cents \(payment.amountCents)")
        }
        let reference = nonBlank(payment.reference) ?? nonBlank(payment.externalPaymentID)
        if let reference {
            try requireLength(
                reference, referenceLimit, field: "\(root).\(nonBlank(payment.reference) != nil ? "reference" : "external_payment_id")",
                what: "a Zoho Books reference_number")
        }
        let details = target.mappings.mapping(.currency, currency.code)?.details ?? [:]
        var body = Body()
        body.set("customer_id", .string(customerID))
        body.set("payment_mode", .string(nonBlank(details["payment_mode"]) ?? defaultMode))
        body.set("amount", .number(payment.amount.decimalString))
        body.set("date", .string(payment.date.isoDate))
        body.set(string: "reference_number", reference)
        body.set("invoices", .array(invoices))
        if let account = nonBlank(details["payment_account_id"]) { body.set("account_id", .string(account)) }
        body.set("custom_fields", try customFields(uniqueField: uniqueField, value: payment.lagoID, target: target))
        return body.json
    }

    // MARK: - Helpers

    /// The `tax_id` of a line with `taxes`: the tax mapping of its code, or for several taxes
    /// of the codes joined by "+" in code order (`vat_fr+eco_tax`), which names a Zoho tax
    /// group (a line takes one `tax_id`). Nil without taxes, or when unmapped taxes are all
    /// zero; otherwise an unmapped tax is `invalid_mapping`.
    static func taxID(_ taxes: [BillingAppliedTax], target: SyncTarget) throws -> String? {
        let codes = Array(Set(taxes.map(\.code))).sorted()
        guard !codes.isEmpty else { return nil }
        let key = codes.joined(separator: "+")
        if let mapping = target.mappings.tax(key) { return mapping.providerID }
        if taxes.allSatisfy({ $0.amountCents == 0 }) { return nil }
        let hint = codes.count > 1 ? " (a Zoho Books line takes one tax_id: map \"\(key)\" to a tax group)" : ""
        throw StoreError(
            .invalidMapping, field: "mappings",
            "no tax mapping for tax code \"\(key)\" on connection \(target.connectionID.uuidString.lowercased())\(hint)")
    }

    /// A line's `account_id`: the item mapping's account code, else its `details.account_id`.
    static func accountID(_ item: Mapping) -> String? {
        nonBlank(item.accountCode) ?? nonBlank(item.details["account_id"])
    }

    /// `custom_fields`: the unique field holding the billing id first, then the values of the
    /// connection's custom_field mappings for this record (`target.customFields`), each as
    /// `{"api_name": "cf_…", "value": "…"}`. The unique field is what Zoho's upsert finds the
    /// record by (`X-Unique-Identifier-Key`, PROVIDERS 3).
    static func customFields(uniqueField: String, value: String, target: SyncTarget) throws -> ExactJSON {
        guard ZohoMappings.isAPIName(uniqueField) else {
            throw StoreError.invalid(
                "unique_field", "\"\(uniqueField.prefix(60))\" is not a Zoho Books custom field API name (cf_ then letters, digits, '_')")
        }
        var fields: [ExactJSON] = [.object([("api_name", .string(uniqueField)), ("value", .string(value))])]
        for field in target.customFields where field.fieldID != uniqueField {
            fields.append(.object([("api_name", .string(field.fieldID)), ("value", .string(field.value))]))
        }
        return .array(fields)
    }

    static func requireNumber(_ number: String, field: String) throws {
        guard nonBlank(number) != nil else { throw DocumentError(field: field, message: "is required") }
        try requireLength(number, numberLimit, field: field, what: "a Zoho Books document number")
    }

    static func requireLength(_ text: String, _ limit: Int, field: String, what: String) throws {
        guard text.count <= limit else {
            throw DocumentError(field: field, message: "has \(text.count) characters; \(what) takes at most \(limit)")
        }
    }

    static func nonBlank(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }

    /// Lago's comma-separated emails and phones, trimmed, blanks dropped.
    static func list(_ text: String?) -> [String] {
        (text ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// Builds an object in member order, leaving out nil and empty strings.
    struct Body {
        private(set) var members: [(key: String, value: ExactJSON)] = []

        mutating func set(_ key: String, _ value: ExactJSON) {
            members.removeAll { $0.key == key }
            members.append((key: key, value: value))
        }

        mutating func set(string key: String, _ value: String?) {
            guard let value = ZohoPayloads.nonBlank(value) else { return }
            set(key, .string(value))
        }

        var json: ExactJSON { .object(members) }
    }
}

/// Zoho's mapping kinds (docs/zoho-books.md "Mappings"): what a mapping's provider id and
/// details must be at Zoho Books. Called by `ZohoBooksDriver.validateMapping`.
public enum ZohoMappings {
    /// The record types a custom_field mapping may name (the records the sync writes).
    public static let recordTypes = ["customer", "invoice", "sales_order", "credit_memo", "payment"]
    /// The details a currency mapping may carry (ZohoPayloads.payment / creditNoteRefund).
    public static let currencyDetails = ["payment_account_id", "payment_mode", "refund_account_id", "refund_mode"]

    public static func validate(_ mapping: Mapping) throws {
        switch mapping.kind {
        case .item, .defaultItem, .fallbackItem:
            // item_id: "ID of the item" (Items); Zoho's ids are "a set of numeric characters"
            // (Customer Payments).
            try requireID(mapping.providerID, "provider_id", "a Zoho Books item_id")
            if let code = mapping.accountCode { try requireID(code, "account_code", "a Zoho Books account_id (Chart of Accounts)") }
            try allowDetails(mapping, ["account_id"])
            if let account = mapping.details["account_id"] {
                try requireID(account, "details.account_id", "a Zoho Books account_id (Chart of Accounts)")
            }
        case .tax:
            try requireID(mapping.providerID, "provider_id", "a Zoho Books tax_id (a tax or a tax group)")
            try allowDetails(mapping, [])
            try noAccountCode(mapping)
        case .currency:
            guard Currency.named(mapping.billingKey) != nil else {
                throw StoreError.invalid("billing_key", "\"\(mapping.billingKey.prefix(20))\" is not an ISO 4217 currency code")
            }
            try requireID(mapping.providerID, "provider_id", "a Zoho Books currency_id")
            try noAccountCode(mapping)
            try allowDetails(mapping, currencyDetails)
            for key in ["payment_account_id", "refund_account_id"] {
                if let account = mapping.details[key] {
                    try requireID(account, "details.\(key)", "a Zoho Books account_id (a bank or cash account)")
                }
            }
            for key in ["payment_mode", "refund_mode"] {
                if let mode = mapping.details[key], !ZohoPayloads.paymentModes.contains(mode) {
                    throw StoreError.invalid(
                        "details.\(key)", "must be one of \(ZohoPayloads.paymentModes.joined(separator: ", ")), got \"\(mode.prefix(30))\"")
                }
            }
        case .customField:
            guard isAPIName(mapping.providerID) else {
                throw StoreError.invalid(
                    "provider_id",
                    "a Zoho Books custom field is named by its API name: cf_ then lowercase letters, digits or '_' (e.g. cf_region), got \"\(mapping.providerID.prefix(60))\""
                )
            }
            if let type = mapping.recordType, !recordTypes.contains(type) {
                throw StoreError.invalid("record_type", "must be one of \(recordTypes.joined(separator: ", ")), got \"\(type.prefix(30))\"")
            }
            try noAccountCode(mapping)
            try allowDetails(mapping, [])
        }
    }

    /// A custom field's API name as Zoho shows it (`cf_ledgersync_id`): `cf_`, then lowercase
    /// ASCII letters, digits and underscores.
    public static func isAPIName(_ name: String) -> Bool {
        guard name.hasPrefix("cf_"), name.count > 3, name.count <= 100 else { return false }
        return name.unicodeScalars.allSatisfy { $0.isASCII && (("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_") }
    }

    static func requireID(_ id: String, _ field: String, _ what: String) throws {
        guard !id.isEmpty, id.count <= 30, id.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }) else {
            throw StoreError.invalid(field, "\(what) is digits only (e.g. 982000000030049), got \"\(id.prefix(40))\"")
        }
    }

    static func allowDetails(_ mapping: Mapping, _ allowed: [String]) throws {
        if let unknown = mapping.details.keys.sorted().first(where: { !allowed.contains($0) }) {
            let expected = allowed.isEmpty ? "none" : allowed.joined(separator: ", ")
            throw StoreError.invalid(
                "details.\(unknown)", "is not a detail of a Zoho Books \(mapping.kind.rawValue) mapping (expected: \(expected))")
        }
    }

    static func noAccountCode(_ mapping: Mapping) throws {
        if mapping.accountCode != nil {
            throw StoreError.invalid("account_code", "is only for item mappings at Zoho Books (the line's account_id)")
        }
    }
}
