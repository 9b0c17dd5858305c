import ExactJSON

/// Reads a request body as `JSON`: ExactJSON's strict reader (RFC 8259, one value, no
/// trailing data, no duplicate object keys, bounded depth), plus the API's own rule that a
/// string PostgreSQL cannot store (U+0000, valid JSON) makes the body unprocessable (422)
/// rather than malformed (400).
enum JSONParser {
    struct Failure: Error, CustomStringConvertible {
        let message: String
        /// Valid JSON that PostgreSQL cannot store (U+0000 in a string): a 422, not a 400.
        var isUnstorable = false
        var description: String { message }
    }

    /// Deeper than NetSuite's records, which ExactJSON's default is for: job args are the
    /// client's own documents.
    static let maxDepth = 128

    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSON {
        guard !bytes.isEmpty else { throw Failure(message: "empty body: expected a JSON value") }
        let value: JSON
        do {
            value = try ExactJSON.parse(bytes, maxDepth: maxDepth)
        } catch {
            throw Failure(message: error.description)
        }
        if value.holdsNUL {
            throw Failure(message: "a string holds U+0000, which PostgreSQL cannot store", isUnstorable: true)
        }
        return value
    }
}

extension ExactJSON {
    /// Whether a string or member name anywhere in the value holds U+0000.
    fileprivate var holdsNUL: Bool {
        switch self {
        case .string(let text): return text.utf8.contains(0)
        case .array(let elements): return elements.contains { $0.holdsNUL }
        case .object(let members): return members.contains { $0.key.utf8.contains(0) || $0.value.holdsNUL }
        case .null, .bool, .number: return false
        }
    }
}
