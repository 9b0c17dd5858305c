/// The bounds a job's args (and a sync job's billing document) are held to on every face
/// that takes them: the HTTP API, `ledgersync enqueue`, and the SQL functions
/// `ledgersync.enqueue`, `enqueue_many` and `enqueue_sync` (sql/queue/007, sql/sync/006 hold
/// the same numbers; docs/security.md and docs/sql.md list them).
///
/// Why: a value PostgreSQL stores but cannot render stops everything that reads it. A jsonb
/// holding `1e131000` takes 8 bytes as input and 131 KB as text, so a 75 KB body of them is
/// more than the 1 GB a text value may hold, and every fetch of its queue fails. Numbers are
/// therefore bounded by what they are worth (digits before and after the point, as
/// PostgreSQL's numeric counts them), not by how they are written.
public enum ArgsBounds {
    /// Size of the whole value: the compact JSON text's bytes here (strings counted by their
    /// UTF-8 bytes), the stored jsonb's bytes (`pg_column_size`) in SQL.
    public static let maxBytes = 262_144
    /// Containers nested inside each other, the args object itself being 1.
    public static let maxDepth = 32
    /// Characters (Unicode code points, as PostgreSQL's `length` counts) of one string or
    /// member name.
    public static let maxStringLength = 65_536
    /// Digits of a number before its decimal point: |x| < 10^30. Minor units of any
    /// currency fit with room to spare.
    public static let maxIntegerDigits = 30
    /// Digits after the decimal point as PostgreSQL's numeric keeps them (its scale:
    /// trailing zeros count, `1.50` has 2, `1e-5` has 5, `2.5e1` has 0).
    public static let maxFractionDigits = 30

    /// The first value out of bounds: `path` names it as the sender wrote it
    /// (`args.invoice.fees[2].amount_cents`).
    public struct Violation: Error, Sendable, Equatable, CustomStringConvertible {
        public let path: String
        public let message: String
        public var description: String { "\(path): \(message)" }
    }

    /// The first violation in `value`, walking it in document order, or nil. `root` starts
    /// every path ("args", "jobs[2].args", "document").
    public static func check(_ value: ExactJSON, root: String) -> Violation? {
        var bytes = 0
        return walk(value, root: root, path: root, depth: 1, bytes: &bytes)
    }

    private static func walk(_ value: ExactJSON, root: String, path: String, depth: Int, bytes: inout Int) -> Violation? {
        switch value {
        case .null: bytes += 4
        case .bool(let flag): bytes += flag ? 4 : 5
        case .number(let literal):
            bytes += literal.utf8.count
            if let problem = numberProblem(literal) { return Violation(path: path, message: problem) }
        case .string(let text):
            bytes += text.utf8.count + 2
            if let problem = stringProblem(text, what: "string") { return Violation(path: path, message: problem) }
        case .array(let elements):
            guard depth <= maxDepth else { return Violation(path: path, message: "is nested deeper than \(maxDepth) levels") }
            bytes += 1 + elements.count
            for (index, element) in elements.enumerated() {
                if let violation = walk(element, root: root, path: "\(path)[\(index)]", depth: depth + 1, bytes: &bytes) {
                    return violation
                }
            }
        case .object(let members):
            guard depth <= maxDepth else { return Violation(path: path, message: "is nested deeper than \(maxDepth) levels") }
            bytes += 1 + members.count
            for member in members {
                let memberPath = path + pathComponent(member.key)
                bytes += member.key.utf8.count + 3
                if let problem = stringProblem(member.key, what: "member name") { return Violation(path: memberPath, message: problem) }
                if let violation = walk(member.value, root: root, path: memberPath, depth: depth + 1, bytes: &bytes) { return violation }
            }
        }
        // Past the size bound there is no need to read on.
        if bytes > maxBytes { return Violation(path: root, message: "is larger than \(maxBytes) bytes") }
        return nil
    }

    /// `.key` for a plain name, `["…"]` otherwise; a long name is shortened in the path
    /// (the message says what is wrong with it).
    public static func pathComponent(_ key: String) -> String {
        let plain =
            !key.isEmpty && key.utf8.count <= 64
            && key.utf8.allSatisfy { byte in
                (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte)
                    || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
            }
        if plain { return "." + key }
        let shown = key.unicodeScalars.count > 40 ? String(String.UnicodeScalarView(key.unicodeScalars.prefix(40))) + "…" : key
        return "[" + ExactJSON.string(shown).description + "]"
    }

    static func stringProblem(_ text: String, what: String) -> String? {
        // Cheap first: a text of at most maxStringLength bytes has at most as many code points.
        if text.utf8.count > maxStringLength && text.unicodeScalars.count > maxStringLength {
            return "\(what) longer than \(maxStringLength) characters"
        }
        if text.utf8.contains(0) { return "\(what) holds U+0000, which PostgreSQL cannot store" }
        return nil
    }

    /// Why a JSON number literal is out of bounds, or nil. Counts as PostgreSQL's numeric
    /// input does: digits before the point are those of the value (leading zeros do not
    /// count); digits after are the literal's fraction digits minus the exponent.
    static func numberProblem(_ literal: String) -> String? {
        var integerDigits: [UInt8] = []
        var fractionDigits: [UInt8] = []
        var exponentText: [UInt8] = []
        var exponentNegative = false
        enum Part { case integer, fraction, exponent }
        var part = Part.integer
        for byte in literal.utf8 {
            switch byte {
            case UInt8(ascii: "-") where part == .integer: continue
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                exponentNegative = byte == UInt8(ascii: "-")
            case UInt8(ascii: "."): part = .fraction
            case UInt8(ascii: "e"), UInt8(ascii: "E"): part = .exponent
            default:
                switch part {
                case .integer: integerDigits.append(byte)
                case .fraction: fractionDigits.append(byte)
                case .exponent: exponentText.append(byte)
                }
            }
        }
        // An exponent past a million is out of bounds whatever the digits (unless they are all
        // zero), and parsing it must not overflow.
        let significant = exponentText.drop { $0 == UInt8(ascii: "0") }
        let exponentMagnitude = significant.count > 7 ? 10_000_000 : significant.reduce(0) { $0 * 10 + Int($1 - UInt8(ascii: "0")) }
        let exponent = exponentNegative ? -exponentMagnitude : exponentMagnitude
        let digits = integerDigits + fractionDigits
        let isZero = digits.allSatisfy { $0 == UInt8(ascii: "0") }
        // Scale: fraction digits written, minus the exponent, never below 0. Zero keeps its
        // scale too (`0e-16000` renders as 16,000 zeros).
        let scale = max(0, fractionDigits.count - exponent)
        if scale > maxFractionDigits {
            return "number has more than \(maxFractionDigits) digits after the decimal point"
        }
        if !isZero {
            // The first non-zero digit's place: integer digits of the value = (digits before
            // the point in the literal) + exponent − (leading zeros).
            let leadingZeros = digits.prefix { $0 == UInt8(ascii: "0") }.count
            let valueIntegerDigits = integerDigits.count + exponent - leadingZeros
            if valueIntegerDigits > maxIntegerDigits {
                return "number has more than \(maxIntegerDigits) digits before the decimal point"
            }
        }
        return nil
    }
}
