import Foundation
import JobQueue
import Logging
import Postgres

/// Runs one `JobHandler` against a real database without starting a worker, the way
/// rivertest's `Worker.Work` and Oban's `perform_job` do: the job is inserted (or an
/// existing one is taken), claimed, run as a worker runs it (args decoded, the kind's
/// timeout, `JobError` actions, the rate-limit cap), and its result stored by the
/// worker's own statements. You get what the worker decided and the job row as the queue
/// recorded it.
///
/// ```swift
/// let result = try await TestWorker(pool: database.pool).work(SendReceipt(), args: .init(invoiceID: "inv_1"))
/// #expect(result.outcome == .complete)
/// #expect(result.job.state == .completed)
/// ```
///
/// The queue's invariants hold: only an available or retryable job is run (not a running,
/// finished or parked one), and not while another job of its serial key runs. Its run_at
/// is not waited for, and its limit key's concurrency limit is not counted.
public struct TestWorker: Sendable {
    public let queue: JobQueue
    /// Recorded as the worker of the run (`locked_by`, the error history).
    public var workerID: String
    /// The cap on snoozes of class `rate_limited` (`WorkerOptions.maxRateLimited`).
    public var maxRateLimited: Duration
    public var logger: Logger

    public init(
        pool: ConnectionPool, workerID: String = "test-worker", maxRateLimited: Duration = WorkerOptions.defaultMaxRateLimited,
        logger: Logger = Logger(label: "ledgersync.test-worker")
    ) {
        queue = JobQueue(pool: pool)
        self.workerID = workerID
        self.maxRateLimited = maxRateLimited
        self.logger = logger
    }

    /// What one run came to.
    public struct Result: Sendable {
        /// What the worker decided: `.complete`, `.retry`, `.fail`, `.snooze`, `.park`.
        public let outcome: JobOutcome
        /// The job row after the result was stored (state, attempt, errors, run_at…).
        public let job: JobRecord
        /// The attempt the handler ran as (from 1).
        public let attempt: Int
        /// Whether the handler gave its concurrency-limit slot back (`releaseLimitSlot()`).
        public let limitSlotReleased: Bool

        /// The error this run added to the job's history, nil for a completion, a snooze or
        /// a park (they record none).
        public var error: JobOutcome.ErrorEntry? {
            switch outcome {
            case .retry(_, let error), .fail(let error): error
            case .complete, .snooze, .park: nil
            }
        }
    }

    /// Why a job could not be run.
    public struct Refusal: Error, Sendable, CustomStringConvertible {
        public let jobID: Int64
        public let description: String
    }

    /// Enqueues a job of `H` with `args` (and the other fields of `EnqueueRequest`) and runs it now.
    @discardableResult
    public func work<H: JobHandler>(
        _ handler: H, args: H.Args, queue: String = "default", priority: Int = 0, maxAttempts: Int? = nil,
        uniqueKey: String? = nil, serialKey: String? = nil, limitKey: String? = nil
    ) async throws -> Result where H.Args: Encodable {
        try await work(
            handler,
            request: try EnqueueRequest(
                H.self, args: args, queue: queue, priority: priority, maxAttempts: maxAttempts, uniqueKey: uniqueKey,
                serialKey: serialKey, limitKey: limitKey))
    }

    /// Enqueues `request` (its kind must be `H.kind`; args as JSON, which may be anything,
    /// to test a handler's answer to bad args) and runs it now.
    @discardableResult
    public func work<H: JobHandler>(_ handler: H, request: EnqueueRequest) async throws -> Result {
        guard request.kind == H.kind else {
            throw Refusal(jobID: 0, description: "the request's kind \"\(request.kind)\" is not the handler's \"\(H.kind)\"")
        }
        let id = try await queue.enqueue(request)
        return try await work(handler, jobID: id)
    }

    /// Runs job `jobID`, already in the queue, now (a job another test step enqueued: through
    /// SQL, the API, or a snoozed or retryable job to run again).
    @discardableResult
    public func work<H: JobHandler>(_ handler: H, jobID: Int64) async throws -> Result {
        guard let before = try await queue.job(id: jobID) else {
            throw Refusal(jobID: jobID, description: "no job \(jobID)")
        }
        guard before.kind == H.kind else {
            throw Refusal(jobID: jobID, description: "job \(jobID) is a \"\(before.kind)\" job, not the handler's \"\(H.kind)\"")
        }
        let run = SingleRun(pool: queue.pool, workerID: workerID, logger: logger, maxRateLimited: maxRateLimited)
        guard let result = try await run.run(handler, jobID: jobID) else {
            let now = try await queue.job(id: jobID)
            let reason =
                switch now?.state {
                case nil: "it no longer exists"
                case .running?: "it is running"
                case let state? where state.isFinished: "it is \(state.rawValue)"
                case .available?, .retryable?, .completed?, .failed?, .cancelled?:
                    "it is parked (waiting for its key to be woken) or another job of its serial key \"\(now?.serialKey ?? "")\" is running"
                }
            throw Refusal(jobID: jobID, description: "job \(jobID) cannot be run now: \(reason)")
        }
        guard let after = try await queue.job(id: jobID) else {
            throw Refusal(jobID: jobID, description: "job \(jobID) was deleted while it ran")
        }
        return Result(outcome: result.outcome, job: after, attempt: result.job.attempt, limitSlotReleased: result.limitSlotReleased)
    }
}
