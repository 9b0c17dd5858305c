import ExactJSON
import Foundation
import Hummingbird

// `GET …/record/v1/{type}`: the collection of a record type, filtered and paged; and the dates
// every record carries (`dateCreated`, `lastModifiedDate`). What the change polls read (issue 15).
//
// Oracle NetSuite Help Center, each rule below:
// - "Record Collection Filtering" (section_1545222128,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545222128.html):
//   `q` holds conditions `<field> <OPERATOR> <value>` joined by AND / OR, `()` for precedence;
//   Date / Time operators AFTER, BEFORE, ON, ON_OR_AFTER, ON_OR_BEFORE and their `_NOT` forms;
//   String operators IS, IS_NOT, START_WITH, CONTAIN, …; its date example is `"1/1/2019"`
//   (the N/query date format: M/D/YYYY with the simulated account's US date preference).
//   SIMULATED: conditions on `lastModifiedDate` and `dateCreated` with the date operators and
//   a date-only value, and on `externalId` with IS / IS_NOT, joined by AND. OR, parentheses,
//   other fields and a time of day in the value are refused with a 400 naming what is not
//   simulated. Dates compare by calendar day in the account's time zone (UTC here: N/query
//   uses the user's time zone preference; the simulated account's is UTC).
// - "Collection Paging" (section_156414087576): `limit` (default and maximum 1000) and
//   `offset`; the answer's `count`, `hasMore`, `offset`, `totalResults`, `items` (each with its
//   `id` and a `self` link) and `links` (`self`, and `next` while there is more, `previous`
//   after the first page, `first`, `last`). Records come in internal id order (Oracle states
//   no order; this is the simulator's).
// - "Using Datetime Fields" (listed under "NetSuite Record Structure", section_1540811112):
//   datetimes in answers are ISO 8601; `dateCreated` and `lastModifiedDate` are given to the
//   second, in UTC (`Z`).
// - "Format of Sublists and Subrecords" (section_1545141947): sublists are expanded with
//   `expandSubResources=true`. The simulator always answers them expanded (it did before issue
//   15, and the tests of the sync read them): a client must ask for them, as the change reader
//   does; NOT what NetSuite does without the parameter (links only).

extension NetSuiteSimulator {
    /// The record type of a collection path (`…/record/v1/customerpayment`), nil for any other.
    static func collectionType(_ path: String) -> RecordType? {
        guard path.hasPrefix(recordPathPrefix) else { return nil }
        let rest = path.dropFirst(recordPathPrefix.count)
        let segment = rest.hasSuffix("/") ? rest.dropLast() : rest
        guard !segment.isEmpty, !segment.contains("/") else { return nil }
        return RecordType(pathSegment: segment)
    }

    /// The dates of a record as its GET answer carries them.
    static func dateFields(_ record: Record) -> [(key: String, value: ExactJSON)] {
        [
            ("dateCreated", .string(SimulatorTime.format(record.createdAt))),
            ("lastModifiedDate", .string(SimulatorTime.format(record.updatedAt))),
        ]
    }

    /// Moves the simulated account's clock (the times records are written at) by `seconds`,
    /// so a test can write a record "later" without waiting: NetSuite's datetimes are whole
    /// seconds. Requests are still authenticated against the real clock.
    public func advanceClock(by seconds: TimeInterval) {
        state.withLock { $0.clockOffset += seconds }
    }

