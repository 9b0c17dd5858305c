import ExactJSON
import Sync

/// Builds the REST record API bodies of docs/netsuite.md from billing documents and a
/// connection's mappings. Pure: no I/O, so every rule here is unit-tested on its own.
///
/// Failures: `StoreError.invalidMapping` when a line or a tax cannot be mapped,
/// `DocumentError` when a document cannot be expressed at NetSuite.
public enum NetSuitePayloads {
    /// NetSuite's limit on first and last names.
    static let nameLimit = 30

    // MARK: - Customer

    public static func customer(_ customer: BillingCustomer, target: SyncTarget, root: String = "customer") throws -> ExactJSON {
        try requireExternalID(customer.lagoID, field: "\(root).lago_id")
        var body = WireObject()
        body.set("externalId", .string(customer.lagoID))
        body.set("entityId", string: customer.externalID)
        let isPerson = customer.customerType == .individual
        body.set("isPerson", .bool(isPerson))
        if isPerson {
            let (first, last) = personName(customer)
            body.set("firstName", string: first)
            body.set("lastName", string: last)
            body.setOrClear("companyName", string: customer.legalName ?? customer.name)
        } else {
            guard let company = nonBlank(customer.legalName) ?? nonBlank(customer.name) else {
                throw DocumentError(field: "\(root).name", message: "is required for a company customer at NetSuite (or legal_name)")
            }
            body.set("companyName", .string(company))
        }
        body.setOrClear("email", string: firstOfList(customer.email))
        body.setOrClear("phone", string: firstOfList(customer.phone))
        // The customer's own subsidiary (Lago's netsuite_subsidiary) over the connection's default.
        guard let subsidiary = customer.netsuiteSubsidiary ?? target.connection.settings.defaultSubsidiary else {
            throw StoreError(
                .invalidField, field: "settings.default_subsidiary",
                "the connection has no default subsidiary, which NetSuite requires on customers (or give the customer's netsuite_subsidiary)"
            )
        }
        body.set("subsidiary", .reference(subsidiary))
        if let currency = customer.currency, let id = target.mappings.currency(currency.code) {
            body.set("currency", .reference(id))
        }
        // Always sent, empty when the customer has no address now: the client names every
        // sublist of the body in `replace`, so an address the document dropped is removed.
        body.set("addressBook", addressBook(customer) ?? .sublist([]))
        body.set("custentity_lago_id", .string(customer.lagoID))
        setCustomFields(&body, target: target, recordType: "customer")
        return body.json
    }

    /// The customer with `currency` added to its currencies (`currencyList`, one line per
    /// currency: its primary currency, when mapped, and `currency`), so a transaction in
    /// `currency` may be entered for it (docs/netsuite.md "Currencies"). Nil when `currency`
    /// has no currency mapping (then no currency is sent on the transaction either).
    public static func customer(
        _ customer: BillingCustomer, addingCurrency currency: Currency, target: SyncTarget, root: String = "customer"
    ) throws -> ExactJSON? {
        guard let added = target.mappings.currency(currency.code) else { return nil }
        guard case .object(let members) = try Self.customer(customer, target: target, root: root) else { return nil }
        var body = WireObject()
        for member in members { body.set(member.key, member.value) }
        var ids: [String] = []
        if let primary = customer.currency, let id = target.mappings.currency(primary.code) { ids.append(id) }
        if !ids.contains(added) { ids.append(added) }
        body.set("currencyList", .sublist(ids.map { .object([("currency", .reference($0))]) }))
        return body.json
    }

    static func personName(_ customer: BillingCustomer) -> (String?, String?) {
        var first = nonBlank(customer.firstname)
        var last = nonBlank(customer.lastname)
        if first == nil && last == nil, let name = nonBlank(customer.name) {
            let words = name.split(separator: " ", maxSplits: 1)
            first = String(words[0])
            last = words.count > 1 ? String(words[1]) : nil
        }
        return (first.map { String($0.prefix(nameLimit)) }, last.map { String($0.prefix(nameLimit)) })
    }

