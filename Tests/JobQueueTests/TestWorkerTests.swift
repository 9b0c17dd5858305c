import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// `TestWorker` (JobQueueTesting): one handler run against a real database without a
/// worker, its outcome, and the job row as the worker's statements stored it.
@Suite(.timeLimit(.minutes(3)))
struct TestWorkerTests {
    struct Args: Codable, Sendable {
        var mode: String
    }

    struct PlainError: Error, CustomStringConvertible {
        var description: String { "the mail server said no" }
    }

    /// Does what its args say.
    struct Scripted: JobHandler {
        static let kind = "test.scripted"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 3, backoff: Backoff(base: 5, cap: 60)) }

        func run(_ args: Args, context: JobContext) async throws {
            switch args.mode {
            case "complete": return
            case "permanent": throw JobError.permanent("cannot be done", code: "E42")
            case "plain": throw PlainError()
            case "snooze": throw JobError.snooze(.seconds(30), reason: "later")
            case "park": throw JobError.wait(for: "test:key:1", fallback: .seconds(600), reason: "waiting for key 1")
            case "release":
                // The handler's pool is the database's: it can read its own row.
                let rows = try await context.pool.query("SELECT state::text AS state FROM ledgersync.jobs WHERE id = $1", [context.job.id])
                    .rows
                #expect(try rows[0].decode("state", as: String.self) == "running")
                context.releaseLimitSlot()
            default: throw JobError.permanent("unknown mode \(args.mode)")
            }
        }
    }

    /// Ignores cancellation, like a call stuck in C code.
    struct Stuck: JobHandler {
        struct Args: Codable, Sendable {}
        static let kind = "test.stuck"
        var options: JobKindOptions { JobKindOptions(maxAttempts: 2, timeout: .milliseconds(200)) }
        func run(_ args: Args, context: JobContext) async throws {
            await withCheckedContinuation { continuation in
                DispatchQueue.global().asyncAfter(deadline: .now() + 20) { continuation.resume() }
            }
        }
    }

    @Test func aRunPastItsTimeoutEndsAtTheDeadlineEvenIfTheHandlerDoesNot() async throws {
        try await TestDatabase.with { database in
            let started = ContinuousClock.now
            let result = try await TestWorker(pool: database.pool).work(Stuck(), args: Stuck.Args())
            // The handler would take 20 s; the run ended at 0.2 s (the margin is for a loaded machine).
            #expect(ContinuousClock.now - started < .seconds(10))
            #expect(result.job.state == .retryable)
            #expect(result.job.errors.map(\.class) == ["timeout"])
        }
    }

    @Test func aCompletedRunIsStoredAsAWorkerStoresIt() async throws {
        try await TestDatabase.with { database in
            let result = try await TestWorker(pool: database.pool, workerID: "tw-1").work(Scripted(), args: Args(mode: "complete"))
            #expect(result.outcome == .complete)
            #expect(result.error == nil)
            #expect(result.attempt == 1)
            #expect(result.job.state == .completed)
            #expect(result.job.attempt == 1)
            #expect(result.job.finalizedAt != nil)
            #expect(result.job.maxAttempts == 20, "enqueued without max_attempts and no worker published the kind: the queue's default")
            #expect(result.limitSlotReleased == false)
        }
    }

    @Test func aJobErrorFailsWithItsClassMessageAndCode() async throws {
        try await TestDatabase.with { database in
            let result = try await TestWorker(pool: database.pool, workerID: "tw-2").work(Scripted(), args: Args(mode: "permanent"))
            #expect(result.job.state == .failed)
            guard case .fail(let entry) = result.outcome else {
                Issue.record("expected a failure, got \(result.outcome)")
                return
            }
            #expect(entry.class == "permanent")
            #expect(entry.message == "cannot be done")
            #expect(entry.code == "E42")
            #expect(entry.worker == "tw-2")
            // The history holds the entry the outcome carries (its time as stored: microseconds).
            #expect(result.job.errors.count == 1)
            let stored = try #require(result.job.errors.first)
            #expect(stored.class == entry.class && stored.message == entry.message && stored.code == entry.code)
            #expect(stored.attempt == 1 && stored.worker == "tw-2" && abs(stored.at.timeIntervalSince(entry.at)) < 0.001)
        }
    }

    @Test func aNonJobErrorIsRetriedWithTheKindsBackoffUntilAttemptsRunOut() async throws {
        try await TestDatabase.with { database in
            let worker = TestWorker(pool: database.pool)
            let first = try await worker.work(Scripted(), args: Args(mode: "plain"), maxAttempts: 2)
            #expect(first.job.state == .retryable)
            guard case .retry(let delay, let entry) = first.outcome else {
                Issue.record("expected a retry, got \(first.outcome)")
                return
            }
            #expect(delay > 0 && delay <= 60, "the kind's backoff (base 5, cap 60), not the default")
            #expect(entry.class == "error")
            #expect(entry.message == "the mail server said no")
            #expect(first.job.runAt > first.job.attemptedAt ?? .distantFuture)
            // The same job again, now, without waiting for its run_at: its last attempt.
            let second = try await worker.work(Scripted(), jobID: first.job.id)
            #expect(second.attempt == 2)
            #expect(second.job.state == .failed)
            #expect(second.job.errors.map(\.class) == ["error", "error"])
        }
    }

    @Test func aSnoozeGivesTheAttemptBackAndAParkedJobIsNotRun() async throws {
        try await TestDatabase.with { database in
            let worker = TestWorker(pool: database.pool)
            let snoozed = try await worker.work(Scripted(), args: Args(mode: "snooze"))
            #expect(snoozed.outcome == .snooze(delaySeconds: 30))
            #expect(snoozed.job.state == .available)
            #expect(snoozed.job.attempt == 0, "a snooze uses no attempt")
            #expect(snoozed.error == nil)

            let parked = try await worker.work(Scripted(), args: Args(mode: "park"))
            #expect(parked.outcome == .park(key: "test:key:1", delaySeconds: 600))
            #expect(parked.job.state == .available)
            let refusal = await #expect(throws: TestWorker.Refusal.self) {
                try await worker.work(Scripted(), jobID: parked.job.id)
            }
            #expect(refusal?.description.contains("parked") == true)
            // Woken, it runs again (and parks again: its args have not changed).
            _ = try await JobQueue(pool: database.pool).wake(key: "test:key:1")
            let again = try await worker.work(Scripted(), jobID: parked.job.id)
            #expect(again.attempt == 1)
        }
    }

    @Test func argsThatDoNotDecodeFailAsBadArgsNamingTheField() async throws {
        try await TestDatabase.with { database in
            let result = try await TestWorker(pool: database.pool).work(
                Scripted(), request: EnqueueRequest(kind: Scripted.kind, args: JSONText(#"{"mode": 7}"#)))
            #expect(result.job.state == .failed)
            #expect(result.error?.class == "bad_args")
            #expect(result.error?.message.contains("mode") == true)
        }
    }

    @Test func limitSlotReleaseIsReported() async throws {
        try await TestDatabase.with { database in
            let result = try await TestWorker(pool: database.pool).work(Scripted(), args: Args(mode: "release"), limitKey: "acct:1")
            #expect(result.outcome == .complete)
            #expect(result.limitSlotReleased)
        }
    }

    @Test func refusesWhatAWorkerWouldNotRun() async throws {
        try await TestDatabase.with { database in
            let worker = TestWorker(pool: database.pool)
            let queue = JobQueue(pool: database.pool)
            // Another kind's job.
            let other = try await queue.enqueue(EnqueueRequest(kind: "other.kind"))
            let wrongKind = await #expect(throws: TestWorker.Refusal.self) { try await worker.work(Scripted(), jobID: other) }
            #expect(wrongKind?.description.contains("other.kind") == true)
            await #expect(throws: TestWorker.Refusal.self) { try await worker.work(Scripted(), jobID: 999_999) }
            // A finished job.
            let done = try await worker.work(Scripted(), args: Args(mode: "complete"))
            let finished = await #expect(throws: TestWorker.Refusal.self) { try await worker.work(Scripted(), jobID: done.job.id) }
            #expect(finished?.description.contains("completed") == true)
            #expect(try await queue.job(id: done.job.id)?.attempt == 1, "a refused run changes nothing")
        }
    }

    /// Waits until released: a run that stays running while the test looks at its serial key.
    struct Blocking: JobHandler {
        static let kind = "test.blocking"
        let gate: AsyncStream<Void>
        func run(_ args: Args, context: JobContext) async throws {
            for await _ in gate { return }
        }
    }

    @Test func aJobIsNotRunWhileAnotherOfItsSerialKeyRuns() async throws {
        try await TestDatabase.with { database in
            let worker = TestWorker(pool: database.pool)
            let (gate, open) = AsyncStream.makeStream(of: Void.self)
            let queue = JobQueue(pool: database.pool)
            let first = try await queue.enqueue(EnqueueRequest(kind: Blocking.kind, args: JSONText(#"{"mode": "x"}"#), serialKey: "cus_1"))
            let second = try await queue.enqueue(EnqueueRequest(kind: Blocking.kind, args: JSONText(#"{"mode": "x"}"#), serialKey: "cus_1"))
            let running = Task { try await worker.work(Blocking(gate: gate), jobID: first) }
            let started = await eventually(timeout: .seconds(30)) {
                (try? await queue.job(id: first))?.state == .running
            }
            #expect(started)
            let refusal = await #expect(throws: TestWorker.Refusal.self) {
                try await worker.work(Blocking(gate: AsyncStream { $0.finish() }), jobID: second)
            }
            #expect(refusal?.description.contains("cus_1") == true)
            open.yield()
            #expect(try await running.value.job.state == .completed)
            // With its key free, the second runs.
            let (gate2, open2) = AsyncStream.makeStream(of: Void.self)
            open2.yield()
            #expect(try await worker.work(Blocking(gate: gate2), jobID: second).job.state == .completed)
        }
    }
}

/// README.md's "Writing your own jobs" shows a handler and its test; the files in
/// `ReadmeExample/` are those blocks, compiled and run in this target. This holds them equal.
@Suite(.timeLimit(.minutes(1)))
struct ReadmeExampleTests {
    @Test func theReadmeBlocksAreTheFilesThatRun() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let readme = try String(contentsOf: root.appendingPathComponent("README.md"), encoding: .utf8)
        guard let start = readme.range(of: "\n## Writing your own jobs\n") else {
            Issue.record("README.md has no \"## Writing your own jobs\" section")
            return
        }
        let rest = readme[start.upperBound...]
        let section = rest.range(of: "\n## ").map { rest[..<$0.lowerBound] } ?? rest
        var blocks: [String] = []
        var current: [Substring]?
        for line in section.split(separator: "\n", omittingEmptySubsequences: false) {
            if current == nil, line == "```swift" {
                current = []
            } else if let lines = current, line == "```" {
                blocks.append(lines.joined(separator: "\n") + "\n")
                current = nil
            } else {
                current?.append(line)
            }
        }
        let example = root.appendingPathComponent("Tests/JobQueueTests/ReadmeExample")
        let files = ["SendReceipt.swift", "SendReceiptTests.swift"]
        #expect(blocks.count == files.count, "the section has \(blocks.count) swift blocks; expected the handler and its test")
        for (block, file) in zip(blocks, files) {
            let text = try String(contentsOf: example.appendingPathComponent(file), encoding: .utf8)
            #expect(block == text, "README.md's block differs from Tests/JobQueueTests/ReadmeExample/\(file)")
        }
    }
}
