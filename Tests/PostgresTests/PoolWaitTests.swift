import Foundation
import JobQueueTesting
import Postgres
import Testing

/// Opens once; everyone waiting (and everyone who comes later) goes on.
private actor PoolWaitGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

/// The bounded wait for a pool connection (`waitTimeout`): a borrower that finds every
/// connection busy past the bound gets `poolExhausted` naming the bound, and one that is
/// served within it never sees the error. Connections are held by tasks the test releases,
/// so nothing depends on how fast the machine is.
@Suite("ConnectionPool's bounded wait", .timeLimit(.minutes(3)))
struct PoolWaitTests {
    /// Holds every connection of `pool` until `release` opens; returns once they are all held.
    private static func holdEveryConnection(of pool: ConnectionPool, until release: PoolWaitGate) async -> [Task<Void, any Error>] {
        let held = AsyncStream<Void>.makeStream()
        let holders = (0..<pool.maxConnections).map { _ in
            Task {
                try await pool.withConnection { _ in
                    held.continuation.yield()
                    await release.wait()
                }
            }
        }
        var count = 0
        for await _ in held.stream {
            count += 1
            if count == pool.maxConnections { break }
        }
        return holders
    }

    @Test("a borrower that waits past waitTimeout gets poolExhausted naming the bound; after release it is served")
    func exhaustedPoolRefusesAfterTheBound() async throws {
        try await TestDatabase.with(migrations: []) { database in
            let pool = ConnectionPool(url: database.url, maxConnections: 2, waitTimeout: .milliseconds(200))
            let release = PoolWaitGate()
            let holders = await Self.holdEveryConnection(of: pool, until: release)
            do {
                _ = try await pool.query("SELECT 1")
                Issue.record("a borrower got a connection while every one was held")
            } catch let error as PostgresError {
                #expect(error.code == .poolExhausted, "\(error)")
                #expect(error.message.contains("200ms") && error.message.contains("all 2"), "\(error.message)")
            }
            await release.open()
            for holder in holders { try await holder.value }
            let answer: Int = try await pool.query("SELECT 1 AS one").rows[0].decode("one")
            #expect(answer == 1)
            await pool.close()
        }
    }

    @Test("a borrower waiting within its bound is served by the connection the holder returns")
    func waiterIsServedByAReturnedConnection() async throws {
        try await TestDatabase.with(migrations: []) { database in
            // A bound far longer than the test: the waiter must be woken by the check-in, not time out.
            let pool = ConnectionPool(url: database.url, maxConnections: 1, waitTimeout: .seconds(60))
            let release = PoolWaitGate()
            let holders = await Self.holdEveryConnection(of: pool, until: release)
            let waiter = Task { try await pool.query("SELECT 2 AS two").rows[0].decode("two", as: Int.self) }
            await release.open()
            for holder in holders { try await holder.value }
            #expect(try await waiter.value == 2)
            await pool.close()
        }
    }

    @Test("session settings apply to every connection the pool opens")
    func sessionSettingsApply() async throws {
        try await TestDatabase.with(migrations: []) { database in
            let pool = ConnectionPool(url: database.url, maxConnections: 2, sessionSettings: ["statement_timeout": "1234ms"])
            let seen = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<2 {
                    group.addTask {
                        try await pool.withConnection { connection in
                            let value: String = try await connection.query("SHOW statement_timeout").rows[0].decode("statement_timeout")
                            return value
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(seen == ["1234ms", "1234ms"])
            await pool.close()
        }
    }
}
