/// A calendar date from a billing document: "2024-03-31", or the date part of an ISO 8601
/// date-time ("2024-03-31T23:59:59Z", "2024-03-31T10:00:00.123+02:00") as written, in the
/// offset it was written in.
public struct BillingDate: Sendable, Hashable, Comparable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int
    /// The text as sent.
    public let text: String

    /// Parses the text; nil when it is not a valid date or date-time.
    public init?(_ text: String) {
        let bytes = Array(text.utf8)
        func number(_ range: Range<Int>) -> Int? {
            guard range.upperBound <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[range] {
                guard byte >= 48 && byte <= 57 else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard bytes.count >= 10, bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"),
            let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
            (1...12).contains(month), day >= 1, day <= BillingDate.days(in: month, of: year)
        else { return nil }
        if bytes.count > 10 {
            guard BillingDate.isTime(bytes[10...]) else { return nil }
        }
        self.year = year
        self.month = month
        self.day = day
        self.text = text
    }

    /// "T" or " ", HH:MM[:SS[.fraction]], then nothing, "Z" or ±HH:MM.
    private static func isTime(_ rest: ArraySlice<UInt8>) -> Bool {
        let s = Array(rest)
        func two(_ i: Int, max: Int) -> Bool {
            guard i + 1 < s.count, (48...57).contains(s[i]), (48...57).contains(s[i + 1]) else { return false }
            return Int(s[i] - 48) * 10 + Int(s[i + 1] - 48) <= max
        }
        guard s.first == UInt8(ascii: "T") || s.first == UInt8(ascii: " "), two(1, max: 23),
            s.count > 3, s[3] == UInt8(ascii: ":"), two(4, max: 59)
        else { return false }
        var i = 6
        if i < s.count, s[i] == UInt8(ascii: ":") {
            guard two(i + 1, max: 60) else { return false }
            i += 3
            if i < s.count, s[i] == UInt8(ascii: ".") {
                i += 1
                let start = i
                while i < s.count, (48...57).contains(s[i]) { i += 1 }
                guard i > start else { return false }
            }
        }
        if i == s.count { return true }
        if s[i] == UInt8(ascii: "Z") { return i + 1 == s.count }
        guard s[i] == UInt8(ascii: "+") || s[i] == UInt8(ascii: "-"), two(i + 1, max: 23),
            i + 3 < s.count, s[i + 3] == UInt8(ascii: ":"), two(i + 4, max: 59)
        else { return false }
        return i + 6 == s.count
    }

    static func days(in month: Int, of year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// "2024-03-31".
    public var isoDate: String {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    /// "3/31/2024": NetSuite's M/D/YYYY without zero padding (PROVIDERS 1.2).
    public var monthDayYear: String { "\(month)/\(day)/\(year)" }

    public var description: String { text }

    public static func < (a: BillingDate, b: BillingDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public static func == (a: BillingDate, b: BillingDate) -> Bool {
        (a.year, a.month, a.day) == (b.year, b.month, b.day)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(year)
        hasher.combine(month)
        hasher.combine(day)
    }
}

extension BillingDate: Decodable {
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let text = try container.decode(String.self)
        guard let date = BillingDate(text) else {
            throw DecodingError.dataCorruptedError(
                in: container,
                debugDescription: "not a date: \"\(text)\" (expected YYYY-MM-DD or an ISO 8601 date-time)")
        }
        self = date
    }
}
