import Foundation
import Postgres

/// The provider's id of one synced billing object (`ledgersync.external_refs`).
public struct ExternalRef: Sendable, Equatable {
    public enum ObjectType: String, Sendable, Equatable, Codable, CaseIterable {
        case customer
        case invoice
        case salesOrder = "sales_order"
        case creditMemo = "credit_memo"
        case payment
    }

    public let connectionID: UUID
    public let objectType: ObjectType
    /// The billing system's id.
    public let billingID: String
    /// The provider's internal id.
    public let providerID: String
    /// For invoices, sales orders and credit memos: the billing id of their customer.
    public let customerBillingID: String?
    public let syncedAt: Date
    /// When a person linked the object to an existing provider record (`refs link`,
    /// `ledgersync.link_ref`); nil for a ref the workers recorded. A linked object is written
    /// by its internal id, and a sync never replaces its provider id (docs/linking.md).
    public var linkedAt: Date? = nil

    public var isLinked: Bool { linkedAt != nil }
}

/// A link refused because another billing object of the connection and type already has
/// the provider record (`ledgersync.link_ref`, SQLSTATE 23505).
public struct RefLinkConflict: Error, Sendable, Equatable, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// Records and looks up billing id ↔ provider id pairs, per connection and object type.
public struct ExternalRefStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    private static let columns =
        "connection_id::text AS connection_id, object_type, billing_id, provider_id, customer_billing_id, synced_at, linked_at"

    /// Stores the provider id of a billing object, replacing an earlier one (a re-sync). A
    /// linked ref keeps its provider id and `linked_at`: the link is a person's decision.
    @discardableResult
    public func record(
        connection: UUID, objectType: ExternalRef.ObjectType, billingID: String, providerID: String,
        customerBillingID: String? = nil
    ) async throws -> ExternalRef {
        try StoreSupport.requireNotBlank(billingID, "billing_id")
        try StoreSupport.requireNotBlank(providerID, "provider_id")
        return try await StoreSupport.mapForeignKey(connection: connection) {
            let result = try await pool.query(
                """
                INSERT INTO ledgersync.external_refs (connection_id, object_type, billing_id, provider_id, customer_billing_id)
                VALUES ($1::uuid, $2, $3, $4, $5)
                ON CONFLICT (connection_id, object_type, billing_id)
                DO UPDATE SET provider_id = CASE WHEN external_refs.linked_at IS NULL
                        THEN EXCLUDED.provider_id ELSE external_refs.provider_id END,
                    customer_billing_id = coalesce(EXCLUDED.customer_billing_id, external_refs.customer_billing_id),
                    synced_at = now()
                RETURNING \(Self.columns)
                """,
                [connection.uuidString, objectType.rawValue, billingID, providerID, customerBillingID])
            return try Self.read(result.rows[0])
        }
    }

    /// The ref of a billing object, nil when it has not been synced.
    public func lookup(connection: UUID, objectType: ExternalRef.ObjectType, billingID: String) async throws -> ExternalRef? {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.external_refs
            WHERE connection_id = $1::uuid AND object_type = $2 AND billing_id = $3
            """,
            [connection.uuidString, objectType.rawValue, billingID])
        return try result.rows.first.map(Self.read)
    }

    /// The ref holding a provider id (an inbound event names the provider's record); the most
    /// recently synced one if several billing objects point at it.
    public func lookup(connection: UUID, objectType: ExternalRef.ObjectType, providerID: String) async throws -> ExternalRef? {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.external_refs
            WHERE connection_id = $1::uuid AND object_type = $2 AND provider_id = $3
            ORDER BY synced_at DESC, billing_id
            LIMIT 1
            """,
            [connection.uuidString, objectType.rawValue, providerID])
        return try result.rows.first.map(Self.read)
    }

    /// A connection's refs, optionally of one object type and one billing id (and only the
    /// linked ones), most recently synced first, at most `limit`.
    public func list(
        connection: UUID, objectType: ExternalRef.ObjectType? = nil, billingID: String? = nil, linkedOnly: Bool = false, limit: Int = 100
    ) async throws -> [ExternalRef] {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.external_refs
            WHERE connection_id = $1::uuid AND ($2::text IS NULL OR object_type = $2) AND ($3::text IS NULL OR billing_id = $3)
              AND (NOT $5::boolean OR linked_at IS NOT NULL)
            ORDER BY synced_at DESC, object_type, billing_id
            LIMIT $4::integer
            """,
            [connection.uuidString, objectType?.rawValue, billingID, limit, linkedOnly])
        return try result.rows.map(Self.read)
    }

    /// Links a billing object to the provider's existing record `providerID` (its internal
    /// id), replacing the object's earlier ref. Throws `RefLinkConflict` when another billing
    /// object of the connection and type has that record, `StoreError` for bad input.
    @discardableResult
    public func link(connection: UUID, objectType: ExternalRef.ObjectType, billingID: String, providerID: String) async throws
        -> ExternalRef
    {
        try StoreSupport.requireNotBlank(billingID, "billing_id")
        guard !billingID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw StoreError.invalid("billing_id", "must not contain control characters")
        }
        try Self.requireInternalID(providerID)
        do {
            let result = try await pool.query(SyncSQL.linkRef, [connection.uuidString, objectType.rawValue, billingID, providerID])
            return try Self.read(result.rows[0])
        } catch let error as PostgresError where error.isUniqueViolation {
            throw RefLinkConflict(message: Self.functionMessage(error.message))
        } catch let error as PostgresError where error.sqlState == "22023" {
            let message = Self.functionMessage(error.message)
            if message.hasPrefix("no connection") { throw StoreError(.notFound, field: "connection_id", message) }
            throw StoreError(.invalidField, message)
        }
    }

    /// Removes the link of a billing object; returns the provider id it had, nil when the
    /// object had no linked ref (a synced ref is not a link and stays).
    public func unlink(connection: UUID, objectType: ExternalRef.ObjectType, billingID: String) async throws -> String? {
        let result = try await pool.query(SyncSQL.unlinkRef, [connection.uuidString, objectType.rawValue, billingID])
        return try result.rows.first?.decodeIfPresent("provider_id")
    }

    /// The refs of a connection and type for these billing ids (at most 10 000), by billing
    /// id: `refs match` leaves out the objects that have one.
    public func lookup(connection: UUID, objectType: ExternalRef.ObjectType, billingIDs: [String]) async throws -> [String: ExternalRef] {
        guard !billingIDs.isEmpty else { return [:] }
        guard billingIDs.count <= 10_000 else {
            throw StoreError.invalid("billing_id", "at most 10000 ids at once, got \(billingIDs.count)")
        }
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.external_refs
            WHERE connection_id = $1::uuid AND object_type = $2 AND billing_id = ANY($3::text[])
            """,
            [connection.uuidString, objectType.rawValue, billingIDs])
        var refs: [String: ExternalRef] = [:]
        for row in result.rows {
            let ref = try Self.read(row)
            refs[ref.billingID] = ref
        }
        return refs
    }

    /// NetSuite's internal ids are digits, and they end up in a URL path.
    public static func requireInternalID(_ providerID: String) throws {
        let trimmed = providerID.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 18, trimmed.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw StoreError.invalid("provider_id", "must be the provider's internal id (digits), got \"\(providerID.prefix(40))\"")
        }
    }

    /// "ERROR:  ledgersync.link_ref: no connection …; CONTEXT: …" → "no connection …".
    private static func functionMessage(_ text: String) -> String {
        let line = text.split(separator: "; ", maxSplits: 1).first.map(String.init) ?? text
        guard let range = line.range(of: "ledgersync.link_ref: ") else { return line }
        return String(line[range.upperBound...])
    }

    static func read(_ row: Row) throws -> ExternalRef {
        ExternalRef(
            connectionID: try StoreSupport.uuid(row, "connection_id"),
            objectType: try row.decode("object_type"),
            billingID: try row.decode("billing_id"),
            providerID: try row.decode("provider_id"),
            customerBillingID: try row.decodeIfPresent("customer_billing_id"),
            syncedAt: try row.decode("synced_at"),
            linkedAt: try row.decodeIfPresent("linked_at"))
    }
}
