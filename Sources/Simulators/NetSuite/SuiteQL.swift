import ExactJSON
import Foundation
import Hummingbird
import Sync

/// `POST /services/rest/query/v1/suiteql`: a subset of SuiteQL answered from the simulated
/// account's records and catalogue (docs/netsuite.md, "SuiteQL in the simulator").
///
/// Oracle NetSuite Help Center:
/// - "Executing SuiteQL Queries Through REST Web Services"
///   (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_157909186990.html):
///   a POST to the suiteql resource with the query in the body member `q`; the page size and
///   offset in the URL (`limit`, `offset`).
/// - "Using SuiteQL with SuiteTalk REST Web Services" (…/section_158394344595.html): the
///   request carries `Prefer: transient`.
/// - "Collection Paging" (…/section_156414087576.html): at most 1000 results per page (the
///   default), an answer with `links` (`self`, and `next` while there is more), `count`,
///   `hasMore`, `items`, `offset`, `totalResults`.
/// - "SuiteQL Syntax and Examples" (…/section_156257790831.html): SQL-92 or Oracle SQL syntax;
///   a string literal is in single quotes, a quote inside it is doubled. Keywords and field
///   names are case-insensitive; "SuiteQL Limitations and Exceptions" (…/section_156257796125.html)
///   warns that result field names' casing may vary; the simulator answers in lower case.
///   String comparisons are exact, case included, as Oracle SQL's are (no NetSuite page found
///   that says it for SuiteQL in so many words).
/// - "Using Datetime Fields" (…/section_157305090645.html): record collection filtering "uses
///   the underlying N/query SuiteScript module, which uses a different date format" than the
///   REST records' ISO 8601: query results give dates in the user's date format preference.
///   The simulator's user has the preference M/D/YYYY and the time zone UTC, and a bare date
///   or datetime column answers the date only (`12/3/2026`), as NetSuite's query results do
///   for the user's format (no Oracle page found that shows a datetime column's text; the
///   time is commonly read with TO_CHAR). For the time, select
///   `TO_CHAR(lastmodifieddate, 'YYYY-MM-DD HH24:MI:SS')` and compare with
///   `TO_TIMESTAMP('2026-12-03 15:04:05', 'YYYY-MM-DD HH24:MI:SS')` or `TO_DATE(…)` (Oracle SQL
///   functions; format elements YYYY MM DD HH24 MI SS, separators `-` `/` `:` `.` `,` space
///   and `"T"`). A bare string literal compared with a date column is read in the user's
///   format, M/D/YYYY (Oracle SQL's implicit conversion).
///
/// The subset:
/// ```
/// SELECT * | item [, item…] FROM table [WHERE cond [AND cond…]] [ORDER BY column [ASC|DESC] [, …]]
/// item: column | TO_CHAR(column, 'format') [[AS] alias]        (an unnamed TO_CHAR is exprN)
/// cond: column op value | column IS [NOT] NULL | column IN (value [, value…])
/// op:   = != <> < <= > >=        value: 'text' | number | TO_DATE('text', 'format') | TO_TIMESTAMP(…)
/// ```
/// A column may be written `table.column`. Tables and columns (SuiteQLTables.swift): customer,
/// contact, transaction, item, account, subsidiary, currency, location, salestaxitem, taxtype,
/// nexus, and every other generic record type (`customrecord_…`, …). Every value is answered
/// as text, and a null column is left out of its row (as NetSuite leaves out null columns).
/// Anything else is refused with a 400 in the record API's error shape, code
/// INVALID_PARAMETER and "Invalid search query…" (the code and text NetSuite is commonly seen
/// to answer; no Oracle page found that lists them). The texts avoid "not found" and "does not
/// exist", which the worker reads as a missing reference (see RecordValidation.swift).
extension NetSuiteSimulator {
    static let suiteQLPath = "/services/rest/query/v1/suiteql"

