import Foundation

/// A Swift value that can be sent as a query parameter. Values travel in PostgreSQL's
/// text format; SQL states the type with a cast (`$1::bigint[]`), so no value is ever
/// spliced into SQL text.
public protocol PostgresEncodable: Sendable {
    /// The value in PostgreSQL's text format, or nil for SQL NULL.
    var postgresText: String? { get }
}

/// A Swift value that can be read from a result column in PostgreSQL's text format.
public protocol PostgresDecodable: Sendable {
    init(postgresText: String) throws(PostgresDecodingFailure)
}

/// Why a text value could not be read; `Row` turns it into a `PostgresError` naming the column.
public struct PostgresDecodingFailure: Error, Sendable {
    public let expected: String
    public init(expected: String) { self.expected = expected }
}

extension String: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self }
    public init(postgresText: String) { self = postgresText }
}

extension Int: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        guard let value = Int(postgresText) else { throw PostgresDecodingFailure(expected: "an integer") }
        self = value
    }
}

extension Int64: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        guard let value = Int64(postgresText) else { throw PostgresDecodingFailure(expected: "a 64-bit integer") }
        self = value
    }
}

extension Int32: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        guard let value = Int32(postgresText) else { throw PostgresDecodingFailure(expected: "a 32-bit integer") }
        self = value
    }
}

extension Double: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { String(self) }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        guard let value = Double(postgresText) else { throw PostgresDecodingFailure(expected: "a number") }
        self = value
    }
}

extension Bool: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { self ? "t" : "f" }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        switch postgresText {
        case "t", "true": self = true
        case "f", "false": self = false
        default: throw PostgresDecodingFailure(expected: "a boolean")
        }
    }
}

extension Optional: PostgresEncodable where Wrapped: PostgresEncodable {
    public var postgresText: String? { self?.postgresText }
}

/// `timestamptz`. Connections run with `TimeZone=UTC` and `DateStyle=ISO`, so the text
/// form is always `2026-11-21 12:00:00.123456+00`; parsing it by hand is exact to the
/// microsecond and far cheaper than a DateFormatter.
extension Date: PostgresEncodable, PostgresDecodable {
    public var postgresText: String? { PostgresTimestamp.format(self) }
    public init(postgresText: String) throws(PostgresDecodingFailure) {
        guard let date = PostgresTimestamp.parse(postgresText) else {
            throw PostgresDecodingFailure(expected: "a timestamp with time zone")
        }
        self = date
    }
}

/// A `jsonb` value kept as its JSON text, so callers decode it with the Codable type
/// they need (or pass it on untouched).
public struct JSONText: PostgresEncodable, PostgresDecodable, Hashable, CustomStringConvertible {
    public let text: String
    public init(_ text: String) { self.text = text }
    public init(postgresText: String) { self.text = postgresText }
    public var postgresText: String? { text }
    public var description: String { text }

    public init<T: Encodable>(encoding value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        self.text = String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    public func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

/// Arrays travel as PostgreSQL array literals: `{1,2,3}`, `{"a","b \"c\""}`.
extension Array: PostgresEncodable where Element: PostgresEncodable {
    public var postgresText: String? {
        // Ids and attempts, the arrays of every result statement, need no quotes.
        if let numbers = self as? [Int64] { return "{" + numbers.map(String.init).joined(separator: ",") + "}" }
        if let numbers = self as? [Int] { return "{" + numbers.map(String.init).joined(separator: ",") + "}" }
        // Bytes, not String appends: a batch of thousands of elements (JobQueue.enqueueMany)
        // spent more time growing Strings than the server spent inserting the rows.
        let quote = UInt8(ascii: "\"")
        let backslash = UInt8(ascii: "\\")
        var out: [UInt8] = [UInt8(ascii: "{")]
        out.reserveCapacity(count * 16 + 2)
        for index in indices {
            if index > 0 { out.append(UInt8(ascii: ",")) }
            guard let text = self[index].postgresText else {
                out.append(contentsOf: "NULL".utf8)
                continue
            }
            out.append(quote)
            for byte in text.utf8 {
                if byte == quote || byte == backslash { out.append(backslash) }
                out.append(byte)
            }
            out.append(quote)
        }
        out.append(UInt8(ascii: "}"))
        return String(decoding: out, as: UTF8.self)
    }
}

enum PostgresTimestamp {
    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        var seconds = Int(interval.rounded(.down))
        var micros = Int(((interval - Double(seconds)) * 1_000_000).rounded())
        if micros >= 1_000_000 {
            seconds += 1
            micros -= 1_000_000
        }
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        let microText = String(micros)
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2)) "
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2))."
            + String(repeating: "0", count: 6 - microText.count) + microText + "+00"
    }

    /// Parses `YYYY-MM-DD HH:MM:SS[.ffffff]+00[:00]` (any UTC offset is honoured).
    static func parse(_ text: String) -> Date? {
        if text == "infinity" { return .distantFuture }
        if text == "-infinity" { return .distantPast }
        let bytes = Array(text.utf8)
        guard bytes.count >= 19 else { return nil }
        func number(_ range: Range<Int>) -> Int? {
            var value = 0
            for index in range {
                guard index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 else { return nil }
                value = value * 10 + Int(bytes[index] - 48)
            }
            return value
        }
        guard let year = number(0..<4), bytes[4] == 45, let month = number(5..<7), bytes[7] == 45,
            let day = number(8..<10), bytes[10] == 32 || bytes[10] == 84, let hour = number(11..<13),
            bytes[13] == 58, let minute = number(14..<16), bytes[16] == 58, let second = number(17..<19)
        else { return nil }
        var index = 19
        var fraction = 0.0
        if index < bytes.count, bytes[index] == 46 {
            index += 1
            var scale = 0.1
            while index < bytes.count, bytes[index] >= 48, bytes[index] <= 57 {
                fraction += Double(bytes[index] - 48) * scale
                scale /= 10
                index += 1
            }
        }
        var offsetSeconds = 0
        if index < bytes.count {
            let sign = bytes[index] == 45 ? -1 : 1
            guard bytes[index] == 43 || bytes[index] == 45, let hours = number(index + 1..<index + 3) else { return nil }
            var minutes = 0
            if index + 5 < bytes.count + 1, index + 3 < bytes.count, bytes[index + 3] == 58 {
                minutes = number(index + 4..<index + 6) ?? 0
            }
            offsetSeconds = sign * (hours * 3600 + minutes * 60)
        }
        var parts = tm()
        parts.tm_year = Int32(year - 1900)
        parts.tm_mon = Int32(month - 1)
        parts.tm_mday = Int32(day)
        parts.tm_hour = Int32(hour)
        parts.tm_min = Int32(minute)
        parts.tm_sec = Int32(second)
        let epoch = timegm(&parts)
        return Date(timeIntervalSince1970: Double(epoch - offsetSeconds) + fraction)
    }
}
