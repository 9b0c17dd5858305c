/// Polls `condition` until it returns true or `timeout` passes; returns whether it held.
/// For waiting on other processes, where no signal can be awaited.
public func eventually(
    timeout: Duration = .seconds(30), every interval: Duration = .milliseconds(50), _ condition: () async throws -> Bool
) async rethrows -> Bool {
    let deadline = ContinuousClock.now + timeout
    while true {
        if try await condition() { return true }
        if ContinuousClock.now >= deadline { return false }
        try? await Task.sleep(for: interval)
    }
}
