import Foundation
import Logging
import Postgres
import Synchronization

/// Writes the results of finished runs in batches: one statement per kind of result per
/// flush, however many runs finished meanwhile. Under load that is one commit for
/// hundreds of jobs; when idle, a result is written as soon as it arrives.
///
/// A result is never dropped while the worker lives: if the database is away, the batch
/// stays and is written when it is back. Every statement is guarded by (id, attempt) and
/// `state = 'running'`, so a run that was rescued meanwhile is left alone.
final class Completer: Sendable {
    private struct Pending {
        var completed: [(id: Int64, attempt: Int)] = []
        var retried: [(id: Int64, attempt: Int, delay: Double, error: JSONText)] = []
        var failed: [(id: Int64, attempt: Int, error: JSONText)] = []
        var snoozed: [(id: Int64, attempt: Int, delay: Double)] = []
        var finishing = false

        var count: Int { completed.count + retried.count + failed.count + snoozed.count }
        var isEmpty: Bool { count == 0 }
    }

    private let pool: ConnectionPool
    private let logger: Logger
    /// Called after each write with the number of results it stored.
    private let onFlushed: @Sendable (Int) -> Void
    private let pending = Mutex(Pending())
    private let signal: AsyncStream<Void>
    private let signalContinuation: AsyncStream<Void>.Continuation

    init(pool: ConnectionPool, logger: Logger, onFlushed: @escaping @Sendable (Int) -> Void) {
        self.pool = pool
        self.logger = logger
        self.onFlushed = onFlushed
        (signal, signalContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    func add(job: Job, outcome: JobOutcome) {
        pending.withLock { pending in
            switch outcome {
            case .complete:
                pending.completed.append((job.id, job.attempt))
            case .retry(let delay, let error):
                pending.retried.append((job.id, job.attempt, delay, ErrorHistory.encode(error)))
            case .fail(let error):
                pending.failed.append((job.id, job.attempt, ErrorHistory.encode(error)))
            case .snooze(let delay):
                pending.snoozed.append((job.id, job.attempt, delay))
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
            }
            if pending.withLock({ $0.finishing && $0.isEmpty }) { break }
        }
    }

    /// Asks `run` to write what is pending and return.
    func finish() async {
        pending.withLock { $0.finishing = true }
        signalContinuation.yield()
        // Wait for the last flush, so the process exits only after its results are stored.
        while pending.withLock({ !$0.isEmpty }) {
            await pause(.milliseconds(10))
        }
        signalContinuation.finish()
    }

    private func take() -> Pending? {
        pending.withLock { pending in
            guard !pending.isEmpty else { return nil }
            var batch = Pending()
            swap(&batch.completed, &pending.completed)
            swap(&batch.retried, &pending.retried)
            swap(&batch.failed, &pending.failed)
            swap(&batch.snoozed, &pending.snoozed)
            return batch
        }
    }

    private func write(_ batch: Pending) async {
        var delay = Duration.milliseconds(100)
        while true {
            do {
                try await pool.withConnection { connection in
                    if !batch.completed.isEmpty {
                        try await connection.query(
                            QueueSQL.completeJobs, [batch.completed.map(\.id), batch.completed.map(\.attempt)], prepare: true)
                    }
                    if !batch.retried.isEmpty {
                        try await connection.query(
                            QueueSQL.retryJobs,
                            [batch.retried.map(\.id), batch.retried.map(\.attempt), batch.retried.map(\.delay), batch.retried.map(\.error)],
                            prepare: true)
                    }
                    if !batch.failed.isEmpty {
                        try await connection.query(
                            QueueSQL.failJobs, [batch.failed.map(\.id), batch.failed.map(\.attempt), batch.failed.map(\.error)], prepare: true)
                    }
                    if !batch.snoozed.isEmpty {
                        try await connection.query(
                            QueueSQL.snoozeJobs, [batch.snoozed.map(\.id), batch.snoozed.map(\.attempt), batch.snoozed.map(\.delay)],
                            prepare: true)
                    }
                }
                onFlushed(batch.count)
                return
            } catch {
                // Statements are idempotent (guarded by attempt and state), so writing the
                // whole batch again after a partial failure is safe.
                logger.error("could not store job results; retrying", metadata: ["error": "\(error)", "jobs": "\(batch.count)"])
                await pause(delay)
                delay = min(delay * 2, .seconds(5))
            }
        }
    }
}
