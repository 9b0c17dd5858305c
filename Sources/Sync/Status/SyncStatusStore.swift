import Foundation
import JobQueue
import Postgres

/// The sync status of one billing object on one connection (`ledgersync.billing_sync_status`,
/// sync migration 016; docs/sync-status.md).
public struct SyncStatus: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        /// A job for it is queued, running or waiting (`lastError` then says for what).
        case pending
        /// The last write to the provider succeeded.
        case synced
        /// The latest job failed for good.
        case failed
        /// The latest job failed on something a person must fix first (a missing mapping, a
        /// closed period, a locked record); a retry after the fix can succeed.
        case needsAction = "needs_action"
    }

    public let connectionID: UUID
    public let connectionName: String
    public let provider: String
    /// `customer`, `invoice`, `sales_order`, `credit_memo`, `payment`.
    public let objectType: String
    public let billingID: String
    public let documentNumber: String?
    public let customerBillingID: String?
    public let state: State
    public let providerID: String?
    public let providerLink: String?
    public let lastJobID: Int64?
    public let lastJobKind: String?
    public let lastError: String?
    public let lastErrorCode: String?
    public let documentDigest: String?
    public let syncedAt: Date?
    public let updatedAt: Date
    /// The last document written (its JSON text), read by `SyncStatusStore.get` only.
    public var document: String?

    init(row: Row) throws {
        connectionID = try StoreSupport.uuid(row, "connection_id")
        connectionName = try row.decode("connection_name")
        provider = try row.decode("provider")
        objectType = try row.decode("object_type")
        billingID = try row.decode("billing_id")
        documentNumber = try row.decodeIfPresent("document_number")
        customerBillingID = try row.decodeIfPresent("customer_billing_id")
        state = try row.decode("state", as: State.self)
        providerID = try row.decodeIfPresent("provider_id")
        providerLink = try row.decodeIfPresent("provider_link")
        lastJobID = try row.decodeIfPresent("last_job_id")
        lastJobKind = try row.decodeIfPresent("last_job_kind")
        lastError = try row.decodeIfPresent("last_error")
        lastErrorCode = try row.decodeIfPresent("last_error_code")
        documentDigest = try row.decodeIfPresent("document_digest")
        syncedAt = try row.decodeIfPresent("synced_at")
        updatedAt = try row.decode("updated_at")
        document = row.columns.contains("document") ? try row.decodeIfPresent("document") : nil
    }
}

/// Which statuses to list (every field nil: all), and where a page starts.
public struct SyncStatusFilter: Sendable, Equatable {
    public var billingID: String?
    public var documentNumber: String?
    /// The billing customer (its `lago_id`).
    public var customerID: String?
    public var states: [SyncStatus.State]?
    public var connectionID: UUID?
    public var objectType: String?
    /// The page starts after this key (`SyncStatusStore.Cursor`).
    public var after: SyncStatusCursor?
    public var limit: Int

    public init(
        billingID: String? = nil, documentNumber: String? = nil, customerID: String? = nil, states: [SyncStatus.State]? = nil,
        connectionID: UUID? = nil, objectType: String? = nil, after: SyncStatusCursor? = nil, limit: Int = 50
    ) {
        self.billingID = billingID
        self.documentNumber = documentNumber
        self.customerID = customerID
        self.states = states
        self.connectionID = connectionID
        self.objectType = objectType
        self.after = after
        self.limit = limit
    }
}

/// Where a page of statuses ends: the key of its last row, as text for an API cursor
/// (`<connection>|<object type>|<billing id>`).
public struct SyncStatusCursor: Sendable, Equatable {
    public let connectionID: UUID
    public let objectType: String
    public let billingID: String

    public init(connectionID: UUID, objectType: String, billingID: String) {
        self.connectionID = connectionID
        self.objectType = objectType
        self.billingID = billingID
    }

