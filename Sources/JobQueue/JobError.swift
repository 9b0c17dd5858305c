/// An error that says what should happen to the job, with a class and message that go into
/// its history. Handlers throw it; the worker records it and acts on `action`.
public struct JobError: Error, Sendable, CustomStringConvertible {
    public enum Action: Sendable, Equatable {
        /// Retry after the kind's backoff, while attempts remain.
        case retry
        /// Retry after this delay (a provider's Retry-After), while attempts remain.
        case retryAfter(Duration)
        /// Fail now: retrying cannot help (bad data, rejected by the provider).
        case fail
        /// Not a failure: run again after this delay, without using an attempt.
        case snooze(Duration)
        /// Not a failure: wait until `key` is woken (`JobQueue.wake(key:)`,
        /// `ledgersync.wake(key)`), or until `fallback` has passed, without using an attempt.
        /// Unlike a snooze, the waiting job does not hold its serial key: later jobs of the
        /// key run meanwhile, and the job rejoins its lane behind them when it wakes
        /// (queue migration 009). A wake that comes while this run is still finishing is
        /// not lost. An empty key is a plain snooze of `fallback`.
        case wait(for: String, fallback: Duration)
    }

    public let action: Action
    /// A short machine-readable class, e.g. `transient`, `permanent`, `bad_args`.
    public let errorClass: String
    public let message: String
    /// The provider's or library's own error code, when there is one.
    public let code: String?

    public init(action: Action, errorClass: String, message: String, code: String? = nil) {
        self.action = action
        self.errorClass = errorClass
        self.message = message
        self.code = code
    }

    public var description: String { "\(errorClass): \(message)" }

    public static func transient(_ message: String, code: String? = nil) -> JobError {
        JobError(action: .retry, errorClass: "transient", message: message, code: code)
    }

    public static func permanent(_ message: String, code: String? = nil) -> JobError {
        JobError(action: .fail, errorClass: "permanent", message: message, code: code)
    }

    /// The class of a snooze that waits out someone else's rate limit (a provider's 429 or
    /// concurrency refusal). The queue adds up how long a job has waited so (the job's
    /// `rateLimitedSeconds`) and fails it once that would pass the worker's cap
    /// (`WorkerOptions.maxRateLimited`): waiting costs no attempt, so without a cap a
    /// provider that always refuses would hold the job, and its serial key, forever.
    public static let rateLimitedClass = "rate_limited"

    /// A snooze of class `rate_limited`: counted against the worker's cap.
    public static func rateLimited(_ delay: Duration, reason: String, code: String? = nil) -> JobError {
        JobError(action: .snooze(delay), errorClass: rateLimitedClass, message: reason, code: code)
    }

    /// Whether this is a snooze that counts against the rate-limited cap, and its delay.
    var rateLimitedDelay: Duration? {
        guard case .snooze(let delay) = action, errorClass == Self.rateLimitedClass else { return nil }
        return delay
    }

    public static func snooze(_ delay: Duration, reason: String) -> JobError {
        JobError(action: .snooze(delay), errorClass: "snoozed", message: reason)
    }

    /// Waits for `key` (at most `fallback`), with class `waiting` unless told otherwise.
    public static func wait(for key: String, fallback: Duration, reason: String, errorClass: String = "waiting") -> JobError {
        JobError(action: .wait(for: key, fallback: fallback), errorClass: errorClass, message: reason)
    }

    /// A standby run that got no limit slot in time goes back to the queue (queue migration 013).
    static let standbyGaveUp = JobError(
        action: .snooze(.zero), errorClass: "standby",
        message: "standby run got no concurrency-limit slot in time; back to the queue (the attempt is not counted)")

    static func badArgs(_ message: String) -> JobError {
        JobError(action: .fail, errorClass: "bad_args", message: message)
    }

    static func unknownKind(_ kind: String, known: [String]) -> JobError {
        JobError(
            action: .fail, errorClass: "unknown_kind",
            message: "no handler for job kind '\(kind)' in this worker (it runs: \(known.joined(separator: ", ")))")
    }

    static func timedOut(after timeout: Duration) -> JobError {
        JobError(action: .retry, errorClass: "timeout", message: "the run did not finish within its timeout of \(timeout)")
    }
}
