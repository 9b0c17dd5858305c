import Foundation
import JobQueue

/// A JSON value as the API reads and writes it. Numbers keep their literal text and objects
/// their member order, so a job's `args` reach the database exactly as the client sent them
/// (an amount `12.30` stays `12.30`; a 19-digit id is not rounded through a Double).
public enum JSON: Sendable {
    case null
    case bool(Bool)
    /// The number's literal text, already checked against JSON's number grammar.
    case number(String)
    case string(String)
    case array([JSON])
    case object([(key: String, value: JSON)])

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

    subscript(key: String) -> JSON? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Compact JSON text.
    public var text: String {
        var out = ""
        write(to: &out)
        return out
    }

    func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let text): JSON.writeString(text, to: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                item.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                JSON.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // Keeps a string that holds `</script>` or `<!--` inert if a page ever embeds it.
            case "<": out += "\\u003c"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
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
    static let supported = Date(timeIntervalSince1970: -2_208_988_800)...Date(timeIntervalSince1970: 253_402_300_799)  // 1900-01-01 … 9999-12-31

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
