import ExactJSON
import Foundation
import HTTPClient
import Sync

// Records by internal id and SuiteQL queries: what linking an existing NetSuite record
// needs (docs/linking.md).
//
// Oracle NetSuite Help Center:
// - "Updating a Record Instance" (section_1545142173): PATCH …/record/v1/{type}/{id} updates
//   the record; omitted fields are unchanged; 204 with the record's URL in Location.
// - "Executing SuiteQL Queries Through REST Web Services" (section_157909186990) and "Using
//   SuiteQL with SuiteTalk REST Web Services" (section_158394344595): POST
//   …/services/rest/query/v1/suiteql with `Prefer: transient` and `{"q": "…"}`; `limit` and
//   `offset` in the URL (see "Collection Paging", section_156414087576).
// - "SuiteQL Limitations and Exceptions" (section_156257796125): the casing of field names in
//   query results "may not always be consistent and can change", so result keys are read
//   case-insensitively here.

/// One page of a SuiteQL answer: rows as field name (lower-cased) → value text.
public struct SuiteQLPage: Sendable, Equatable {
    public let items: [[String: String]]
    public let hasMore: Bool
    public let count: Int
    public let offset: Int
    public let totalResults: Int?
}

extension NetSuiteClient {
    /// `PATCH …/{recordType}/{internalID}?replace=…` (`NetSuiteRequest.update`): updates the
    /// existing record with this internal id and returns its internal id. A repeat writes
    /// the same fields again: safe after a lost answer.
    public func update(recordType: String, internalID: String, body: ExactJSON) async throws -> String {
        try Self.requireInternalID(internalID)
        let planned = NetSuiteRequest.update(
            account: account, recordType: recordType, internalID: internalID, body: body, replaceSublists: replacesSublists)
        let response = try await send(planned)
        // The Location names the record written; without one, the id asked for is the answer.
        let id = Self.internalID(fromLocation: response.header("Location"), recordType: recordType) ?? internalID
        guard id == internalID else {
            throw SyncError(.transient, "NetSuite answered the update of \(recordType) \(internalID) with the Location of \(id)")
        }
        return id
    }

    /// `GET …/{recordType}/{internalID}`: the record's body fields, nil when NetSuite says it
    /// does not exist (404). Other errors are thrown, classified.
    public func get(recordType: String, internalID: String) async throws -> ExactJSON? {
        try Self.requireInternalID(internalID)
        let response = try await send(method: "GET", url: "\(account.restBaseURL)/\(recordType)/\(internalID)", body: nil)
        if response.status == 404 { return nil }
        guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
        do {
            return try ExactJSON.parse(response.body)
        } catch {
            throw SyncError(.transient, "NetSuite answered GET \(recordType) \(internalID) with a body that is not JSON")
        }
    }

    /// The SuiteQL endpoint of the account.
    public var suiteQLURL: String { account.suiteTalkOrigin + "/services/rest/query/v1/suiteql" }

    /// Runs one SuiteQL query and returns one page (`limit` 1…1000 rows from `offset`).
    /// Values come back as text; a null column is left out of its row.
    public func suiteQL(_ query: String, limit: Int = 1000, offset: Int = 0) async throws -> SuiteQLPage {
        guard (1...1000).contains(limit), offset >= 0 else {
            throw SyncError(.permanent, "SuiteQL paging: limit must be 1…1000 and offset at least 0")
        }
        let url = "\(suiteQLURL)?limit=\(limit)&offset=\(offset)"
        let body = ExactJSON.object([("q", .string(query))])
        let response = try await send(
            method: "POST", url: url, body: Data(body.description.utf8), extraHeaders: [("Prefer", "transient")])
        guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
        guard let answer = try? ExactJSON.parse(response.body), let items = answer["items"]?.arrayValue else {
            throw SyncError(.transient, "NetSuite answered a SuiteQL query without an items list")
        }
        let rows = items.map { item in
            var row: [String: String] = [:]
            for member in item.objectMembers where member.key.lowercased() != "links" {
                switch member.value {
                case .string(let text): row[member.key.lowercased()] = text
                case .number(let text): row[member.key.lowercased()] = text
                case .bool(let value): row[member.key.lowercased()] = value ? "T" : "F"
                default: break
                }
            }
            return row
        }
        return SuiteQLPage(
            items: rows, hasMore: answer["hasMore"]?.boolValue ?? false,
            count: answer["count"]?.numberText.flatMap { Int($0) } ?? rows.count,
            offset: answer["offset"]?.numberText.flatMap { Int($0) } ?? offset,
            totalResults: answer["totalResults"]?.numberText.flatMap { Int($0) })
    }