    /// `GET …/{type}?q=…&limit=…&offset=…`.
    func listCollection(_ type: RecordType, request: Request) -> Response {
        let query = request.uri.queryParameters
        var limit = 1000
        var offset = 0
        if let text = query["limit"] {
            guard let value = Int(String(text)), (1...1000).contains(value) else {
                return Self.response(.invalidQueryParameter("limit", "The limit must be a number from 1 to 1000."))
            }
            limit = value
        }
        if let text = query["offset"] {
            guard let value = Int(String(text)), value >= 0 else {
                return Self.response(.invalidQueryParameter("offset", "The offset must be a number of at least 0."))
            }
            offset = value
        }
        let filter: CollectionFilter
        switch CollectionFilter.parse(query["q"].map(String.init)) {
        case .success(let parsed): filter = parsed
        case .failure(let error): return Self.response(error)
        }
        let selected = state.withLock { $0.store.records(type) }.filter(filter.matches)
        let host = request.head.authority ?? ""
        let base = "http://\(host)\(Self.recordPathPrefix)\(type.rawValue)"
        let page = selected.dropFirst(min(offset, selected.count)).prefix(limit)
        let hasMore = offset + page.count < selected.count
        func link(_ rel: String, _ at: Int) -> ExactJSON {
            var href = "\(base)?"
            if let q = query["q"] { href += "q=\(Self.queryEncoded(String(q)))&" }
            href += "limit=\(limit)&offset=\(at)"
            return .object([("rel", .string(rel)), ("href", .string(href))])
        }
        var links: [ExactJSON] = []
        if offset > 0 { links.append(link("previous", max(0, offset - limit))) }
        links.append(link("first", 0))
        if hasMore { links.append(link("next", offset + page.count)) }
        let lastOffset = selected.isEmpty ? 0 : ((selected.count - 1) / limit) * limit
        links.append(link("last", lastOffset))
        links.append(link("self", offset))
        let items: [ExactJSON] = page.map { record in
            .object([
                ("links", .array([.object([("rel", .string("self")), ("href", .string("\(base)/\(record.internalID)"))])])),
                ("id", .string(record.internalID)),
            ])
        }
        return Self.json(
            .object([
                ("links", .array(links)), ("count", .number(String(page.count))), ("hasMore", .bool(hasMore)),
                ("items", .array(items)), ("offset", .number(String(offset))), ("totalResults", .number(String(selected.count))),
            ]))
    }

