import ExactJSON
import Foundation
import Simulators
import Sync

/// The simulator's decimal (Sync has a type of the same name).
typealias Amount = Sync.ExactDecimal

/// Says whether a simulated NetSuite record equals the LATEST billing document it was pushed
/// from, and what differs. For end-to-end and simulator tests: after any sequence of pushes,
/// retries and re-pushes of changed documents, every record must equal its last document
/// exactly — no line twice, no line or field the document no longer has.
///
/// The expectations are read from the document and the connection's mappings by the rules of
/// docs/netsuite.md, not by calling `NetSuitePayloads`: a payload bug shows up as a
/// difference instead of being agreed with. Each function returns the differences, one
/// sentence each; an empty array means the record equals the document.
public enum RecordChecker {
    // MARK: - Customer

    public static func customer(_ customer: BillingCustomer, record: NetSuiteSimulator.Record?, target: SyncTarget) -> [String] {
        guard let record else { return ["customer \(customer.lagoID): no record at NetSuite"] }
        var d = Differences("customer \(customer.lagoID)")
        d.field(record, "externalId", customer.lagoID)
        let isPerson = customer.customerType == .individual
        if !isPerson {
            d.field(record, "companyName", nonBlank(customer.legalName) ?? nonBlank(customer.name))
        }
        d.field(record, "email", firstOfList(customer.email))
        d.field(record, "phone", firstOfList(customer.phone))

        var expected: [(BillingCustomer.Address, billing: Bool, shipping: Bool)] = []
        let billing = customer.address
        if let shipping = customer.shippingAddress, !shipping.isEmpty, shipping != billing {
            if !billing.isEmpty { expected.append((billing, true, false)) }
            expected.append((shipping, billing.isEmpty, true))
        } else if !billing.isEmpty {
            expected.append((billing, true, true))
        }
        let lines = record.sublist("addressBook")
        if lines.count != expected.count {
            d.add("addressBook has \(lines.count) lines, the document \(expected.count) addresses")
        } else {
            for (index, (address, isBilling, isShipping)) in expected.enumerated() {
                let line = lines[index]
                let fields = line["addressBookAddress"] ?? .object([])
                let at = "addressBook[\(index)]"
                d.equal("\(at).defaultBilling", line["defaultBilling"]?.boolValue, isBilling)
                d.equal("\(at).defaultShipping", line["defaultShipping"]?.boolValue, isShipping)
                d.equal("\(at).addr1", fields["addr1"]?.stringValue, nonBlank(address.addressLine1).map { String($0.prefix(150)) })
                d.equal("\(at).addr2", fields["addr2"]?.stringValue, nonBlank(address.addressLine2).map { String($0.prefix(150)) })
                d.equal("\(at).city", fields["city"]?.stringValue, nonBlank(address.city).map { String($0.prefix(50)) })
                d.equal("\(at).zip", fields["zip"]?.stringValue, nonBlank(address.zipcode))
                d.equal("\(at).country", fields["country"]?.referenceID, nonBlank(address.country))
            }
        }
        d.customFields(record, target: target, recordType: "customer")
        return d.list
    }

    // MARK: - Invoice and sales order

    /// An invoice (or, with `recordType: "sales_order"`, a sales order) against its document.
    public static func invoice(
        _ invoice: BillingInvoice, record: NetSuiteSimulator.Record?, customerRef: String, target: SyncTarget,
        recordType: String = "invoice"
    ) -> [String] {
        guard let record else { return ["\(recordType) \(invoice.lagoID): no record at NetSuite"] }
        var d = Differences("\(recordType) \(invoice.lagoID)")
        let currency = invoice.currency
        d.field(record, "externalId", invoice.lagoID)
        d.field(record, "tranId", invoice.number)
        d.equal("entity", record.reference("entity"), customerRef)
        d.field(record, "tranDate", invoice.issuingDate.isoDate)
        d.field(record, "dueDate", invoice.paymentDueDate?.isoDate)

        var expected: [ExpectedLine] = []
        let fees = invoice.fees.allSatisfy { $0.amountCents == 0 } ? invoice.fees : invoice.fees.filter { $0.amountCents != 0 }
        for fee in fees {
            let item = try? target.mappings.resolveItem(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode)
            expected.append(
                ExpectedLine(
                    reference: fee.lagoID, item: item?.providerID, amount: fee.amount.decimalString,
                    description: fee.invoiceDisplayName ?? fee.description ?? fee.itemName))
        }
        for credit in invoice.credits where credit.amountCents != 0 {
            expected.append(
                ExpectedLine(
                    reference: nil, item: nil, amount: Money(amountCents: -credit.amountCents, currency: currency).decimalString,
                    description: nil))
        }
        if invoice.prepaidCreditAmountCents != 0 {
            expected.append(
                ExpectedLine(
                    reference: "credit_item", item: nil,
                    amount: Money(amountCents: -invoice.prepaidCreditAmountCents, currency: currency).decimalString,
                    description: "Prepaid credits"))
        }
        d.lines(record, expected)
        d.total(record, Money(amountCents: invoice.totalAmountCents, currency: currency))
        d.taxes(record, Money(amountCents: invoice.taxesAmountCents, currency: currency))
        d.customFields(record, target: target, recordType: recordType)
        return d.list
    }

