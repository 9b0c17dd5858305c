import Logging
import Postgres

/// The queue's housekeeping, run by every worker on a jittered timer. Both statements use
/// SKIP LOCKED, so workers doing it at the same moment share the work instead of
/// blocking each other, and no leader election is needed.
struct Maintenance: Sendable {
    let pool: ConnectionPool
    let retention: Retention
    let logger: Logger

    /// Rescue: jobs whose lease ran out go back to the queue (or fail, with no attempts
    /// left). Returns how many were rescued.
    func rescueExpiredLeases(batchSize: Int = 1_000) async -> Int {
        do {
            let rows = try await pool.query(QueueSQL.rescueExpiredLeases, [batchSize], prepare: true).rows
            for row in rows {
                logger.warning(
                    "rescued a job whose lease ran out",
                    metadata: [
                        "job": "\((try? row.decode("id", as: Int64.self)) ?? 0)",
                        "kind": "\((try? row.decode("kind", as: String.self)) ?? "")",
                        "now": "\((try? row.decode("state", as: String.self)) ?? "")",
                    ])
            }
            return rows.count
        } catch {
            logger.warning("rescue failed", metadata: ["error": "\(error)"])
            return 0
        }
    }

    /// Retention: deletes finished jobs past their state's retention, in bounded batches.
    func pruneFinishedJobs(batchSize: Int = 5_000, maxBatches: Int = 20) async {
        var total = 0
        do {
            for _ in 0..<maxBatches {
                let deleted = try await pool.query(
                    QueueSQL.pruneFinishedJobs,
                    [retention.completed.seconds, retention.cancelled.seconds, retention.failed.seconds, batchSize],
                    prepare: true
                ).affectedRows
                total += deleted
                if deleted < batchSize { break }
            }
        } catch {
            logger.warning("pruning failed", metadata: ["error": "\(error)"])
        }
        if total > 0 { logger.info("pruned finished jobs", metadata: ["deleted": "\(total)"]) }
    }
}
