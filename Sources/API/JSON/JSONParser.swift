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
        /// For a bound crossed: the path of the value, from the body's top (`.args.x`).
        var field: String? = nil
        var description: String { message }
    }

    /// Deeper than NetSuite's records, which ExactJSON's default is for: job args are the
    /// client's own documents.
    static let maxDepth = 128

    static func parse(_ bytes: [UInt8]) throws(Failure) -> JSON {
        guard !bytes.isEmpty else { throw Failure(message: "empty body: expected a JSON value") }
        let value: JSON
        do {
            // Numbers and strings are bounded by ExactJSON's defaults (a 100-character number
            // literal; strings cannot outgrow the 1 MiB body); job args get the tighter
            // ArgsBounds where they are read.
            value = try ExactJSON.parse(bytes, limits: ExactJSON.Limits(maxDepth: maxDepth))
        } catch  where error.isLimit {
            // Valid JSON past a bound (a 10,000-digit number, nesting 200 deep): a 422
            // naming the field, as ArgsBounds names the values it refuses.
            throw Failure(message: error.description, isUnstorable: true, field: error.path)
        } catch {
            throw Failure(message: error.description)
        }
        if let path = value.pathOfNUL(at: "") {
            throw Failure(message: "a string holds U+0000, which PostgreSQL cannot store", isUnstorable: true, field: path)
        }
        return value
    }
}

extension ExactJSON {
    /// The path (`.args.a`, "" for the top) of the first string or member name that holds
    /// U+0000, or nil.
    fileprivate func pathOfNUL(at path: String) -> String? {
        switch self {
        case .string(let text): return text.utf8.contains(0) ? path : nil
        case .array(let elements):
            for (index, element) in elements.enumerated() {
                if let found = element.pathOfNUL(at: "\(path)[\(index)]") { return found }
            }
            return nil
        case .object(let members):
            for member in members {
                let memberPath = path + ArgsBounds.pathComponent(member.key)
                if member.key.utf8.contains(0) { return memberPath }
                if let found = member.value.pathOfNUL(at: memberPath) { return found }
            }
            return nil
        case .null, .bool, .number: return nil
        }
    }
}