    // MARK: - Credit memo

    public static func creditMemo(
        _ memo: BillingCreditMemo, record: NetSuiteSimulator.Record?, customerRef: String, invoiceRef: String, target: SyncTarget
    ) -> [String] {
        guard let record else { return ["credit memo \(memo.lagoID): no record at NetSuite"] }
        var d = Differences("credit memo \(memo.lagoID)")
        d.field(record, "externalId", memo.lagoID)
        d.field(record, "tranId", memo.number)
        d.equal("entity", record.reference("entity"), customerRef)
        d.equal("createdFrom", record.reference("createdFrom"), invoiceRef)
        d.field(record, "memo", nonBlank(memo.reason ?? memo.description))
        var expected: [ExpectedLine] = []
        for item in memo.items where item.amountCents != 0 || memo.items.allSatisfy({ $0.amountCents == 0 }) {
            expected.append(
                ExpectedLine(
                    reference: item.lagoID, item: nil, amount: Money(amountCents: item.amountCents, currency: memo.currency).decimalString,
                    description: item.fee.map { $0.invoiceDisplayName ?? $0.itemName } ?? "Credit"))
        }
        if memo.couponsAdjustmentAmountCents != 0 {
            expected.append(
                ExpectedLine(
                    reference: "coupon_item", item: nil,
                    amount: Money(amountCents: -memo.couponsAdjustmentAmountCents, currency: memo.currency).decimalString,
                    description: "Coupon adjustment"))
        }
        d.lines(record, expected)
        d.total(record, Money(amountCents: memo.totalAmountCents, currency: memo.currency))
        d.taxes(record, Money(amountCents: memo.taxesAmountCents, currency: memo.currency))
        // The credited part applied to the invoice it credits (the refunded part is not).
        let apply = record.sublist("apply")
        let credited = memo.appliedToInvoiceCents
        if credited == 0 {
            if !apply.isEmpty { d.add("apply has \(apply.count) lines, the document credits nothing to its invoice") }
        } else if apply.count != 1 {
            d.add("apply has \(apply.count) lines, expected 1 (invoice \(invoiceRef))")
        } else {
            d.equal("apply[0].doc", apply[0]["doc"]?.referenceID, invoiceRef)
            d.equal("apply[0].amount", apply[0]["amount"]?.numberText, Money(amountCents: credited, currency: memo.currency).decimalString)
        }
        d.customFields(record, target: target, recordType: "credit_memo")
        return d.list
    }

    // MARK: - Payment

    /// `invoiceRefs`: each billing invoice id the payment applies to → its internal id.
    public static func payment(
        _ payment: BillingPayment, record: NetSuiteSimulator.Record?, customerRef: String, invoiceRefs: [String: String], target: SyncTarget
    ) -> [String] {
        guard let record else { return ["payment \(payment.lagoID): no record at NetSuite"] }
        var d = Differences("payment \(payment.lagoID)")
        d.field(record, "externalId", payment.lagoID)
        d.equal("customer", record.reference("customer"), customerRef)
        d.equal("payment", record.number("payment"), payment.amount.decimalString)
        d.field(record, "tranDate", payment.date.isoDate)
        d.field(record, "memo", nonBlank(payment.reference))
        // One apply line per invoice paid, with the amount the document gives it.
        let apply = record.sublist("apply")
        let expected = payment.applications
        if apply.count != expected.count {
            d.add("apply has \(apply.count) lines, expected \(expected.count) (one per invoice paid)")
        } else {
            for (index, application) in expected.enumerated() {
                d.equal("apply[\(index)].doc", apply[index]["doc"]?.referenceID, invoiceRefs[application.invoiceID])
                d.equal(
                    "apply[\(index)].amount", apply[index]["amount"]?.numberText,
                    Money(amountCents: application.amountCents, currency: payment.currency).decimalString)
            }
        }
        d.customFields(record, target: target, recordType: "payment")
        return d.list
    }

    // MARK: - Helpers

    struct ExpectedLine {
        /// `taxDetailsReference`; nil where the line's reference depends on its position.
        let reference: String?
        let item: String?
        let amount: String
        let description: String?
    }

    struct Differences {
        let subject: String
        var list: [String] = []

        init(_ subject: String) { self.subject = subject }

        mutating func add(_ text: String) { list.append("\(subject): \(text)") }

