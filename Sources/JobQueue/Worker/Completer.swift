import Foundation
import Logging
import Postgres
import Synchronization

/// Writes the results of finished runs in batches: one statement per kind of result per
/// flush, however many runs finished meanwhile. Under load that is one commit for
/// hundreds of jobs; when idle, a result is written as soon as it arrives. A flush of
/// completions only may carry the worker's next fetch along (`FetchAlong`).
///
/// Every statement names the run (id, run_id) and requires `state = 'running'`, so a run
/// that was rescued, cancelled or claimed again meanwhile is left alone, and writing a
/// batch again after a partial failure changes nothing twice.
///
/// It cannot wedge:
/// - Error texts are cleaned and capped when the entry is built (`StoredText`).
/// - A batch the server refuses (a value it cannot take: SQLSTATE class 22, 23 or 54) is
///   split in halves until the one result it cannot store is alone; that job is failed
///   instead, with a reason (class `unstorable_result`), and the rest of the batch is stored. If even that is refused the job is left to lease
///   expiry and rescue, and logged.
/// - While the database is away (connection errors and the like) a batch is retried with
///   backoff and never dropped, except at shutdown: past the shutdown deadline what is
///   still unstored is given up and left to lease expiry and rescue, which run it again.
final class Completer: Sendable {
    /// One run's result, as stored.
    struct Entry: Sendable {
        enum Result: Sendable {
            case complete
            case retry(delay: Double, error: JSONText)
            case fail(error: JSONText)
            case snooze(delay: Double, rateLimited: Double)
            case park(key: String, delay: Double)

            var name: String {
                switch self {
                case .complete: "complete"
                case .retry: "retry"
                case .fail: "fail"
                case .snooze: "snooze"
                case .park: "park"
                }
            }
        }

        let id: Int64
        let runID: Int64
        let attempt: Int
        let result: Result
    }

    /// The class of the error that replaces a result the database refused.
    static let unstorableClass = "unstorable_result"
    /// The longest delay a result may ask for (PostgreSQL's interval has a range; a handler's
    /// `Duration` does not).
    static let maxDelaySeconds = 366.0 * 86_400

    /// Results by kind, as the statements take them. Kept apart from `Entry` so that the
    /// common path (a batch stored at once) does no more per result than before; a batch
    /// becomes entries only when the server refuses it and it must be split.
    struct Batch: Sendable {
        var completed: [(id: Int64, runID: Int64, attempt: Int)] = []
        var retried: [(id: Int64, runID: Int64, attempt: Int, delay: Double, error: JSONText)] = []
        var failed: [(id: Int64, runID: Int64, attempt: Int, error: JSONText)] = []
        var snoozed: [(id: Int64, runID: Int64, attempt: Int, delay: Double, rateLimited: Double)] = []
        var parked: [(id: Int64, runID: Int64, attempt: Int, key: String, delay: Double)] = []

        var count: Int { completed.count + retried.count + failed.count + snoozed.count + parked.count }
        var isEmpty: Bool { count == 0 }

        init() {}

        init(_ entries: some Sequence<Entry>) {
            for entry in entries { append(entry) }
        }

        /// Every list in job id order (see `store`).
        mutating func sortByID() {
            completed.sort { $0.id < $1.id }
            retried.sort { $0.id < $1.id }
            failed.sort { $0.id < $1.id }
            snoozed.sort { $0.id < $1.id }
            parked.sort { $0.id < $1.id }
        }

        mutating func append(_ entry: Entry) {
            switch entry.result {
            case .complete: completed.append((entry.id, entry.runID, entry.attempt))
            case .retry(let delay, let error): retried.append((entry.id, entry.runID, entry.attempt, delay, error))
            case .fail(let error): failed.append((entry.id, entry.runID, entry.attempt, error))
            case .snooze(let delay, let rateLimited): snoozed.append((entry.id, entry.runID, entry.attempt, delay, rateLimited))
            case .park(let key, let delay): parked.append((entry.id, entry.runID, entry.attempt, key, delay))
            }
        }

