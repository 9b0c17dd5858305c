import ExactJSON
import Foundation
import Sync

// The totals Zoho Books computes for an invoice, a sales order or a credit note: sub total,
// discount, taxes, adjustment, total (the balance follows in `settle`). Exact: every amount is
// an Int128 count of the currency's smallest unit, every product and sum overflow-checked, no
// floating point.
//
// Zoho's pages each rule follows:
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/), create-an-invoice-request:
//   `is_inclusive_tax` "Used to specify whether the line item rates are inclusive or exclusive
//   of tax"; `discount` "Discount applied to the invoice. It can be either in % or in amount.
//   e.g. 12.5% or 190"; `is_discount_before_tax` "Used to specify how the discount has to
//   applied. Either before or after the calculation of tax"; `discount_type` "How the
//   discount is specified. Allowed values: entity_level and item_level"; `adjustment`
//   "Positive values add to the total, negative values reduce the total. This amount is
//   applied after tax calculation"; a line's `rate`, `quantity` ("multiplied by the rate to
//   calculate the line item total"), `discount` (item level) and `tax_id`. The answer shows
//   `sub_total`, `tax_total`, `taxes` [{tax_name, tax_amount}], `total`, `balance` and each
//   line's `item_total`, `tax_name`, `tax_percentage`. "Sales Order"
//   (https://www.zoho.com/books/api/v3/sales-order/) and "Credit Notes"
//   (https://www.zoho.com/books/api/v3/credit-notes/) carry the same members.
// - "Taxes" (https://www.zoho.com/books/api/v3/taxes/): a tax's `tax_percentage`.
// - Zoho Invoice's help "How do I sell items at rates inclusive and/or exclusive of tax?"
//   (https://www.zoho.com/en-sg/invoice/kb/taxes/tax-preferences.md): "Tax Inclusive: The tax
//   amount will be included in item's rate and no additional amount will be added to the
//   items' amount as tax. Tax Exclusive: The tax amount will not be included in the item's
//   rate but will be added to the Sub Total as an additional amount."
// - Zoho Invoice's help "Can I provide discounts at the invoice level?"
//   (https://www.zoho.com/bh/invoice/kb/invoices/invoice-discounts.md): a transaction-level
//   discount is applied "before or after tax".
//
// NOT DOCUMENTED by any Zoho page found (the choices, marked where made):
// - Rounding. No Zoho page states how a tax is rounded. Here each line's `item_total` (rate ×
//   quantity) and each line's tax are rounded to the currency's `price_precision`, half away
//   from zero, and the tax total is the sum of the rounded line taxes. (A Zoho community thread,
//   "TAX calculation based on actual price not the rounded price",
//   https://help.zoho.com/portal/zh/community/topic/tax-calculation-based-on-actual-price-not-the-rounded-price,
//   reports that Zoho computes the tax on the rounded line amount, as here.)
// - A discount before tax is shared over the lines in proportion to their amounts; each
//   line's tax is computed on its share exactly (line × (sub total − discount) / sub total)
//   and then rounded. A percentage discount is rounded to the currency's precision.
// - Tax-inclusive lines: the total is Σ lines − discount + adjustment; the tax inside is
//   back-computed per line (amount × p / (100 + p), after the line's share of a discount
//   before tax) for `tax_total` and `taxes` only. `sub_total` is Σ `item_total` as sent (tax
//   inclusive when the lines are).
// - `is_discount_before_tax` absent: before tax. `discount_type` absent: entity_level.
// - A discount larger than what it is taken from, or a negative total, is refused (HTTP 400
//   code 4 naming the field).

extension ZohoBooksSimulator {
    /// What Zoho computes for a document with lines.
    struct Totals {
        var subTotal: Int128
        var discount: Int128
        var taxTotal: Int128
        var adjustment: Int128
        var total: Int128
        /// Each line's `item_total` (after an item-level discount) and tax.
        var lineTotals: [Int128]
        var lineTaxes: [Int128]
        /// The tax of each line's `tax_id` (nil without one).
        var lineTax: [ReferenceData.Tax?]
    }

