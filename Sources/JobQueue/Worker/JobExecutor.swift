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
    let maxRateLimited: Duration
    /// Called when a run gives its limit slot back (`JobContext.releaseLimitSlot`).
    let limitSlotReleased: @Sendable (WorkerPool.RunKey) -> Void
    /// Waits until the run holds its limit slot (`JobContext.waitForLimitSlot`).
    var limitSlotWait: @Sendable (WorkerPool.RunKey) async throws -> Void = { _ in }

    /// What a run comes to: its outcome, and for a snooze of class `rate_limited`, the
    /// seconds to add to the job's rate-limited total.
    struct Result: Sendable {
        let outcome: JobOutcome
        var rateLimitedSeconds: Double = 0
    }

    /// Runs `job` in the calling task and returns what it came to, or nil if its deadline
    /// came first. At the kind's deadline `expired` is called, from the deadline timer, with
    /// the timed-out result, without waiting for the handler (it may ignore cancellation,
    /// like a call stuck in C code): the caller cancels the run there and stores that result,
    /// and what the handler returns later is dropped here. Exactly one of the two happens.
    ///
    /// The handler runs in the caller's task, not in a second task raced against a timer:
    /// that second task per job (with the hop between the two) was half of a worker's CPU
    /// per job in a drain of no-op jobs (docs/performance.md, "One task per job").
    func execute(_ job: Job, expired: @escaping @Sendable (Result) -> Void) async -> Result? {
        let key = WorkerPool.RunKey(id: job.id, runID: job.runID)
        let context = JobContext(
            job: job, workerID: workerID, logger: logger, pool: pool, maxRateLimited: maxRateLimited,
            limitSlotReleased: { [limitSlotReleased] in limitSlotReleased(key) },
            limitSlotWait: { [limitSlotWait] in try await limitSlotWait(key) })
        guard let entry = registry.entry(for: job.kind) else {
            return finish(job, context: context, error: JobError.unknownKind(job.kind, known: registry.kinds), backoff: .default)
        }
        let timeout = entry.options.timeout
        let ended = RunEnd()
        let deadline = Deadlines.shared.add(at: .now + timeout) { [self] in
            guard ended.take() else { return }
            expired(finish(job, context: context, error: JobError.timedOut(after: timeout), backoff: entry.options.backoff))
        }
        defer { Deadlines.shared.remove(deadline) }
        let error: (any Error)?
        do {
            try await entry.run(job, context)
            error = nil
        } catch let thrown {
            error = thrown
        }
        // Past the deadline the run was ended by `expired`; the handler's late result (most
        // likely the cancellation it was sent) is not logged as if it were the run's.
        guard ended.take() else { return nil }
        guard let error else { return Result(outcome: .complete) }
        return finish(job, context: context, error: error, backoff: entry.options.backoff)
    }

    private func finish(_ job: Job, context: JobContext, error: any Error, backoff: Backoff) -> Result {
        var error = error
        var rateLimitedSeconds = 0.0
        if let jobError = error as? JobError {
            let capped = context.applyingRateLimitCap(to: jobError)
            rateLimitedSeconds = capped.rateLimitedDelay.map { max(0, $0.seconds) } ?? 0
            error = capped
        }
        let outcome = JobOutcome.decide(
            error: error, attempt: job.attempt, maxAttempts: job.maxAttempts, backoff: backoff, worker: workerID)
        switch outcome {
        case .fail(let entry):
            logger.warning(
                "job failed",
                metadata: [
                    "job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)", "class": "\(entry.class)",
                    "error": "\(entry.message)",
                ])
        case .retry(let delay, let entry):
            logger.info(
                "job will be retried",
                metadata: [
                    "job": "\(job.id)", "kind": "\(job.kind)", "attempt": "\(job.attempt)", "in": "\(delay)s", "class": "\(entry.class)",
                    "error": "\(entry.message)",
                ])
        case .complete, .snooze, .park:
            break
        }
        return Result(outcome: outcome, rateLimitedSeconds: rateLimitedSeconds)
    }
}

/// Who ended a run: its handler returning, or its deadline. The first to `take` it ends
/// the run; the other does nothing.
private final class RunEnd: Sendable {
    private let taken = Atomic(false)
    func take() -> Bool { !taken.exchange(true, ordering: .acquiringAndReleasing) }
}

/// Every running job's deadline on one timer. A sleeping task per job (the obvious way) had
/// the dispatch timer machinery take about a seventh of a worker's CPU in a drain of no-op
/// jobs. Here one task sleeps until the earliest deadline; jobs that finish first only
/// remove their entry.
final class Deadlines: Sendable {
    static let shared = Deadlines()

    typealias Token = UInt64

    private struct Entry {
        let at: ContinuousClock.Instant
        let fire: @Sendable () -> Void
    }

