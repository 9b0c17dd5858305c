import ExactJSON
import Foundation
import JobQueue

/// A JSON value as the API reads and writes it: `ExactJSON`, whose numbers keep their literal
/// text and objects their member order, so a job's `args` reach the database exactly as the
/// client sent them (an amount `12.30` stays `12.30`; a 19-digit id is not rounded through a
/// Double). The API's own reader (`JSONParser`) adds its request rules.
public typealias JSON = ExactJSON

extension ExactJSON {
    public static func int<T: BinaryInteger>(_ value: T) -> JSON { .number(String(value)) }

    public static func double(_ value: Double) -> JSON {
        guard value.isFinite else { return .null }
        if value.rounded() == value, abs(value) < 9.0e15 { return .number(String(Int64(value))) }
        return .number(String(value))
    }

    /// An instant as RFC 3339 UTC with milliseconds: `2026-12-01T18:04:05.123Z`.
    public static func date(_ value: Date) -> JSON { .string(RFC3339.format(value)) }

    public static func optional(_ value: String?) -> JSON { value.map(JSON.string) ?? .null }
    public static func optional(_ value: Date?) -> JSON { value.map(JSON.date) ?? .null }
    public static func optional(_ value: Int64?) -> JSON { value.map { JSON.int($0) } ?? .null }

    /// A job's args or any other `JSONValue` the queue hands back.
    public init(_ value: JSONValue) {
        switch value {
        case .null: self = .null
        case .bool(let flag): self = .bool(flag)
        case .number(let number): self = .double(number)
        case .string(let text): self = .string(text)
        case .array(let items): self = .array(items.map(JSON.init))
        case .object(let members): self = .object(members.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSON($0.value)) })
        }
    }

    /// The JSON Schema type name, for error messages ("must be a string, got number").
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "boolean"
        case .number: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    /// Compact JSON text.
    public var text: String { description }
}

/// RFC 3339 timestamps, as the API writes them and the forms it accepts.
enum RFC3339 {
    static func format(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        formatter.timeZone = TimeZone(identifier: "UTC")
        return formatter.string(from: date)
    }

    /// Instants the database round trip handles exactly: the Postgres module writes dates
    /// before the Gregorian reform wrongly (year 1 came out as year 0), and no job is that old.
    /// 1900-01-01 … 9999-12-31.
    static let supported = Date(timeIntervalSince1970: -2_208_988_800)...Date(timeIntervalSince1970: 253_402_300_799)

    /// `2026-12-01T18:04:05Z`, with or without fractional seconds, with `Z` or an offset;
    /// `t` and `z` in lower case too (RFC 3339 allows them).
    static func parse(_ text: String) -> Date? {
        let upper = text.uppercased()
        // Both forms: ISO8601DateFormatter takes fractional seconds only when told to expect them.
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: upper) { return supported.contains(date) ? date : nil }
        }
        return nil
    }
}