        mutating func equal<T: Equatable>(_ field: String, _ actual: T?, _ expected: T?) {
            guard actual != expected else { return }
            add("\(field) is \(actual.map { "\($0)" } ?? "absent"), the document says \(expected.map { "\($0)" } ?? "absent")")
        }

        /// A top-level string field; an absent expectation means the field must be absent.
        mutating func field(_ record: NetSuiteSimulator.Record, _ name: String, _ expected: String?) {
            equal(name, record.string(name), expected)
        }

        mutating func lines(_ record: NetSuiteSimulator.Record, _ expected: [ExpectedLine]) {
            let lines = record.sublist("item")
            if lines.count != expected.count {
                add("item has \(lines.count) lines, the document \(expected.count)")
            }
            let references = lines.compactMap { $0["taxDetailsReference"]?.stringValue }
            let repeated = Set(references.filter { reference in references.filter { $0 == reference }.count > 1 })
            if !repeated.isEmpty { add("item lines appear more than once: \(repeated.sorted().joined(separator: ", "))") }
            for (index, want) in expected.enumerated() {
                let line: [String: ExactJSON]?
                if let reference = want.reference {
                    line = lines.first { $0["taxDetailsReference"]?.stringValue == reference }
                } else {
                    line = index < lines.count ? lines[index] : nil
                }
                guard let line else {
                    add("no item line for \(want.reference ?? "line \(index)")")
                    continue
                }
                let at = "item[\(want.reference ?? String(index))]"
                equal("\(at).amount", line["amount"]?.numberText, want.amount)
                if let item = want.item { equal("\(at).item", line["item"]?.referenceID, item) }
                if let description = want.description { equal("\(at).description", line["description"]?.stringValue, description) }
                if let quantity = line["quantity"]?.numberText.flatMap(Amount.init(literal:)),
                    let rate = line["rate"]?.numberText.flatMap(Amount.init(literal:)),
                    let amount = Amount(literal: want.amount)
                {
                    // q × r = a, compared at a common scale (no Amount of scale > 3 is made).
                    func power(_ n: Int) -> Int128 { (0..<n).reduce(1) { value, _ in value * 10 } }
                    let product = quantity.units.multipliedReportingOverflow(by: rate.units)
                    let left = product.partialValue.multipliedReportingOverflow(by: power(amount.scale))
                    let right = amount.units * power(quantity.scale + rate.scale)
                    if product.overflow || left.overflow || left.partialValue != right {
                        add("\(at): quantity \(quantity) × rate \(rate) is not the amount \(want.amount)")
                    }
                }
            }
        }

        mutating func total(_ record: NetSuiteSimulator.Record, _ expected: Money) {
            guard let total = record.totalAmount, let want = Amount(literal: expected.decimalString),
                total.compare(want) == .orderedSame
            else {
                add("total is \(record.total ?? "absent"), the document's total is \(expected.decimalString)")
                return
            }
        }

        /// Taxes: SuiteTax rows' `taxAmount`, or the legacy `taxAmountOverride`, add up to the
        /// document's tax amount; every row points at a line the record has.
        mutating func taxes(_ record: NetSuiteSimulator.Record, _ expected: Money) {
            var sum = Amount.zero
            let rows = record.sublist("taxDetails")
            let references = Set(record.sublist("item").compactMap { $0["taxDetailsReference"]?.stringValue })
            for row in rows {
                sum += row["taxAmount"]?.numberText.flatMap(Amount.init(literal:)) ?? .zero
                if let reference = row["taxDetailsReference"]?.stringValue, !references.contains(reference) {
                    add("taxDetails row for \(reference) matches no item line")
                }
            }
            if let legacy = record.number("taxAmountOverride").flatMap(Amount.init(literal:)) { sum += legacy }
            if let want = Amount(literal: expected.decimalString), sum.compare(want) != .orderedSame {
                add("taxes add up to \(sum), the document's taxes are \(expected.decimalString)")
            }
        }

        /// Every custom field mapped on the record type: the document's value, or absent.
        mutating func customFields(_ record: NetSuiteSimulator.Record, target: SyncTarget, recordType: String) {
            let values = Dictionary(target.customFields.map { ($0.fieldID, $0.value) }, uniquingKeysWith: { _, last in last })
            for mapping in target.mappings.customFields(recordType: recordType) {
                equal(mapping.fieldID, record.string(mapping.fieldID), values[mapping.fieldID])
            }
        }
    }

    static func nonBlank(_ text: String?) -> String? {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return text
    }

    static func firstOfList(_ text: String?) -> String? {
        nonBlank(text?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) })
    }
}

extension Amount {
    /// Compares values, not spellings: `10.0` and `10.00` are the same amount.
    func compare(_ other: Amount) -> ComparisonResult {
        self < other ? .orderedAscending : other < self ? .orderedDescending : .orderedSame
    }
}
