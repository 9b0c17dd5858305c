import ExactJSON
import Foundation
import Hummingbird

/// `POST /services/rest/query/v1/suiteql`: the narrow subset of SuiteQL that `ledgersync refs
/// match` sends, answered from the simulated account's records (docs/linking.md).
///
/// Oracle NetSuite Help Center:
/// - "Executing SuiteQL Queries Through REST Web Services"
///   (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_157909186990.html):
///   a POST to the suiteql resource with the query in the body member `q`; the page size and
///   offset in the URL (`limit`, `offset`).
/// - "Using SuiteQL with SuiteTalk REST Web Services" (…/section_158394344595.html): the
///   request carries `Prefer: transient`.
/// - "Collection Paging" (…/section_156414087576.html): at most 1000 results per page (the
///   default), an answer with `links`, `count`, `hasMore`, `items`, `offset`, `totalResults`.
/// - "SuiteQL Syntax and Examples" (…/section_156257790831.html): SQL-92 or Oracle SQL syntax;
///   a string literal is in single quotes, a quote inside it is doubled. Keywords and field
///   names are case-insensitive; "SuiteQL Limitations and Exceptions" (…/section_156257796125.html)
///   warns that result field names' casing may vary; the simulator answers in lower case.
///   String `=` compares exactly, case included, as Oracle SQL does (no NetSuite page found
///   that says it for SuiteQL in so many words).
///
/// The subset: `SELECT <field>[, <field>…] FROM customer WHERE <field> = '<text>'
/// [ORDER BY <field> [ASC|DESC]]`, fields among id, entityid, companyname, email, externalid,
/// firstname, lastname, isperson. Anything else is refused with a 400 in the record API's
/// error shape, code INVALID_PARAMETER and "Invalid search query…" (the code and text NetSuite
/// is commonly seen to answer; no Oracle page found that lists them). The texts avoid "not
/// found" and "does not exist", which the worker reads as a missing reference (see
/// RecordValidation.swift).
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

        let matches = state.withLock { state in
            state.stats.queries += 1
            return query.run(state.store.records(.customer))
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

/// A parsed query of the supported subset.
struct SuiteQLQuery: Equatable {
    /// The fields to answer, lower-cased, in the order asked.
    let fields: [String]
    let whereField: String
    let whereValue: String
    let orderBy: String?
    let descending: Bool

    /// SuiteQL field (lower case) → the REST record field it reads.
    static let customerFields: [String: String] = [
        "id": "id", "entityid": "entityId", "companyname": "companyName", "email": "email", "externalid": "externalId",
        "firstname": "firstName", "lastname": "lastName", "isperson": "isPerson",
    ]

    enum Token: Equatable {
        case word(String) // an identifier or keyword, as written
        case literal(String) // a string literal's value, quotes undone
        case comma
        case equals
    }

    static func tokenize(_ text: String) throws(NetSuiteErrorBody) -> [Token] {
        var tokens: [Token] = []
        let scalars = Array(text.unicodeScalars)
        var index = 0
        while index < scalars.count {
            let scalar = scalars[index]
            if scalar.properties.isWhitespace {
                index += 1
            } else if scalar == "," {
                tokens.append(.comma)
                index += 1
            } else if scalar == "=" {
                tokens.append(.equals)
                index += 1
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
            } else if scalar.isASCII, scalar.properties.isAlphabetic || scalar == "_" {
                var word = String.UnicodeScalarView()
                while index < scalars.count, scalars[index].isASCII,
                    scalars[index].properties.isAlphabetic || scalars[index] == "_" || ("0"..."9").contains(scalars[index])
                {
                    word.append(scalars[index])
                    index += 1
                }
                tokens.append(.word(String(word)))
            } else {
                throw .invalidQuery(
                    "Unsupported syntax near '\(Character(scalar))' (the simulator takes SELECT … FROM customer WHERE <field> = '<text>').")
            }
        }
        return tokens
    }

    static func parse(_ text: String) throws(NetSuiteErrorBody) -> SuiteQLQuery {
        var tokens = try tokenize(text)[...]
        func keyword(_ expected: String) throws(NetSuiteErrorBody) {
            guard case .word(let word)? = tokens.popFirst(), word.lowercased() == expected.lowercased() else {
                throw .invalidQuery("Expected \(expected) (the simulator takes SELECT … FROM customer WHERE <field> = '<text>').")
            }
        }
        func field() throws(NetSuiteErrorBody) -> String {
            guard case .word(let word)? = tokens.popFirst() else { throw .invalidQuery("Expected a field name.") }
            let lowered = word.lowercased()
            guard customerFields[lowered] != nil else {
                throw .invalidQuery(
                    "Field '\(word)' of record 'customer' is unknown to the simulator (it knows \(customerFields.keys.sorted().joined(separator: ", ")))."
                )
            }
            return lowered
        }
        try keyword("SELECT")
        var fields = [try field()]
        while tokens.first == .comma {
            tokens.removeFirst()
            fields.append(try field())
        }
        try keyword("FROM")
        guard case .word(let record)? = tokens.popFirst() else { throw .invalidQuery("Expected a record type after FROM.") }
        guard record.lowercased() == "customer" else {
            throw .invalidQuery("Record '\(record)' is not supported by the simulator's SuiteQL (only customer).")
        }
        try keyword("WHERE")
        let whereField = try field()
        guard tokens.popFirst() == .equals else { throw .invalidQuery("Expected = after \(whereField).") }
        guard case .literal(let value)? = tokens.popFirst() else { throw .invalidQuery("Expected a string literal after =.") }
        var orderBy: String?
        var descending = false
        if !tokens.isEmpty {
            try keyword("ORDER")
            try keyword("BY")
            orderBy = try field()
            if case .word(let direction)? = tokens.first, ["asc", "desc"].contains(direction.lowercased()) {
                descending = direction.lowercased() == "desc"
                tokens.removeFirst()
            }
        }
        guard tokens.isEmpty else { throw .invalidQuery("Unexpected text after the query's end.") }
        return SuiteQLQuery(fields: fields, whereField: whereField, whereValue: value, orderBy: orderBy, descending: descending)
    }

    /// The value of a field of a record as SuiteQL answers it (text), nil when the record has none.
    static func value(_ field: String, of record: NetSuiteSimulator.Record) -> String? {
        switch field {
        case "id": return record.internalID
        case "externalid": return record.externalID
        case "isperson": return record.body["isPerson"]?.boolValue.map { $0 ? "T" : "F" }
        default:
            guard let name = customerFields[field] else { return nil }
            switch record.body[name] {
            case .string(let text)?: return text
            case .number(let text)?: return text
            default: return nil
            }
        }
    }

    /// The rows of the matching records (exact comparison, case included), fields in the
    /// order asked; a field the record has no value for is left out, as NetSuite leaves out
    /// null columns.
    func run(_ records: [NetSuiteSimulator.Record]) -> [[(key: String, value: String)]] {
        var matching = records.filter { Self.value(whereField, of: $0) == whereValue }
        if let orderBy {
            matching.sort { a, b in
                let left = Self.value(orderBy, of: a) ?? ""
                let right = Self.value(orderBy, of: b) ?? ""
                if orderBy == "id", let l = Int(left), let r = Int(right) { return descending ? l > r : l < r }
                return descending ? left > right : left < right
            }
        }
        return matching.map { record in fields.compactMap { field in Self.value(field, of: record).map { (key: field, value: $0) } } }
    }
}
