import Foundation

/// Rows in COPY's binary format (`COPY … FROM STDIN WITH (FORMAT binary)`), for
/// `Connection.copyIn`. The server reads each field with its type's binary receive function:
/// integers, `timestamptz` and `jsonb` without the text parsing the text format costs
/// (a timestamp's text input alone was a tenth of a bulk enqueue's server time), and text
/// without escapes to write. The caller writes exactly the columns the COPY names, in order,
/// each with the column's own type: an `int2` column takes `int2`, never `int4`.
///
/// Format: https://www.postgresql.org/docs/15/sql-copy.html ("Binary Format"): a signature,
/// flags and a header extension length; per row a 16-bit field count, then per field a
/// 32-bit length (-1 for NULL) and the bytes; a 16-bit -1 after the last row; all integers in
/// network byte order.
public struct CopyBinaryWriter {
    public private(set) var bytes: [UInt8] = []

    public init() {}

    /// Starts the COPY's input: to be written once, before the first row.
    public mutating func header() {
        bytes += Array("PGCOPY\n".utf8) + [0xFF, 0x0D, 0x0A, 0x00]
        append(Int32(0)) // flags: no OIDs
        append(Int32(0)) // no header extension
    }

    /// Starts a row of `fields` fields.
    public mutating func row(fields: Int16) { append(fields) }

    public mutating func int2(_ value: Int16) {
        append(Int32(2))
        append(value)
    }

    public mutating func int4(_ value: Int32) {
        append(Int32(4))
        append(value)
    }

    public mutating func int8(_ value: Int64) {
        append(Int32(8))
        append(value)
    }

    /// `text` (or any type whose binary form is its text, such as `varchar`); nil is NULL.
    /// The server still checks the bytes are valid in its encoding and hold no NUL.
    public mutating func text(_ value: String?) {
        guard var value else { return null() }
        value.withUTF8 { utf8 in
            append(Int32(utf8.count))
            bytes.append(contentsOf: utf8)
        }
    }

    /// `jsonb` from its JSON text: a version byte (1), then the text, which the server parses.
    public mutating func jsonb(_ json: String) {
        var json = json
        json.withUTF8 { utf8 in
            append(Int32(utf8.count + 1))
            bytes.append(1)
            bytes.append(contentsOf: utf8)
        }
    }

    /// `timestamptz` as PostgreSQL stores it: microseconds since 2000-01-01 00:00 UTC
    /// (`Self.microseconds(_:)` converts a Date).
    public mutating func timestamptz(microseconds: Int64) { int8(microseconds) }

    public mutating func null() { append(Int32(-1)) }

    /// Ends the COPY's input: to be written once, after the last row.
    public mutating func trailer() { append(Int16(-1)) }

    /// Hands over what was written and starts again empty (keeping the capacity).
    public mutating func take(into piece: inout [UInt8]) {
        piece += bytes
        bytes.removeAll(keepingCapacity: true)
    }

    /// `date` as `timestamptz`'s microseconds since 2000-01-01 UTC, rounded to the
    /// microsecond as its text form (`Date.postgresText`) is; nil past what a 64-bit
    /// count of microseconds holds (the server checks its own, narrower, range).
    public static func microseconds(_ date: Date) -> Int64? {
        let interval = date.timeIntervalSince1970
        guard interval.isFinite, interval.magnitude < 9.0e12 else { return nil }
        let seconds = Int64(interval.rounded(.down))
        let micros = Int64(((interval - Double(seconds)) * 1_000_000).rounded())
        return (seconds - postgresEpoch) * 1_000_000 + micros
    }

    /// 2000-01-01 00:00 UTC in Unix seconds.
    private static let postgresEpoch: Int64 = 946_684_800

    private mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}
