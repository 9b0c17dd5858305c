import Foundation
import Logging
import Postgres
import Synchronization

/// Code that runs jobs of one kind. The kind name is the contract between whoever
/// enqueues (SQL, the API, Swift) and the worker: declare it once, here.
///
/// ```swift
/// struct SendReceipt: JobHandler {
///     struct Args: Codable, Sendable { let invoiceID: String }
///     static let kind = "receipt.send"
///     func run(_ args: Args, context: JobContext) async throws { … }
/// }
/// ```
///
/// Throw a `JobError` to say what should happen next (retry later, fail now, snooze);
/// any other error is retried with the kind's backoff until attempts run out.
public protocol JobHandler: Sendable {
    associatedtype Args: Decodable & Sendable
    static var kind: String { get }
    var options: JobKindOptions { get }
    func run(_ args: Args, context: JobContext) async throws
}

extension JobHandler {
    public var options: JobKindOptions { JobKindOptions() }
}

/// Per-kind defaults: attempts, how long one run may take, and how retries are spaced.
public struct JobKindOptions: Sendable {
    /// Used when a job is enqueued without max_attempts.
    public var maxAttempts: Int
    /// A run still going after this long is abandoned (its task cancelled) and retried.
    public var timeout: Duration
    public var backoff: Backoff
    /// The handler calls `JobContext.waitForLimitSlot()` before it first uses what its
    /// limit key stands for (a provider request). A worker that holds slots of a key may
    /// then claim STANDBY runs of such kinds: they start at once and load what they need,
    /// and get a slot in the worker's memory the moment a run of the key gives its own back
    /// (queue migration 013). Leave it false for handlers that use the resource without
    /// asking: they only ever start with a slot.
    public var standby: Bool

    public init(maxAttempts: Int = 20, timeout: Duration = .seconds(300), backoff: Backoff = .default, standby: Bool = false) {
        self.maxAttempts = maxAttempts
        self.timeout = timeout
        self.backoff = backoff
        self.standby = standby
    }
}

/// What a handler gets besides its arguments.
public struct JobContext: Sendable {
    public let job: Job
    public let workerID: String
    /// The worker's connection pool, for handlers that read or write the database.
    public let pool: ConnectionPool
    private let workerLogger: Logger
    /// The most a job may wait, in total, in snoozes of class `rate_limited`
    /// (`WorkerOptions.maxRateLimited`).
    public let maxRateLimited: Duration
    /// Tells the worker that this run gave its limit slot back.
    private let limitSlotReleased: @Sendable () -> Void
    /// Waits until this run holds its limit slot (returns at once unless it is a standby run).
    private let limitSlotWait: @Sendable () async throws -> Void

    init(
        job: Job, workerID: String, logger: Logger, pool: ConnectionPool, maxRateLimited: Duration = WorkerOptions.defaultMaxRateLimited,
        limitSlotReleased: @escaping @Sendable () -> Void = {}, limitSlotWait: @escaping @Sendable () async throws -> Void = {}
    ) {
        self.job = job
        self.workerID = workerID
        self.workerLogger = logger
        self.pool = pool
        self.maxRateLimited = maxRateLimited
        self.limitSlotReleased = limitSlotReleased
        self.limitSlotWait = limitSlotWait
    }

    /// `error` as the worker will act on it. A snooze of class `rate_limited` that would
    /// take the job's total time snoozed for rate limits past `maxRateLimited` becomes a
    /// final failure (same class and code, the message says why). Handlers that report
    /// final failures themselves (a webhook, say) ask here first; the worker applies the
    /// same rule to whatever a handler throws, so calling it is never required for the cap
    /// to hold, and applying it twice changes nothing.
    public func applyingRateLimitCap(to error: JobError) -> JobError {
        guard let delay = error.rateLimitedDelay else { return error }
        let waited = job.rateLimitedSeconds
        guard waited + max(0, delay.seconds) > maxRateLimited.seconds else { return error }
        return JobError(
            action: .fail, errorClass: error.errorClass,
            message: "still rate limited after waiting \(Self.formatSeconds(waited)) in total (the cap is "
                + "\(Self.formatSeconds(maxRateLimited.seconds))); gave up: \(error.message)",
            code: error.code)
    }

