import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// `ledgersync worker --keep-completed/--keep-failed/--keep-cancelled` and `--queues`, as an
/// operator sets them: a real worker process prunes each finished state by its own
/// retention, keeps what is younger, and runs only the queues it was given.
@Suite(.timeLimit(.minutes(3)))
struct RetentionFlagsTests {
    @Test("a worker prunes each finished state past its --keep-* retention, keeps younger ones, and serves only --queues")
    func retentionAndQueues() async throws {
        try await withTestDatabase { db in
            func finished(_ state: JobState, agoSeconds: Int) async throws -> Int64 {
                let id = try await db.queue.enqueue(EnqueueRequest(kind: "diag.noop", queue: "archive"))
                try await db.pool.query(
                    """
                    UPDATE ledgersync.jobs SET state = $2::ledgersync.job_state, attempt = 1,
                        attempted_at = now() - make_interval(secs => $3), finalized_at = now() - make_interval(secs => $3)
                    WHERE id = $1
                    """, [id, state.rawValue, Double(agoSeconds)])
                return id
            }
            let hour = 3600
            let completedOld = try await finished(.completed, agoSeconds: 3 * hour)
            let completedYoung = try await finished(.completed, agoSeconds: hour / 2)
            let failedOld = try await finished(.failed, agoSeconds: 3 * hour)
            let failedOlder = try await finished(.failed, agoSeconds: 3 * 24 * hour)
            let cancelledOld = try await finished(.cancelled, agoSeconds: 3 * hour)
            let cancelledYoung = try await finished(.cancelled, agoSeconds: hour)
            // Enqueued first, so a worker serving both queues would take it first.
            let other = try await db.queue.enqueue(EnqueueRequest(kind: "diag.noop", queue: "beta"))
            let mine = try await db.queue.enqueue(EnqueueRequest(kind: "diag.noop", queue: "alpha"))

            let workers = try startWorkers(
                1, on: db, concurrency: 2,
                extra: ["--keep-completed", "1h", "--keep-failed", "2d", "--keep-cancelled", "2h", "--queues", "alpha"])
            let pruned = try await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                let gone = try await db.queue.job(id: completedOld) == nil
                let ran = try await db.queue.job(id: mine)?.state == .completed
                return gone && ran
            }
            await stopWorkers(workers)
            #expect(pruned, "the old completed job was not pruned, or the alpha job did not run")

            #expect(try await db.queue.job(id: completedYoung) != nil, "a completed job younger than --keep-completed was pruned")
            #expect(try await db.queue.job(id: failedOld) != nil, "a failed job younger than --keep-failed was pruned")
            #expect(try await db.queue.job(id: failedOlder) == nil, "a failed job older than --keep-failed was kept")
            #expect(try await db.queue.job(id: cancelledOld) == nil, "a cancelled job older than --keep-cancelled was kept")
            #expect(try await db.queue.job(id: cancelledYoung) != nil, "a cancelled job younger than --keep-cancelled was pruned")
            #expect(try await db.queue.job(id: other)?.state == .available, "a worker with --queues alpha ran a beta job")
        }
    }
}
