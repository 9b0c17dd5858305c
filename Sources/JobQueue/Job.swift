import Foundation
import Postgres

/// The states of a job; the words are the same in SQL (`ledgersync.job_state`), here, in
/// logs and in docs/job-states.md.
public enum JobState: String, Sendable, Codable, CaseIterable {
    case available, running, retryable, completed, failed, cancelled

    public var isFinished: Bool { self == .completed || self == .failed || self == .cancelled }
}

/// One run of a job, as a worker fetched it: what the handler needs to know.
public struct Job: Sendable {
    public let id: Int64
    public let kind: String
    public let queue: String
    public let priority: Int
    /// This run's number, from 1.
    public let attempt: Int
    public let maxAttempts: Int
    /// The job's arguments as JSON text, decoded by the handler into its `Args` type.
    public let args: JSONText
    public let serialKey: String?
    public let limitKey: String?
    public let createdAt: Date
    /// This claim's id (a new one each time the job is fetched): results, heartbeats and
    /// limit releases name the run, so those of an earlier run of the job change nothing.
    public let runID: Int64
    /// Seconds the job has been told to wait by snoozes of class `rate_limited` so far
    /// (summed by `snooze_jobs.sql`); a worker fails it once this would pass its cap.
    public let rateLimitedSeconds: Double

    public var isLastAttempt: Bool { attempt >= maxAttempts }

    init(row: Row) throws {
        id = try row.decode("id")
        kind = try row.decode("kind")
        queue = try row.decode("queue")
        priority = try row.decode("priority")
        attempt = try row.decode("attempt")
        maxAttempts = try row.decode("max_attempts")
        args = try row.decode("args")
        serialKey = try row.decodeIfPresent("serial_key")
        limitKey = try row.decodeIfPresent("limit_key")
        createdAt = try row.decode("created_at")
        runID = try row.decode("run_id")
        rateLimitedSeconds = try row.decode("rate_limited_seconds")
    }
}
