/// One row of a result. Columns are looked up by name; reading a column as a Swift type
/// fails with an error naming the column and what was found, never with a crash.
public struct Row: Sendable {
    /// The result's column names, shared by every row of one result.
    public let columns: [String]
    let values: [String?]

    /// The raw text of a column, nil for SQL NULL.
    public func text(_ column: String) throws -> String? {
        guard let index = columns.firstIndex(of: column) else {
            throw PostgresError(.decoding, "column \"\(column)\" is not in the result (columns: \(columns.joined(separator: ", ")))")
        }
        return values[index]
    }

    /// Reads a NOT NULL column.
    public func decode<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T {
        guard let text = try text(column) else {
            throw PostgresError(.decoding, "column \"\(column)\" is NULL, expected \(T.self)")
        }
        return try Self.read(text, column: column)
    }

    /// Reads a column that may be NULL.
    public func decodeIfPresent<T: PostgresDecodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let text = try text(column) else { return nil }
        return try Self.read(text, column: column) as T
    }

    /// Reads a NOT NULL text column as a string-backed enum (a job state, a mapping kind),
    /// failing with the column and the value it did not know.
    public func decode<T: RawRepresentable>(_ column: String, as type: T.Type = T.self) throws -> T where T.RawValue == String {
        let text: String = try decode(column)
        guard let value = T(rawValue: text) else {
            throw PostgresError(.decoding, "column \"\(column)\": unknown \(T.self) '\(text)'")
        }
        return value
    }

    private static func read<T: PostgresDecodable>(_ text: String, column: String) throws -> T {
        do {
            return try T(postgresText: text)
        } catch {
            let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
            throw PostgresError(.decoding, "column \"\(column)\": expected \(error.expected), got '\(shown)'")
        }
    }
}