    /// Every row of a query, page after page, at most `maxRows`.
    public func suiteQLAll(_ query: String, pageSize: Int = 1000, maxRows: Int = 10_000) async throws -> [[String: String]] {
        var rows: [[String: String]] = []
        var offset = 0
        while true {
            let page = try await suiteQL(query, limit: pageSize, offset: offset)
            rows += page.items
            guard page.hasMore, !page.items.isEmpty, rows.count < maxRows else { break }
            offset += page.items.count
        }
        return Array(rows.prefix(maxRows))
    }

    /// A SuiteQL string literal: in single quotes, every single quote doubled (SQL-92 and
    /// Oracle SQL, the two syntaxes "SuiteQL Syntax and Examples", section_156257790831,
    /// says SuiteQL takes). Nothing else is special inside a literal; NUL and other control
    /// characters are refused, a name or email never holds them.
    public static func suiteQLLiteral(_ value: String) throws -> String {
        guard !value.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw SyncError(.permanent, "a SuiteQL value may not hold control characters")
        }
        return "'" + value.replacingOccurrences(of: "'", with: "''") + "'"
    }

    static func requireInternalID(_ id: String) throws {
        guard !id.isEmpty, id.count <= 18, id.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw SyncError(.permanent, "a NetSuite internal id is digits, got \"\(id.prefix(40))\"")
        }
    }

    /// Authorizes and sends one request, whatever its answer; transport failures become
    /// classified `SyncError`s. The one place a request is authorized: TBA signs it (the URL's
    /// query parameters included, PROVIDERS 2.1 step 3); OAuth 2.0 adds `Authorization: Bearer`
    /// with the connection's access token, and on a 401 whose `WWW-Authenticate` says
    /// `error="invalid_token"` marks that token bad and sends the request once more with a new
    /// one (a second 401 is returned as it is: a permanent auth failure for the parser).
    /// `headers`: all but `Authorization` (default: JSON `Accept`, and `Content-Type` with a
    /// body) plus `extraHeaders`.
    func send(
        method: String, url: String, body: Data?, headers given: [(name: String, value: String)]? = nil,
        extraHeaders: [(String, String)] = []
    ) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = []
        if let given {
            headers.append(contentsOf: given)
        } else {
            headers.append(("Accept", "application/json"))
            if body != nil { headers.append(("Content-Type", "application/json")) }
        }
        for header in extraHeaders { headers.append((header.0, header.1)) }
        switch auth {
        case .tba(let credentials):
            let authorization = try TBASigner.authorizationHeader(method: method, url: url, credentials: credentials, account: account)
            return try await execute(method: method, url: url, body: body, headers: [("Authorization", authorization)] + headers)
        case .oauth2(let credentials, let connection, let tokens):
            let account = account
            let http = http
            let timeout = requestTimeout
            let issue: @Sendable () async throws -> IssuedToken = {
                try await NetSuiteM2M.requestToken(credentials: credentials, account: account, http: http, timeout: timeout)
            }
            var attempt = 0
            while true {
                attempt += 1
                let token = try await tokens.accessToken(for: connection, minValidity: tokenMinValidity, issue: issue)
                let response = try await execute(
                    method: method, url: url, body: body, headers: [("Authorization", "Bearer " + token)] + headers)
                guard attempt == 1, NetSuiteM2M.saysInvalidToken(response) else { return response }
                // NetSuite did not run the request (401): sending it again cannot duplicate it.
                try await tokens.invalidate(token, for: connection)
            }
        }
    }

    private func execute(method: String, url: String, body: Data?, headers: [(name: String, value: String)]) async throws -> HTTPResponse {
        let request = HTTPRequest(method: method, url: url, headers: headers, body: body, timeout: requestTimeout)
        do {
            return try await http.execute(request)
        } catch let error as HTTPClientError {
            throw SyncError(from: error, serverTimeLimit: serverTimeLimit)
        }
    }
}