        var entries: [Entry] {
            completed.map { Entry(id: $0.id, runID: $0.runID, attempt: $0.attempt, result: .complete) }
                + retried.map { Entry(id: $0.id, runID: $0.runID, attempt: $0.attempt, result: .retry(delay: $0.delay, error: $0.error)) }
                + failed.map { Entry(id: $0.id, runID: $0.runID, attempt: $0.attempt, result: .fail(error: $0.error)) }
                + snoozed.map {
                    Entry(id: $0.id, runID: $0.runID, attempt: $0.attempt, result: .snooze(delay: $0.delay, rateLimited: $0.rateLimited))
                }
                + parked.map { Entry(id: $0.id, runID: $0.runID, attempt: $0.attempt, result: .park(key: $0.key, delay: $0.delay)) }
        }
    }

    private struct State {
        var pending = Batch()
        var finishing = false
        /// Set by `finish`: past it, an unstored batch is given up instead of retried.
        var deadline: ContinuousClock.Instant?
    }

    /// A fetch sent along with a batch of completions (`ledgersync.complete_and_fetch`,
    /// queue migration 016), set by the worker: one round trip and one commit where there
    /// were two. The worker plans it, so its slots are counted as its other fetches are.
    struct FetchAlong: Sendable {
        struct Plan: Sendable {
            let workerID: String
            let queue: String
            let limit: Int
            let leaseSeconds: Double
        }
        /// Before a batch of `completions` completions (and nothing else) is written: the
        /// fetch to send with it, or nil for none. A plan's slots stay reserved until `done`.
        let plan: @Sendable (_ completions: Int) -> Plan?
        /// After the statement: the rows it claimed, committed with the completions; or nil
        /// when it failed, and nothing was stored or claimed.
        let done: @Sendable (Plan, [Row]?) -> Void
    }

    private let pool: ConnectionPool
    private let logger: Logger
    private let workerID: String
    private let fetchAlong: FetchAlong?
    /// Called after each write with the number of results it is done with (stored, or
    /// given up at shutdown).
    private let onFlushed: @Sendable (Int) -> Void
    private let state = Mutex(State())
    private let signal: AsyncStream<Void>
    private let signalContinuation: AsyncStream<Void>.Continuation

