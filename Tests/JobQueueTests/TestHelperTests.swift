import Foundation
import JobQueueTesting
import Synchronization
import Testing

/// The test helpers themselves: they end when their task is cancelled (a suite's time limit, a
/// failing sibling) instead of polling on for their whole timeout, and a child process does not
/// outlive the test that started it.
@Suite(.timeLimit(.minutes(2)))
struct TestHelperTests {
    /// A `ledgersync` child that runs until it is stopped and needs no database.
    func longRunningChild() throws -> LedgersyncProcess {
        try LedgersyncProcess(["simulate", "netsuite", "--port", "0"], databaseURL: nil)
    }

    @Test func eventuallyEndsWhenCancelled() async throws {
        let polls = PollCount()
        let task = Task {
            await eventually(timeout: .seconds(600), every: .milliseconds(20)) {
                polls.increment()
                return false
            }
        }
        // Cancel once it is polling, seen from its own count.
        let deadline = ContinuousClock.now + .seconds(30)
        while polls.value < 2, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
        task.cancel()
        let cancelledAt = ContinuousClock.now
        let held = await task.value
        #expect(!held, "a cancelled wait does not claim its condition held")
        #expect(ContinuousClock.now - cancelledAt < .seconds(10), "it stopped at once, not after the 600 s timeout")
        let afterwards = polls.value
        try await Task.sleep(for: .milliseconds(100))
        #expect(polls.value == afterwards, "no polling after it returned")
    }

    @Test func eventuallyStillReportsAConditionThatHolds() async {
        #expect(await eventually(timeout: .seconds(30)) { true })
        #expect(await eventually(timeout: .milliseconds(50), every: .milliseconds(10)) { false } == false)
    }

    @Test func waitForExitEndsWhenCancelledAndReportsAnExit() async throws {
        let child = try longRunningChild()
        let waiting = Task { await child.waitForExit(timeout: .seconds(600)) }
        waiting.cancel()
        let cancelledAt = ContinuousClock.now
        #expect(await waiting.value == nil)
        #expect(ContinuousClock.now - cancelledAt < .seconds(10))
        #expect(child.process.isRunning, "cancelling the wait does not stop the child")

        #expect(await child.waitForExit(timeout: .milliseconds(200)) == nil, "still running: the timeout answers nil")
        child.signal(SIGKILL)
        let status = await child.waitForExit(timeout: .seconds(30))
        #expect(status == SIGKILL, "the exit is seen through the termination handler: \(String(describing: status))")
    }

    @Test func aChildDoesNotOutliveItsTest() async throws {
        var pid: Int32 = 0
        do {
            let child = try longRunningChild()
            pid = child.pid
            #expect(kill(pid, 0) == 0)
            // The test lets go of it here, as a test that throws does.
        }
        #expect(pid > 0)
        let gone = await eventually(timeout: .seconds(30), every: .milliseconds(20)) { kill(pid, 0) != 0 }
        #expect(gone, "process \(pid) still exists after its LedgersyncProcess was released")
    }
}

final class PollCount: Sendable {
    private let count = Mutex(0)
    func increment() { count.withLock { $0 += 1 } }
    var value: Int { count.withLock { $0 } }
}
