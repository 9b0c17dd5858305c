import Sync

/// Exact arithmetic for line quantities and rates, on scaled integers: NetSuite may recompute a
/// line's amount as quantity × rate, so a quantity and rate are only sent when their product
/// is exactly the billed amount.
enum LineMath {
    /// A decimal as mantissa × 10^-scale, nil when it does not fit Int64.
    static func scaled(_ value: ExactDecimal) -> (mantissa: Int64, scale: Int)? {
        guard let magnitude = Int64(value.integerDigits + value.fractionDigits) else { return nil }
        return (value.isNegative ? -magnitude : magnitude, value.fractionDigits.count)
    }

    /// Whether quantity × rate equals `amount` exactly (false on any overflow).
    static func product(_ quantity: ExactDecimal, _ rate: ExactDecimal, equals amount: Money) -> Bool {
        guard let q = scaled(quantity), let r = scaled(rate) else { return false }
        let (product, overflow) = q.mantissa.multipliedReportingOverflow(by: r.mantissa)
        guard !overflow else { return false }
        var left = product
        var leftScale = q.scale + r.scale
        var right = amount.amountCents
        var rightScale = amount.currency.minorUnits
        // Bring both to the larger scale.
        while leftScale < rightScale {
            let (next, o) = left.multipliedReportingOverflow(by: 10)
            guard !o else { return false }
            left = next
            leftScale += 1
        }
        while rightScale < leftScale {
            let (next, o) = right.multipliedReportingOverflow(by: 10)
            guard !o else { return false }
            right = next
            rightScale += 1
        }
        return left == right
    }

    /// A major-unit decimal of minor units, e.g. 1250 USD → 12.5 (for rates).
    static func decimal(cents: Int64, currency: Currency) -> ExactDecimal {
        ExactDecimal(Money(amountCents: cents, currency: currency).decimalString)!
    }
}
