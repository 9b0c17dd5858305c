/// A decimal amount held as an integer count of its smallest written unit: `31.50` is
/// 3150 with scale 2. `Int128` units leave room for any sum of amounts a request body
/// can hold, so adding never overflows. Sums keep the largest scale of their terms, so amounts written with
/// a currency's digits add up to a total written with the same digits (`0.1 + 0.2` is
/// `0.3`, `1.234 + 1.000` is `2.234`), with no binary floating point anywhere.
public struct ExactDecimal: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The value times 10^scale.
    public let units: Int128
    /// Digits after the decimal point.
    public let scale: Int

    /// The most digits after the point any amount may have (KWD, BHD, …; docs/netsuite.md).
    public static let maxScale = 3
    public static let zero = ExactDecimal(units: 0, scale: 0)

    public init(units: Int128, scale: Int) {
        precondition((0...Self.maxScale).contains(scale), "scale must be from 0 to \(Self.maxScale)")
        self.units = units
        self.scale = scale
    }

    /// Reads a JSON number literal in plain notation (`-5.00`, `1234`, `1.234`). Nil for an
    /// exponent, more than `maxScale` decimals, or a value beyond ±10^15.
    public init?(literal: String) {
        var text = Substring(literal)
        let negative = text.hasPrefix("-")
        if negative { text = text.dropFirst() }
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        let integer = parts[0]
        let fraction = parts.count == 2 ? parts[1] : ""
        guard !integer.isEmpty, integer.count <= 15, fraction.count <= Self.maxScale,
              parts.count == 1 || !fraction.isEmpty,
              (integer + fraction).allSatisfy({ $0.isASCII && $0.isNumber }),
              let magnitude = Int128(integer + fraction)
        else { return nil }
        self.init(units: negative ? -magnitude : magnitude, scale: fraction.count)
    }

    /// The same value with `scale` digits after the point (never fewer than it has).
    func rescaled(to scale: Int) -> ExactDecimal {
        var units = self.units
        for _ in self.scale..<scale { units *= 10 }
        return ExactDecimal(units: units, scale: scale)
    }

    public static func + (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        let scale = max(lhs.scale, rhs.scale)
        return ExactDecimal(units: lhs.rescaled(to: scale).units + rhs.rescaled(to: scale).units, scale: scale)
    }

    public static func += (lhs: inout ExactDecimal, rhs: ExactDecimal) {
        lhs = lhs + rhs
    }

    public static func - (lhs: ExactDecimal, rhs: ExactDecimal) -> ExactDecimal {
        lhs + ExactDecimal(units: -rhs.units, scale: rhs.scale)
    }

    public static func < (lhs: ExactDecimal, rhs: ExactDecimal) -> Bool {
        let scale = max(lhs.scale, rhs.scale)
        return lhs.rescaled(to: scale).units < rhs.rescaled(to: scale).units
    }

    /// Equal values compare equal whatever their scale (`1.50 == 1.5`).
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

    /// Plain notation with exactly `scale` digits after the point: `32.80`, `-5.00`, `1234`.
    public var description: String {
        let digits = String(units.magnitude)
        let sign = units < 0 ? "-" : ""
        guard scale > 0 else { return sign + digits }
        let padded = String(repeating: "0", count: max(0, scale + 1 - digits.count)) + digits
        return sign + padded.dropLast(scale) + "." + padded.suffix(scale)
    }
}
