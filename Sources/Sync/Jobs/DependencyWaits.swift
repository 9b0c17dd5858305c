import Foundation
import JobQueue
import Postgres

/// What a waiting sync job waits for, as its views show it (sync migrations 007, 009).
public enum DependencyWaits {
    /// One recorded wait: the customer or invoice a job needs, and the unfinished job that
    /// will create it, when one is queued.
    public struct Wait: Sendable, Equatable {
        public let objectType: String
        public let billingID: String
        public let awaitedJobID: Int64?
        public let awaitedKind: String?
        public let since: Date
        /// Whether the job is parked on it (holds no place in its lane; queue migration 009).
        public let parked: Bool

        /// "invoice inv_1 (invoice.push job 12), since 2026-12-03T06:00:00Z".
        public var description: String {
            var text = "\(objectType) \(billingID)"
            if let awaitedJobID, let awaitedKind {
                text += " (\(awaitedKind) job \(awaitedJobID))"
            } else {
                text += " (no queued job creates it)"
            }
            return text + ", since " + ISO8601DateFormatter().string(from: since)
        }
    }

    /// The job's recorded wait, nil when it records none (it is not a sync job, or it is
    /// not waiting). Only meaningful while the job is available or retryable: a wait is
    /// cleared when what it waits for arrives.
    public static func wait(jobID: Int64, pool: ConnectionPool) async throws -> Wait? {
        let rows = try await pool.query(
            """
            SELECT w.object_type, w.billing_id, w.awaited_job_id, w.awaited_kind, w.since,
                   coalesce(j.wait_key IS NOT NULL AND j.state = 'available', false) AS parked
            FROM ledgersync.dependency_waits w
            LEFT JOIN ledgersync.jobs j ON j.id = w.job_id
            WHERE w.job_id = $1
            """, [jobID]
        ).rows
        guard let row = rows.first else { return nil }
        let awaitedJobID = try row.decodeIfPresent("awaited_job_id", as: Int64.self)
        let awaitedKind = try row.decodeIfPresent("awaited_kind", as: String.self)
        return Wait(
            objectType: try row.decode("object_type"), billingID: try row.decode("billing_id"),
            awaitedJobID: awaitedKind == nil ? nil : awaitedJobID, awaitedKind: awaitedJobID == nil ? nil : awaitedKind,
            since: try row.decode("since"), parked: try row.decode("parked"))
    }

    /// "invoice inv_1 (invoice.push job 12), since 2026-12-03T06:00:00Z", nil when the job
    /// records no wait (see `wait(jobID:pool:)`).
    public static func describe(jobID: Int64, pool: ConnectionPool) async throws -> String? {
        try await wait(jobID: jobID, pool: pool)?.description
    }
}
