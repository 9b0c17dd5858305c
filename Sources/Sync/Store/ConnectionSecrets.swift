import Foundation

/// A connection's credentials: string fields only its provider's driver reads
/// (`ProviderDriver.validateSecrets`), sealed as one JSON object with `SecretBox` before they
/// reach the database. No value ever shows in a description, a debug description or a dump:
/// what may be shown is the driver's `secretHints`.
public struct ConnectionSecrets: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public private(set) var fields: [String: String]

    public init(_ fields: [String: String] = [:]) {
        self.fields = fields
    }

    public subscript(_ name: String) -> String? {
        get { fields[name] }
        set { fields[name] = newValue }
    }

    /// The value of `name`, trimmed, or an error naming `secrets.<name>` (never the value).
    public func require(_ name: String) throws -> String {
        guard let value = fields[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !value.isEmpty else {
            throw StoreError.invalid("secrets.\(name)", "is required")
        }
        return value
    }

    public init(from decoder: any Decoder) throws {
        fields = try decoder.singleValueContainer().decode([String: String].self)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(fields)
    }

    public var description: String {
        "ConnectionSecrets(\(fields.keys.sorted().map { "\($0): <redacted>" }.joined(separator: ", ")))"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(self, children: ["fields": fields.keys.sorted()], displayStyle: .struct)
    }

    /// The first 6 characters of an id, then an ellipsis; stars for a shorter one.
    public static func hint(_ id: String) -> String {
        id.count <= 6 ? String(repeating: "*", count: id.count) : String(id.prefix(6)) + "…"
    }
}
