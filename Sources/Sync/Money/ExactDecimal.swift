import Foundation

/// A decimal number kept exactly as written, for quantities and rates ("0.32", "20", "-3").
///
/// Decodes from a JSON string ("12.5") or a JSON number (12.5); numbers are read from their
/// text (Foundation's `Decimal` parsing of the JSON digits), never through a `Double`.
/// Stored normalized: no leading zeros, no trailing fractional zeros, no "-0".
public struct ExactDecimal: Sendable, Hashable, CustomStringConvertible {
    public let isNegative: Bool
    /// Digits before the point, without leading zeros ("0" for none).
    public let integerDigits: String
    /// Digits after the point, without trailing zeros ("" for none).
    public let fractionDigits: String

    /// Parses `-?digits(.digits)?` (a leading "+" is allowed too); nil for anything else.
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
        let integer = parts[0].drop { $0 == "0" }
        var fraction = parts.count > 1 ? parts[1] : ""
        while fraction.last == "0" { fraction = fraction.dropLast() }
        integerDigits = integer.isEmpty ? "0" : String(integer)
        fractionDigits = String(fraction)
        isNegative = negative && !(integerDigits == "0" && fractionDigits.isEmpty)
    }

    public init(_ value: Int64) { self.init(String(value))! }

    public var isZero: Bool { integerDigits == "0" && fractionDigits.isEmpty }
    public var isInteger: Bool { fractionDigits.isEmpty }

    public var description: String {
        (isNegative ? "-" : "") + integerDigits + (fractionDigits.isEmpty ? "" : "." + fractionDigits)
    }

    /// -1, 0 or 1 as this number is below, equal to or above `value`.
    public func compare(to value: Int64) -> Int {
        let otherNegative = value < 0
        if isNegative != otherNegative { return isNegative ? -1 : 1 }
        let otherDigits = String(value.magnitude)
        var magnitudeOrder: Int
        if integerDigits.count != otherDigits.count {
            magnitudeOrder = integerDigits.count < otherDigits.count ? -1 : 1
        } else if integerDigits != otherDigits {
            magnitudeOrder = integerDigits < otherDigits ? -1 : 1
        } else {
            magnitudeOrder = fractionDigits.isEmpty ? 0 : 1
        }
        return isNegative ? -magnitudeOrder : magnitudeOrder
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
            throw DecodingError.dataCorruptedError(
                in: container, debugDescription: "expected a decimal number like \"12.5\", got \"\(text)\"")
        }
        self = value
    }
}
