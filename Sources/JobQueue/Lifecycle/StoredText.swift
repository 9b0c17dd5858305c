/// Text that came from outside (a provider's answer, an error's description, a handler's
/// message) made safe to store in a job's error history. PostgreSQL refuses some strings
/// outright: a NUL (U+0000) in `text`, and `\u0000` in `jsonb`. One such character in one
/// result used to fail the completer's whole batch, forever. So every string the queue
/// stores goes through here, whoever built it: no control characters (C0, DEL, C1; NUL
/// is dropped, the others become a space and runs of space collapse), no text past a cap
/// counted in Unicode scalars (a "character" can hold thousands of combining marks). Swift
/// strings hold no invalid UTF-8; bytes decoded from outside with `String(decoding:as:)`
/// already carry U+FFFD in place of invalid sequences.
public enum StoredText {
    /// Caps of the fields of an error entry, in Unicode scalars.
    public static let maxMessage = 2_000
    public static let maxCode = 200
    public static let maxClass = 64
    public static let maxWorker = 200

    /// `text` on one line, without control characters, at most `limit` scalars (the last
    /// one an ellipsis when cut).
    public static func clean(_ text: String, limit: Int) -> String {
        var scalars = String.UnicodeScalarView()
        var count = 0
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.value == 0 { continue }
            if isSpaceLike(scalar) {
                pendingSpace = count > 0
                continue
            }
            if pendingSpace {
                guard count + 1 < limit else { return finish(scalars, cut: true) }
                scalars.append(" ")
                count += 1
                pendingSpace = false
            }
            guard count < limit else { return finish(scalars, cut: true) }
            scalars.append(scalar)
            count += 1
        }
        return finish(scalars, cut: false)
    }

    /// An optional field: nil stays nil, and so does text that is empty once cleaned.
    public static func clean(_ text: String?, limit: Int) -> String? {
        guard let text else { return nil }
        let cleaned = clean(text, limit: limit)
        return cleaned.isEmpty ? nil : cleaned
    }

    private static func isSpaceLike(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x00...0x20, 0x7F...0xA0: true // C0 controls and space, DEL, C1 controls, NBSP
        case 0x2028, 0x2029: true // line and paragraph separators
        default: scalar.properties.isWhitespace
        }
    }

    private static func finish(_ scalars: String.UnicodeScalarView, cut: Bool) -> String {
        var scalars = scalars
        guard cut else { return String(scalars) }
        // Room for the ellipsis: the caller's limit holds with it.
        if !scalars.isEmpty { scalars.removeLast() }
        while scalars.last == " " { scalars.removeLast() }
        scalars.append("…")
        return String(scalars)
    }
}
