import Synchronization

/// What `withTimeout` throws when time runs out.
public struct TimeoutError: Error, CustomStringConvertible {
    public let what: String
    public let timeout: Duration
    public var description: String { "timed out after \(timeout) waiting for \(what)" }
}

/// Runs `body`, failing with `TimeoutError` instead of hanging. On timeout `body` is
/// cancelled but not waited for, so even a body that ignores cancellation (a blocked
/// read, a lost notification) cannot hang a test.
public func withTimeout<T: Sendable>(
    _ timeout: Duration, _ what: String, _ body: @escaping @Sendable () async throws -> T
) async throws -> T {
    let work = Task { try await body() }
    return try await withCheckedThrowingContinuation { continuation in
        let once = ResumeOnce(continuation)
        let timer = Task {
            try await Task.sleep(for: timeout)
            once.resume(with: .failure(TimeoutError(what: what, timeout: timeout)))
            work.cancel()
        }
        Task {
            let result = await work.result
            once.resume(with: result)
            timer.cancel()
        }
    }
}

/// Resumes a continuation once; later calls do nothing.
private final class ResumeOnce<T: Sendable>: Sendable {
    private let continuation: Mutex<CheckedContinuation<T, any Error>?>
    init(_ continuation: CheckedContinuation<T, any Error>) { self.continuation = Mutex(continuation) }
    func resume(with result: Result<T, any Error>) {
        continuation.withLock { stored in
            defer { stored = nil }
            return stored
        }?.resume(with: result)
    }
}
