import Foundation
import Postgres

/// How one billing code becomes a provider record on one connection (`ledgersync.mappings`).
public struct Mapping: Sendable, Equatable {
    public enum Kind: String, Sendable, Equatable, Codable, CaseIterable {
        /// The catch-all item (one per connection; `billingKey` is "").
        case fallbackItem = "fallback_item"
        /// One item per fee category; `billingKey` is a `FeeKind` with a default item.
        case defaultItem = "default_item"
        /// A one-to-one item for a billable metric or add-on code.
        case item
        /// A billing tax code → SuiteTax nexus/type/code (`details`) or the legacy tax item.
        case tax
        /// An ISO currency code → the provider's currency id.
        case currency
        /// A billing field or metadata key → a provider field id, per `recordType`.
        case customField = "custom_field"
    }

    public var connectionID: UUID
    public var kind: Kind
    public var billingKey: String
    /// Only for `.customField`: the provider record type (e.g. `invoice`).
    public var recordType: String?
    public var providerID: String
    public var providerName: String?
    public var accountCode: String?
    /// Extra data by kind; for tax: `nexus`, `tax_type`, `tax_code`, `legacy_tax_item`.
    public var details: [String: String]

    public init(
        connectionID: UUID, kind: Kind, billingKey: String, recordType: String? = nil, providerID: String,
        providerName: String? = nil, accountCode: String? = nil, details: [String: String] = [:]
    ) {
        self.connectionID = connectionID
        self.kind = kind
        self.billingKey = billingKey
        self.recordType = recordType
        self.providerID = providerID
        self.providerName = providerName
        self.accountCode = accountCode
        self.details = details
    }

    /// The connection's catch-all item.
    public static func fallbackItem(connectionID: UUID, providerID: String, providerName: String? = nil, accountCode: String? = nil)
        -> Mapping
    {
        Mapping(
            connectionID: connectionID, kind: .fallbackItem, billingKey: "", providerID: providerID, providerName: providerName,
            accountCode: accountCode)
    }

    /// The default item for a fee category.
    public static func defaultItem(
        connectionID: UUID, for feeKind: FeeKind, providerID: String, providerName: String? = nil, accountCode: String? = nil
    ) -> Mapping {
        Mapping(
            connectionID: connectionID, kind: .defaultItem, billingKey: feeKind.rawValue, providerID: providerID,
            providerName: providerName, accountCode: accountCode)
    }

    /// A one-to-one item for a billable metric or add-on code.
    public static func item(connectionID: UUID, code: String, providerID: String, providerName: String? = nil, accountCode: String? = nil)
        -> Mapping
    {
        Mapping(
            connectionID: connectionID, kind: .item, billingKey: code, providerID: providerID, providerName: providerName,
            accountCode: accountCode)
    }

    /// The categories of fee (and other document lines) that need an item (PROVIDERS.md 1.4).
    public enum FeeKind: String, Sendable, Equatable, Codable, CaseIterable {
        case subscription
        case minimumCommitment = "minimum_commitment"
        case coupon
        case creditNote = "credit_note"
        case prepaidCredit = "prepaid_credit"
        /// A usage charge: its billable metric code has a one-to-one item; no default item.
        case charge
        /// An add-on / fixed charge: its add-on code has a one-to-one item; no default item.
        case addOn = "add_on"

        /// The `default_item` key for this kind, nil for kinds mapped one-to-one only.
        public var defaultItemKey: String? {
            switch self {
            case .charge, .addOn: nil
            default: rawValue
            }
        }
    }

    /// Checks what the table's CHECKs would refuse, with errors naming the field.
    public func validate() throws {
        try StoreSupport.requireNotBlank(providerID, "provider_id")
        switch kind {
        case .fallbackItem:
            guard billingKey.isEmpty else { throw StoreError.invalid("billing_key", "must be empty for a fallback_item") }
        case .defaultItem:
            guard FeeKind(rawValue: billingKey)?.defaultItemKey != nil else {
                let keys = FeeKind.allCases.compactMap(\.defaultItemKey).joined(separator: ", ")
                throw StoreError.invalid("billing_key", "a default_item is for one of: \(keys); got \"\(billingKey.prefix(40))\"")
            }
        default:
            try StoreSupport.requireNotBlank(billingKey, "billing_key")
        }
        if kind == .customField {
            try StoreSupport.requireNotBlank(recordType ?? "", "record_type")
        } else if recordType != nil {
            throw StoreError.invalid("record_type", "is only for custom_field mappings")
        }
    }
}