    private struct State {
        var entries: [Token: Entry] = [:]
        /// (deadline, token), a min-heap by deadline; entries removed meanwhile are skipped.
        var heap: [(at: ContinuousClock.Instant, token: Token)] = []
        var nextToken: Token = 0
        /// When the sleeping task wakes, and the task; nil when nothing is pending.
        var armedAt: ContinuousClock.Instant?
        var sleeper: Task<Void, Never>?

        mutating func push(_ item: (at: ContinuousClock.Instant, token: Token)) {
            heap.append(item)
            var child = heap.count - 1
            while child > 0 {
                let parent = (child - 1) / 2
                guard heap[child].at < heap[parent].at else { break }
                heap.swapAt(child, parent)
                child = parent
            }
        }

        mutating func popMin() {
            heap.swapAt(0, heap.count - 1)
            heap.removeLast()
            var parent = 0
            while true {
                let left = 2 * parent + 1
                let right = left + 1
                var smallest = parent
                if left < heap.count, heap[left].at < heap[smallest].at { smallest = left }
                if right < heap.count, heap[right].at < heap[smallest].at { smallest = right }
                guard smallest != parent else { return }
                heap.swapAt(parent, smallest)
                parent = smallest
            }
        }

        /// The earliest deadline still registered, dropping entries removed meanwhile.
        mutating func earliest() -> ContinuousClock.Instant? {
            while let top = heap.first {
                if entries[top.token] != nil { return top.at }
                popMin()
            }
            return nil
        }
    }

    private let state = Mutex(State())

    func add(at deadline: ContinuousClock.Instant, fire: @escaping @Sendable () -> Void) -> Token {
        state.withLock { state in
            let token = state.nextToken
            state.nextToken += 1
            state.entries[token] = Entry(at: deadline, fire: fire)
            state.push((deadline, token))
            if state.armedAt.map({ deadline < $0 }) ?? true { arm(&state, at: deadline) }
            return token
        }
    }

    func remove(_ token: Token) {
        state.withLock { state in
            state.entries.removeValue(forKey: token)
            // Jobs mostly finish in the order they started, so their entries reach the top
            // of the heap in turn; drop them there. Rebuild when removed entries elsewhere
            // outnumber the live ones, so memory stays bounded by the jobs running.
            _ = state.earliest()
            if state.heap.count > 2 * state.entries.count + 1024 {
                state.heap = []
                for (token, entry) in state.entries { state.push((entry.at, token)) }
            }
        }
    }

    /// Replaces the sleeping task with one that wakes at `deadline`. Called with the lock held.
    private func arm(_ state: inout State, at deadline: ContinuousClock.Instant) {
        state.sleeper?.cancel()
        state.armedAt = deadline
        state.sleeper = Task.detached { [self] in
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            self.fireDue()
        }
    }

    private func fireDue() {
        let due = state.withLock { state -> [Entry] in
            let now = ContinuousClock.now
            var due: [Entry] = []
            while let at = state.earliest(), at <= now {
                let token = state.heap[0].token
                state.popMin()
                if let entry = state.entries.removeValue(forKey: token) { due.append(entry) }
            }
            state.armedAt = nil
            state.sleeper = nil
            if let next = state.earliest() { arm(&state, at: next) }
            return due
        }
        for entry in due { entry.fire() }
    }
}

/// Waits for `body` until `deadline` at most, and returns whether it finished. Past the
/// deadline `body` is left to end on its own: a database call stuck in libpq sees no
/// cancellation, and a shutdown must not wait for it. The waiting itself ignores
/// cancellation: shutdown waits its time whether it came from a signal or from
/// cancellation.
func bounded(until deadline: ContinuousClock.Instant, _ body: @escaping @Sendable () async -> Void) async -> Bool {
    guard ContinuousClock.now < deadline else { return false }
    let gate = Gate<Void>()
    Task {
        await body()
        gate.settle(.success(()))
    }
    let token = Deadlines.shared.add(at: deadline) { gate.settle(.failure(CancellationError())) }
    defer { Deadlines.shared.remove(token) }
    do {
        try await gate.wait()
        return true
    } catch {
        return false
    }
}

/// A one-shot result that one side settles and the other awaits, whichever comes first.
final class Gate<Value: Sendable>: Sendable {
    private struct State {
        var result: Result<Value, any Error>?
        var waiter: CheckedContinuation<Value, any Error>?
    }
    private let state = Mutex(State())

    /// Returns false if the gate was already settled.
    @discardableResult
    func settle(_ result: Result<Value, any Error>) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<Value, any Error>?? in
            if case .some = state.result { return .none }
            state.result = result
            defer { state.waiter = nil }
            return .some(state.waiter)
        }
        guard let waiter else { return false }
        waiter?.resume(with: result)
        return true
    }

    func wait() async throws -> Value {
        try await withCheckedThrowingContinuation { continuation in
            let ready = state.withLock { state -> Result<Value, any Error>? in
                if let result = state.result { return result }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
