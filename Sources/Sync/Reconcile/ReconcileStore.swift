import Foundation
import Postgres
import Synchronization

/// A stored reconciliation run (sync migration 018): its counts and its first drift rows.
public struct ReconcileRun: Sendable, Equatable {
    public let id: Int64
    public let jobID: Int64?
    public let since: Date?
    public let summary: ReconcileSummary
    /// Whether drift rows were left out (more than `ReconcileStore.maxDriftRows`).
    public let driftTruncated: Bool
    public let findings: [ReconcileFinding]
}

/// Keeps reconciliation reports: the last 10 runs per connection, each with at most
/// `maxDriftRows` drift rows (the counts are always complete).
public struct ReconcileStore: Sendable {
    public static let maxDriftRows = 1000
    /// Drift rows written per statement.
    static let batch = 200

    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Collects a run's findings while it streams (at most `maxDriftRows`), then stores it.
    public final class Recorder: Sendable {
        private let state = Mutex<(findings: [ReconcileFinding], truncated: Bool)>(([], false))

        public init() {}

        public func record(_ finding: ReconcileFinding) {
            state.withLock {
                if $0.findings.count < ReconcileStore.maxDriftRows {
                    $0.findings.append(finding)
                } else {
                    $0.truncated = true
                }
            }
        }

        public var findings: [ReconcileFinding] { state.withLock { $0.findings } }
        public var truncated: Bool { state.withLock { $0.truncated } }
    }

    /// Stores a run and its (bounded) findings in one transaction, deleting the connection's
    /// runs older than its newest 10. Returns the run's id.
    @discardableResult
    public func store(
        _ summary: ReconcileSummary, findings recorder: Recorder, jobID: Int64? = nil, since: Date? = nil,
        objectTypes: [ExternalRef.ObjectType]? = nil
    ) async throws -> Int64 {
        let findings = recorder.findings
        return try await pool.withTransaction { db in
            let id: Int64 = try await db.query(
                SyncSQL.reconcileStoreRun,
                [
                    summary.connectionID.uuidString, jobID, since, objectTypes?.map(\.rawValue), summary.startedAt, summary.checked,
                    summary.matched, summary.missing, summary.changed, summary.changedFields, summary.extra, summary.unlinked,
                    summary.inFlight, recorder.truncated,
                ], prepare: true
            ).rows[0].decode("id")
            var start = 0
            while start < findings.count {
                let slice = findings[start..<min(start + Self.batch, findings.count)]
                try await db.query(
                    SyncSQL.reconcileStoreDrift,
                    [
                        id, Array(start..<start + slice.count), slice.map(\.kind.rawValue), slice.map(\.objectType), slice.map(\.billingID),
                        slice.map(\.documentNumber), slice.map(\.providerID), slice.map(\.field), slice.map(\.expected),
                        slice.map(\.actual), slice.map(\.expectedMinor), slice.map(\.actualMinor), slice.map(\.action),
                        slice.map(\.repairable),
                    ], prepare: true)
                start += slice.count
            }
            return id
        }
    }

    /// The newest run of a connection with its first `limit` drift rows; nil when none ran.
    public func lastRun(connection: UUID, limit: Int = ReconcileStore.maxDriftRows) async throws -> ReconcileRun? {
        guard let row = try await pool.query(SyncSQL.reconcileLastRun, [connection.uuidString]).rows.first else { return nil }
        let id: Int64 = try row.decode("id")
        var summary = ReconcileSummary(connectionID: connection, startedAt: try row.decode("started_at"))
        summary.finishedAt = try row.decode("finished_at")
        summary.checked = try row.decode("checked")
        summary.matched = try row.decode("matched")
        summary.missing = try row.decode("missing")
        summary.changed = try row.decode("changed")
        summary.changedFields = try row.decode("changed_fields")
        summary.extra = try row.decode("extra")
        summary.unlinked = try row.decode("unlinked")
        summary.inFlight = try row.decode("in_flight")
        let findings = try await pool.query(SyncSQL.reconcileDriftRows, [id, max(0, limit)]).rows.map { row in
            let kind: String = try row.decode("kind")
            return ReconcileFinding(
                kind: ReconcileFinding.Kind(rawValue: kind) ?? .changed, objectType: try row.decode("object_type"),
                billingID: try row.decodeIfPresent("billing_id"), documentNumber: try row.decodeIfPresent("document_number"),
                providerID: try row.decodeIfPresent("provider_id"), field: try row.decodeIfPresent("field"),
                expected: try row.decodeIfPresent("expected"), actual: try row.decodeIfPresent("actual"),
                expectedMinor: try row.decodeIfPresent("expected_minor"), actualMinor: try row.decodeIfPresent("actual_minor"),
                repairable: try row.decode("repairable"), action: try row.decode("action"))
        }
        return ReconcileRun(
            id: id, jobID: try row.decodeIfPresent("job_id"), since: try row.decodeIfPresent("since"), summary: summary,
            driftTruncated: try row.decode("drift_truncated"), findings: findings)
    }

    /// Every connection with its last stored run (nil when never reconciled), by name: the
    /// dashboard's page. At most `limit` drift rows per run.
    public func lastRuns(limit: Int = 50) async throws -> [(connectionID: UUID, name: String, provider: String, run: ReconcileRun?)] {
        var out: [(connectionID: UUID, name: String, provider: String, run: ReconcileRun?)] = []
        for row in try await pool.query(SyncSQL.reconcileConnections).rows {
            guard let id = UUID(uuidString: try row.decode("id")) else { continue }
            let reconciled: Bool = try row.decode("reconciled")
            out.append(
                (id, try row.decode("name"), try row.decode("provider"), reconciled ? try await lastRun(connection: id, limit: limit) : nil)
            )
        }
        return out
    }
}