    func suiteQL(_ request: Request) async -> Response {
        guard request.method == .post else { return Self.response(.methodNotAllowed(request.method.rawValue, allowed: "POST")) }
        let prefer = request.headers.first { $0.name.canonicalName == "prefer" }?.value ?? ""
        guard prefer.lowercased().contains("transient") else {
            return Self.response(.userError("SuiteQL queries must be sent with the header Prefer: transient."))
        }
        var limit = 1000
        var offset = 0
        for (name, value) in request.uri.queryParameters {
            switch String(name) {
            case "limit":
                guard let number = Int(String(value)), (1...1000).contains(number) else {
                    return Self.response(.invalidParameter("The limit must be a number from 1 to 1000."))
                }
                limit = number
            case "offset":
                guard let number = Int(String(value)), number >= 0 else {
                    return Self.response(.invalidParameter("The offset must be a number of at least 0."))
                }
                offset = number
            default:
                break
            }
        }
        let query: SuiteQLQuery
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: 1 << 20)
            let body = try ExactJSON.parse(buffer.readableBytesView)
            guard let text = body["q"]?.stringValue else {
                return Self.response(.userError("The request body must be a JSON object with the query in \"q\"."))
            }
            query = try SuiteQLQuery.parse(text)
        } catch let error as NetSuiteErrorBody {
            return Self.response(error)
        } catch {
            return Self.response(.userError("The request body must be a JSON object with the query in \"q\"."))
        }

        let result = state.withLock { state -> Result<[[(key: String, value: String)]], NetSuiteErrorBody> in
            state.stats.queries += 1
            let tables = SuiteQLTables(store: state.store, catalogue: configuration.catalogue, items: state.items)
            do throws(NetSuiteErrorBody) {
                return .success(try query.run(tables))
            } catch {
                return .failure(error)
            }
        }
        let matches: [[(key: String, value: String)]]
        switch result {
        case .success(let rows): matches = rows
        case .failure(let error): return Self.response(error)
        }
        let page = matches.dropFirst(offset).prefix(limit)
        let hasMore = offset + page.count < matches.count
        let host = request.head.authority ?? ""
        let base = "http://\(host)\(Self.suiteQLPath)"
        var links: [ExactJSON] = [Self.link("self", "\(base)?limit=\(limit)&offset=\(offset)")]
        if hasMore { links.append(Self.link("next", "\(base)?limit=\(limit)&offset=\(offset + limit)")) }
        return Self.json(
            .object([
                ("links", .array(links)),
                ("count", .number(String(page.count))),
                ("hasMore", .bool(hasMore)),
                ("items", .array(page.map { row in .object([("links", .array([]))] + row.map { ($0.key, .string($0.value)) }) })),
                ("offset", .number(String(offset))),
                ("totalResults", .number(String(matches.count))),
            ]))
    }

    private static func link(_ rel: String, _ href: String) -> ExactJSON {
        .object([("rel", .string(rel)), ("href", .string(href))])
    }
}

extension NetSuiteErrorBody {
    /// 400 `INVALID_PARAMETER`, the answer to a query or paging parameter NetSuite cannot run.
    static func invalidParameter(_ detail: String) -> NetSuiteErrorBody {
        NetSuiteErrorBody(status: 400, "INVALID_PARAMETER", detail)
    }

    static func invalidQuery(_ reason: String) -> NetSuiteErrorBody {
        invalidParameter("Invalid search query. Detailed unprocessed description follows. Search error occurred: \(reason)")
    }
}

/// A value of a SuiteQL column.
enum SQLValue: Equatable {
    case text(String)
    /// A number's literal text (`26.50`, `101`).
    case number(String)
    case date(Date)
}

/// A parsed query of the supported subset.
struct SuiteQLQuery {
    enum Item: Equatable {
        case column(String)
        /// `TO_CHAR(column, 'format') [AS alias]`; `name` is the alias or exprN.
        case toChar(column: String, format: DateFormat, name: String)
    }

    enum Operand: Equatable {
        case text(String)
        case number(String)
        case date(Date)
    }

    enum Condition: Equatable {
        case compare(column: String, op: String, Operand)
        case isNull(column: String, negated: Bool)
        case isIn(column: String, [Operand])
    }

    /// nil: `SELECT *`.
    let items: [Item]?
    let table: String
    let conditions: [Condition]
    let order: [(column: String, descending: Bool)]

    enum Token: Equatable {
        case word(String) // an identifier or keyword, as written
        case literal(String) // a string literal's value, quotes undone
        case number(String)
        case symbol(String) // , ( ) * . and the comparison operators
    }