    /// Whole seconds from 10 s on, else tenths. The column is a plain double a person could
    /// set to anything (NaN, infinity, 1e300): those are shown as they are, never converted
    /// to Int (which would trap).
    static func formatSeconds(_ seconds: Double) -> String {
        guard seconds.isFinite, abs(seconds) < 1e15 else { return "\(seconds) s" }
        return seconds >= 10 || seconds == seconds.rounded() ? "\(Int(seconds.rounded())) s" : "\((seconds * 10).rounded() / 10) s"
    }

    /// Gives this job's concurrency-limit slot back before the job finishes. Call it once
    /// the handler is done with what the limit key stands for (the provider has answered
    /// its last request) and only bookkeeping is left; without it the slot is held until
    /// the result is stored. The worker's next fetch, which it starts at once, marks the
    /// run in the same transaction in which it counts the key's running jobs, so the call
    /// itself costs no round trip and never fails. Nothing happens for a job without a
    /// limit key.
    ///
    /// After it, the handler must not use the limited resource again in this run: another
    /// job may already hold the slot.
    public func releaseLimitSlot() {
        guard job.limitKey != nil else { return }
        limitSlotReleased()
    }

    /// Waits until this run holds its concurrency-limit slot, and returns at once when it
    /// does (every run but a standby one: see `JobKindOptions.standby`). A standby run gets
    /// its slot in memory when a run of the same key in this worker gives its slot back
    /// (no round trip), or from the database when the key has one free; one that waits too
    /// long is given back to the queue (this throws a snooze of class `standby`, and the
    /// worker stores a snooze of 0 s whatever the handler makes of it: the attempt is not
    /// counted). Call it before every use of what the limit key stands for; it costs nothing
    /// once the slot is held.
    public func waitForLimitSlot() async throws {
        guard job.limitKey != nil else { return }
        try await limitSlotWait()
    }

    /// Keeps this job's concurrency-limit slot taken for `duration` from now, after the run
    /// ends: for a request the handler gave up on (a client-side timeout, a dropped
    /// connection) that the provider may still be processing. Fetch counts the hold
    /// against the key's limit in every worker process until it expires
    /// (queue migration 008), while this worker's slots go on to other jobs. Call it before
    /// the run ends (before throwing); one round trip. Returns the end of the hold, nil for
    /// a job without a limit key or a run that is no longer running.
    @discardableResult
    public func holdLimitSlot(for duration: Duration) async throws -> Date? {
        guard job.limitKey != nil else { return nil }
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        let row = try await pool.query(QueueSQL.holdLimitSlot, [job.id, job.runID, seconds]).rows.first
        return try row?.decodeIfPresent("held_until", as: Date.self)
    }

    /// Marks the rate windows of this job's limit key used up, for a provider's refusal for
    /// its rate limit (an HTTP 429): the provider's own count says the window is spent,
    /// whatever the queue counted. No worker process starts a job of the key for the next
    /// length of each window (sliding windows, queue migration 011). `upTo` exhausts only
    /// the windows of at most that length (a per-minute refusal must not spend the daily
    /// quota); nil exhausts all. Returns how long until the last of them has a start again
    /// (a good snooze for this job), nil for a job without a limit key or a key without such
    /// windows. One round trip.
    @discardableResult
    public func exhaustRateWindows(upTo longest: Duration? = nil) async throws -> Duration? {
        guard let limitKey = job.limitKey else { return nil }
        let maxSeconds = longest.map { Int(min(max($0.seconds.rounded(.down), 0), 366 * 86_400)) }
        let row = try await pool.query(QueueSQL.exhaustRateWindows, [limitKey, maxSeconds]).rows.first
        guard let wait = try row?.decodeIfPresent("wait_seconds", as: Double.self), wait.isFinite else { return nil }
        return .seconds(max(0, wait))
    }

