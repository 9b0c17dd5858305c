import Foundation
import Hummingbird

/// Reads a request's JSON body: 413 past the limit, 400 when it is not JSON, 422 when it
/// is JSON PostgreSQL cannot store.
func readJSONBody(_ request: Request, context: APIRequestContext) async throws -> JSON {
    var request = request
    let buffer = try await request.collectBody(upTo: context.maxUploadSize)
    return try parseJSONBody(Array(buffer.readableBytesView))
}

/// A body already read: 400 when it is not JSON, 422 when it is JSON PostgreSQL cannot store.
func parseJSONBody(_ bytes: [UInt8]) throws -> JSON {
    do {
        return try JSONParser.parse(bytes)
    } catch {
        if let field = error.field, !field.isEmpty {
            throw APIError.invalid(String(field.dropFirst(field.hasPrefix(".") ? 1 : 0)), error.message)
        }
        if error.isUnstorable { throw APIError.invalid("body", error.description) }
        throw APIError.malformedJSON("the body is not valid JSON: \(error.description)")
    }
}

/// Typed access to the members of a JSON object, failing with 422 naming the member
/// (`jobs[2].priority`). Members not in `allowed` are refused: a misspelt optional field
/// would otherwise be silently ignored.
struct ObjectReader {
    let members: [String: JSON]
    /// The path of this object, "" for the body itself.
    let path: String

    init(_ value: JSON, path: String = "", allowed: Set<String>) throws {
        guard case .object(let list) = value else {
            throw APIError.invalid(path.isEmpty ? "body" : path, "must be a JSON object, got \(value.typeName)")
        }
        var members: [String: JSON] = [:]
        for member in list { members[member.key] = member.value }
        self.members = members
        self.path = path
        if let unknown = list.map(\.key).first(where: { !allowed.contains($0) }) {
            throw APIError.invalid(field(unknown), "is not a field here (fields: \(allowed.sorted().joined(separator: ", ")))")
        }
    }

    func field(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    func has(_ key: String) -> Bool { members[key] != nil }

    func require<T>(_ key: String, _ read: (String) throws -> T?) throws -> T {
        guard let value = try read(key) else { throw APIError.invalid(field(key), "is required") }
        return value
    }

    /// A string; with `nonBlank`, one with something other than white space.
    func string(_ key: String, nonBlank: Bool = true, maxLength: Int = 10_000) throws -> String? {
        guard let value = members[key] else { return nil }
        guard case .string(let text) = value else { throw APIError.invalid(field(key), "must be a string, got \(value.typeName)") }
        if nonBlank && text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw APIError.invalid(field(key), "must not be empty")
        }
        // Counted in code points, as JSON Schema's maxLength counts (a grapheme can hold several).
        guard text.unicodeScalars.count <= maxLength else { throw APIError.invalid(field(key), "must be at most \(maxLength) characters") }
        return text
    }

    /// A string or null (null clears the value: `.some(nil)`).
    func nullableString(_ key: String) throws -> String?? {
        guard let value = members[key] else { return nil }
        if case .null = value { return .some(nil) }
        return .some(try string(key))
    }

    func int(_ key: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let value = members[key] else { return nil }
        guard case .number(let literal) = value else { throw APIError.invalid(field(key), "must be an integer, got \(value.typeName)") }
        guard let number = Double(literal), number.rounded() == number, abs(number) < 9.0e15 else {
            throw APIError.invalid(field(key), "must be an integer, got \(literal.prefix(40))")
        }
        let integer = Int(number)
        guard range.contains(integer) else {
            throw APIError.invalid(field(key), "must be from \(range.lowerBound) to \(range.upperBound), got \(integer)")
        }
        return integer
    }

    func bool(_ key: String) throws -> Bool? {
        guard let value = members[key] else { return nil }
        guard case .bool(let flag) = value else { throw APIError.invalid(field(key), "must be true or false, got \(value.typeName)") }
        return flag
    }

    /// An object member, returned as JSON (still to be read).
    func object(_ key: String) throws -> JSON? {
        guard let value = members[key] else { return nil }
        guard case .object = value else { throw APIError.invalid(field(key), "must be an object, got \(value.typeName)") }
        return value
    }

    func array(_ key: String, maxCount: Int) throws -> [JSON]? {
        guard let value = members[key] else { return nil }
        guard case .array(let items) = value else { throw APIError.invalid(field(key), "must be an array, got \(value.typeName)") }
        guard items.count <= maxCount else { throw APIError.invalid(field(key), "must have at most \(maxCount) items, got \(items.count)") }
        return items
    }

    func stringArray(_ key: String, maxCount: Int = 100) throws -> [String]? {
        guard let items = try array(key, maxCount: maxCount) else { return nil }
        return try items.enumerated().map { index, item in
            guard case .string(let text) = item, !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else {
                throw APIError.invalid("\(field(key))[\(index)]", "must be a non-empty string, got \(item.typeName)")
            }
            return text
        }
    }

