import Foundation
import JobQueueTesting
import Logging
import Postgres
import ServiceLifecycle
import Testing

@testable import JobQueue

/// `JobQueue.enqueueMany`'s COPY path (EnqueueCopy): which batches take it, that what it
/// inserts is what the INSERT would have (every field, text byte for byte, the kind's default,
/// ids in input order), and that the batches it leaves to the INSERT still get the INSERT's
/// answers.
@Suite(.timeLimit(.minutes(2)))
struct EnqueueCopyTests {
    @Test("only a batch the INSERT would take whole goes by COPY")
    func eligibility() {
        let good = EnqueueRequest(kind: "k", args: JSONText(#"{"a": [1, 2.5, "x"]}"#), serialKey: "s", limitKey: "l")
        #expect(EnqueueCopy([good, good][...]) != nil)
        let refused: [(String, EnqueueRequest)] = [
            ("a unique key (COPY has no ON CONFLICT)", EnqueueRequest(kind: "k", uniqueKey: "u")),
            ("args not an object", EnqueueRequest(kind: "k", args: JSONText("[1]"))),
            ("args not JSON", EnqueueRequest(kind: "k", args: JSONText("{"))),
            ("a number past the bounds", EnqueueRequest(kind: "k", args: JSONText(#"{"n": 1e30}"#))),
            (
                "nested past the bounds",
                EnqueueRequest(
                    kind: "k", args: JSONText("{\"a\":" + String(repeating: "[", count: 40) + String(repeating: "]", count: 40) + "}"))
            ),
            ("priority out of range", EnqueueRequest(kind: "k", priority: 12)),
            ("max_attempts 0", EnqueueRequest(kind: "k", maxAttempts: 0)),
            ("max_attempts past the column's integer", EnqueueRequest(kind: "k", maxAttempts: Int(Int32.max) + 1)),
            ("an empty kind", EnqueueRequest(kind: "")),
            ("an empty queue", EnqueueRequest(kind: "k", queue: "")),
            ("NUL in a key", EnqueueRequest(kind: "k", serialKey: "a\u{0}b")),
            ("args over 64 KiB", EnqueueRequest(kind: "k", args: JSONText(#"{"s": ""# + String(repeating: "x", count: 70_000) + #""}"#))),
        ]
        for (why, request) in refused {
            #expect(EnqueueCopy([good, request][...]) == nil, "\(why)")
        }
    }

    @Test("a batch by COPY: every field as given, awkward text byte for byte, the kind's default, ids in input order")
    func copiedBatchKeepsEveryField() async throws {
        try await withTestDatabase { db in
            try await db.pool.query("INSERT INTO ledgersync.job_kinds (kind, max_attempts) VALUES ('published', 8)")
            let runAt = Date(timeIntervalSince1970: 2_000_000_000.123456)
            let awkward = "tab\there, line\nbreak, cr\rhere, back\\slash \\N é"
            let args = try JSONText(encoding: ["text": awkward])
            let requests = [
                EnqueueRequest(
                    kind: "full", args: args, queue: "sync", priority: 3, runAt: runAt, maxAttempts: 7,
                    serialKey: awkward, limitKey: "lk\\t"),
                EnqueueRequest(kind: "published"),
                EnqueueRequest(kind: "unpublished", args: JSONText(#"{"n": 12345678901234567890.5}"#)),
            ]
            #expect(EnqueueCopy(requests[...]) != nil)
            let before = try await db.pool.query("SELECT now() AS t").rows[0].decode("t", as: Date.self)
            let ids = try await db.queue.enqueueMany(requests)
            #expect(ids.count == 3 && ids == ids.sorted())

            let full = try #require(try await db.queue.job(id: ids[0]))
            #expect(full.kind == "full" && full.queue == "sync" && full.priority == 3 && full.maxAttempts == 7)
            #expect(full.serialKey == awkward && full.limitKey == "lk\\t" && full.uniqueKey == nil)
            #expect(full.runAt == runAt && full.state == .available && full.attempt == 0)
            #expect(full.args == .object(["text": .string(awkward)]))

            let published = try #require(try await db.queue.job(id: ids[1]))
            #expect(published.maxAttempts == 8 && published.queue == "default" && published.priority == 0)
            #expect(published.runAt >= before && published.runAt <= published.createdAt)
            let unpublished = try #require(try await db.queue.job(id: ids[2]))
            #expect(unpublished.maxAttempts == 20)
            // The number as written, not as a Double would keep it.
            let exact = try await db.pool.query("SELECT args->>'n' AS n FROM ledgersync.jobs WHERE id = $1", [ids[2]]).rows[0]
            #expect(try exact.decode("n", as: String.self) == "12345678901234567890.5")
        }
    }

    @Test("batches the COPY path leaves alone get the INSERT's answers: a held unique key skipped, a bad job named")
    func insertAnswersStay() async throws {
        try await withTestDatabase { db in
            let held = try await db.queue.enqueue(EnqueueRequest(kind: "k", uniqueKey: "held"))
            let ids = try await db.queue.enqueueMany([
                EnqueueRequest(kind: "k"), EnqueueRequest(kind: "k", uniqueKey: "held"), EnqueueRequest(kind: "k"),
            ])
            #expect(ids.count == 2 && !ids.contains(held))

            let bad = [EnqueueRequest(kind: "k"), EnqueueRequest(kind: "k"), EnqueueRequest(kind: "k", args: JSONText(#"{"n": 1e31}"#))]
            let error = await #expect(throws: PostgresError.self) { try await db.queue.enqueueMany(bad) }
            #expect(error?.sqlState == "22023")
            #expect(error?.message.contains("jobs[2].args") == true, "\(error.map(String.init(describing:)) ?? "")")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.jobs") == 3)
        }
    }

    @Test("a role with only the grants of docs/operations.md (no USAGE on the jobs' sequence) enqueues a batch by the INSERT")
    func roleWithoutSequenceUsage() async throws {
        try await withTestDatabase { db in
            let requests = (0..<3).map { EnqueueRequest(kind: "k", args: JSONText(#"{"n": \#($0)}"#)) }
            #expect(EnqueueCopy(requests[...]) != nil)
            var ids: [Int64] = []
            for sequenceUsage in [false, true] {
                try await db.withEnqueueOnlyRole(sequenceUsage: sequenceUsage) { role in
                    let writer = try await Connection.connect(url: db.url)
                    defer { writer.close() }
                    try await writer.execute("SET ROLE \(role)")
                    let batch = try await db.queue.enqueueMany(requests, on: writer)
                    #expect(batch.count == 3, "USAGE on the sequence: \(sequenceUsage)")
                    ids += batch
                }
            }
            #expect(ids == ids.sorted())
            let stored = try await db.pool.query("SELECT args->>'n' AS n FROM ledgersync.jobs ORDER BY id").rows
            #expect(try stored.map { try $0.decode("n", as: String.self) } == ["0", "1", "2", "0", "1", "2"])
        }
    }

    @Test("a copied batch wakes a listening worker at once, as the INSERT does (the statement's NOTIFY trigger)")
    func copiedBatchWakesWorker() async throws {
        try await withTestDatabase { db in
            var registry = JobRegistry()
            let ran = Counter()
            registry.register(Copied(ran: ran))
            let logger = Logger(label: "test.worker")
            // A poll far longer than the test's wait: only the NOTIFY can wake the worker.
            let options = WorkerOptions(concurrency: 4, pollInterval: .seconds(300), lease: .seconds(10), workerID: "w")
            let worker = WorkerPool(pool: db.pool, registry: registry, options: options, logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                // The worker's first fetch finds nothing; then it listens. Only this test's
                // database: tests running beside it have listeners of their own.
                let idle = try await eventually(timeout: .seconds(20)) {
                    try await db.count(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'") >= 1
                }
                #expect(idle)
                let requests = (0..<3).map { _ in EnqueueRequest(kind: Copied.kind) }
                #expect(EnqueueCopy(requests[...]) != nil)
                try await db.queue.enqueueMany(requests)
                let done = try await eventually(timeout: .seconds(20)) {
                    try await db.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == 3
                }
                #expect(done)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            #expect(await ran.value == 3)
        }
    }
}

private struct Copied: JobHandler {
    struct Args: Codable, Sendable {}
    static let kind = "test.copied"
    let ran: Counter
    func run(_ args: Args, context: JobContext) async throws { await ran.add() }
}

private actor Counter {
    private(set) var value = 0
    func add() { value += 1 }
}