    /// A query value as it goes back into a link: unreserved characters literal, the rest `%XX`.
    static func queryEncoded(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            let scalar = Unicode.Scalar(byte)
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "-._~".unicodeScalars.contains(scalar) {
                out.unicodeScalars.append(scalar)
            } else {
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}

/// The `q` of a collection request, as far as the simulator evaluates it (see the file's header).
struct CollectionFilter {
    enum Condition {
        case date(field: String, op: String, day: DateComponents)
        case externalID(equal: Bool, value: String)
    }

    var conditions: [Condition] = []

    static let dateOperators: Set<String> = [
        "AFTER", "AFTER_NOT", "BEFORE", "BEFORE_NOT", "ON", "ON_NOT", "ON_OR_AFTER", "ON_OR_AFTER_NOT", "ON_OR_BEFORE",
        "ON_OR_BEFORE_NOT",
    ]

    static func parse(_ q: String?) -> Result<CollectionFilter, NetSuiteErrorBody> {
        guard let q, !q.trimmingCharacters(in: .whitespaces).isEmpty else { return .success(CollectionFilter()) }
        var tokens: [String] = []
        var current = ""
        var quoted = false
        for character in q {
            if character == "\"" {
                current.append(character)
                quoted.toggle()
            } else if character == " " && !quoted {
                if !current.isEmpty { tokens.append(current) }
                current = ""
            } else {
                current.append(character)
            }
        }
        guard !quoted else { return .failure(.invalidQueryParameter("q", "The query has an unterminated string.")) }
        if !current.isEmpty { tokens.append(current) }
        var filter = CollectionFilter()
        var at = 0
        while at < tokens.count {
            if at > 0 {
                guard tokens[at].uppercased() == "AND" else {
                    return .failure(
                        .invalidQueryParameter(
                            "q", "NOT SIMULATED: only conditions joined by AND are evaluated (got \"\(tokens[at].prefix(20))\")."))
                }
                at += 1
            }
            guard at + 2 < tokens.count else {
                return .failure(.invalidQueryParameter("q", "A condition needs a field, an operator and a value."))
            }
            let field = tokens[at]
            let op = tokens[at + 1].uppercased()
            let raw = tokens[at + 2]
            at += 3
            guard raw.count >= 2, raw.hasPrefix("\""), raw.hasSuffix("\"") else {
                return .failure(.invalidQueryParameter("q", "The value of \(field) must be in double quotes."))
            }
            let value = String(raw.dropFirst().dropLast())
            switch field.lowercased() {
            case "lastmodifieddate", "datecreated":
                guard dateOperators.contains(op) else {
                    return .failure(.invalidQueryParameter("q", "\(op) is not an operator for the date field \(field)."))
                }
                guard let day = Self.day(value) else {
                    return .failure(
                        .invalidQueryParameter(
                            "q", "NOT SIMULATED: the value of \(field) must be a date M/D/YYYY (got \"\(value.prefix(40))\")."))
                }
                filter.conditions.append(.date(field: field.lowercased(), op: op, day: day))
            case "externalid":
                guard op == "IS" || op == "IS_NOT" else {
                    return .failure(.invalidQueryParameter("q", "NOT SIMULATED: externalId takes IS or IS_NOT (got \(op))."))
                }
                filter.conditions.append(.externalID(equal: op == "IS", value: value))
            default:
                return .failure(.invalidQueryParameter("q", "NOT SIMULATED: filtering on \(field.prefix(40))."))
            }
        }
        return .success(filter)
    }

    /// `M/D/YYYY` → the day.
    static func day(_ text: String) -> DateComponents? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 3, let month = Int(parts[0]), let day = Int(parts[1]), let year = Int(parts[2]), parts[2].count == 4,
            (1...12).contains(month), (1...31).contains(day)
        else { return nil }
        return DateComponents(year: year, month: month, day: day)
    }

    func matches(_ record: NetSuiteSimulator.Record) -> Bool {
        conditions.allSatisfy { condition in
            switch condition {
            case .externalID(let equal, let value):
                return (record.externalID == value) == equal
            case .date(let field, let op, let day):
                let when = field == "datecreated" ? record.createdAt : record.updatedAt
                let recordDay = SimulatorTime.day(when)
                let wanted = [day.year ?? 0, day.month ?? 0, day.day ?? 0]
                let order: Int = recordDay == wanted ? 0 : (recordDay.lexicographicallyPrecedes(wanted) ? -1 : 1)
                let negated = op.hasSuffix("_NOT")
                let base = negated ? String(op.dropLast(4)) : op
                let result: Bool
                switch base {
                case "AFTER": result = order > 0
                case "BEFORE": result = order < 0
                case "ON": result = order == 0
                case "ON_OR_AFTER": result = order >= 0
                default: result = order <= 0 // ON_OR_BEFORE
                }
                return result != negated
            }
        }
    }
}

/// The simulated account's times: UTC.
enum SimulatorTime {
    static var utc: Calendar {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        return calendar
    }

    /// `2026-12-03T15:57:33Z`.
    static func format(_ date: Date) -> String {
        let parts = utc.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(String(format: "%04d", parts.year ?? 1970))-\(two(parts.month))-\(two(parts.day))T"
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))Z"
    }

    /// `date` less its fraction of a second: NetSuite's datetimes are whole seconds, so a
    /// record's time is the one its answers give.
    static func wholeSeconds(_ date: Date) -> Date {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down))
    }

    /// [year, month, day] in UTC.
    static func day(_ date: Date) -> [Int] {
        let parts = utc.dateComponents([.year, .month, .day], from: date)
        return [parts.year ?? 0, parts.month ?? 0, parts.day ?? 0]
    }
}

extension NetSuiteErrorBody {
    /// 400 for a query parameter the simulator refuses. The error code is NOT DOCUMENTED on a
    /// page found ("Error Handling in REST Web Services", section_156570709583, gives the body's
    /// shape, not a code list): `INVALID_PARAMETER` here; the detail names the parameter.
    static func invalidQueryParameter(_ name: String, _ detail: String) -> NetSuiteErrorBody {
        NetSuiteErrorBody(status: 400, "INVALID_PARAMETER", "Invalid query parameter \(name): \(detail)")
    }
}
