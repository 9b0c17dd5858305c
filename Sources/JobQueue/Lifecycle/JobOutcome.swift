import Foundation

/// What happens to a run once its handler returned or threw. Pure: decided from the run
/// and the error alone, so every rule is covered by table tests without a database.
public enum JobOutcome: Sendable, Equatable {
    case complete
    /// Back to the queue after `delaySeconds`, with `error` in its history.
    case retry(delaySeconds: Double, error: ErrorEntry)
    /// Failed for good, with `error` in its history.
    case fail(error: ErrorEntry)
    /// Run again after `delaySeconds`; the attempt is given back.
    case snooze(delaySeconds: Double)
    /// Parked on `key` until it is woken, or `delaySeconds` have passed; the attempt is
    /// given back and the job holds no lane meanwhile (queue migration 009).
    case park(key: String, delaySeconds: Double)

    /// One entry of a job's error history, stored as JSON in `ledgersync.jobs.errors`.
    public struct ErrorEntry: Sendable, Equatable, Codable {
        public let at: Date
        public let attempt: Int
        public let `class`: String
        public let message: String
        public let code: String?
        public let worker: String?
        /// For a retried run: the backoff chosen, in seconds (so operators see when it runs next).
        public var retryIn: Double?

        enum CodingKeys: String, CodingKey {
            case at, attempt, `class`, message, code, worker
            case retryIn = "retry_in"
        }

        /// Every text field is cleaned and capped (`StoredText`): whatever a handler or a
        /// provider said, the entry is something PostgreSQL stores.
        init(at: Date, attempt: Int, class: String, message: String, code: String?, worker: String?, retryIn: Double? = nil) {
            self.at = at
            self.attempt = attempt
            self.class = StoredText.clean(`class`, limit: StoredText.maxClass)
            self.message = StoredText.clean(message, limit: StoredText.maxMessage)
            self.code = StoredText.clean(code, limit: StoredText.maxCode)
            self.worker = StoredText.clean(worker, limit: StoredText.maxWorker)
            self.retryIn = retryIn.flatMap { $0.isFinite ? $0 : nil }
        }

        /// Lenient: an entry written by hand in SQL or by an older version still shows,
        /// with what it has, rather than making the whole job unreadable.
        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            at = (try? container.decodeIfPresent(Date.self, forKey: .at)) ?? Date(timeIntervalSince1970: 0)
            attempt = (try? container.decodeIfPresent(Int.self, forKey: .attempt)) ?? 0
            `class` = (try? container.decodeIfPresent(String.self, forKey: .class)) ?? "unknown"
            message = (try? container.decodeIfPresent(String.self, forKey: .message)) ?? ""
            code = try? container.decodeIfPresent(String.self, forKey: .code)
            worker = try? container.decodeIfPresent(String.self, forKey: .worker)
            retryIn = try? container.decodeIfPresent(Double.self, forKey: .retryIn)
        }
    }

    /// Decides the outcome of run `attempt` of `maxAttempts` that threw `error`.
    public static func decide(
        error: any Error, attempt: Int, maxAttempts: Int, backoff: Backoff, worker: String, now: Date = Date()
    ) -> JobOutcome {
        let jobError = error as? JobError ?? JobError(action: .retry, errorClass: "error", message: Self.message(of: error))
        let entry = ErrorEntry(
            at: now, attempt: attempt, class: jobError.errorClass, message: jobError.message, code: jobError.code, worker: worker)
        func retry(after delay: Double) -> JobOutcome {
            guard attempt < maxAttempts else { return .fail(error: entry) }
            var entry = entry
            entry.retryIn = delay
            return .retry(delaySeconds: delay, error: entry)
        }
        switch jobError.action {
        case .fail:
            return .fail(error: entry)
        case .snooze(let delay):
            return .snooze(delaySeconds: delay.seconds)
        case .wait(let key, let fallback):
            return key.isEmpty ? .snooze(delaySeconds: fallback.seconds) : .park(key: key, delaySeconds: fallback.seconds)
        case .retry:
            return retry(after: backoff.delay(afterAttempt: attempt))
        case .retryAfter(let delay):
            return retry(after: delay.seconds)
        }
    }

    /// An error's message in one line, however the error describes itself.
    static func message(of error: any Error) -> String {
        String(describing: error).split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }.joined(separator: " ")
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
