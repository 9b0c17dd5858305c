import Foundation
import Postgres

/// Something a sync job that succeeded wants a person to look at (sync migration 012).
public struct JobWarning: Sendable, Equatable {
    /// Lines put on the connection's fallback item (`MappingSet.fallbackLines`).
    public static let fallbackItem = "fallback_item"
    /// The job kinds that can leave a `fallback_item` warning (those that write item lines).
    public static let fallbackItemKinds = ["credit_memo.push", "invoice.push", "sales_order.push"]

    public let code: String
    public let message: String
    /// How many things the warning is about (lines on the fallback item).
    public let count: Int
    /// When it was first and last written (nil before it is stored).
    public let createdAt: Date?
    public let updatedAt: Date?

    public init(code: String, message: String, count: Int, createdAt: Date? = nil, updatedAt: Date? = nil) {
        self.code = code
        self.message = message
        self.count = count
        self.createdAt = createdAt
        self.updatedAt = updatedAt
    }

    /// "fallback_item: 2 lines on the fallback item 900 (…): storage_gb (Storage), …".
    public var description: String { "\(code): \(message)" }
}

/// The warnings sync jobs leave (`ledgersync.job_warnings`, sync migration 012): written by
/// the job after its provider write succeeded, read by the job views and /metrics.
public enum JobWarnings {
    /// The warnings job `jobID` left, by code; empty when none (or the job was pruned).
    public static func warnings(jobID: Int64, pool: ConnectionPool) async throws -> [JobWarning] {
        try await pool.query(SyncSQL.jobWarnings, [jobID]).rows.map { row in
            JobWarning(
                code: try row.decode("code"), message: try row.decode("message"), count: Int(try row.decode("count", as: Int64.self)),
                createdAt: try row.decode("created_at"), updatedAt: try row.decode("updated_at"))
        }
    }

    /// Which of `jobIDs` left a warning (for a list's marker).
    public static func jobsWithWarnings(_ jobIDs: [Int64], pool: ConnectionPool) async throws -> Set<Int64> {
        guard !jobIDs.isEmpty else { return [] }
        return Set(try await pool.query(SyncSQL.jobIdsWithWarnings, [jobIDs]).rows.map { try $0.decode("job_id", as: Int64.self) })
    }

    /// Jobs kept with a warning, by code and job kind (the `ledgersync_job_warnings` gauge).
    public static func counts(pool: ConnectionPool) async throws -> [(code: String, kind: String, jobs: Int64)] {
        try await pool.query(SyncSQL.jobWarningCounts).rows.map { row in
            (code: try row.decode("code"), kind: try row.decode("kind"), jobs: try row.decode("jobs"))
        }
    }

    /// Stores `warning` (code `code`) for job `jobID`, which wrote `objectType` `billingID` on
    /// `connection`, replacing that code's warnings of earlier jobs on the same object; with
    /// `warning` nil, removes them instead (the object no longer warrants it).
    public static func record(
        _ warning: JobWarning?, code: String, jobID: Int64, connection: UUID, objectType: String, billingID: String,
        pool: ConnectionPool
    ) async throws {
        if let warning {
            // The column's bound (012_job_warnings.sql); a long list of codes is cut.
            let message = warning.message.count > 4000 ? String(warning.message.prefix(3999)) + "…" : warning.message
            try await pool.query(
                SyncSQL.recordJobWarning,
                [jobID, code, message, connection.uuidString, objectType, billingID, Int64(max(1, warning.count))])
        } else {
            try await pool.query(SyncSQL.clearJobWarning, [jobID, code, connection.uuidString, objectType, billingID])
        }
    }
}
