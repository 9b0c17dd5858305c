import JobQueue

/// A failure to push a document to an accounting provider, sorted into one of the four
/// error classes of the design (transient / rate_limited / dependency / permanent), with a
/// one-line message, the provider's own error code and its retry hint.
///
/// Messages are built by provider parsers from the provider's answer, never from our
/// request, so they carry no request headers or credentials.
public struct SyncError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum ErrorClass: String, Sendable, CaseIterable {
        /// Network, timeout, 5xx: the same request may succeed later.
        case transient
        /// 429 or a concurrency refusal: wait for the provider's hint.
        case rateLimited = "rate_limited"
        /// A record we reference (customer, invoice) is not at the provider yet.
        case dependency
        /// The provider rejected the data or our credentials: retrying will not help.
        case permanent
    }

    /// The wait for a rate limit without a Retry-After hint.
    public static let defaultRateLimitDelay: Duration = .seconds(5)
    /// The shortest wait for a rate limit: a provider that answers 429 with Retry-After: 0
    /// must not be asked again in a tight loop, and each wait counts towards the worker's
    /// cap on rate-limited snoozing (`WorkerOptions.maxRateLimited`), which a zero wait
    /// would never reach.
    public static let minRateLimitDelay: Duration = .seconds(1)
    /// The longest a Retry-After hint may hold a job back: a hint of hours (or a
    /// garbled date) must not park a job out of sight.
    public static let maxRateLimitDelay: Duration = .seconds(600)
    /// How long a job waits for a customer or invoice that an earlier job creates.
    public static let dependencyDelay: Duration = .seconds(30)

    public let errorClass: ErrorClass
    /// One line.
    public let message: String
    /// The provider's error code (NetSuite `o:errorCode`), when it gave one.
    public let providerCode: String?
    /// The provider's retry hint (Retry-After), when it gave one.
    public let retryAfter: Duration?
    /// Set when the request was sent but its caller gave up (a client-side timeout, a
    /// dropped connection): the provider may still be processing it for up to this long,
    /// and it still counts against the account's concurrency limit meanwhile. The job
    /// keeps its limit slot held that long (`JobContext.holdLimitSlot`).
    public let providerMayStillRunFor: Duration?
    /// For a rate-limited refusal: which of the connection's rate windows the provider says
    /// are spent, by length (a per-minute refusal: 60 s; a daily quota: 86,400 s). The job
    /// runner empties the limit key's windows of at most this length
    /// (`JobContext.exhaustRateWindows`), so no worker starts another of its jobs before they
    /// turn. Nil: `defaultExhaustedWindow`, never a daily quota on a refusal that may be a
    /// minute's.
    public var exhaustsWindowsUpTo: Duration? = nil

    /// Set by a provider's error parser when what failed is for a person to fix at the
    /// provider before a retry can succeed: a closed accounting period, a locked record.
    /// The billing object's sync status is then `needs_action`, not `failed` (sync migration
    /// 016, docs/sync-status.md). Provider-neutral: each parser knows its provider's words.
    public var needsAction: Bool = false

    /// The windows a rate-limited refusal empties when the provider does not say which.
    public static let defaultExhaustedWindow: Duration = .seconds(3600)

    public init(
        _ errorClass: ErrorClass, _ message: String, providerCode: String? = nil, retryAfter: Duration? = nil,
        providerMayStillRunFor: Duration? = nil
    ) {
        self.errorClass = errorClass
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
        self.providerCode = providerCode
        self.retryAfter = retryAfter
        self.providerMayStillRunFor = providerMayStillRunFor
    }

    public var description: String {
        if let providerCode { return "\(errorClass.rawValue) [\(providerCode)]: \(message)" }
        return "\(errorClass.rawValue): \(message)"
    }

    /// What the worker does with the job.
    ///
    /// - transient → `.retry`: the kind's backoff, using an attempt.
    /// - rate_limited → `.snooze(retryAfter ?? 5 s)`, between 1 s and 10 min, of class
    ///   `rate_limited`: a rate limit says nothing about the job, so it must not burn the
    ///   attempt budget; the worker caps the total time so spent (`JobError.rateLimitedClass`).
    /// - dependency → `.snooze(30 s)`: wait until the customer/invoice job has run.
    /// - permanent → `.fail`.
    public var jobError: JobError {
        let action: JobError.Action
        switch errorClass {
        case .transient:
            action = .retry
        case .rateLimited:
            let hint = retryAfter ?? Self.defaultRateLimitDelay
            action = .snooze(min(max(hint, Self.minRateLimitDelay), Self.maxRateLimitDelay))
        case .dependency:
            action = .snooze(Self.dependencyDelay)
        case .permanent:
            action = .fail
        }
        return JobError(action: action, errorClass: errorClass.rawValue, message: message, code: providerCode)
    }
}

extension SyncError {
    /// Runs `body` up to `attempts` times while it fails `transient` or `rate_limited`,
    /// sleeping the provider's Retry-After, else 1, 2, 4… seconds, in between. For reads a
    /// person waits on (a CLI command, an API call); jobs retry through the queue instead.
    public static func retryingTransient<T>(attempts: Int, _ body: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await body()
            } catch let error as SyncError where attempt < attempts && (error.errorClass == .rateLimited || error.errorClass == .transient)
            {
                try await Task.sleep(for: error.retryAfter ?? .seconds(1 << min(attempt - 1, 5)))
                attempt += 1
            }
        }
    }
}