    static let usage = "the simulator takes SELECT * | columns FROM table [WHERE cond AND …] [ORDER BY …]"

    static func tokenize(_ text: String) throws(NetSuiteErrorBody) -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        func isDigit(_ scalar: Unicode.Scalar) -> Bool { ("0"..."9").contains(scalar) }
        while index < scalars.count {
            let scalar = scalars[index]
            let next = index + 1 < scalars.count ? scalars[index + 1] : nil
            if scalar.properties.isWhitespace {
                index += 1
            } else if [",", "(", ")", "*", ".", "="].contains(scalar) {
                tokens.append(.symbol(String(scalar)))
                index += 1
            } else if scalar == "<" || scalar == ">" || scalar == "!" {
                if next == "=" || (scalar == "<" && next == ">") {
                    tokens.append(.symbol(String(scalar) + String(next ?? " ")))
                    index += 2
                } else if scalar == "!" {
                    throw .invalidQuery("Unsupported syntax near '!' (\(usage)).")
                } else {
                    tokens.append(.symbol(String(scalar)))
                    index += 1
                }
            } else if scalar == "'" {
                // A literal: '' inside stands for one quote; nothing else is special.
                var value = String.UnicodeScalarView()
                index += 1
                var closed = false
                while index < scalars.count {
                    if scalars[index] == "'" {
                        if index + 1 < scalars.count, scalars[index + 1] == "'" {
                            value.append("'")
                            index += 2
                            continue
                        }
                        index += 1
                        closed = true
                        break
                    }
                    value.append(scalars[index])
                    index += 1
                }
                guard closed else { throw .invalidQuery("A string literal is not closed.") }
                tokens.append(.literal(String(value)))
            } else if isDigit(scalar) || (scalar == "-" && next.map(isDigit) == true) {
                var number = String.UnicodeScalarView([scalar])
                index += 1
                while index < scalars.count, isDigit(scalars[index]) || scalars[index] == "." {
                    number.append(scalars[index])
                    index += 1
                }
                tokens.append(.number(String(number)))
            } else if scalar.isASCII, scalar.properties.isAlphabetic || scalar == "_" {
                var word = String.UnicodeScalarView()
                while index < scalars.count, scalars[index].isASCII,
                    scalars[index].properties.isAlphabetic || scalars[index] == "_" || isDigit(scalars[index])
                {
                    word.append(scalars[index])
                    index += 1
                }
                tokens.append(.word(String(word)))
            } else {
                throw .invalidQuery("Unsupported syntax near '\(Character(scalar))' (\(usage)).")
            }
        }
        return tokens
    }

    static let keywords: Set<String> = [
        "select", "from", "where", "and", "or", "order", "by", "asc", "desc", "is", "not", "null", "in", "as", "like",
    ]

    static func parse(_ text: String) throws(NetSuiteErrorBody) -> SuiteQLQuery {
        var tokens = try tokenize(text)[...]
        func isKeyword(_ token: Token?, _ expected: String) -> Bool {
            if case .word(let word)? = token { return word.lowercased() == expected }
            return false
        }
        func keyword(_ expected: String) throws(NetSuiteErrorBody) {
            guard isKeyword(tokens.popFirst(), expected.lowercased()) else {
                throw .invalidQuery("Expected \(expected) (\(usage)).")
            }
        }
        func symbol(_ expected: String) throws(NetSuiteErrorBody) {
            guard tokens.popFirst() == .symbol(expected) else { throw .invalidQuery("Expected '\(expected)' (\(usage)).") }
        }
        func identifier(_ what: String) throws(NetSuiteErrorBody) -> String {
            guard case .word(let word)? = tokens.popFirst(), !keywords.contains(word.lowercased()) else {
                throw .invalidQuery("Expected \(what) (\(usage)).")
            }
            return word.lowercased()
        }
        /// `column` or `table.column`, lower-cased; the table prefix is checked after FROM.
        var qualifiers: [String] = []
        func column() throws(NetSuiteErrorBody) -> String {
            let first = try identifier("a column name")
            if tokens.first == .symbol(".") {
                tokens.removeFirst()
                qualifiers.append(first)
                return try identifier("a column name after '.'")
            }
            return first
        }
        func literal() throws(NetSuiteErrorBody) -> String {
            guard case .literal(let value)? = tokens.popFirst() else { throw .invalidQuery("Expected a string literal.") }
            return value
        }
        func operand() throws(NetSuiteErrorBody) -> Operand {
            switch tokens.popFirst() {
            case .literal(let value)?: return .text(value)
            case .number(let value)?:
                guard ExactDecimal(literal: value) != nil else { throw .invalidQuery("'\(value)' is not a number.") }
                return .number(value)
            case .word(let word)? where ["to_date", "to_timestamp"].contains(word.lowercased()):
                try symbol("(")
                let text = try literal()
                try symbol(",")
                let format = try DateFormat(try literal())
                try symbol(")")
                guard let date = format.parse(text) else {
                    throw .invalidQuery("'\(text)' does not match the format of \(word.uppercased()).")
                }
                return .date(date)
            default: throw .invalidQuery("Expected a value: 'text', a number, TO_DATE(…) or TO_TIMESTAMP(…).")
            }
        }

        try keyword("SELECT")
        var items: [Item]?
        if tokens.first == .symbol("*") {
            tokens.removeFirst()
        } else {
            var list: [Item] = []
            var expressions = 0
            repeat {
                if !list.isEmpty { tokens.removeFirst() }
                if case .word(let word)? = tokens.first, word.lowercased() == "to_char" {
                    tokens.removeFirst()
                    expressions += 1
                    try symbol("(")
                    let name = try column()
                    try symbol(",")
                    let format = try DateFormat(try literal())
                    try symbol(")")
                    var alias = "expr\(expressions)"
                    if isKeyword(tokens.first, "as") {
                        tokens.removeFirst()
                        alias = try identifier("an alias after AS")
                    } else if case .word(let word)? = tokens.first, !keywords.contains(word.lowercased()) {
                        tokens.removeFirst()
                        alias = word.lowercased()
                    }
                    list.append(.toChar(column: name, format: format, name: alias))
                } else {
                    list.append(.column(try column()))
                }
            } while tokens.first == .symbol(",")
            items = list
        }
        try keyword("FROM")
        let table = try identifier("a table after FROM")
        var conditions: [Condition] = []
        if isKeyword(tokens.first, "where") {
            tokens.removeFirst()
            repeat {
                if !conditions.isEmpty { tokens.removeFirst() }
                let name = try column()
                switch tokens.popFirst() {
                case .symbol(let op)? where ["=", "!=", "<>", "<", "<=", ">", ">="].contains(op):
                    conditions.append(.compare(column: name, op: op == "<>" ? "!=" : op, try operand()))
                case .word(let word)? where word.lowercased() == "is":
                    let negated = isKeyword(tokens.first, "not")
                    if negated { tokens.removeFirst() }
                    try keyword("NULL")
                    conditions.append(.isNull(column: name, negated: negated))
                case .word(let word)? where word.lowercased() == "in":
                    try symbol("(")
                    var values = [try operand()]
                    while tokens.first == .symbol(",") {
                        tokens.removeFirst()
                        values.append(try operand())
                    }
                    try symbol(")")
                    conditions.append(.isIn(column: name, values))
                default:
                    throw .invalidQuery("Expected =, !=, <>, <, <=, >, >=, IS [NOT] NULL or IN after \(name) (\(usage)).")
                }
            } while isKeyword(tokens.first, "and")
        }
        var order: [(column: String, descending: Bool)] = []
        if isKeyword(tokens.first, "order") {
            tokens.removeFirst()
            try keyword("BY")
            repeat {
                if !order.isEmpty { tokens.removeFirst() }
                let name = try column()
                var descending = false
                if case .word(let direction)? = tokens.first, ["asc", "desc"].contains(direction.lowercased()) {
                    descending = direction.lowercased() == "desc"
                    tokens.removeFirst()
                }
                order.append((name, descending))
            } while tokens.first == .symbol(",")
        }
        guard tokens.isEmpty else { throw .invalidQuery("Unexpected text after the query's end (\(usage)).") }
        if let other = qualifiers.first(where: { $0 != table }) {
            throw .invalidQuery("'\(other).' names no table of the query (only \(table)).")
        }
        return SuiteQLQuery(items: items, table: table, conditions: conditions, order: order)
    }

    /// The rows of the matching records, columns in the order asked (`*`: the table's).
    func run(_ tables: SuiteQLTables) throws(NetSuiteErrorBody) -> [[(key: String, value: String)]] {
        let source = try tables.table(table)
        func check(_ name: String) throws(NetSuiteErrorBody) {
            guard source.columns.map({ $0.contains(name) }) ?? true else {
                let known = source.columns?.sorted().joined(separator: ", ") ?? ""
                throw .invalidQuery("Field '\(name)' of record '\(table)' is unknown to the simulator (it knows \(known)).")
            }
        }
        for item in items ?? [] {
            switch item {
            case .column(let name), .toChar(let name, _, _): try check(name)
            }
        }
        for condition in conditions {
            switch condition {
            case .compare(let name, _, _), .isNull(let name, _), .isIn(let name, _): try check(name)
            }
        }
        for entry in order { try check(entry.column) }

        var matching = source.rows.filter { row in conditions.allSatisfy { Self.holds($0, row) } }
        if !order.isEmpty {
            matching.sort { a, b in
                for entry in order {
                    let left = a[entry.column]
                    let right = b[entry.column]
                    if left == right { continue }
                    // Nulls last ascending, first descending (Oracle's default).
                    guard let left else { return entry.descending }
                    guard let right else { return !entry.descending }
                    let ascending = Self.less(left, right)
                    return entry.descending ? !ascending : ascending
                }
                return false
            }
        }
        return matching.map { row in
            guard let items else {
                return row.ordered.map { (key: $0.key, value: Self.text($0.value)) }
            }
            return items.compactMap { item in
                switch item {
                case .column(let name):
                    return row[name].map { (key: name, value: Self.text($0)) }
                case .toChar(let name, let format, let alias):
                    guard let value = row[name] else { return nil }
                    if case .date(let date) = value { return (key: alias, value: format.format(date)) }
                    return (key: alias, value: Self.text(value))
                }
            }
        }
    }

    /// A value as SuiteQL answers it: dates in the user's format, M/D/YYYY.
    static func text(_ value: SQLValue) -> String {
        switch value {
        case .text(let text), .number(let text): text
        case .date(let date): DateFormat.userDate.format(date)
        }
    }

    static func less(_ left: SQLValue, _ right: SQLValue) -> Bool {
        switch (left, right) {
        case (.number(let l), .number(let r)):
            if let l = ExactDecimal(literal: l), let r = ExactDecimal(literal: r) { return l < r }
            return l < r
        case (.date(let l), .date(let r)): return l < r
        default: return text(left) < text(right)
        }
    }

    /// Compares a column's value with an operand; nil when they cannot be compared (a
    /// comparison with null or of mismatched kinds holds for no row).
    static func compare(_ value: SQLValue, _ operand: Operand) -> Int? {
        func sign<T: Comparable>(_ l: T, _ r: T) -> Int { l < r ? -1 : (l == r ? 0 : 1) }
        switch (value, operand) {
        case (.text(let l), .text(let r)): return sign(l, r)
        case (.text(let l), .number(let r)), (.number(let l), .text(let r)), (.number(let l), .number(let r)):
            guard let l = ExactDecimal(literal: l), let r = ExactDecimal(literal: r) else {
                if case .text = operand, case .text = value { return nil }
                return nil
            }
            return sign(l, r)
        case (.date(let l), .date(let r)): return sign(l, r)
        case (.date(let l), .text(let r)):
            guard let r = DateFormat.userDate.parse(r) else { return nil }
            return sign(l, r)
        default: return nil
        }
    }

    static func holds(_ condition: Condition, _ row: SuiteQLRow) -> Bool {
        switch condition {
        case .isNull(let name, let negated):
            return (row[name] == nil) != negated
        case .isIn(let name, let values):
            guard let value = row[name] else { return false }
            return values.contains { compare(value, $0) == 0 }
        case .compare(let name, let op, let operand):
            guard let value = row[name], let order = compare(value, operand) else { return false }
            switch op {
            case "=": return order == 0
            case "!=": return order != 0
            case "<": return order < 0
            case "<=": return order <= 0
            case ">": return order > 0
            default: return order >= 0
            }
        }
    }
}

