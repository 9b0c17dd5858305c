import Foundation

/// A decimal number held exactly, as an integer count of its smallest written unit: `31.50`
/// is 3150 with scale 2. No binary floating point anywhere: quantities and rates of billing
/// documents ("0.32", "20", "-3") and the simulator's money amounts (`31.50`) both use it.
///
/// Two ways in, for two kinds of number:
/// - `init?(_:)` reads a quantity or rate (`-?digits(.digits)?`, a leading "+" allowed) and
///   normalizes it: no trailing fractional zeros, no "-0" (`"12.500"` is `12.5`).
/// - `init?(literal:)` reads a money amount as written in a JSON body and keeps its scale
///   (`"32.80"` prints `32.80`): at most `maxScale` decimals and 15 integer digits.
///
/// Values hold at most `maxDigits` digits (`Int128` units; 39 while below `Int128.max`), and
/// at most `maxDigits` after the point. Equal values compare equal
/// whatever their scale (`1.50 == 1.5`). Sums keep the largest scale of their terms, so
/// amounts written with a currency's digits add up to a total written with the same digits
/// (`0.1 + 0.2` is `0.3`, `1.234 + 1.000` is `2.234`).
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The value times 10^scale.
    public let units: Int128
    /// Digits after the decimal point.
    public let scale: Int

    /// The most digits after the point a money amount may have (KWD, BHD, …; docs/netsuite.md).
    public static let maxScale = 3
    /// The most digits a value may have, and have after the point (10^38 is the largest power
    /// of ten an `Int128` holds).
    public static let maxDigits = 38
    public static let zero = ExactDecimal(checkedUnits: 0, scale: 0)

    /// `units` × 10^-`scale`; nil for a scale outside 0…`maxDigits`.
    public init?(units: Int128, scale: Int) {
        guard (0...Self.maxDigits).contains(scale) else { return nil }
        self.init(checkedUnits: units, scale: scale)
    }

    private init(checkedUnits units: Int128, scale: Int) {
        self.units = units
        self.scale = scale
    }

    public init(_ value: Int64) { self.init(checkedUnits: Int128(value), scale: 0) }

    /// Parses `-?digits(.digits)?` (a leading "+" is allowed too), normalized; nil for
    /// anything else, or more than `maxDigits` digits once leading and trailing zeros go.
    public init?(_ text: String) {
        var rest = Substring(text)
        var negative = false
        if let first = rest.first, first == "-" || first == "+" {
            negative = first == "-"
            rest = rest.dropFirst()
        }
        let parts = rest.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        func isDigits(_ s: Substring) -> Bool { !s.isEmpty && s.utf8.allSatisfy { $0 >= 48 && $0 <= 57 } }
        guard isDigits(parts[0]), parts.count == 1 || isDigits(parts[1]) else { return nil }
        var fraction = parts.count > 1 ? parts[1] : ""
        while fraction.last == "0" { fraction = fraction.dropLast() }
        self.init(digits: parts[0] + fraction, scale: fraction.count, negative: negative)
    }

    /// Reads a JSON number literal in plain notation (`-5.00`, `1234`, `1.234`), keeping its
    /// scale. Nil for an exponent, more than `maxScale` decimals, or a value beyond ±10^15.
    public init?(literal: String) {
        var text = Substring(literal)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !integer.isEmpty, integer.count <= 15, fraction.count <= Self.maxScale, parts.count == 1 || !fraction.isEmpty,
            (integer + fraction).allSatisfy({ $0.isASCII && $0.isNumber })
        else { return nil }
        self.init(digits: integer + fraction, scale: fraction.count, negative: negative)
    }

    /// ASCII digits (already checked) as units of `scale`.
    private init?(digits: Substring, scale: Int, negative: Bool) {
        let significant = digits.drop { $0 == "0" }
        // Int128 holds every number of 38 digits and some of 39; its parser refuses the rest.
        guard significant.count <= Self.maxDigits + 1, scale <= Self.maxDigits else { return nil }
        guard let magnitude = significant.isEmpty ? 0 : Int128(significant) else { return nil }
        self.init(checkedUnits: negative ? -magnitude : magnitude, scale: scale)
    }

    public var isNegative: Bool { units < 0 }
    public var isZero: Bool { units == 0 }
    /// Whether the value has no fractional part (`2.00` is an integer).
    public var isInteger: Bool { fractionDigits.isEmpty }

    /// Digits before the point, without leading zeros ("0" for none).
    public var integerDigits: String { String(units.magnitude / Self.power(scale)) }
    /// Digits after the point, without trailing zeros ("" for none).
    public var fractionDigits: String {
        guard scale > 0 else { return "" }
        let fraction = String(units.magnitude % Self.power(scale))
        var digits = Substring(String(repeating: "0", count: scale - fraction.count) + fraction)
        while digits.last == "0" { digits = digits.dropLast() }
        return String(digits)
    }

    /// Plain notation with exactly `scale` digits after the point: `32.80`, `-5.00`, `1234`
    /// (a value read by `init?(_:)` has no trailing zeros to show).
    public var description: String {
        let digits = String(units.magnitude)
        let sign = units < 0 ? "-" : ""
        guard scale > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        return sign + padded.dropLast(scale) + "." + padded.suffix(scale)
    }

    /// -1, 0 or 1 as this number is below, equal to or above `value`.
    public func compare(to value: Int64) -> Int {
        let other = ExactDecimal(value)
        return self < other ? -1 : (other < self ? 1 : 0)
    }

    /// 10^exponent, for 0 ≤ exponent ≤ `maxDigits`.
    private static func power(_ exponent: Int) -> UInt128 {
        var result: UInt128 = 1
        for _ in 0..<exponent { result *= 10 }
        return result
    }

    /// The units at a larger `scale`; nil when they do not fit `Int128` (the value's magnitude
    /// is then beyond any value that fits at that scale).
    private func units(at scale: Int) -> Int128? {
        var units = self.units
        for _ in self.scale..<scale {
            let (next, overflow) = units.multipliedReportingOverflow(by: 10)
            if overflow { return nil }
            units = next
        }
        return units
    }

    /// The sum; traps on `Int128` overflow like `Int`'s `+` (amounts read by `init?(literal:)`
    /// are below 10^15, so no sum of them a request can hold comes near).
    public static func + (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        let scale = max(lhs.scale, rhs.scale)
        let (left, right) = (lhs.units(at: scale), rhs.units(at: scale))
        guard let left, let right else { fatalError("ExactDecimal sum beyond Int128 (\(lhs.scale), \(rhs.scale))") }
        return ExactDecimal(checkedUnits: left + right, scale: scale)
    }

    public static func += (lhs: inout ExactDecimal, rhs: ExactDecimal) {
        lhs = lhs + rhs
    }

    public static func - (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        lhs + ExactDecimal(checkedUnits: -rhs.units, scale: rhs.scale)
    }

    public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
        if lhs.isNegative != rhs.isNegative { return lhs.isNegative }
        let scale = max(lhs.scale, rhs.scale)
        switch (lhs.units(at: scale), rhs.units(at: scale)) {
        case (let left?, let right?): return left < right
        // Only one side can overflow (the other already has this scale); it is the larger
        // in magnitude, so the smaller value when negative.
        case (nil, _): return lhs.isNegative
        case (_, nil): return !rhs.isNegative
        }
    }

    public static func == (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
        !(lhs < rhs) && !(rhs < lhs)
    }

    public func hash(into hasher: inout Hasher) {
        var units = self.units
        var scale = self.scale
        while scale > 0 && units % 10 == 0 {
            units /= 10
            scale -= 1
        }
        hasher.combine(units)
        hasher.combine(scale)
    }
}

extension ExactDecimal: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text: String
        if let string = try? container.decode(String.self) {
            text = string
        } else if let decimal = try? container.decode(Decimal.self) {
            // Foundation parses the JSON number's own digits into a base-10 Decimal: exact.
            text = decimal.description
        } else {
            // Rethrows the precise type mismatch or null error.
            _ = try container.decode(String.self)
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "expected a decimal number")
        }
        guard let value = ExactDecimal(text) else {
            if !text.isEmpty, text.utf8.allSatisfy({ ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 || $0 == 43 }),
                text.utf8.count > Self.maxDigits
            {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "a decimal number of at most \(Self.maxDigits) digits, got one of \(text.utf8.count) characters")
            }
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a decimal number like \"12.5\", got \"\(text)\"")
        }
        self = value
    }
}
