import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

/// Sliding rate windows (queue migration 011) held by real `ledgersync worker` OS processes:
/// issue 14's must-show 5. Serialized, and run with the other process suites (scripts/test.sh
/// part 3): the budget's use is a matter of timing, judged on a machine doing this alone.
@Suite(.serialized, .timeLimit(.minutes(4)))
struct RateWindowProcessTests {
    @Test(
        "50 per 2 s across 4 processes x 16 slots: never more than 50 starts in any 2 s span (from the jobs' start times), at least 90% of the budget used while jobs wait"
    )
    func fiftyPerTwoSecondsAcrossFourProcesses() async throws {
        try await withTestDatabase { db in
            let perWindow = 50
            let windowSeconds = 2.0
            try await db.queue.setRateWindows("acct", [RateWindow(maxStarts: perWindow, seconds: Int(windowSeconds))])
            // Six windows' worth: the budget, not the 64 slots, is what holds them back.
            let total = 300
            try await db.queue.enqueueMany(
                (0..<total).map { _ in EnqueueRequest(kind: "diag.record", args: JSONText(#"{"sleep_ms": 20}"#), limitKey: "acct") })
            // A poll of 10 minutes: after the first window only the fetch's hint (each
            // worker's window timer) starts the jobs.
            let workers = try (0..<4).map { _ in
                try LedgersyncProcess(
                    ["worker", "--diagnostic-kinds", "--concurrency", "16", "--poll-interval", "10m", "--lease", "10s"],
                    databaseURL: db.url)
            }
            let done = try await db.waitForCount(
                "SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'", total, timeout: .seconds(120))
            #expect(done, "\(workers.map(\.output).joined(separator: "\n---\n").suffix(4000))")
            await stopWorkers(workers)

            // Each job started once, so attempted_at is every start.
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt <> 1") == 0)
            let most = try await db.maxStartsInAnySpan(seconds: windowSeconds)
            #expect(most <= perWindow, "\(most) starts in one \(windowSeconds) s span")

            // The budget of a sliding window over the L seconds from the first start to the
            // last is at most N x (L / W + 1) (N at once, then N every W): the starts made
            // must be at least 90% of it.
            let row = try #require(
                try await db.pool.query(
                    "SELECT count(*)::integer AS n, extract(epoch FROM max(attempted_at) - min(attempted_at))::double precision AS span FROM ledgersync.jobs"
                ).rows.first)
            let started = try row.decode("n", as: Int.self)
            let span = try row.decode("span", as: Double.self)
            let budget = Double(perWindow) * (span / windowSeconds + 1)
            let used = Double(started) / budget
            #expect(used >= 0.9, "\(started) starts in \(span) s, a budget of \(budget): \(Int(used * 100))%")
            #expect(
                try await db.count("SELECT count(DISTINCT worker) FROM ledgersync_diag.runs") >= 2,
                "the jobs should spread over the processes")
            print(
                "rate window 50/2s, 4 processes x 16: \(started) starts in \(span) s, most in a 2 s span \(most), \(Int(used * 1000) / 10)% of the budget"
            )
        }
    }
}
