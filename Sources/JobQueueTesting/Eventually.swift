/// Polls `condition` until it returns true or `timeout` passes; returns whether it held.
/// For waiting on other processes, where no signal can be awaited.
///
/// It always ends: when the calling task is cancelled (a test's `.timeLimit` ran out, a
/// sibling failed) it stops polling at once and returns false, so the caller's
/// `#expect`/`#require` fails instead of a loop spinning on for the rest of the timeout.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while !Task.isCancelled {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        // Ends early when the task is cancelled; the loop condition then stops polling.
        try? await Task.sleep(for: min(interval, deadline - ContinuousClock.now))
    }
    return false
}