/// An Oracle SQL datetime format of the subset: YYYY MM DD HH24 MI SS, separators and "text".
struct DateFormat: Equatable {
    enum Piece: Equatable {
        case year, month, day, hour, minute, second
        case text(String)
        /// M/D/YYYY's unpadded month and day.
        case monthUnpadded, dayUnpadded
    }

    let pieces: [Piece]

    /// The simulator's user's date format preference (see SuiteQL.swift's header).
    static let userDate = DateFormat(pieces: [.monthUnpadded, .text("/"), .dayUnpadded, .text("/"), .year])

    init(pieces: [Piece]) { self.pieces = pieces }

    init(_ text: String) throws(NetSuiteErrorBody) {
        var pieces: [Piece] = []
        var rest = Substring(text)
        let elements: [(String, Piece)] = [
            ("YYYY", .year), ("HH24", .hour), ("MM", .month), ("DD", .day), ("MI", .minute), ("SS", .second),
        ]
        while !rest.isEmpty {
            if let (name, piece) = elements.first(where: { rest.uppercased().hasPrefix($0.0) }) {
                pieces.append(piece)
                rest = rest.dropFirst(name.count)
            } else if let first = rest.first, "-/:., ".contains(first) {
                pieces.append(.text(String(first)))
                rest = rest.dropFirst()
            } else if rest.first == "\"", let close = rest.dropFirst().firstIndex(of: "\"") {
                pieces.append(.text(String(rest[rest.index(after: rest.startIndex)..<close])))
                rest = rest[rest.index(after: close)...]
            } else {
                throw .invalidQuery(
                    "The date format '\(text)' is not supported by the simulator (elements YYYY MM DD HH24 MI SS, separators and \"text\")."
                )
            }
        }
        self.pieces = pieces
    }

    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(secondsFromGMT: 0) ?? .gmt
        return calendar
    }

    func format(_ date: Date) -> String {
        let parts = Self.utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func padded(_ value: Int?, _ width: Int) -> String {
            let text = String(value ?? 0)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return pieces.map { piece in
            switch piece {
            case .year: padded(parts.year, 4)
            case .month: padded(parts.month, 2)
            case .day: padded(parts.day, 2)
            case .hour: padded(parts.hour, 2)
            case .minute: padded(parts.minute, 2)
            case .second: padded(parts.second, 2)
            case .monthUnpadded: String(parts.month ?? 0)
            case .dayUnpadded: String(parts.day ?? 0)
            case .text(let text): text
            }
        }.joined()
    }

    /// The date `text` names in this format (UTC), nil when it does not match.
    func parse(_ text: String) -> Date? {
        var rest = Substring(text)
        var parts = DateComponents(year: 1970, month: 1, day: 1, hour: 0, minute: 0, second: 0)
        func number(maxDigits: Int) -> Int? {
            let digits = rest.prefix { $0.isASCII && $0.isNumber }.prefix(maxDigits)
            guard !digits.isEmpty, let value = Int(digits) else { return nil }
            rest = rest.dropFirst(digits.count)
            return value
        }
        for piece in pieces {
            switch piece {
            case .year:
                guard let value = number(maxDigits: 4) else { return nil }
                parts.year = value
            case .month, .monthUnpadded:
                guard let value = number(maxDigits: 2), (1...12).contains(value) else { return nil }
                parts.month = value
            case .day, .dayUnpadded:
                guard let value = number(maxDigits: 2), (1...31).contains(value) else { return nil }
                parts.day = value
            case .hour:
                guard let value = number(maxDigits: 2), (0...23).contains(value) else { return nil }
                parts.hour = value
            case .minute:
                guard let value = number(maxDigits: 2), (0...59).contains(value) else { return nil }
                parts.minute = value
            case .second:
                guard let value = number(maxDigits: 2), (0...59).contains(value) else { return nil }
                parts.second = value
            case .text(let literal):
                guard rest.hasPrefix(literal) else { return nil }
                rest = rest.dropFirst(literal.count)
            }
        }
        guard rest.isEmpty else { return nil }
        return Self.utc.date(from: parts)
    }
}