    /// The totals of `body` in units of 10^-`precision` of its currency.
    static func totals(_ body: ExactJSON, precision: Int, reference: ReferenceData) throws(APIError) -> Totals {
        guard let lines = body["line_items"]?.arrayValue, !lines.isEmpty else { throw APIError.invalid("line_items") }
        let inclusive = body["is_inclusive_tax"]?.boolValue ?? false
        let beforeTax = body["is_discount_before_tax"]?.boolValue ?? true
        let itemLevel: Bool
        switch body["discount_type"]?.stringValue {
        case nil, "", "entity_level": itemLevel = false
        case "item_level": itemLevel = true
        default: throw APIError.invalid("discount_type")
        }

        var lineTotals: [Int128] = []
        var lineTax: [ReferenceData.Tax?] = []
        for (at, line) in lines.enumerated() {
            guard let rate = line["rate"]?.numberText.flatMap(ExactDecimal.init(literal:)) else {
                throw APIError.invalid("line_items[\(at)].rate")
            }
            var quantity = ExactDecimal(1)
            if let given = line["quantity"] {
                guard let parsed = given.numberText.flatMap(ExactDecimal.init(literal:)) else {
                    throw APIError.invalid("line_items[\(at)].quantity")
                }
                quantity = parsed
            }
            let (product, overflow) = rate.units.multipliedReportingOverflow(by: quantity.units)
            guard !overflow, var amount = rescale(product, from: rate.scale + quantity.scale, to: precision) else {
                throw APIError.invalid("line_items[\(at)].rate")
            }
            if itemLevel, let discount = line["discount"] {
                let off = try discountAmount(discount, of: amount, precision: precision, field: "line_items[\(at)].discount")
                amount -= off
            }
            lineTotals.append(amount)
            if let id = line["tax_id"]?.stringValue ?? line["tax_id"]?.numberText, !id.isEmpty {
                guard let tax = reference.taxes.first(where: { $0.id == id }) else { throw APIError.invalid("line_items[\(at)].tax_id") }
                lineTax.append(tax)
            } else {
                lineTax.append(nil)
            }
        }
        guard let subTotal = checkedSum(lineTotals) else { throw APIError.invalid("line_items") }

        var adjustment: Int128 = 0
        if let given = body["adjustment"], given != .null {
            guard let value = (given.numberText ?? given.stringValue).flatMap(ExactDecimal.init(literal:)),
                let units = rescale(value.units, from: value.scale, to: precision)
            else { throw APIError.invalid("adjustment") }
            adjustment = units
        }

        // The taxes on the full lines (a discount after tax, or none).
        func taxes(share: (numerator: Int128, denominator: Int128)?) throws(APIError) -> [Int128] {
            var result: [Int128] = []
            for (at, amount) in lineTotals.enumerated() {
                guard let tax = lineTax[at], let percentage = ExactDecimal(tax.percentage), !percentage.isZero else {
                    result.append(0)
                    continue
                }
                // tax = amount × share × p / 100 (exclusive) or amount × share × p / (100 + p)
                // (inclusive), p = units / 10^scale.
                guard let hundred = power(percentage.scale).flatMap({ multiply($0, 100) }),
                    let denominator = inclusive ? add(hundred, percentage.units) : hundred,
                    var numerator = multiply(amount, percentage.units)
                else { throw APIError.invalid("line_items[\(at)].tax_id") }
                var divisor = denominator
                if let share, share.denominator != 0 {
                    guard let n = multiply(numerator, share.numerator), let d = multiply(divisor, share.denominator) else {
                        throw APIError.invalid("line_items")
                    }
                    (numerator, divisor) = (n, d)
                }
                result.append(roundedDivision(numerator, divisor))
            }
            return result
        }

        var discount: Int128 = 0
        var lineTaxes: [Int128]
        if !itemLevel, let given = body["discount"], given != .null {
            if beforeTax {
                discount = try discountAmount(given, of: subTotal, precision: precision, field: "discount")
                lineTaxes = try taxes(share: discount == 0 ? nil : (subTotal - discount, subTotal))
            } else {
                lineTaxes = try taxes(share: nil)
                guard let taxTotal = checkedSum(lineTaxes) else { throw APIError.invalid("line_items") }
                let base = inclusive ? subTotal : add(subTotal, taxTotal)
                guard let base else { throw APIError.invalid("line_items") }
                discount = try discountAmount(given, of: base, precision: precision, field: "discount")
            }
        } else {
            lineTaxes = try taxes(share: nil)
        }
        guard let taxTotal = checkedSum(lineTaxes),
            let total = checkedSum(inclusive ? [subTotal, -discount, adjustment] : [subTotal, -discount, taxTotal, adjustment])
        else { throw APIError.invalid("line_items") }
        guard total >= 0 else {
            throw APIError(code: 4, message: "The total of the transaction cannot be negative.", status: .badRequest)
        }
        return Totals(
            subTotal: subTotal, discount: discount, taxTotal: taxTotal, adjustment: adjustment, total: total, lineTotals: lineTotals,
            lineTaxes: lineTaxes, lineTax: lineTax)
    }

