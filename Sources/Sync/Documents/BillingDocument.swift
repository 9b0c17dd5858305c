import Foundation

/// A billing document as a billing platform sends it (Lago's JSON shape), checked after
/// decoding. See docs/billing-documents.md for the accepted schema.
public protocol BillingDocument: Decodable, Sendable {
    /// The root of field paths in errors, e.g. "invoice".
    static var documentRoot: String { get }
    /// Keys under which the document may arrive wrapped, as in Lago's API answers
    /// (`{"invoice": {...}}`) and webhooks (`{"webhook_type": ..., "invoice": {...}}`).
    static var envelopeKeys: [String] { get }
    /// Checks the rules decoding cannot (signs, currencies, totals); `root` starts each path.
    func validate(root: String) throws(DocumentError)
}

/// Decodes billing documents and turns every failure into a `DocumentError` naming the field.
public enum DocumentDecoder {
    /// Decodes and validates `type` from JSON text. The document may be bare or wrapped in its
    /// envelope key (see `BillingDocument.envelopeKeys`); paths never include the envelope.
    public static func decode<T: BillingDocument>(
        _ type: T.Type, from json: String, root: String = T.documentRoot
    ) throws(DocumentError) -> T {
        try decode(type, from: Data(json.utf8), root: root)
    }

    /// The envelope key `json` wraps a `type` document in (`"sales_order"` for
    /// `{"sales_order": {...}}`), nil for a bare document (its top level has `lago_id`) or
    /// JSON that is not an object. Decided by exact top-level keys, the way `decode` does,
    /// never by a substring of the text (a customer named "sales_order" is not an envelope).
    public static func envelope<T: BillingDocument>(of type: T.Type, in json: String) -> String? {
        guard let probe = try? JSONDecoder().decode(EnvelopeProbe.self, from: Data(json.utf8)) else { return nil }
        return probe.envelope(for: type)
    }

    /// Decodes and validates `type` from JSON bytes.
    public static func decode<T: BillingDocument>(
        _ type: T.Type, from data: Data, root: String = T.documentRoot
    ) throws(DocumentError) -> T {
        let decoder = JSONDecoder()
        let envelope: String?
        do {
            let probe = try decoder.decode(EnvelopeProbe.self, from: data)
            envelope = probe.envelope(for: T.self)
        } catch let error as DecodingError {
            if case .typeMismatch = error {
                throw DocumentError(field: root, message: "must be a JSON object")
            }
            throw DocumentError(field: root, message: "is not valid JSON")
        } catch {
            throw DocumentError(field: root, message: "is not valid JSON")
        }
        let document: T
        do {
            if let envelope {
                decoder.userInfo[envelopeKeyInfo] = envelope
                document = try decoder.decode(Enveloped<T>.self, from: data).value
            } else {
                document = try decoder.decode(T.self, from: data)
            }
        } catch let error as DecodingError {
            throw DocumentError(error, root: root, dropFirst: envelope != nil)
        } catch {
            throw DocumentError(field: root, message: "\(error)")
        }
        try document.validate(root: root)
        return document
    }
}

/// The keys of the top-level object, and which of them hold objects.
private struct EnvelopeProbe: Decodable {
    let keys: Set<String>
    let objectKeys: Set<String>

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: AnyKey.self)
        keys = Set(container.allKeys.map(\.stringValue))
        objectKeys = Set(
            container.allKeys.filter { (try? container.nestedContainer(keyedBy: AnyKey.self, forKey: $0)) != nil }.map(\.stringValue))
    }

    func envelope<T: BillingDocument>(for type: T.Type) -> String? {
        keys.contains("lago_id") ? nil : T.envelopeKeys.first { objectKeys.contains($0) }
    }
}

private let envelopeKeyInfo = CodingUserInfoKey(rawValue: "ledgersync.envelope")!

private struct Enveloped<T: Decodable>: Decodable {
    let value: T
    init(from decoder: any Decoder) throws {
        let key = AnyKey(stringValue: decoder.userInfo[envelopeKeyInfo] as! String)
        value = try decoder.container(keyedBy: AnyKey.self).decode(T.self, forKey: key)
    }
}

struct AnyKey: CodingKey {
    let stringValue: String
    let intValue: Int? = nil
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { return nil }
}

extension DocumentError {
    /// A DecodingError as a field path and a one-line message.
    init(_ error: DecodingError, root: String, dropFirst: Bool) {
        func path(_ codingPath: [any CodingKey]) -> String {
            let keys = dropFirst ? Array(codingPath.dropFirst()) : codingPath
            return root + keys.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        }
        switch error {
        case .keyNotFound(let key, let context):
            self.init(field: path(context.codingPath + [key]), message: "is required")
        case .valueNotFound(_, let context):
            self.init(field: path(context.codingPath), message: "must not be null")
        case .typeMismatch(let type, let context):
            var message = "expected \(DocumentError.describe(type))"
            if let found = context.debugDescription.range(of: "but found "),
                let end = context.debugDescription.range(of: " instead", range: found.upperBound..<context.debugDescription.endIndex)
            {
                message += ", got \(DocumentError.jsonKind(String(context.debugDescription[found.upperBound..<end.lowerBound])))"
            }
            self.init(field: path(context.codingPath), message: message)
        case .dataCorrupted(let context):
            if context.codingPath.isEmpty && context.underlyingError != nil {
                self.init(field: root, message: "is not valid JSON")
            } else {
                self.init(field: path(context.codingPath), message: context.debugDescription)
            }
        @unknown default:
            self.init(field: root, message: "\(error)")
        }
    }

    /// Foundation's "a string", "number", "dictionary" in JSON words: "a string", "a number", "an object".
    static func jsonKind(_ found: String) -> String {
        var word = Substring(found)
        for article in ["a ", "an "] where word.hasPrefix(article) { word = word.dropFirst(article.count) }
        switch word {
        case "dictionary", "object": return "an object"
        case "array": return "an array"
        case "bool", "boolean": return "true or false"
        case "null", "null value": return "null"
        default: return ("aeiou".contains(word.first ?? "x") ? "an " : "a ") + word
        }
    }

    static func describe(_ type: Any.Type) -> String {
        switch type {
        case is Int64.Type, is Int.Type: return "an integer"
        case is String.Type: return "a string"
        case is Bool.Type: return "true or false"
        case is Decimal.Type: return "a number"
        default:
            let name = "\(type)"
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return name
        }
    }
}
