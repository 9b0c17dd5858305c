import ExactJSON
import Foundation

// Generic record actions (issue 15): create, get, update, upsert by external id and delete on
// any record type of the provider, custom records included, and a query in the provider's own
// language (SuiteQL for NetSuite). An optional capability like `RecordLookup`: a provider that
// cannot do them does not conform, and `record.action` jobs for its connections fail naming it.

/// One generic action on a provider's records. Ids are validated on construction
/// (`RecordAction.validated`), so a provider never builds a URL from unchecked text.
public enum RecordAction: Sendable, Equatable {
    case create(recordType: String, body: ExactJSON)
    case get(recordType: String, id: RecordActionID)
    case update(recordType: String, id: RecordActionID, body: ExactJSON)
    case upsert(recordType: String, externalID: String, body: ExactJSON)
    case delete(recordType: String, id: RecordActionID)
    /// A query in the provider's language, one page: `limit` rows (1…1000) from `offset`.
    case query(String, limit: Int, offset: Int)

    /// The action's name as jobs and the API spell it.
    public var name: String {
        switch self {
        case .create: "create"
        case .get: "get"
        case .update: "update"
        case .upsert: "upsert"
        case .delete: "delete"
        case .query: "query"
        }
    }

    public var recordType: String? {
        switch self {
        case .create(let type, _), .get(let type, _), .update(let type, _, _), .upsert(let type, _, _), .delete(let type, _): type
        case .query: nil
        }
    }

    /// The longest query text accepted.
    public static let maxQueryLength = 100_000

    /// A record type: a letter, then letters, digits and `_` (`contact`, `customrecord_project`).
    public static func validateRecordType(_ type: String, field: String = "record_type") throws -> String {
        guard let first = type.unicodeScalars.first, first.isASCII, first.properties.isAlphabetic, type.count <= 100,
            type.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") })
        else {
            throw StoreError.invalid(
                field, "must be a record type: a letter, then letters, digits or '_' (at most 100), got \"\(type.prefix(40))\"")
        }
        return type
    }

    /// An internal id: digits.
    public static func validateInternalID(_ id: String, field: String = "id") throws -> String {
        guard !id.isEmpty, id.count <= 20, id.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw StoreError.invalid(field, "must be an internal id (digits), got \"\(id.prefix(40))\"")
        }
        return id
    }

    /// An external id: letters, digits, `_` and `-` (PROVIDERS 2.2).
    public static func validateExternalID(_ id: String, field: String = "external_id") throws -> String {
        guard !id.isEmpty, id.count <= 200,
            id.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            })
        else {
            throw StoreError.invalid(field, "must be an external id (letters, digits, '_' or '-', at most 200), got \"\(id.prefix(40))\"")
        }
        return id
    }

    /// The action's inputs checked: names what is wrong.
    public func validated() throws -> RecordAction {
        func object(_ body: ExactJSON) throws {
            guard case .object = body else { throw StoreError.invalid("body", "must be a JSON object") }
        }
        switch self {
        case .create(let type, let body):
            try object(body)
            return .create(recordType: try Self.validateRecordType(type), body: body)
        case .get(let type, let id):
            return .get(recordType: try Self.validateRecordType(type), id: try id.validated())
        case .update(let type, let id, let body):
            try object(body)
            return .update(recordType: try Self.validateRecordType(type), id: try id.validated(), body: body)
        case .upsert(let type, let externalID, let body):
            try object(body)
            return .upsert(recordType: try Self.validateRecordType(type), externalID: try Self.validateExternalID(externalID), body: body)
        case .delete(let type, let id):
            return .delete(recordType: try Self.validateRecordType(type), id: try id.validated())
        case .query(let text, let limit, let offset):
            guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, text.utf8.count <= Self.maxQueryLength else {
                throw StoreError.invalid("query", "must be a query of 1 to \(Self.maxQueryLength) bytes")
            }
            guard (1...1000).contains(limit) else { throw StoreError.invalid("limit", "must be 1 to 1000, got \(limit)") }
            guard offset >= 0 else { throw StoreError.invalid("offset", "must be at least 0, got \(offset)") }
            return self
        }
    }
}

/// How an action names a record: the provider's internal id or the external id.
public enum RecordActionID: Sendable, Equatable {
    case internalID(String)
    case externalID(String)

    public func validated() throws -> RecordActionID {
        switch self {
        case .internalID(let id): .internalID(try RecordAction.validateInternalID(id))
        case .externalID(let id): .externalID(try RecordAction.validateExternalID(id))
        }
    }
}

/// What an action answered: the record's id (create, update, upsert, delete), the record
/// (get; nil when there is none), or a page of rows (query).
public struct RecordActionResult: Sendable, Equatable {
    /// The provider's internal id of the record written, read or deleted; nil for a query.
    public var id: String?
    /// get: the record as the provider answered; nil when it does not exist.
    public var record: ExactJSON?
    /// get: whether the record exists (false: a 404 at the provider).
    public var found: Bool
    /// query: the page's rows as the provider answered them (values as text), and paging.
    public var rows: [ExactJSON]?
    public var hasMore: Bool?
    public var totalResults: Int?

    public init(
        id: String? = nil, record: ExactJSON? = nil, found: Bool = true, rows: [ExactJSON]? = nil, hasMore: Bool? = nil,
        totalResults: Int? = nil
    ) {
        self.id = id
        self.record = record
        self.found = found
        self.rows = rows
        self.hasMore = hasMore
        self.totalResults = totalResults
    }

    /// The result as one JSON object: `{"id": …, "found": …, "record": …}` or
    /// `{"rows": […], "has_more": …, "total_results": …}`; absent members left out.
    public var json: ExactJSON {
        var members: [(key: String, value: ExactJSON)] = []
        if let id { members.append(("id", .string(id))) }
        if rows == nil { members.append(("found", .bool(found))) }
        if let record { members.append(("record", record)) }
        if let rows { members.append(("rows", .array(rows))) }
        if let hasMore { members.append(("has_more", .bool(hasMore))) }
        if let totalResults { members.append(("total_results", .number(String(totalResults)))) }
        return .object(members)
    }
}

/// A provider that runs generic record actions (NetSuite: the REST record API and SuiteQL).
/// Errors are `SyncError`s classified like the sync's writes; a record that does not exist is
/// a permanent `SyncError` for update and delete, and `found: false` for get.
public protocol RecordActions: AccountingProvider {
    func perform(_ action: RecordAction) async throws -> RecordActionResult
}
