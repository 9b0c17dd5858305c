import Foundation

/// A JSON value for request bodies, with numbers kept as their exact text and object keys in
/// the order they were written. Money reaches NetSuite as `12.34` built from integer minor
/// units; going through `Double` or `JSONSerialization` could turn it into `12.339999`.
public indirect enum WireJSON: Sendable, Equatable {
    case null
    case bool(Bool)
    /// The literal text of a JSON number, e.g. "12.34", "-5", "1.234".
    case number(String)
    case string(String)
    case array([WireJSON])
    case object([(String, WireJSON)])

    public static func == (a: WireJSON, b: WireJSON) -> Bool { a.serialized() == b.serialized() }

    /// `{"id": "…"}`: how the record API writes a reference to another record.
    public static func reference(_ id: String) -> WireJSON { .object([("id", .string(id))]) }

    /// `{"items": […]}`: how the record API writes a sublist.
    public static func sublist(_ items: [WireJSON]) -> WireJSON { .object([("items", .array(items))]) }

    public func serialized() -> String {
        var out = ""
        write(into: &out)
        return out
    }

    /// The value of `key` in an object, nil otherwise.
    public subscript(key: String) -> WireJSON? {
        guard case .object(let fields) = self else { return nil }
        return fields.last { $0.0 == key }?.1
    }

    private func write(into out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let text): out += text
        case .string(let text): Self.writeString(text, into: &out)
        case .array(let items):
            out += "["
            for (i, item) in items.enumerated() {
                if i > 0 { out += "," }
                item.write(into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (i, (key, value)) in fields.enumerated() {
                if i > 0 { out += "," }
                Self.writeString(key, into: &out)
                out += ":"
                value.write(into: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                out += "\\u" + String(repeating: "0", count: 4 - String(scalar.value, radix: 16).count) + String(scalar.value, radix: 16)
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

/// Builds an object, leaving out fields whose value is nil.
struct WireObject {
    private(set) var fields: [(String, WireJSON)] = []

    mutating func set(_ key: String, _ value: WireJSON?) {
        guard let value else { return }
        fields.removeAll { $0.0 == key }
        fields.append((key, value))
    }

    mutating func set(_ key: String, string value: String?) {
        guard let value, !value.isEmpty else { return }
        set(key, .string(value))
    }

    var json: WireJSON { .object(fields) }
}