    public init?(_ text: String) {
        let parts = text.split(separator: "|", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count == 3, let id = UUID(uuidString: String(parts[0])), !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(connectionID: id, objectType: String(parts[1]), billingID: String(parts[2]))
    }

    public var text: String { "\(connectionID.uuidString.lowercased())|\(objectType)|\(billingID)" }
}

/// Reads and writes `ledgersync.sync_status` (sync migration 016). The sync jobs write it
/// (`SyncEnvironment.run`, `SyncSession.recordResult`); the API, the CLI and the dashboard
/// read it.
public struct SyncStatusStore: Sendable {
    public let pool: ConnectionPool

    /// The object types a status row can have (`sync_status.object_type`).
    public static let objectTypes = ExternalRef.ObjectType.allCases.map(\.rawValue)

    public init(pool: ConnectionPool) { self.pool = pool }

    /// A page of statuses in key order (connection, object type, billing id).
    public func list(_ filter: SyncStatusFilter) async throws -> [SyncStatus] {
        let states = filter.states.map { $0.map(\.rawValue).joined(separator: ",") }
        return try await pool.query(
            SyncSQL.syncStatusList,
            [
                filter.billingID, filter.documentNumber, filter.customerID, states, filter.connectionID?.uuidString,
                filter.objectType, filter.after?.connectionID.uuidString, filter.after?.objectType, filter.after?.billingID,
                max(1, filter.limit),
            ]
        ).rows.map(SyncStatus.init(row:))
    }

    /// One object's status with its last document written; nil when there is none.
    public func get(connection: UUID, objectType: String, billingID: String) async throws -> SyncStatus? {
        try await pool.query(SyncSQL.syncStatusGet, [connection.uuidString, objectType, billingID]).rows.first.map(SyncStatus.init(row:))
    }

    /// The ids of the object's jobs (`ledgersync.sync_status_jobs`), newest first: those
    /// enqueued through `enqueue_sync`, run, or that synced it, while retention keeps them.
    public func jobIDs(connection: UUID, objectType: String, billingID: String, limit: Int = 20) async throws -> [Int64] {
        try await pool.query(SyncSQL.syncStatusJobIds, [connection.uuidString, objectType, billingID, max(1, limit)]).rows.map {
            try $0.decode("job_id")
        }
    }

    // MARK: - Writes (the sync jobs)

    /// Job `jobID`'s object is pending; `reason` and `code` say what it waits for (nil: it
    /// starts running, the error is cleared).
    func pending(jobID: Int64, reason: String? = nil, code: String? = nil) async throws {
        try await pool.query(SyncSQL.syncStatusPending, [jobID, reason, code])
    }

    /// Job `jobID` failed for good.
    func failed(jobID: Int64, needsAction: Bool, error: String, code: String?) async throws {
        try await pool.query(
            SyncSQL.syncStatusFailed,
            [jobID, needsAction ? SyncStatus.State.needsAction.rawValue : SyncStatus.State.failed.rawValue, error, code])
    }

    /// What `synced` recorded.
    struct Synced: Sendable {
        let first: Bool
        let repeated: Bool
        let documentNumber: String?
        let customerBillingID: String?
    }

    /// Job `jobID` wrote the object; in the caller's transaction on `db`.
    func synced(
        jobID: Int64, objectType: ExternalRef.ObjectType, billingID: String, documentPath: [String]?, providerID: String,
        providerLink: String?, customerBillingID: String?, on db: Connection
    ) async throws -> Synced? {
        guard
            let row = try await db.query(
                SyncSQL.syncStatusSynced,
                [jobID, objectType.rawValue, billingID, documentPath, providerID, providerLink, customerBillingID]
            ).rows.first,
            let first: Bool = try row.decodeIfPresent("first")
        else { return nil }
        return Synced(
            first: first, repeated: try row.decodeIfPresent("repeated") ?? false,
            documentNumber: try row.decodeIfPresent("document_number"),
            customerBillingID: try row.decodeIfPresent("customer_billing_id"))
    }
}