    static func addressBook(_ customer: BillingCustomer) -> ExactJSON? {
        func address(_ a: BillingCustomer.Address, billing: Bool, shipping: Bool) -> ExactJSON {
            var fields = WireObject()
            fields.set("addr1", string: a.addressLine1.map { String($0.prefix(150)) })
            fields.set("addr2", string: a.addressLine2.map { String($0.prefix(150)) })
            fields.set("city", string: a.city.map { String($0.prefix(50)) })
            fields.set("zip", string: a.zipcode)
            fields.set("state", string: a.state.map { String($0.prefix(30)) })
            if let country = nonBlank(a.country) { fields.set("country", .reference(country)) }
            return .object([("defaultBilling", .bool(billing)), ("defaultShipping", .bool(shipping)), ("addressBookAddress", fields.json)])
        }
        var items: [ExactJSON] = []
        let billing = customer.address
        let shipping = customer.shippingAddress
        if let shipping, !shipping.isEmpty, shipping != billing {
            if !billing.isEmpty { items.append(address(billing, billing: true, shipping: false)) }
            items.append(address(shipping, billing: billing.isEmpty, shipping: true))
        } else if !billing.isEmpty {
            items.append(address(billing, billing: true, shipping: true))
        }
        return items.isEmpty ? nil : .sublist(items)
    }

    // MARK: - Invoice and sales order

