import Foundation
import Logging
import Postgres
import Synchronization

/// Runs one job, top to bottom: find the handler, decode the args, run under the kind's
/// timeout, and turn whatever happened into a `JobOutcome`. Never throws: a bad job
/// becomes a failed job with the reason, and the worker carries on.
struct JobExecutor: Sendable {
    let registry: JobRegistry
    let pool: ConnectionPool
    let workerID: String
    let logger: Logger

    func execute(_ job: Job) async -> JobOutcome {
        guard let entry = registry.entry(for: job.kind) else {
            return finish(job, error: JobError.unknownKind(job.kind, known: registry.kinds), backoff: .default)
        }
        var logger = logger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "kind"] = "\(job.kind)"
        let context = JobContext(job: job, workerID: workerID, logger: logger, pool: pool)
        do {
            try await withDeadline(entry.options.timeout) { try await entry.run(job, context) }
            return .complete
        } catch {
            return finish(job, error: error, backoff: entry.options.backoff)
        }
    }

    private func finish(_ job: Job, error: any Error, backoff: Backoff) -> JobOutcome {
        let outcome = JobOutcome.decide(error: error, attempt: job.attempt, maxAttempts: job.maxAttempts, backoff: backoff, worker: workerID)
        switch outcome {
        case .fail(let entry):
            logger.warning("job failed", metadata: ["job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)", "class": "\(entry.class)", "error": "\(entry.message)"])
        case .retry(let delay, let entry):
            logger.info("job will be retried", metadata: ["job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)", "in": "\(delay)s", "class": "\(entry.class)", "error": "\(entry.message)"])
        case .complete, .snooze:
            break
        }
        return outcome
    }
}

/// Runs `body`, but gives up after `timeout` even if `body` ignores cancellation: the
/// slot must come back and the job must be retried, whatever the handler is stuck in.
/// `body` is cancelled at the deadline and its late result is dropped.
func withDeadline(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> Void) async throws {
    let gate = Gate()
    let work = Task {
        do {
            try await body()
            gate.settle(.success(()))
        } catch {
            gate.settle(.failure(error))
        }
    }
    let timer = Task {
        do { try await Task.sleep(for: timeout) } catch { return }
        if gate.settle(.failure(JobError.timedOut(after: timeout))) { work.cancel() }
    }
    defer { timer.cancel() }
    try await gate.wait()
}

/// A one-shot result that one side settles and the other awaits, whichever comes first.
private final class Gate: Sendable {
    private struct State {
        var result: Result<Void, any Error>?
        var waiter: CheckedContinuation<Void, any Error>?
    }
    private let state = Mutex(State())

    /// Returns false if the gate was already settled.
    @discardableResult
    func settle(_ result: Result<Void, any Error>) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<Void, any Error>?? in
            if case .some = state.result { return .none }
            state.result = result
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard let waiter else { return false }
        waiter?.resume(with: result)
        return true
    }

    func wait() async throws {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Void, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
