import Foundation

/// The ISO 8601 times providers send and take: `2019-11-14T07:35:00Z` (NetSuite, "Using
/// Datetime Fields"), `2013-11-18T02:02:51-0800` (Zoho Books), fractional seconds and an offset
/// with or without its colon. One reader for every provider and for `--since`, written out
/// because Foundation's ISO 8601 styles differ on whether an offset needs its colon and refuse
/// fractions unless told.
public enum ProviderTime {
    /// `YYYY-MM-DDTHH:MM:SS`, an optional `.fraction`, then `Z`, `±HH:MM` or `±HHMM`; nil for
    /// anything else, including a day the month does not have.
    public static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == UInt8(ascii: "-"), let month = number(5, 2), bytes[7] == UInt8(ascii: "-"),
            let day = number(8, 2), bytes[10] == UInt8(ascii: "T") || bytes[10] == UInt8(ascii: "t"), let hour = number(11, 2),
            bytes[13] == UInt8(ascii: ":"), let minute = number(14, 2), bytes[16] == UInt8(ascii: ":"), let second = number(17, 2),
            (1...12).contains(month), day >= 1, day <= BillingDate.days(in: month, of: year), hour <= 23, minute <= 59,
            second <= 60 // a leap second, as ISO 8601 allows
        else { return nil }
        var at = 19
        var fraction = 0.0
        if at < bytes.count, bytes[at] == UInt8(ascii: ".") {
            at += 1
            let start = at
            var scale = 0.1
            while at < bytes.count, (48...57).contains(bytes[at]) {
                fraction += Double(bytes[at] - 48) * scale
                scale /= 10
                at += 1
            }
            guard at > start else { return nil }
        }
        guard at < bytes.count else { return nil }
        let offsetSeconds: Int
        switch bytes[at] {
        case UInt8(ascii: "Z"), UInt8(ascii: "z"):
            guard at + 1 == bytes.count else { return nil }
            offsetSeconds = 0
        case UInt8(ascii: "+"), UInt8(ascii: "-"):
            let rest = bytes.count - at - 1
            let hours: Int?
            let minutes: Int?
            if rest == 5, bytes[at + 3] == UInt8(ascii: ":") {
                (hours, minutes) = (number(at + 1, 2), number(at + 4, 2))
            } else if rest == 4 {
                (hours, minutes) = (number(at + 1, 2), number(at + 3, 2))
            } else {
                return nil
            }
            guard let hours, let minutes, hours <= 23, minutes <= 59 else { return nil }
            offsetSeconds = (bytes[at] == UInt8(ascii: "-") ? -1 : 1) * (hours * 3600 + minutes * 60)
        default:
            return nil
        }
        guard
            let date = utcCalendar.date(
                from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
        else { return nil }
        return date.addingTimeInterval(fraction - Double(offsetSeconds))
    }

    /// A time as above, or a bare date `YYYY-MM-DD` taken as its midnight UTC (`--since`).
    public static func parseDateOrTime(_ text: String) -> Date? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if trimmed.utf8.count == 10 { return parse(trimmed + "T00:00:00Z") }
        return parse(trimmed)
    }

    /// How the zone is written: `Z` (NetSuite's examples) or `+0000` (Zoho Books' list filters).
    public enum UTCSuffix: String, Sendable {
        case z = "Z"
        case plusZero = "+0000"
    }

    /// Whole seconds, UTC.
    public static func format(_ date: Date, suffix: UTCSuffix = .z) -> String {
        let parts = utcCalendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(String(format: "%04d", parts.year ?? 1970))-\(two(parts.month))-\(two(parts.day))T"
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))\(suffix.rawValue)"
    }

    private static let utcCalendar: Calendar = {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? TimeZone(secondsFromGMT: 0) ?? calendar.timeZone
        return calendar
    }()
}
