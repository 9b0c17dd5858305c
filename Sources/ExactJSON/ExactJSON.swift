/// A JSON value that keeps every number as the literal text it was written with, and
/// objects in the order their members were written.
///
/// The simulator must see money exactly as the worker sent it (`31.50`, `1.234`);
/// `JSONSerialization` turns numbers into binary floating point and drops trailing zeros,
/// so it could not tell `0.30000000000000004` from `0.3`.
public enum ExactJSON: Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    /// The number's literal text, as written (`-5.00`, `1e3`).
    case number(String)
    case string(String)
    case array([ExactJSON])
    case object([(key: String, value: ExactJSON)])

    /// The member `key` of an object; nil for a missing member or a value that is not an object.
    public subscript(key: String) -> ExactJSON? {
        guard case .object(let members) = self else { return nil }
        return members.first { $0.key == key }?.value
    }

    public var stringValue: String? {
        if case .string(let text) = self { return text }
        return nil
    }

    public var boolValue: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }

    /// The literal text of a number.
    public var numberText: String? {
        if case .number(let literal) = self { return literal }
        return nil
    }

    /// The id of a reference, `{"id": "101"}` → "101".
    public var referenceID: String? { self["id"]?.stringValue }

    public var arrayValue: [ExactJSON]? {
        if case .array(let elements) = self { return elements }
        return nil
    }

    /// The members of an object in order; empty for any other value.
    public var objectMembers: [(key: String, value: ExactJSON)] {
        if case .object(let members) = self { return members }
        return []
    }

    /// The members of an object as a dictionary (member order is lost).
    public var objectValue: [String: ExactJSON]? {
        guard case .object(let members) = self else { return nil }
        return Dictionary(members, uniquingKeysWith: { _, last in last })
    }

    public static func == (lhs: ExactJSON, rhs: ExactJSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// Compact JSON text; numbers are written back exactly as they were read.
    public var description: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let literal): out += literal
        case .string(let text): Self.writeString(text, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ text: String, to out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            // Keeps a string that holds `</script>` or `<!--` inert if a page ever embeds it.
            case "<": out += "\\u003c"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

extension ExactJSON {
    /// Why a text is not JSON, with the byte offset where reading stopped.
    public struct ParseError: Error, Equatable, CustomStringConvertible {
        public let message: String
        public let offset: Int
        /// Where in the value reading stopped, as `.invoice.fees[2].amount` ("" at the top):
        /// enough for a caller to name the field of a valid text that crossed a `Limits` bound.
        public var path: String = ""
        /// The text crossed one of the `Limits` (depth, number or string length) rather than
        /// breaking JSON's grammar.
        public var isLimit = false

        public init(message: String, offset: Int, path: String = "", isLimit: Bool = false) {
            self.message = message
            self.offset = offset
            self.path = path
            self.isLimit = isLimit
        }

        public var description: String {
            "\(message) at byte \(offset)" + (path.isEmpty ? "" : " (\(path.dropFirst(path.hasPrefix(".") ? 1 : 0)))")
        }
    }

    /// What the reader accepts at most. Each bound is refused where it is crossed, with the
    /// byte offset, before the value is built: a hostile text can neither overflow the stack
    /// (depth) nor make the reader hold one giant number or string.
    public struct Limits: Sendable, Equatable {
        /// Containers nested inside each other (`[[1]]` is 2).
        public var maxDepth: Int
        /// Characters of one number literal, sign and exponent included.
        public var maxNumberLength: Int
        /// UTF-8 bytes of one string or member name, after unescaping.
        public var maxStringBytes: Int

        public init(maxDepth: Int = 64, maxNumberLength: Int = 100, maxStringBytes: Int = 16 << 20) {
            self.maxDepth = maxDepth
            self.maxNumberLength = maxNumberLength
            self.maxStringBytes = maxStringBytes
        }

        /// Deeper than any record body, longer than any amount or id a provider writes, and
        /// strings up to 16 MiB: provider answers (a long error text included) still read.
        public static let `default` = Limits()
    }

    /// Nesting deeper than any record body; the cap keeps a hostile body from overflowing
    /// the stack.
    public static let defaultMaxDepth = Limits.default.maxDepth

    /// Parses one JSON text (RFC 8259, UTF-8), nested at most `maxDepth` levels. Objects with
    /// a repeated member name are refused: which one NetSuite would keep is not defined, so
    /// a sender must not rely on it.
    public static func parse(_ bytes: some Collection<UInt8>, maxDepth: Int = defaultMaxDepth) throws(ParseError) -> ExactJSON {
        var limits = Limits.default
        limits.maxDepth = maxDepth
        return try parse(bytes, limits: limits)
    }

    /// Parses one JSON text within `limits`.
    public static func parse(_ bytes: some Collection<UInt8>, limits: Limits) throws(ParseError) -> ExactJSON {
        var parser = Parser(bytes: Array(bytes), limits: limits)
        return try parser.parseDocument()
    }

    public static func parse(_ text: String) throws(ParseError) -> ExactJSON {
        try parse(Array(text.utf8))
    }
}

/// A recursive-descent reader over UTF-8 bytes.
private struct Parser {
    let bytes: [UInt8]
    let limits: ExactJSON.Limits
    var position = 0
    var depth = 0
    /// The member name or index being read in each open container, for the path of errors.
    var steps: [Step] = []

    enum Step {
        /// nil before the first member name is read.
        case key(String?)
        case index(Int)
    }

    var path: String {
        steps.map { step in
            switch step {
            case .key(let key): key.map(ArgsBounds.pathComponent) ?? ""
            case .index(let index): "[\(index)]"
            }
        }.joined()
    }

    init(bytes: [UInt8], limits: ExactJSON.Limits) {
        self.bytes = bytes
        self.limits = limits
    }

    mutating func parseDocument() throws(ExactJSON.ParseError) -> ExactJSON {
        skipWhitespace()
        let value = try parseValue()
        skipWhitespace()
        guard position == bytes.count else { throw error("unexpected text after the JSON value") }
        return value
    }

    private func error(_ message: String) -> ExactJSON.ParseError {
        ExactJSON.ParseError(message: message, offset: position, path: path)
    }

    private func limitError(_ message: String, offset: Int) -> ExactJSON.ParseError {
        ExactJSON.ParseError(message: message, offset: offset, path: path, isLimit: true)
    }

    private var current: UInt8? { position < bytes.count ? bytes[position] : nil }

    private mutating func skipWhitespace() {
        while let byte = current, byte == 0x20 || byte == 0x0A || byte == 0x0D || byte == 0x09 { position += 1 }
    }

    private mutating func expect(_ literal: String, _ value: ExactJSON) throws(ExactJSON.ParseError) -> ExactJSON {
        let expected = Array(literal.utf8)
        guard position + expected.count <= bytes.count, Array(bytes[position..<position + expected.count]) == expected else {
            throw error("invalid literal")
        }
        position += expected.count
        return value
    }

    private mutating func parseValue() throws(ExactJSON.ParseError) -> ExactJSON {
        guard let byte = current else { throw error("unexpected end of input") }
        switch byte {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
        default: throw error("unexpected character")
        }
    }

    private mutating func enterContainer() throws(ExactJSON.ParseError) {
        depth += 1
        guard depth <= limits.maxDepth else { throw limitError("nesting deeper than \(limits.maxDepth) levels", offset: position) }
        position += 1
        skipWhitespace()
    }

    private mutating func parseObject() throws(ExactJSON.ParseError) -> ExactJSON {
        try enterContainer()
        defer { depth -= 1 }
        steps.append(.key(nil))
        defer { steps.removeLast() }
        var members: [(key: String, value: ExactJSON)] = []
        var seen: Set<String> = []
        if current == UInt8(ascii: "}") {
            position += 1
            return .object(members)
        }
        while true {
            guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
            let keyStart = position
            let key = try parseString()
            steps[steps.count - 1] = .key(key)
            guard seen.insert(key).inserted else {
                throw ExactJSON.ParseError(message: "member \"\(key)\" appears twice", offset: keyStart, path: path)
            }
            skipWhitespace()
            guard current == UInt8(ascii: ":") else { throw error("expected ':'") }
            position += 1
            skipWhitespace()
            members.append((key, try parseValue()))
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "}"):
                position += 1
                return .object(members)
            default:
                throw error("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray() throws(ExactJSON.ParseError) -> ExactJSON {
        try enterContainer()
        defer { depth -= 1 }
        var elements: [ExactJSON] = []
        if current == UInt8(ascii: "]") {
            position += 1
            return .array(elements)
        }
        steps.append(.index(0))
        defer { steps.removeLast() }
        while true {
            steps[steps.count - 1] = .index(elements.count)
            elements.append(try parseValue())
            skipWhitespace()
            switch current {
            case UInt8(ascii: ","):
                position += 1
                skipWhitespace()
            case UInt8(ascii: "]"):
                position += 1
                return .array(elements)
            default:
                throw error("expected ',' or ']'")
            }
        }
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`, returned as written.
    private mutating func parseNumber() throws(ExactJSON.ParseError) -> String {
        let start = position
        func isDigit(_ byte: UInt8?) -> Bool { byte.map { (UInt8(ascii: "0")...UInt8(ascii: "9")).contains($0) } ?? false }
        if current == UInt8(ascii: "-") { position += 1 }
        if current == UInt8(ascii: "0") {
            position += 1
        } else if isDigit(current) {
            while isDigit(current) { position += 1 }
        } else {
            throw error("invalid number")
        }
        if current == UInt8(ascii: ".") {
            position += 1
            guard isDigit(current) else { throw error("invalid number: no digit after '.'") }
            while isDigit(current) { position += 1 }
        }
        if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
            position += 1
            if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { position += 1 }
            guard isDigit(current) else { throw error("invalid number: no digit in the exponent") }
            while isDigit(current) { position += 1 }
        }
        guard position - start <= limits.maxNumberLength else {
            throw limitError("number longer than \(limits.maxNumberLength) characters", offset: start)
        }
        return String(decoding: bytes[start..<position], as: UTF8.self)
    }

    private mutating func parseString() throws(ExactJSON.ParseError) -> String {
        let start = position
        position += 1 // the opening quote
        var utf8: [UInt8] = []
        while true {
            guard let byte = current else { throw error("unterminated string") }
            // An escape adds at most 4 bytes, so the check can wait for the next character.
            guard utf8.count <= limits.maxStringBytes else {
                throw limitError("string longer than \(limits.maxStringBytes) bytes", offset: start)
            }
            switch byte {
            case UInt8(ascii: "\""):
                position += 1
                guard let text = String(validating: utf8, as: UTF8.self) else { throw error("string is not valid UTF-8") }
                return text
            case UInt8(ascii: "\\"):
                position += 1
                try parseEscape(into: &utf8)
            case 0x00..<0x20:
                throw error("control character in string")
            default:
                utf8.append(byte)
                position += 1
            }
        }
    }

    private mutating func parseEscape(into utf8: inout [UInt8]) throws(ExactJSON.ParseError) {
        guard let byte = current else { throw error("unterminated escape") }
        position += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): utf8.append(byte)
        case UInt8(ascii: "b"): utf8.append(0x08)
        case UInt8(ascii: "f"): utf8.append(0x0C)
        case UInt8(ascii: "n"): utf8.append(0x0A)
        case UInt8(ascii: "r"): utf8.append(0x0D)
        case UInt8(ascii: "t"): utf8.append(0x09)
        case UInt8(ascii: "u"):
            var value = try parseHex4()
            if (0xD800...0xDBFF).contains(value) {
                // A high surrogate must be followed by an escaped low one.
                guard current == UInt8(ascii: "\\"), position + 1 < bytes.count, bytes[position + 1] == UInt8(ascii: "u") else {
                    throw error("unpaired surrogate")
                }
                position += 2
                let low = try parseHex4()
                guard (0xDC00...0xDFFF).contains(low) else { throw error("unpaired surrogate") }
                value = 0x10000 + ((value - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00...0xDFFF).contains(value) {
                throw error("unpaired surrogate")
            }
            guard let scalar = Unicode.Scalar(value) else { throw error("invalid \\u escape") }
            UTF8.encode(scalar) { utf8.append($0) }
        default:
            throw error("invalid escape")
        }
    }

    private mutating func parseHex4() throws(ExactJSON.ParseError) -> UInt32 {
        guard position + 4 <= bytes.count else { throw error("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let byte = bytes[position]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw error("invalid \\u escape")
            }
            value = value << 4 | digit
            position += 1
        }
        return value
    }
}
