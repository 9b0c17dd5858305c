import Foundation
import Logging
import Postgres
import Synchronization

/// One run of one job, now, without a worker: for JobQueueTesting's `TestWorker`, which
/// lets a user test a handler against a real database (as rivertest's `Worker.Work` and
/// Oban's `perform_job` do). `package`, not public: only the testing library builds it,
/// and it runs a job the way a worker does (claim, `JobExecutor`, `Completer`), so nothing
/// here can put a job in a state a worker could not.
package struct SingleRun: Sendable {
    package let pool: ConnectionPool
    package let workerID: String
    package let logger: Logger
    package let maxRateLimited: Duration

    package init(pool: ConnectionPool, workerID: String, logger: Logger, maxRateLimited: Duration) {
        self.pool = pool
        self.workerID = workerID
        self.logger = logger
        self.maxRateLimited = maxRateLimited
    }

    /// What one run came to.
    package struct Result: Sendable {
        package let outcome: JobOutcome
        /// The job as the handler saw it (attempt, run id).
        package let job: Job
        /// Whether the handler gave its concurrency-limit slot back before finishing.
        package let limitSlotReleased: Bool
    }

    /// Claims job `jobID` (available or retryable, not parked, its serial key free; its
    /// run_at is not waited for), runs `handler` on it as a worker would (args decoded,
    /// the kind's timeout, the rate-limit cap) and stores the result with the worker's
    /// statements. Nil when the job could not be claimed (the caller says why).
    package func run<H: JobHandler>(_ handler: H, jobID: Int64) async throws -> Result? {
        let options = handler.options
        // The kind's timeout and a margin: no heartbeat runs here, and the lease must not
        // run out (and the job be rescued) while the handler may still be running.
        let lease = options.timeout.seconds + 60
        let claimed = try await pool.withTransaction { connection -> Job? in
            try await connection.query(QueueSQL.lockSerialKeyOfJob, [jobID])
            return try await connection.query(QueueSQL.claimJobNow, [jobID, workerID, lease]).rows.first.map(Job.init(row:))
        }
        guard let job = claimed else { return nil }
        var registry = JobRegistry()
        registry.register(handler)
        let released = Mutex(false)
        let executor = JobExecutor(
            registry: registry, pool: pool, workerID: workerID, logger: logger, maxRateLimited: maxRateLimited,
            limitSlotReleased: { _ in released.withLock { $0 = true } })
        // As in a worker, the run ends at its deadline whether or not the handler does, and the
        // handler is then told to stop.
        let ended = Gate<JobExecutor.Result>()
        let running = Task {
            if let result = await executor.execute(job, expired: { ended.settle(.success($0)) }) { ended.settle(.success(result)) }
        }
        let result = try await ended.wait()
        running.cancel()
        let completer = Completer(pool: pool, logger: logger, workerID: workerID, onFlushed: { _ in })
        let writing = Task { await completer.run() }
        completer.add(job: job, outcome: result.outcome, rateLimitedSeconds: result.rateLimitedSeconds)
        let stored = await completer.finish(deadline: .now + .seconds(30))
        await writing.value
        guard stored else {
            throw PostgresError(.usage, "the result of job \(jobID) could not be stored within 30 s (is the database reachable?)")
        }
        return Result(outcome: result.outcome, job: job, limitSlotReleased: released.withLock { $0 })
    }
}