extension NetSuiteClient {
    /// The client of a connection: its account id, base URL override and credentials, TBA or
    /// OAuth 2.0 client credentials (`NetSuiteConnectionAuth`); OAuth 2.0 needs `tokens`.
    public init(
        connection: AccountingConnection, http: HTTPClient, requestTimeout: Duration = .seconds(60),
        serverTimeLimit: Duration = NetSuiteClient.defaultServerTimeLimit, tokens: (any AccessTokenStore)? = nil
    ) throws {
        let account: NetSuiteAccount
        do {
            account = try NetSuiteAccount(accountID: connection.accountID, baseURLOverride: connection.settings.baseURL)
        } catch let error as NetSuiteConfigError {
            throw StoreError(.invalidField, field: "account_id", error.message)
        }
        let auth: NetSuiteAuth
        switch try NetSuiteConnectionAuth(connection.secrets) {
        case .tba(let credentials):
            auth = .tba(credentials)
        case .oauth2(let credentials):
            guard let tokens else {
                throw StoreError(.invalidField, field: "secrets", "an OAuth 2.0 connection needs a token store (this process has none)")
            }
            auth = .oauth2(credentials, connection: connection, tokens: tokens)
        }
        self.init(account: account, auth: auth, http: http, requestTimeout: requestTimeout, serverTimeLimit: serverTimeLimit)
    }
}

extension NetSuiteProvider {
    /// Writes one record: by upsert on the billing id as external id, or, when a person
    /// linked the billing object to an existing record (`linkedID`, docs/linking.md), by its
    /// internal id without touching its external id (`NetSuiteRequest.update`).
    func write(_ planned: NetSuiteUpsert, linkedID: String?) async throws -> String {
        guard let internalID = linkedID else {
            return try await client.upsert(recordType: planned.recordType, externalID: planned.externalID, body: planned.body)
        }
        do {
            return try await client.update(recordType: planned.recordType, internalID: internalID, body: planned.body)
        } catch let error as SyncError where error.providerCode?.uppercased() == "NONEXISTENT_ID" {
            // The record a person linked was deleted (or merged) at NetSuite: no retry brings
            // it back, and creating a new one behind the person's back is what linking avoids.
            throw SyncError(
                .permanent,
                "the linked NetSuite \(planned.recordType) \(internalID) is gone (\(error.message)); link the object to another record with `ledgersync refs link`, or `refs unlink` it to create one",
                providerCode: error.providerCode)
        }
    }
}

/// The customers at NetSuite whose email or name is exactly a billing customer's: what
/// `ledgersync refs match` proposes to link (docs/linking.md).
public enum CustomerMatch {
    public typealias Field = CustomerField

    /// One NetSuite customer a query found.
    public struct Candidate: Sendable, Equatable {
        public let internalID: String
        public let companyName: String?
        public let email: String?
        public let externalID: String?
    }

    /// `SELECT id, companyname, email, externalid FROM customer WHERE <field> = '<value>' ORDER BY id`,
    /// the value a quoted literal (`NetSuiteClient.suiteQLLiteral`): a quote in a name ends
    /// nothing and adds nothing to the query.
    public static func query(_ field: Field, _ value: String) throws -> String {
        let column =
            switch field {
            case .email: "email"
            case .name: "companyname"
            }
        return
            "SELECT id, companyname, email, externalid FROM customer WHERE \(column) = \(try NetSuiteClient.suiteQLLiteral(value)) ORDER BY id"
    }

    /// The customers whose `field` is exactly `value` (case included: SuiteQL's `=`).
    public static func candidates(_ field: Field, _ value: String, client: NetSuiteClient) async throws -> [Candidate] {
        try await client.suiteQLAll(query(field, value), pageSize: 1000, maxRows: 1000).compactMap { row in
            guard let id = row["id"] else { return nil }
            return Candidate(internalID: id, companyName: row["companyname"], email: row["email"], externalID: row["externalid"])
        }
    }
}