    /// Writes the computed totals into the record: `sub_total`, `discount_amount`, `tax_total`,
    /// `taxes` (per tax, in the order first used), `adjustment` as a number, `total`, and on each
    /// line `item_total`, `tax_name`, `tax_percentage`.
    static func apply(_ totals: Totals, to body: inout ExactJSON, precision: Int) {
        func number(_ units: Int128) -> ExactJSON { .number(text(ExactDecimal(units: units, scale: precision) ?? .zero)) }
        var lines = body["line_items"]?.arrayValue ?? []
        var perTax: [(tax: ReferenceData.Tax, amount: Int128)] = []
        for at in lines.indices {
            var members = lines[at].objectMembers.filter { !["item_total", "tax_name", "tax_percentage"].contains($0.key) }
            members.append(("item_total", number(totals.lineTotals[at])))
            if let tax = totals.lineTax[at] {
                members += [("tax_name", .string(tax.name)), ("tax_percentage", .number(tax.percentage))]
                // Cannot overflow: a line tax is at most its line (percentages up to 100), a line
                // at most 10^18 × 10^18 units of 10^-6 (15 digits and 3 decimals each side),
                // and a 1 MiB body holds fewer than 10^5 lines: any partial sum < 10^38.
                if let index = perTax.firstIndex(where: { $0.tax.id == tax.id }) {
                    perTax[index].amount += totals.lineTaxes[at]
                } else {
                    perTax.append((tax, totals.lineTaxes[at]))
                }
            }
            lines[at] = .object(members)
        }
        let computed: Set<String> = ["line_items", "sub_total", "discount_amount", "tax_total", "taxes", "adjustment", "total"]
        var members = body.objectMembers.filter { !computed.contains($0.key) }
        members += [
            ("line_items", .array(lines)), ("sub_total", number(totals.subTotal)), ("discount_amount", number(totals.discount)),
            (
                "taxes",
                .array(
                    perTax.map {
                        .object([("tax_id", .string($0.tax.id)), ("tax_name", .string($0.tax.name)), ("tax_amount", number($0.amount))])
                    })
            ),
            ("tax_total", number(totals.taxTotal)), ("adjustment", number(totals.adjustment)), ("total", number(totals.total)),
        ]
        body = .object(members)
    }

    /// A discount (`"12.5%"` of `base`, or an amount as a number or text) in units of the
    /// currency; refused when negative, unreadable or more than `base`.
    static func discountAmount(_ value: ExactJSON, of base: Int128, precision: Int, field: String) throws(APIError) -> Int128 {
        var text = value.stringValue ?? value.numberText ?? ""
        text = text.trimmingCharacters(in: .whitespaces)
        if text.isEmpty { return 0 }
        let amount: Int128
        if text.hasSuffix("%") {
            guard let percent = ExactDecimal(String(text.dropLast()).trimmingCharacters(in: .whitespaces)), !percent.isNegative,
                let hundred = power(percent.scale).flatMap({ multiply($0, 100) }), let product = multiply(base, percent.units)
            else { throw APIError.invalid(field) }
            amount = roundedDivision(product, hundred)
        } else {
            guard let decimal = ExactDecimal(literal: text), !decimal.isNegative,
                let units = rescale(decimal.units, from: decimal.scale, to: precision)
            else { throw APIError.invalid(field) }
            amount = units
        }
        guard amount <= max(base, 0) else {
            throw APIError(
                code: 4, message: "The discount cannot be more than the amount it is taken from (\(field)).", status: .badRequest)
        }
        return amount
    }

    /// `units` × 10^-`from` as units of 10^-`to`, rounded half away from zero; nil on overflow.
    static func rescale(_ units: Int128, from: Int, to: Int) -> Int128? {
        if from <= to {
            return power(to - from).flatMap { multiply(units, $0) }
        }
        return power(from - to).map { roundedDivision(units, $0) }
    }

    /// n / d rounded half away from zero (d > 0).
    static func roundedDivision(_ n: Int128, _ d: Int128) -> Int128 {
        let quotient = n / d
        let remainder = n % d
        // |remainder| × 2 ≥ d rounds away from zero; remainder < d, so d - |remainder| avoids
        // doubling a value near Int128's limit.
        guard remainder.magnitude >= (d.magnitude - remainder.magnitude) else { return quotient }
        return n < 0 ? quotient - 1 : quotient + 1
    }

    static func power(_ exponent: Int) -> Int128? {
        var result: Int128 = 1
        for _ in 0..<max(0, exponent) {
            guard let next = multiply(result, 10) else { return nil }
            result = next
        }
        return result
    }

    static func multiply(_ a: Int128, _ b: Int128) -> Int128? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    static func add(_ a: Int128, _ b: Int128) -> Int128? {
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : sum
    }

    static func checkedSum(_ values: [Int128]) -> Int128? {
        var total: Int128 = 0
        for value in values {
            guard let next = add(total, value) else { return nil }
            total = next
        }
        return total
    }

    /// The `price_precision` of the document's currency (`currency_id`), else of the
    /// organization's base currency, else 2.
    static func precision(of body: ExactJSON, reference: ReferenceData, baseCurrency: String?) -> Int {
        if let id = body["currency_id"]?.stringValue ?? body["currency_id"]?.numberText,
            let currency = reference.currencies.first(where: { $0.id == id })
        {
            return currency.precision
        }
        return reference.currencies.first { $0.code == baseCurrency }?.precision ?? 2
    }
}
