/// An amount of money: an integer number of minor units (cents) of a currency.
///
/// Everything here is integer arithmetic: rendering and parsing move the decimal point in
/// text, sums and negation check for overflow and throw. There is no floating point on
/// this path.
public struct Money: Sendable, Hashable, CustomStringConvertible {
    /// Minor units: cents for USD, yen for JPY, fils (1/1000) for KWD.
    public let amountCents: Int64
    public let currency: Currency

    public init(amountCents: Int64, currency: Currency) {
        self.amountCents = amountCents
        self.currency = currency
    }

    public static func zero(_ currency: Currency) -> Money { Money(amountCents: 0, currency: currency) }

    public var isZero: Bool { amountCents == 0 }
    public var isNegative: Bool { amountCents < 0 }

    /// The amount in major units as providers want it: 1234 USD → "12.34", 1234 JPY → "1234",
    /// 1234 KWD → "1.234", -5 USD → "-0.05". Always exactly `currency.minorUnits` decimals.
    public var decimalString: String {
        let digits = String(amountCents.magnitude) // UInt64: no overflow at Int64.min
        let scale = currency.minorUnits
        let sign = amountCents < 0 ? "-" : ""
        guard scale > 0 else { return sign + digits }
        let padded = digits.count <= scale ? String(repeating: "0", count: scale + 1 - digits.count) + digits : digits
        let split = padded.index(padded.endIndex, offsetBy: -scale)
        return sign + padded[..<split] + "." + padded[split...]
    }

    /// "12.34 USD".
    public var description: String { "\(decimalString) \(currency.code)" }

    /// Parses a decimal amount in major units back to minor units, exactly: "12.34" USD → 1234,
    /// "1.5" USD → 150, "1234" JPY → 1234, "1.234" KWD → 1234. An optional leading "-" or "+";
    /// no exponents, spaces or grouping; at most `currency.minorUnits` decimals ("1.234" USD
    /// and "1.0" JPY are errors rather than rounded).
    public init(parsing text: String, currency: Currency) throws(MoneyError) {
        var rest = Substring(text)
        var negative = false
        if let first = rest.first, first == "-" || first == "+" {
            negative = first == "-"
            rest = rest.dropFirst()
        }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = parts[0]
        let fraction = parts.count > 1 ? parts[1] : ""
        func isDigits(_ s: Substring) -> Bool { s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard !integer.isEmpty, isDigits(integer) else {
            throw .invalidAmount(text, reason: "expected digits with an optional sign and decimal point")
        }
        if parts.count > 1 {
            guard !fraction.isEmpty, isDigits(fraction) else {
                throw .invalidAmount(text, reason: "expected digits after the decimal point")
            }
            guard fraction.count <= currency.minorUnits else {
                throw .invalidAmount(
                    text, reason: "\(currency.code) has \(currency.minorUnits) decimals, got \(fraction.count)")
            }
        }
        let padded = integer + fraction + String(repeating: "0", count: currency.minorUnits - fraction.count)
        var magnitude: UInt64 = 0
        for byte in padded.utf8 {
            let (times10, o1) = magnitude.multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(UInt64(byte - 48))
            guard !o1, !o2 else { throw .overflow("\"\(text)\" \(currency.code)") }
            magnitude = next
        }
        let limit = negative ? Int64.min.magnitude : UInt64(Int64.max)
        guard magnitude <= limit else { throw .overflow("\"\(text)\" \(currency.code)") }
        self.amountCents = negative ? Int64(truncatingIfNeeded: 0 &- magnitude) : Int64(magnitude)
        self.currency = currency
    }

    public func adding(_ other: Money) throws(MoneyError) -> Money {
        guard other.currency == currency else { throw .currencyMismatch(currency, other.currency) }
        let (sum, overflow) = amountCents.addingReportingOverflow(other.amountCents)
        guard !overflow else { throw .overflow("\(self) + \(other)") }
        return Money(amountCents: sum, currency: currency)
    }

    public func subtracting(_ other: Money) throws(MoneyError) -> Money {
        guard other.currency == currency else { throw .currencyMismatch(currency, other.currency) }
        let (difference, overflow) = amountCents.subtractingReportingOverflow(other.amountCents)
        guard !overflow else { throw .overflow("\(self) - \(other)") }
        return Money(amountCents: difference, currency: currency)
    }

    /// The opposite amount; throws for Int64.min, which has no positive counterpart.
    public func negated() throws(MoneyError) -> Money {
        let (result, overflow) = Int64(0).subtractingReportingOverflow(amountCents)
        guard !overflow else { throw .overflow("-(\(self))") }
        return Money(amountCents: result, currency: currency)
    }

    /// The exact sum; zero in `currency` when empty.
    public static func sum(_ amounts: some Sequence<Money>, currency: Currency) throws(MoneyError) -> Money {
        var total = Money.zero(currency)
        for amount in amounts { total = try total.adding(amount) }
        return total
    }
}
