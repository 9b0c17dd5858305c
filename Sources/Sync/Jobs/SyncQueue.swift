import ExactJSON
import Foundation
import JobQueue
import Postgres

/// The sync job kinds, by their contract names.
public enum SyncJobKind: String, Sendable, CaseIterable, Codable {
    case customerSync = "customer.sync"
    case invoicePush = "invoice.push"
    case salesOrderPush = "sales_order.push"
    case creditMemoPush = "credit_memo.push"
    case paymentApply = "payment.apply"
    case invoiceVoid = "invoice.void"
    case creditMemoVoid = "credit_memo.void"
}

/// Enqueues sync jobs from Swift through `ledgersync.enqueue_sync` (sql/sync/002, 004), the
/// same function SQL callers use, so the serial and limit keys are built in one place.
public struct SyncQueue: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Enqueues one sync of `document` (Lago JSON, bare or in its envelope) on its own
    /// connection from the pool.
    @discardableResult
    public func enqueue(connection: UUID, kind: SyncJobKind, document: JSONText, customerID: String? = nil) async throws -> Int64 {
        try await pool.withConnection { db in
            try await enqueue(connection: connection, kind: kind, document: document, customerID: customerID, on: db)
        }
    }

    /// The keys `ledgersync.enqueue_sync` gives a sync job (sql/sync/004), for callers that
    /// enqueue through `JobQueue` themselves, as the HTTP API does.
    public struct Keys: Sendable, Equatable {
        /// Per connection and billing customer; nil when no customer is known.
        public let serialKey: String?
        /// Per connection: its concurrency limit holds across all workers.
        public let limitKey: String
        /// The billing customer the document (or its synced invoice) names.
        public let customerID: String?
    }

    public func keys(connection: UUID, kind: SyncJobKind, document: JSONText, customerID: String? = nil) async throws -> Keys {
        let row = try await pool.query(SyncSQL.syncJobKeys, [connection.uuidString, kind.rawValue, document, customerID]).rows[0]
        return Keys(
            serialKey: try row.decodeIfPresent("serial_key"), limitKey: try row.decode("limit_key"), customerID: try row.decodeIfPresent("customer"))
    }

    /// `request`, a sync job of `connection` that the caller enqueues through `JobQueue`
    /// itself (the HTTP API, `ledgersync enqueue`), with the keys `keys(…)` derives and, when
    /// its args name no customer, the derived customer added to them, as enqueue_sync adds
    /// it: the handler and the error webhook then know the customer.
    public func withKeys(_ request: EnqueueRequest, kind: SyncJobKind, connection: UUID) async throws -> EnqueueRequest {
        let members = (try? ExactJSON.parse(request.args.text))?.objectMembers ?? []
        let givenCustomer = members.first { $0.key == "customer_id" }?.value.stringValue
        let keys = try await keys(connection: connection, kind: kind, document: request.args, customerID: givenCustomer)
        var keyed = request
        keyed.serialKey = keys.serialKey
        keyed.limitKey = keys.limitKey
        if givenCustomer == nil, let customer = keys.customerID {
            keyed.args = JSONText(ExactJSON.object(members + [(key: "customer_id", value: .string(customer))]).description)
        }
        return keyed
    }

    /// Enqueues inside the caller's transaction on `db`: the job exists if and only if it commits.
    @discardableResult
    public func enqueue(connection: UUID, kind: SyncJobKind, document: JSONText, customerID: String? = nil, on db: Connection) async throws -> Int64 {
        let result = try await db.query(
            "SELECT ledgersync.enqueue_sync($1::uuid, $2, $3::jsonb, $4) AS id",
            [connection.uuidString, kind.rawValue, document, customerID])
        return try result.rows[0].decode("id")
    }
}
