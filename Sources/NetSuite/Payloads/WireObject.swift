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

    /// Sets `key` to the string, or to `null` when there is none: on an update NetSuite
    /// keeps a body field the request leaves out, and `null` is what clears it ("Updating a
    /// Record Instance", "Deleting Body Fields from a Record",
    /// https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545142173.html).
    /// For the optional fields a record owns, so a value the document dropped is not left stale.
    mutating func setOrClear(_ key: String, string value: String?) {
        guard let value, !value.isEmpty else {
            set(key, .null)
            return
        }
        set(key, .string(value))
    }

    var json: ExactJSON { .object(fields) }
}