    /// An object of string values (mapping details).
    func stringMap(_ key: String) throws -> [String: String]? {
        guard let value = try object(key), case .object(let list) = value else { return nil }
        var map: [String: String] = [:]
        for member in list {
            guard case .string(let text) = member.value else {
                throw APIError.invalid("\(field(key)).\(member.key)", "must be a string, got \(member.value.typeName)")
            }
            map[member.key] = text
        }
        return map
    }

    /// An http(s) URL in the form docs/openapi.json states (`HTTPURL.pattern`), which is
    /// stricter than the stores' own check, so the document and the server agree.
    func httpURL(_ key: String, maxLength: Int = 2000) throws -> String? {
        guard let text = try string(key, maxLength: maxLength) else { return nil }
        guard HTTPURL.matches(text) else {
            throw APIError.invalid(field(key), "must be an http:// or https:// URL with a host, got \"\(text.prefix(80))\"")
        }
        return text
    }

    func date(_ key: String) throws -> Date? {
        guard let text = try string(key) else { return nil }
        guard let date = RFC3339.parse(text) else {
            throw APIError.invalid(
                field(key), "must be an RFC 3339 date-time from 1900 to 9999 such as 2026-12-01T18:00:00Z, got \"\(text.prefix(40))\"")
        }
        return date
    }

    func uuid(_ key: String) throws -> UUID? {
        guard let text = try string(key) else { return nil }
        guard let id = UUID(uuidString: text) else { throw APIError.invalid(field(key), "must be a UUID, got \"\(text.prefix(40))\"") }
        return id
    }

    /// A string from a fixed set.
    func oneOf(_ key: String, _ choices: [String]) throws -> String? {
        guard let text = try string(key) else { return nil }
        guard choices.contains(text) else {
            throw APIError.invalid(field(key), "must be one of \(choices.joined(separator: ", ")); got \"\(text.prefix(40))\"")
        }
        return text
    }
}

/// Typed query parameters, failing with 422 naming the parameter.
struct QueryReader {
    let parameters: [String: String]

    init(_ request: Request) throws {
        var parameters: [String: String] = [:]
        for (key, value) in request.uri.queryParameters {
            let name = String(key)
            guard parameters[name] == nil else { throw APIError.invalid(name, "is given more than once") }
            guard !value.unicodeScalars.contains("\u{0}") else { throw APIError.invalid(name, "must not contain U+0000") }
            parameters[name] = String(value)
        }
        self.parameters = parameters
    }

    func string(_ name: String) throws -> String? {
        guard let value = parameters[name] else { return nil }
        guard !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw APIError.invalid(name, "must not be empty") }
        return value
    }

    func int(_ name: String, in range: ClosedRange<Int>) throws -> Int? {
        guard let text = try string(name) else { return nil }
        guard let value = Int(text), range.contains(value) else {
            throw APIError.invalid(name, "must be an integer from \(range.lowerBound) to \(range.upperBound), got \"\(text.prefix(40))\"")
        }
        return value
    }

    func date(_ name: String) throws -> Date? {
        guard let text = try string(name) else { return nil }
        guard let date = RFC3339.parse(text) else {
            throw APIError.invalid(
                name, "must be an RFC 3339 date-time from 1900 to 9999 such as 2026-12-01T18:00:00Z, got \"\(text.prefix(40))\"")
        }
        return date
    }

    func uuid(_ name: String) throws -> UUID? {
        guard let text = try string(name) else { return nil }
        guard let id = UUID(uuidString: text) else { throw APIError.invalid(name, "must be a UUID, got \"\(text.prefix(40))\"") }
        return id
    }

    func oneOf(_ name: String, _ choices: [String]) throws -> String? {
        guard let text = try string(name) else { return nil }
        guard choices.contains(text) else {
            throw APIError.invalid(name, "must be one of \(choices.joined(separator: ", ")); got \"\(text.prefix(40))\"")
        }
        return text
    }
}

/// Strings that reach PostgreSQL as text must not hold U+0000; JSONParser refuses it in
/// bodies, QueryReader in query strings. Path segments are checked by the routes that read
/// them (ids are parsed as integers or UUIDs, which cannot hold it).
func pathID(_ context: APIRequestContext, _ name: String = "id") throws -> Int64 {
    let text = context.parameters.get(name) ?? ""
    guard let id = Int64(text), id > 0 else {
        throw APIError.invalid(name, "must be a positive integer job id, got \"\(text.prefix(40))\"")
    }
    return id
}

func pathUUID(_ context: APIRequestContext, _ name: String = "id") throws -> UUID {
    let text = context.parameters.get(name) ?? ""
    guard let id = UUID(uuidString: text) else { throw APIError.invalid(name, "must be a UUID, got \"\(text.prefix(40))\"") }
    return id
}

/// The URL form the API accepts (the `HTTP_URL` of scripts/openapi.py): lower-case http or
/// https, a host of letters, digits, dots and dashes, an optional port, then no white space.
enum HTTPURL {
    static let pattern = #"^https?://[A-Za-z0-9.-]+(:[0-9]+)?(/[^\s]*)?$"#

    static func matches(_ text: String) -> Bool {
        text.range(of: pattern, options: .regularExpression) != nil
    }
}