    init(
        pool: ConnectionPool, logger: Logger, workerID: String = "", fetchAlong: FetchAlong? = nil,
        onFlushed: @escaping @Sendable (Int) -> Void
    ) {
        self.pool = pool
        self.logger = logger
        self.workerID = workerID
        self.fetchAlong = fetchAlong
        self.onFlushed = onFlushed
        (signal, signalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(job: Job, outcome: JobOutcome, rateLimitedSeconds: Double = 0) {
        state.withLock { state in
            switch outcome {
            case .complete:
                state.pending.completed.append((job.id, job.runID, job.attempt))
            case .retry(let delay, let error):
                state.pending.retried.append((job.id, job.runID, job.attempt, Self.clampDelay(delay), ErrorHistory.encode(error)))
            case .fail(let error):
                state.pending.failed.append((job.id, job.runID, job.attempt, ErrorHistory.encode(error)))
            case .snooze(let delay):
                state.pending.snoozed.append(
                    (job.id, job.runID, job.attempt, Self.clampDelay(delay), Self.clampDelay(rateLimitedSeconds)))
            case .park(let key, let delay):
                // The key is kept as given (a wake must match it exactly); a key the
                // database refuses (a NUL) fails the job with the reason, as any
                // unstorable result does.
                state.pending.parked.append((job.id, job.runID, job.attempt, key, Self.clampDelay(delay)))
            }
        }
        signalContinuation.yield()
    }

    /// Flushes until `finish()` has been called and nothing is left.
    func run() async {
        for await _ in signal {
            // Let the handlers that are finishing right now (a fetched batch of no-op or
            // short jobs ends almost at once) add their results first, so they go in one
            // statement rather than one for the first result and another for the rest.
            // Costs nothing noticeable when only one job finishes.
            await Task.yield()
            while let batch = take() {
                await write(batch)
                done(batch.count)
            }
            if state.withLock({ $0.finishing && $0.pending.isEmpty }) { break }
        }
    }

    /// Asks `run` to write what is pending and return; waits for that until `deadline` at
    /// most, and returns whether everything was stored (or given up) by then.
    @discardableResult
    func finish(deadline: ContinuousClock.Instant) async -> Bool {
        state.withLock {
            $0.finishing = true
            $0.deadline = deadline
        }
        signalContinuation.yield()
        // Wait for the last flush, so the process exits only after its results are stored.
        while state.withLock({ !$0.pending.isEmpty }) || inFlight.withLock({ $0 > 0 }) {
            if ContinuousClock.now >= deadline {
                let left = state.withLock { $0.pending.count } + inFlight.withLock { $0 }
                logger.error(
                    "shutdown deadline reached with job results not stored; their leases will run out and the jobs will be rescued",
                    metadata: ["results": "\(left)"])
                signalContinuation.finish()
                return false
            }
            await pause(.milliseconds(10))
        }
        signalContinuation.finish()
        return true
    }

    /// Results taken but not yet written (or given up).
    private let inFlight = Mutex(0)

    private func take() -> Batch? {
        state.withLock { state in
            guard !state.pending.isEmpty else { return nil }
            var batch = Batch()
            swap(&batch, &state.pending)
            inFlight.withLock { $0 += batch.count }
            return batch
        }
    }

    private func done(_ count: Int) {
        inFlight.withLock { $0 -= count }
        onFlushed(count)
    }

    private var pastDeadline: Bool {
        state.withLock { state in state.deadline.map { ContinuousClock.now >= $0 } ?? false }
    }

    /// Writes `batch` (the caller counts it done afterwards), splitting it when the server refuses it. `substitute`: a lone result
    /// the server refuses is replaced by a failure saying so (false for that failure itself).
    private func write(_ batch: Batch, substitute: Bool = true) async {
        var delay = Duration.milliseconds(100)
        var failures = 0
        while true {
            do {
                try await store(batch)
                return
            } catch  where Self.isRefusal(error) {
                let entries = batch.entries
                if entries.count > 1 {
                    // Statements already committed are not undone, and writing them again
                    // changes nothing (state is no longer 'running'); so halves are safe.
                    let middle = entries.count / 2
                    await write(Batch(entries[..<middle]), substitute: substitute)
                    await write(Batch(entries[middle...]), substitute: substitute)
                    return
                }
                guard let entry = entries.first else { return }
                guard substitute else {
                    logger.error(
                        "could not store even the failure that replaces an unstorable result; the job is left to lease expiry and rescue",
                        metadata: ["job": "\(entry.id)", "error": "\(StoredText.clean(String(describing: error), limit: 300))"])
                    return
                }
                logger.error(
                    "the database refused a job's result; failing the job instead",
                    metadata: [
                        "job": "\(entry.id)", "result": "\(entry.result.name)",
                        "error": "\(StoredText.clean(String(describing: error), limit: 300))",
                    ])
                await write(Batch([replacement(for: entry, refusedWith: error)]), substitute: false)
                return
            } catch {
                failures += 1
                if pastDeadline {
                    logger.error(
                        "shutdown deadline reached: job results not stored; their leases will run out and the jobs will be rescued",
                        metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                    return
                }
                if failures == 1 || failures % 20 == 0 {
                    logger.error(
                        "could not store job results; retrying",
                        metadata: ["error": "\(error)", "jobs": "\(batch.count)", "failures": "\(failures)"])
                }
                await pause(delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }

    /// The failure stored in place of `entry`'s refused result. Its text is ours: the
    /// refused value is not in it, only what the database said about it, cleaned.
    private func replacement(for entry: Entry, refusedWith error: any Error) -> Entry {
        let reason: String
        if let error = error as? PostgresError {
            reason = error.message + (error.sqlState.map { " (SQLSTATE \($0))" } ?? "")
        } else {
            reason = String(describing: error)
        }
        let errorEntry = JobOutcome.ErrorEntry(
            at: Date(), attempt: entry.attempt, class: Self.unstorableClass,
            message: "the database refused to store this run's result (\(entry.result.name)): "
                + StoredText.clean(reason, limit: 300) + "; the job is failed instead",
            code: (error as? PostgresError)?.sqlState, worker: workerID.isEmpty ? nil : workerID)
        return Entry(id: entry.id, runID: entry.runID, attempt: entry.attempt, result: .fail(error: ErrorHistory.encode(errorEntry)))
    }

    /// Values the server will refuse however often they are sent, as opposed to an outage:
    /// data exceptions (22: `\u0000` in jsonb, out of range), integrity violations (23) and
    /// program limits (54: too large). Anything else (a lost connection, a failover, a
    /// deadlock, a closed pool at shutdown) is retried, not blamed on a result.
    static func isRefusal(_ error: any Error) -> Bool {
        guard let error = error as? PostgresError, error.code == .server, !error.isConnectionProblem,
            let state = error.sqlState
        else { return false }
        return state.hasPrefix("22") || state.hasPrefix("23") || state.hasPrefix("54")
    }

    private static func clampDelay(_ seconds: Double) -> Double {
        seconds.isFinite ? min(max(seconds, 0), maxDelaySeconds) : 0
    }

    private func store(_ batch: Batch) async throws {
        // Each statement locks its rows in the order of its arrays (a nested loop over them,
        // probing the primary key), and the heartbeat renews the same rows in one statement
        // too: both go in id order, so two of them never wait for each other's rows in
        // opposite orders (a deadlock, which PostgreSQL breaks only after deadlock_timeout).
        var batch = batch
        batch.sortByID()
        try await pool.withConnection { [batch, fetchAlong, logger] connection in
            var completionsStored = false
            if batch.count == batch.completed.count, let fetchAlong, let plan = fetchAlong.plan(batch.count) {
                do {
                    let rows = try await connection.query(
                        QueueSQL.completeAndFetchJobs,
                        [
                            plan.workerID, plan.queue, plan.limit, plan.leaseSeconds, batch.completed.map(\.id),
                            batch.completed.map(\.runID),
                        ],
                        prepare: true
                    ).rows
                    fetchAlong.done(plan, rows)
                    completionsStored = true
                } catch {
                    // Rolled back whole. The completions are written alone below, so that a
                    // failure of the fetch (which the fetch loop will meet and report itself)
                    // is never taken for a result the database refuses.
                    fetchAlong.done(plan, nil)
                    logger.debug("completions with a fetch along failed; writing them alone", metadata: ["error": "\(error)"])
                }
            }
            if !batch.completed.isEmpty, !completionsStored {
                try await connection.query(
                    QueueSQL.completeJobs, [batch.completed.map(\.id), batch.completed.map(\.runID)], prepare: true)
            }
            if !batch.retried.isEmpty {
                try await connection.query(
                    QueueSQL.retryJobs,
                    [batch.retried.map(\.id), batch.retried.map(\.runID), batch.retried.map(\.delay), batch.retried.map(\.error)],
                    prepare: true)
            }
            if !batch.failed.isEmpty {
                try await connection.query(
                    QueueSQL.failJobs, [batch.failed.map(\.id), batch.failed.map(\.runID), batch.failed.map(\.error)], prepare: true)
            }
            if !batch.snoozed.isEmpty {
                try await connection.query(
                    QueueSQL.snoozeJobs,
                    [batch.snoozed.map(\.id), batch.snoozed.map(\.runID), batch.snoozed.map(\.delay), batch.snoozed.map(\.rateLimited)],
                    prepare: true)
            }
            if !batch.parked.isEmpty {
                try await connection.query(
                    QueueSQL.parkJobs,
                    [batch.parked.map(\.id), batch.parked.map(\.runID), batch.parked.map(\.key), batch.parked.map(\.delay)],
                    prepare: true)
            }
        }
    }
}
