import Foundation
import JobQueue
import Postgres

/// What a waiting sync job waits for, as its views show it (sync migration 007).
public enum DependencyWaits {
    /// "invoice inv_1 (invoice.push job 12), since 2026-12-03T06:00:00Z", nil when the job
    /// records no wait (it is not a sync job, or it is not waiting). Only meaningful while
    /// the job is available or retryable: a wait is cleared when the job runs again.
    public static func describe(jobID: Int64, pool: ConnectionPool) async throws -> String? {
        let rows = try await pool.query(
            """
            SELECT object_type, billing_id, awaited_job_id, awaited_kind, since
            FROM ledgersync.dependency_waits WHERE job_id = $1
            """, [jobID]).rows
        guard let row = rows.first else { return nil }
        let objectType: String = try row.decode("object_type")
        let billingID: String = try row.decode("billing_id")
        let since: Date = try row.decode("since")
        var text = "\(objectType) \(billingID)"
        if let awaited = try row.decodeIfPresent("awaited_job_id", as: Int64.self),
           let kind = try row.decodeIfPresent("awaited_kind", as: String.self) {
            text += " (\(kind) job \(awaited))"
        } else {
            text += " (no queued job creates it)"
        }
        return text + ", since " + ISO8601DateFormatter().string(from: since)
    }
}
