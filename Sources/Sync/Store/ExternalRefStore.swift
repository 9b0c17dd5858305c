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
}

/// Records and looks up billing id ↔ provider id pairs, per connection and object type.
public struct ExternalRefStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    private static let columns =
        "connection_id::text AS connection_id, object_type, billing_id, provider_id, customer_billing_id, synced_at"

    /// Stores the provider id of a billing object, replacing an earlier one (a re-sync).
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
                DO UPDATE SET provider_id = EXCLUDED.provider_id,
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

    /// A connection's refs, optionally of one object type and one billing id, most recently
    /// synced first, at most `limit`.
    public func list(
        connection: UUID, objectType: ExternalRef.ObjectType? = nil, billingID: String? = nil, limit: Int = 100
    ) async throws -> [ExternalRef] {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.external_refs
            WHERE connection_id = $1::uuid AND ($2::text IS NULL OR object_type = $2) AND ($3::text IS NULL OR billing_id = $3)
            ORDER BY synced_at DESC, object_type, billing_id
            LIMIT $4::integer
            """,
            [connection.uuidString, objectType?.rawValue, billingID, limit])
        return try result.rows.map(Self.read)
    }

    static func read(_ row: Row) throws -> ExternalRef {
        ExternalRef(
            connectionID: try StoreSupport.uuid(row, "connection_id"),
            objectType: try row.decode("object_type"),
            billingID: try row.decode("billing_id"),
            providerID: try row.decode("provider_id"),
            customerBillingID: try row.decodeIfPresent("customer_billing_id"),
            syncedAt: try row.decode("synced_at"))
    }
}