    /// Waits until every rate window of this job's limit key has a start left and spends
    /// one, for a second request under the same budget (a credit note created, then applied):
    /// the job's own start paid for its first request only. Sleeps for the time the queue
    /// says and tries again, as long as it takes; cancelling the task (the job's timeout, a
    /// shutdown) ends the wait with `CancellationError`. Returns at once for a job without
    /// a limit key or a key without windows. One round trip when a start is free.
    public func takeRateWindowStart() async throws {
        guard let limitKey = job.limitKey else { return }
        let queue = JobQueue(pool: pool)
        while true {
            try Task.checkCancellation()
            guard let wait = try await queue.takeRateWindowStart(key: limitKey) else { return }
            // A little after the start frees, so the next try's now() is past it.
            try await Task.sleep(for: wait + .milliseconds(2))
        }
    }

    /// The worker's logger with this job's id and kind as metadata. Built when asked for:
    /// setting metadata makes swift-log's stream handler re-render all of it, and doing
    /// that twice for every job was a tenth of a no-op job's cost in a worker's profile.
    public var logger: Logger {
        var logger = workerLogger
        logger[metadataKey: "job"] = "\(job.id)"
        logger[metadataKey: "kind"] = "\(job.kind)"
        return logger
    }
}

/// The handlers a worker runs, by kind.
public struct JobRegistry: Sendable {
    struct Entry: Sendable {
        let options: JobKindOptions
        let run: @Sendable (Job, JobContext) async throws -> Void
    }

    private(set) var entries: [String: Entry] = [:]

    public init() {}

    /// Adds a handler. Registering two handlers for one kind is a programming error.
    public mutating func register<H: JobHandler>(_ handler: H) {
        precondition(entries[H.kind] == nil, "two handlers registered for job kind '\(H.kind)'")
        // One decoder per kind, not per job (JSONDecoder is thread-safe to share). Jobs
        // without arguments (`{}`, most of a no-op drain) reuse the first decoded value:
        // decoding the same two bytes again was the largest single cost left of such a job.
        let decoder = JSONDecoder()
        let emptyArgs = Mutex<H.Args?>(nil)
        entries[H.kind] = Entry(options: handler.options) { job, context in
            let args: H.Args
            do {
                if job.args.text == "{}" {
                    if let cached = emptyArgs.withLock({ $0 }) {
                        args = cached
                    } else {
                        args = try decoder.decode(H.Args.self, from: Data("{}".utf8))
                        emptyArgs.withLock { $0 = args }
                    }
                } else {
                    args = try decoder.decode(H.Args.self, from: Data(job.args.text.utf8))
                }
            } catch let error as DecodingError {
                throw JobError.badArgs("args of a '\(H.kind)' job do not decode: \(describe(error))")
            } catch {
                throw JobError.badArgs("args of a '\(H.kind)' job do not decode: \(error)")
            }
            try await handler.run(args, context: context)
        }
    }

    public var kinds: [String] { entries.keys.sorted() }

    func entry(for kind: String) -> Entry? { entries[kind] }
}

/// A DecodingError in one line that names the field: "at invoice.lines[2].amount: expected Int, found a string".
func describe(_ error: DecodingError) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
        let text = codingPath.map { key in key.intValue.map { "[\($0)]" } ?? ".\(key.stringValue)" }.joined()
        let trimmed = text.hasPrefix(".") ? String(text.dropFirst()) : text
        return trimmed.isEmpty ? "the top level" : trimmed
    }
    switch error {
    case .keyNotFound(let key, let context):
        let parent = context.codingPath.isEmpty ? "" : " in \(path(context.codingPath))"
        return "field '\(key.stringValue)' is missing\(parent)"
    case .typeMismatch(let type, let context):
        return "at \(path(context.codingPath)): expected \(type)"
    case .valueNotFound(let type, let context):
        return "at \(path(context.codingPath)): expected \(type), found null"
    case .dataCorrupted(let context):
        return "at \(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
        return "\(error)"
    }
}
