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

/// Enqueues sync jobs through `ledgersync.enqueue_sync` (sql/sync/014), the function SQL
/// callers use: Swift, the HTTP API and the CLI all enqueue a sync job in that one call, so
/// its serial and limit keys and its customer are derived in one place, in the same
/// statement that inserts it.
public struct SyncQueue: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// The options of `ledgersync.enqueue_sync` besides the document (as `EnqueueRequest`'s).
    public struct Options: Sendable, Equatable {
        public var queue: String
        /// 0 (most urgent) to 9.
        public var priority: Int
        /// Not before this time; nil means now.
        public var runAt: Date?
        /// nil means the kind's default (published by workers), else 20.
        public var maxAttempts: Int?
        /// An unfinished job holding it is returned instead of enqueueing another.
        public var uniqueKey: String?

        public init(queue: String = "default", priority: Int = 0, runAt: Date? = nil, maxAttempts: Int? = nil, uniqueKey: String? = nil) {
            self.queue = queue
            self.priority = priority
            self.runAt = runAt
            self.maxAttempts = maxAttempts
            self.uniqueKey = uniqueKey
        }
    }

    /// Enqueues one sync of `document` (Lago JSON, bare or in its envelope) on its own
    /// connection from the pool.
    @discardableResult
    public func enqueue(
        connection: UUID, kind: SyncJobKind, document: JSONText, customerID: String? = nil, options: Options = Options()
    ) async throws -> Int64 {
        try await pool.withConnection { db in
            try await enqueue(connection: connection, kind: kind, document: document, customerID: customerID, options: options, on: db)
        }
    }

    /// Enqueues inside the caller's transaction on `db`: the job exists if and only if it commits.
    @discardableResult
    public func enqueue(
        connection: UUID, kind: SyncJobKind, document: JSONText, customerID: String? = nil, options: Options = Options(),
        on db: Connection
    ) async throws -> Int64 {
        let result = try await db.query(
            SyncSQL.enqueueSync,
            [
                connection.uuidString, kind.rawValue, document, customerID, options.priority, options.runAt, options.maxAttempts,
                options.queue, options.uniqueKey,
            ],
            prepare: true)
        return try result.rows[0].decode("id")
    }

    /// A job request of the HTTP API or `ledgersync enqueue` that is a sync job to enqueue
    /// through `enqueue_sync`: a sync kind, args naming a `connection_id`, and no serial or
    /// limit key of the client's own (a client that sets its own keys opts out of the
    /// derived ones, and its job is a plain `ledgersync.enqueue`). The args are the
    /// document; their `customer_id`, when a string, is the customer.
    public struct Request: Sendable, Equatable {
        public let kind: SyncJobKind
        public let connection: UUID
        public let document: JSONText
        public let customerID: String?
        public let options: Options

        /// Nil when `request` is not such a job (another kind, or the client's own keys).
        /// A sync kind whose args lack a `connection_id` UUID is nil too: callers refuse it
        /// naming the field before they get here.
        public init?(_ request: EnqueueRequest) {
            guard let kind = SyncJobKind(rawValue: request.kind), request.serialKey == nil, request.limitKey == nil,
                let members = (try? ExactJSON.parse(request.args.text))?.objectMembers,
                let connectionText = members.last(where: { $0.key == "connection_id" })?.value.stringValue,
                let connection = UUID(uuidString: connectionText)
            else { return nil }
            self.kind = kind
            self.connection = connection
            document = request.args
            customerID = members.last { $0.key == "customer_id" }?.value.stringValue
            options = Options(
                queue: request.queue, priority: request.priority, runAt: request.runAt, maxAttempts: request.maxAttempts,
                uniqueKey: request.uniqueKey)
        }
    }

    /// Enqueues `request` in the caller's transaction on `db` (one `enqueue_sync` call).
    @discardableResult
    public func enqueue(_ request: Request, on db: Connection) async throws -> Int64 {
        try await enqueue(
            connection: request.connection, kind: request.kind, document: request.document, customerID: request.customerID,
            options: request.options, on: db)
    }

    /// The keys `ledgersync.enqueue_sync` gives a sync job (sql/sync/014), without enqueueing.
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
            serialKey: try row.decodeIfPresent("serial_key"), limitKey: try row.decode("limit_key"),
            customerID: try row.decodeIfPresent("customer"))
    }
}