/// Stores mappings and resolves the item for a fee.
public struct MappingStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    private static let columns = """
        connection_id::text AS connection_id, kind, billing_key, record_type, provider_id, provider_name, account_code, details
        """

    /// Creates the mapping or replaces the one with the same connection, kind, key and record type.
    @discardableResult
    public func upsert(_ mapping: Mapping) async throws -> Mapping {
        try mapping.validate()
        return try await StoreSupport.mapForeignKey(connection: mapping.connectionID) {
            let result = try await pool.query(
                """
                INSERT INTO ledgersync.mappings
                    (connection_id, kind, billing_key, record_type, provider_id, provider_name, account_code, details)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8::jsonb)
                ON CONFLICT (connection_id, kind, billing_key, (coalesce(record_type, '')))
                DO UPDATE SET provider_id = EXCLUDED.provider_id, provider_name = EXCLUDED.provider_name,
                    account_code = EXCLUDED.account_code, details = EXCLUDED.details, updated_at = now()
                RETURNING \(Self.columns)
                """,
                [
                    mapping.connectionID.uuidString, mapping.kind.rawValue, mapping.billingKey, mapping.recordType,
                    mapping.providerID, mapping.providerName, mapping.accountCode, try JSONText(encoding: mapping.details),
                ])
            return try Self.read(result.rows[0])
        }
    }

    /// A connection's mappings (of one kind if given), by kind, key and record type.
    public func list(connection: UUID, kind: Mapping.Kind? = nil) async throws -> [Mapping] {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.mappings
            WHERE connection_id = $1::uuid AND ($2::text IS NULL OR kind = $2)
            ORDER BY kind, billing_key, record_type NULLS FIRST
            """,
            [connection.uuidString, kind?.rawValue])
        return try result.rows.map(Self.read)
    }

    /// One mapping, nil when there is none.
    public func get(connection: UUID, kind: Mapping.Kind, billingKey: String, recordType: String? = nil) async throws -> Mapping? {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.mappings
            WHERE connection_id = $1::uuid AND kind = $2 AND billing_key = $3
              AND coalesce(record_type, '') = coalesce($4::text, '')
            """,
            [connection.uuidString, kind.rawValue, billingKey, recordType])
        return try result.rows.first.map(Self.read)
    }

    /// Deletes one mapping; false when there was none.
    @discardableResult
    public func delete(connection: UUID, kind: Mapping.Kind, billingKey: String, recordType: String? = nil) async throws -> Bool {
        try await pool.query(
            """
            DELETE FROM ledgersync.mappings
            WHERE connection_id = $1::uuid AND kind = $2 AND billing_key = $3
              AND coalesce(record_type, '') = coalesce($4::text, '')
            """,
            [connection.uuidString, kind.rawValue, billingKey, recordType]
        ).affectedRows > 0
    }

    /// The item for a fee (PROVIDERS.md 1.4), by the rules of `MappingSet.resolveItem`.
    public func resolveItem(connection: UUID, feeKind: Mapping.FeeKind, code: String? = nil) async throws -> Mapping {
        try await mappingSet(connection: connection).resolveItem(feeKind: feeKind, code: code)
    }

    /// Every mapping of a connection, ready for payload building.
    public func mappingSet(connection: UUID) async throws -> MappingSet {
        MappingSet(connectionID: connection, mappings: try await list(connection: connection))
    }

    static func read(_ row: Row) throws -> Mapping {
        Mapping(
            connectionID: try StoreSupport.uuid(row, "connection_id"),
            kind: try row.decode("kind"),
            billingKey: try row.decode("billing_key"),
            recordType: try row.decodeIfPresent("record_type"),
            providerID: try row.decode("provider_id"),
            providerName: try row.decodeIfPresent("provider_name"),
            accountCode: try row.decodeIfPresent("account_code"),
            details: try row.decode("details", as: JSONText.self).decode([String: String].self))
    }
}