    /// An invoice, or a sales order (the same body, PROVIDERS 1.3).
    public static func invoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget, root: String = "invoice") throws
        -> ExactJSON
    {
        try requireExternalID(invoice.lagoID, field: "\(root).lago_id")
        let currency = invoice.currency
        var lines: [Line] = []
        let fees = invoice.fees.allSatisfy { $0.amountCents == 0 } ? invoice.fees : invoice.fees.filter { $0.amountCents != 0 }
        for fee in fees {
            let item = try target.mappings.resolveItem(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode)
            lines.append(Line.fee(fee, item: item, currency: currency))
        }
        var couponIndex = 0
        for (index, credit) in invoice.credits.enumerated() where credit.amountCents != 0 {
            let kind: Mapping.FeeKind = credit.kind == .coupon ? .coupon : .creditNote
            let item = try target.mappings.resolveItem(feeKind: kind, code: nil)
            let reference: String
            switch credit.kind {
            case .coupon:
                couponIndex += 1
                reference = couponIndex == 1 ? "coupon_item" : "coupon_item_\(couponIndex)"
            case .creditNote: reference = "credit_note_item_\(lines.count)"
            case .progressiveBilling: reference = "credit_item_progressive_billing_\(lines.count)"
            }
            let name =
                credit.itemName
                ?? (credit.kind == .coupon ? "Coupon" : credit.kind == .creditNote ? "Credit note" : "Progressive billing credit")
            lines.append(
                try Line.deduction(
                    credit.amountCents, currency: currency, item: item, reference: reference, description: name,
                    field: "\(root).credits[\(index)].amount_cents"))
        }
        if invoice.prepaidCreditAmountCents != 0 {
            let item = try target.mappings.resolveItem(feeKind: .prepaidCredit, code: nil)
            lines.append(
                try Line.deduction(
                    invoice.prepaidCreditAmountCents, currency: currency, item: item, reference: "credit_item",
                    description: "Prepaid credits",
                    field: "\(root).prepaid_credit_amount_cents"))
        }
        if lines.isEmpty {
            throw DocumentError(field: "\(root).fees", message: "has no line to push (NetSuite needs at least one item line)")
        }

        var body = WireObject()
        body.set("externalId", .string(invoice.lagoID))
        body.set("tranId", .string(invoice.number))
        body.set("entity", .reference(customerRef))
        body.set("tranDate", .string(invoice.issuingDate.isoDate))
        body.setOrClear("dueDate", string: invoice.paymentDueDate?.isoDate)
        if let id = target.mappings.currency(currency.code) { body.set("currency", .reference(id)) }
        if let location = target.connection.settings.defaultLocation { body.set("location", .reference(location)) }
        if let subsidiary = invoice.customer?.netsuiteSubsidiary { body.set("subsidiary", .reference(subsidiary)) }
        body.set("custbody_lago_id", .string(invoice.lagoID))
        body.set("item", .sublist(lines.map(\.json)))

        let feeTaxes = fees.flatMap { fee in fee.taxes.map { (reference: fee.lagoID, basis: fee.amountCents, tax: $0) } }
        let documentTaxes = invoice.taxes.map {
            (
                reference: lines[0].reference,
                basis: $0.baseAmountCents ?? invoice.subTotalExcludingTaxesAmountCents ?? invoice.feesAmountCents, tax: $0
            )
        }
        try applyTaxes(
            to: &body, rows: feeTaxes.isEmpty ? documentTaxes : feeTaxes, total: invoice.taxesAmountCents,
            couponLine: lines.first { $0.reference == "coupon_item" }, currency: currency, target: target, root: root,
            rowsField: feeTaxes.isEmpty ? "\(root).applied_taxes" : "\(root).fees[].applied_taxes")
        setCustomFields(&body, target: target, recordType: root == "sales_order" ? "sales_order" : "invoice")
        return body.json
    }

    // MARK: - Credit memo

    public static func creditMemo(
        _ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget, root: String = "credit_note"
    ) throws -> ExactJSON {
        try requireExternalID(memo.lagoID, field: "\(root).lago_id")
        let currency = memo.currency
        var lines: [Line] = []
        for item in memo.items where item.amountCents != 0 || memo.items.allSatisfy({ $0.amountCents == 0 }) {
            let mapping: Mapping
            if let fee = item.fee {
                mapping = try target.mappings.resolveItem(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode)
            } else {
                mapping = try target.mappings.resolveItem(feeKind: .creditNote, code: nil)
            }
            let description = item.fee.map { $0.invoiceDisplayName ?? $0.itemName } ?? "Credit"
            lines.append(
                Line(
                    item: mapping, quantity: "1", rate: Money(amountCents: item.amountCents, currency: currency).decimalString,
                    amount: Money(amountCents: item.amountCents, currency: currency), reference: item.lagoID, description: description))
        }
        if memo.couponsAdjustmentAmountCents != 0 {
            let item = try target.mappings.resolveItem(feeKind: .coupon, code: nil)
            lines.append(
                try Line.deduction(
                    memo.couponsAdjustmentAmountCents, currency: currency, item: item, reference: "coupon_item",
                    description: "Coupon adjustment",
                    field: "\(root).coupons_adjustment_amount_cents"))
        }
        var body = WireObject()
        body.set("externalId", .string(memo.lagoID))
        body.set("tranId", .string(memo.number))
        body.set("entity", .reference(customerRef))
        body.set("createdFrom", .reference(invoiceRef))
        body.set("tranDate", .string(memo.issuingDate.isoDate))
        if let id = target.mappings.currency(currency.code) { body.set("currency", .reference(id)) }
        if let location = target.connection.settings.defaultLocation { body.set("location", .reference(location)) }
        if let subsidiary = memo.customer?.netsuiteSubsidiary { body.set("subsidiary", .reference(subsidiary)) }
        body.setOrClear("memo", string: memo.reason ?? memo.description)
        body.set("custbody_lago_id", .string(memo.lagoID))
        body.set("item", .sublist(lines.map(\.json)))
        // The credited part (not the refunded one) applied to the invoice it credits, so the
        // invoice's amount due drops by it (docs/netsuite.md "creditMemo"). Always sent, empty
        // when nothing is credited, so an update replaces an earlier application.
        let applied = Money(amountCents: memo.appliedToInvoiceCents, currency: currency)
        body.set(
            "apply",
            .sublist(
                applied.amountCents > 0
                    ? [
                        .object([
                            ("doc", .reference(invoiceRef)), ("apply", .bool(true)), ("amount", .number(applied.decimalString)),
                        ])
                    ] : []))
        let rows = memo.taxes.map {
            (reference: lines[0].reference, basis: $0.baseAmountCents ?? memo.subTotalExcludingTaxesAmountCents, tax: $0)
        }
        try applyTaxes(
            to: &body, rows: rows, total: memo.taxesAmountCents, couponLine: lines.first { $0.reference == "coupon_item" },
            currency: currency, target: target, root: root, rowsField: "\(root).applied_taxes")
        setCustomFields(&body, target: target, recordType: "credit_memo")
        return body.json
    }

    // MARK: - Payment

    /// A payment applied to each invoice it pays, one `apply` line per invoice with the amount
    /// of `payment.applications`. `invoiceRefs`: billing invoice id → NetSuite internal id.
    public static func payment(
        _ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget, root: String = "payment"
    ) throws -> ExactJSON {
        try requireExternalID(payment.lagoID, field: "\(root).lago_id")
        var lines: [ExactJSON] = []
        for (index, application) in payment.applications.enumerated() {
            guard let ref = invoiceRefs[application.invoiceID] else {
                throw DocumentError(
                    field: "\(root).invoice_ids[\(index)]", message: "invoice \"\(application.invoiceID)\" is not at NetSuite")
            }
            let amount = Money(amountCents: application.amountCents, currency: payment.currency)
            lines.append(.object([("doc", .reference(ref)), ("apply", .bool(true)), ("amount", .number(amount.decimalString))]))
        }
        var body = WireObject()
        body.set("externalId", .string(payment.lagoID))
        body.set("customer", .reference(customerRef))
        body.set("payment", .number(payment.amount.decimalString))
        body.set("tranDate", .string(payment.date.isoDate))
        if let id = target.mappings.currency(payment.currency.code) { body.set("currency", .reference(id)) }
        body.setOrClear("memo", string: payment.reference)
        body.set("apply", .sublist(lines))
        setCustomFields(&body, target: target, recordType: "payment")
        return body.json
    }

    // MARK: - Customer refund

    /// The refunded part of a credit note: a customer refund (external id
    /// `<credit note lago_id>-refund`) applied to the credit memo, paying out what the credit
    /// memo did not apply to its invoice.
    public static func customerRefund(
        _ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget, root: String = "credit_note"
    ) throws -> ExactJSON {
        try requireExternalID(memo.refundExternalID, field: "\(root).lago_id")
        let amount = Money(amountCents: memo.refundCents, currency: memo.currency)
        var body = WireObject()
        body.set("externalId", .string(memo.refundExternalID))
        body.set("customer", .reference(customerRef))
        body.set("tranDate", .string(memo.issuingDate.isoDate))
        if let id = target.mappings.currency(memo.currency.code) { body.set("currency", .reference(id)) }
        if let subsidiary = memo.customer?.netsuiteSubsidiary { body.set("subsidiary", .reference(subsidiary)) }
        body.set("memo", string: "Refund of credit note \(memo.number)")
        body.set(
            "apply",
            .sublist([
                .object([
                    ("doc", .reference(creditMemoRef)), ("apply", .bool(true)), ("amount", .number(amount.decimalString)),
                ])
            ]))
        return body.json
    }

    // MARK: - Voids

    /// A voided invoice or credit memo as the record API can write it: the record's own body
    /// (same external id, so the same record is updated) with every line amount, rate and tax
    /// amount zero, memo "VOID", and (credit memo) an empty `apply` sublist, which is what
    /// Oracle documents a direct void leaves (N/transaction Module: "the total and all the
    /// line items for the transaction are set to zero. The transaction is not removed").
    /// The REST record API has no void operation (docs/netsuite.md "Voids").
    public static func voided(_ body: ExactJSON, currency: Currency, clearApply: Bool) -> ExactJSON {
        let zero = ExactJSON.number(Money(amountCents: 0, currency: currency).decimalString)
        func zeroLines(_ sublist: ExactJSON, _ fields: Set<String>) -> ExactJSON {
            guard case .array(let lines)? = sublist["items"] else { return sublist }
            return .sublist(
                lines.map { line in
                    guard case .object(let members) = line else { return line }
                    return .object(members.map { fields.contains($0.key) ? (key: $0.key, value: zero) : $0 })
                })
        }
        guard case .object(let members) = body else { return body }
        var out = WireObject()
        for (key, value) in members {
            switch key {
            case "item": out.set(key, zeroLines(value, ["rate", "amount"]))
            case "taxDetails": out.set(key, zeroLines(value, ["taxBasis", "taxAmount"]))
            case "taxAmountOverride": out.set(key, zero)
            case "apply", "memo": continue
            default: out.set(key, value)
            }
        }
        out.set("memo", .string("VOID"))
        if clearApply { out.set("apply", .sublist([])) }
        return out.json
    }

    public static func voidedInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) throws -> ExactJSON {
        voided(try Self.invoice(invoice, customerRef: customerRef, target: target), currency: invoice.currency, clearApply: false)
    }

    public static func voidedCreditMemo(
        _ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget
    ) throws -> ExactJSON {
        voided(
            try creditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target), currency: memo.currency,
            clearApply: true)
    }

    // MARK: - Lines

    struct Line {
        let item: Mapping
        let quantity: String
        let rate: String
        let amount: Money
        let reference: String
        let description: String?

        /// A fee: its quantity and unit price when their product is exactly the amount, else
        /// one unit at the amount (NetSuite would otherwise recompute a different amount).
        static func fee(_ fee: BillingFee, item: Mapping, currency: Currency) -> Line {
            let unitPrice = fee.preciseUnitAmount ?? fee.unitAmountCents.map { LineMath.decimal(cents: $0, currency: currency) }
            let description = fee.invoiceDisplayName ?? fee.description ?? fee.itemName
            if let unitPrice, !fee.units.isZero, fee.units.compare(to: 10_000_000_000) < 0,
                LineMath.product(fee.units, unitPrice, equals: fee.amount)
            {
                return Line(
                    item: item, quantity: fee.units.description, rate: unitPrice.description, amount: fee.amount,
                    reference: fee.lagoID, description: description)
            }
            return Line(
                item: item, quantity: "1", rate: fee.amount.decimalString, amount: fee.amount, reference: fee.lagoID,
                description: description)
        }

        /// A deduction (coupon, credit): one unit at minus the amount. `field` names the amount
        /// in the error for the one amount that has no opposite (Int64.min).
        static func deduction(
            _ cents: Int64, currency: Currency, item: Mapping, reference: String, description: String, field: String
        ) throws(DocumentError) -> Line {
            let amount: Money
            do { amount = try Money(amountCents: cents, currency: currency).negated() } catch {
                throw DocumentError(field: field, message: "\(cents) has no opposite amount in 64-bit minor units")
            }
            return Line(
                item: item, quantity: "1", rate: amount.decimalString, amount: amount, reference: reference, description: description)
        }

        var json: ExactJSON {
            var line = WireObject()
            line.set("item", .reference(item.providerID))
            if let account = item.accountCode { line.set("account", .reference(account)) }
            line.set("quantity", .number(quantity))
            line.set("rate", .number(rate))
            line.set("amount", .number(amount.decimalString))
            line.set("description", string: description)
            line.set("taxDetailsReference", .string(reference))
            return line.json
        }
    }

    // MARK: - Taxes

    /// Adds the taxes of a transaction (docs/netsuite.md "invoice"): SuiteTax `taxDetails` rows
    /// when every tax code has a complete SuiteTax mapping, the legacy tax item otherwise, and
    /// nothing when there is no tax. The rows add up to the document's `taxes_amount_cents`
    /// exactly: a difference (coupons lower the base) goes on the coupon line, else on the
    /// first row, as Lago does.
    static func applyTaxes(
        to body: inout WireObject, rows: [(reference: String, basis: Int64, tax: BillingAppliedTax)], total: Int64,
        couponLine: Line?, currency: Currency, target: SyncTarget, root: String, rowsField: String
    ) throws {
        let codes = rows.map(\.tax.code)
        if total == 0 && rows.allSatisfy({ $0.tax.amountCents == 0 }) {
            // No tax now; on a SuiteTax account an earlier version's rows must go: an empty
            // sublist, which the client names in `replace` like any other.
            if target.mappings.hasSuiteTaxMappings { body.set("taxDetails", .sublist([])) }
            return
        }
        guard !codes.isEmpty else {
            throw DocumentError(field: "\(root).applied_taxes", message: "must list the taxes of taxes_amount_cents \(total)")
        }
        var mappings: [String: Mapping] = [:]
        for code in codes where mappings[code] == nil {
            guard let mapping = target.mappings.tax(code) else {
                throw StoreError(
                    .invalidMapping, field: "mappings",
                    "no tax mapping for tax code \"\(code)\" on connection \(target.connectionID.uuidString.lowercased())")
            }
            mappings[code] = mapping
        }
        let suiteTax = mappings.values.allSatisfy { m in ["nexus", "tax_type", "tax_code"].allSatisfy { nonBlank(m.details[$0]) != nil } }
        if suiteTax {
            let first = mappings[codes[0]]!
            var amounts = rows.map(\.tax.amountCents)
            var extra: (reference: String, basis: Int64, tax: BillingAppliedTax, amount: Int64)?
            // Checked: a crafted document's tax amounts may add up past Int64, and a trap here
            // would kill the worker (and the next one the job is rescued onto).
            let difference: Int64
            do {
                let sum = try Money.sum(amounts.map { Money(amountCents: $0, currency: currency) }, currency: currency)
                difference = try Money(amountCents: total, currency: currency).subtracting(sum).amountCents
                if difference != 0 && couponLine == nil {
                    amounts[0] = try Money(amountCents: amounts[0], currency: currency)
                        .adding(Money(amountCents: difference, currency: currency)).amountCents
                }
            } catch {
                throw DocumentError(
                    field: "\(rowsField)[].amount_cents",
                    message: "the tax amounts and taxes_amount_cents \(total) do not fit in 64-bit minor units when added up")
            }
            if difference != 0, let couponLine {
                extra = (couponLine.reference, couponLine.amount.amountCents, rows[0].tax, difference)
            }
            var items: [ExactJSON] = []
            func row(_ reference: String, _ basis: Int64, _ tax: BillingAppliedTax, _ amount: Int64) -> ExactJSON {
                let m = mappings[tax.code]!
                return .object([
                    ("taxDetailsReference", .string(reference)),
                    ("taxType", .reference(m.details["tax_type"]!)),
                    ("taxCode", .reference(m.details["tax_code"]!)),
                    ("taxBasis", .number(Money(amountCents: basis, currency: currency).decimalString)),
                    ("taxRate", .number(tax.rate.description)),
                    ("taxAmount", .number(Money(amountCents: amount, currency: currency).decimalString)),
                ])
            }
            for (i, r) in rows.enumerated() { items.append(row(r.reference, r.basis, r.tax, amounts[i])) }
            if let extra { items.append(row(extra.reference, extra.basis, extra.tax, extra.amount)) }
            body.set("taxDetailsOverride", .bool(true))
            body.set("taxRegOverride", .bool(true))
            body.set("nexus", .reference(first.details["nexus"]!))
            body.set("taxDetails", .sublist(items))
            return
        }
        if let legacy = nonBlank(mappings[codes[0]]!.details["legacy_tax_item"]),
            mappings.values.allSatisfy({ nonBlank($0.details["legacy_tax_item"]) != nil })
        {
            body.set("isTaxable", .bool(true))
            body.set("taxItem", .reference(legacy))
            body.set("taxAmountOverride", .number(Money(amountCents: total, currency: currency).decimalString))
            return
        }
        let incomplete =
            codes.first { code in
                let m = mappings[code]!
                return nonBlank(m.details["legacy_tax_item"]) == nil
            } ?? codes[0]
        throw StoreError(
            .invalidMapping, field: "mappings",
            "the tax mapping of \"\(incomplete)\" needs nexus, tax_type and tax_code (SuiteTax) or legacy_tax_item")
    }

    // MARK: - Helpers

    /// The custom field values the document has, and `null` for every other custom field
    /// mapped on `recordType` (the mapping's record type: customer, invoice, sales_order,
    /// credit_memo, payment): a value the document no longer has is cleared at NetSuite
    /// rather than left stale (`WireObject.setOrClear`).
    static func setCustomFields(_ body: inout WireObject, target: SyncTarget, recordType: String) {
        let present = Set(target.customFields.map(\.fieldID))
        for mapping in target.mappings.customFields(recordType: recordType) where !present.contains(mapping.fieldID) {
            body.set(mapping.fieldID, .null)
        }
        for field in target.customFields { body.set(field.fieldID, .string(field.value)) }
    }

    /// NetSuite external ids: letters, digits, `_` and `-` (PROVIDERS 2.2).
    static func requireExternalID(_ id: String, field: String) throws {
        let allowed = id.unicodeScalars.allSatisfy {
            $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
        }
        guard allowed, !id.isEmpty else {
            throw DocumentError(
                field: field, message: "\"\(id.prefix(60))\" cannot be a NetSuite external id (letters, digits, '_' and '-' only)")
        }
    }

    static func nonBlank(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }

    /// Lago allows comma-separated emails and phones; NetSuite takes one.
    static func firstOfList(_ text: String?) -> String? {
        nonBlank(text?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) })
    }
}
