import ExactJSON

// Request bodies are ExactJSON: numbers keep their exact text and members their order, so
// money reaches NetSuite as `12.34` built from integer minor units; going through `Double`
// or `JSONSerialization` could turn it into `12.339999`.

extension ExactJSON {
    /// `{"id": "…"}`: how the record API writes a reference to another record.
    public static func reference(_ id: String) -> ExactJSON { .object([(key: "id", value: .string(id))]) }

    /// `{"items": […]}`: how the record API writes a sublist.
    public static func sublist(_ items: [ExactJSON]) -> ExactJSON { .object([(key: "items", value: .array(items))]) }
}

/// Builds an object, leaving out fields whose value is nil.
struct WireObject {
    private(set) var fields: [(key: String, value: ExactJSON)] = []

    mutating func set(_ key: String, _ value: ExactJSON?) {
        guard let value else { return }
        fields.removeAll { $0.key == key }
        fields.append((key: key, value: value))
    }

    mutating func set(_ key: String, string value: String?) {
        guard let value, !value.isEmpty else { return }
        set(key, .string(value))
    }

    var json: ExactJSON { .object(fields) }
}
