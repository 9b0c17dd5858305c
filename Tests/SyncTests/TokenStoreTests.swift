import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Synchronization
import Testing

@testable import Sync

private let tokenKey = try! SecretBox(key: Array(0..<32))

private func withSyncDatabase(_ body: (TestDatabase) async throws -> Void) async throws {
    try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations, body)
}

private func sampleConnection() -> AccountingConnection {
    AccountingConnection(
        provider: "netsuite", name: "NetSuite OAuth 2.0", accountID: "1234567_SB1",
        settings: .init(objectsToSync: ["customer"], baseURL: "http://127.0.0.1:9999/netsuite", concurrencyLimit: 5),
        secrets: ConnectionSecrets(["client_id": "client-3f9a1c77e2", "certificate_id": "cert-51c7e0d3f4", "private_key": "pem"]))
}

/// The clock the stores judge expiry by; the test moves it.
private final class TestClock: Sendable {
    private let current = Mutex(Date(timeIntervalSince1970: 1_800_000_000))
    func now() -> Date { current.withLock { $0 } }
    func advance(by seconds: TimeInterval) { current.withLock { $0 += seconds } }
}

/// A token endpoint: counts the tokens it issues and how many requests were ever in flight at
/// once. Each issue takes a database round trip (`pg_sleep`) standing in for the HTTP call to
/// a provider, so a second issue started without the lock would overlap it.
private actor TokenEndpoint {
    private(set) var issued = 0
    private(set) var inFlight = 0
    private(set) var maxInFlight = 0
    private var failuresLeft = 0

    func failNext(_ count: Int) { failuresLeft = count }

    func begin() throws -> Int {
        inFlight += 1
        maxInFlight = max(maxInFlight, inFlight)
        if failuresLeft > 0 {
            failuresLeft -= 1
            inFlight -= 1
            throw EndpointDown()
        }
        issued += 1
        return issued
    }

    func end() { inFlight -= 1 }

    struct EndpointDown: Error {}

    nonisolated func issue(clock: TestClock, pool: ConnectionPool, lifetime: TimeInterval = 60) -> @Sendable () async throws -> IssuedToken
    {
        { [self] in
            let number = try await begin()
            try await pool.query("SELECT pg_sleep(0.02)")
            await end()
            return IssuedToken(accessToken: "access-token-\(number)-9f3b2c", expiresAt: clock.now().addingTimeInterval(lifetime))
        }
    }
}

/// Stores over their own pools: stand-ins for worker processes.
private func processes(_ count: Int, _ db: TestDatabase, clock: TestClock) -> [(store: PostgresTokenStore, pool: ConnectionPool)] {
    (0..<count).map { _ in
        let pool = ConnectionPool(url: db.url, maxConnections: 3)
        return (PostgresTokenStore(pool: pool, secretBox: tokenKey, now: { clock.now() }), pool)
    }
}

/// Every store's `callers` callers asking at once; the tokens they got.
private func everyoneAsks(
    _ stores: [PostgresTokenStore], callers: Int, for connection: AccountingConnection,
    issue: @escaping @Sendable () async throws -> IssuedToken
) async throws -> Set<String> {
    try await withThrowingTaskGroup(of: String.self) { group in
        for store in stores {
            for _ in 0..<callers {
                group.addTask { try await store.accessToken(for: connection, minValidity: .seconds(10), issue: issue) }
            }
        }
        return try await group.reduce(into: Set<String>()) { $0.insert($1) }
    }
}

@Suite("TokenStoreTests", .timeLimit(.minutes(3)))
struct TokenStoreTests {
    @Test func oneIssuePerExpiryAcrossProcesses() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connection = try await ConnectionStore(pool: db.pool, secretBox: tokenKey).create(sampleConnection())
            let workers = processes(3, db, clock: clock)
            let endpoint = TokenEndpoint()
            let issue = endpoint.issue(clock: clock, pool: db.pool)

            #expect(try await everyoneAsks(workers.map(\.store), callers: 20, for: connection, issue: issue) == ["access-token-1-9f3b2c"])
            #expect(await endpoint.issued == 1)

            // Still 55 s left of 60: well within the 10 s margin, nobody issues.
            clock.advance(by: 5)
            #expect(try await everyoneAsks(workers.map(\.store), callers: 20, for: connection, issue: issue) == ["access-token-1-9f3b2c"])
            #expect(await endpoint.issued == 1)

            // 9 s left: inside the margin, so one new token for everyone, before it expires.
            clock.advance(by: 46)
            #expect(try await everyoneAsks(workers.map(\.store), callers: 20, for: connection, issue: issue) == ["access-token-2-9f3b2c"])
            #expect(await endpoint.issued == 2)

            // Long past expiry: again exactly one.
            clock.advance(by: 600)
            #expect(try await everyoneAsks(workers.map(\.store), callers: 20, for: connection, issue: issue) == ["access-token-3-9f3b2c"])
            #expect(await endpoint.issued == 3)
            #expect(await endpoint.maxInFlight == 1)

            for worker in workers { await worker.pool.close() }
        }
    }

    @Test func aTokenOfAnOlderConnectionVersionIsNotReused() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connections = ConnectionStore(pool: db.pool, secretBox: tokenKey)
            let created = try await connections.create(sampleConnection())
            let workers = processes(2, db, clock: clock)
            let endpoint = TokenEndpoint()
            let issue = endpoint.issue(clock: clock, pool: db.pool)

            #expect(
                try await workers[0].store.accessToken(for: created, minValidity: .seconds(10), issue: issue) == "access-token-1-9f3b2c")
            // `connections update` with new credentials: a new version.
            var changed = created
            changed.secrets["private_key"] = "pem-rotated-77aa"
            let updated = try await connections.update(changed)
            #expect(updated.updatedAt != created.updatedAt)

            // Neither the process that holds the old token in memory nor another one uses it.
            #expect(
                try await workers[0].store.accessToken(for: updated, minValidity: .seconds(10), issue: issue) == "access-token-2-9f3b2c")
            #expect(
                try await workers[1].store.accessToken(for: updated, minValidity: .seconds(10), issue: issue) == "access-token-2-9f3b2c")
            #expect(await endpoint.issued == 2)
            for worker in workers { await worker.pool.close() }
        }
    }

    @Test func invalidatedByManyCallersMeansOneNewToken() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connection = try await ConnectionStore(pool: db.pool, secretBox: tokenKey).create(sampleConnection())
            let workers = processes(3, db, clock: clock)
            let stores = workers.map(\.store)
            let endpoint = TokenEndpoint()
            let issue = endpoint.issue(clock: clock, pool: db.pool)

            let first = try #require(try await everyoneAsks(stores, callers: 10, for: connection, issue: issue).first)
            // Every caller of every process got a 401 for the same token.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for store in stores {
                    for _ in 0..<10 { group.addTask { try await store.invalidate(first, for: connection) } }
                }
                try await group.waitForAll()
            }
            #expect(try await everyoneAsks(stores, callers: 10, for: connection, issue: issue) == ["access-token-2-9f3b2c"])
            #expect(await endpoint.issued == 2)

            // A late 401 for the replaced token leaves the new one alone.
            try await stores[1].invalidate(first, for: connection)
            #expect(try await everyoneAsks(stores, callers: 10, for: connection, issue: issue) == ["access-token-2-9f3b2c"])
            #expect(await endpoint.issued == 2)
            #expect(await endpoint.maxInFlight == 1)
            for worker in workers { await worker.pool.close() }
        }
    }

    @Test func anIssueThatThrowsReleasesTheLock() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connection = try await ConnectionStore(pool: db.pool, secretBox: tokenKey).create(sampleConnection())
            let workers = processes(2, db, clock: clock)
            let endpoint = TokenEndpoint()
            let issue = endpoint.issue(clock: clock, pool: db.pool)

            // Process 0's token request hangs until released, then fails.
            let (release, released) = AsyncStream.makeStream(of: Void.self)
            let failing = Task {
                try await workers[0].store.accessToken(for: connection, minValidity: .seconds(10)) {
                    for await _ in release { break }
                    throw TokenEndpoint.EndpointDown()
                }
            }
            // It holds the row lock: process 1 waits for it (a backend waiting on a lock).
            #expect(try await eventually { try await rowLockHolders(db) == 1 })
            let waiting = Task { try await workers[1].store.accessToken(for: connection, minValidity: .seconds(10), issue: issue) }
            #expect(
                try await eventually {
                    try await db.pool.query(
                        "SELECT count(*)::bigint AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    ).rows[0].decode("n") as Int64 == 1
                })
            released.yield()
            released.finish()
            await #expect(throws: TokenEndpoint.EndpointDown.self) { try await failing.value }
            // The lock went with the failure: the waiting process issued.
            #expect(try await waiting.value == "access-token-1-9f3b2c")

            // A failure of the endpoint itself: the caller sees it, the next one tries again.
            clock.advance(by: 3600)
            await endpoint.failNext(1)
            await #expect(throws: TokenEndpoint.EndpointDown.self) {
                try await workers[0].store.accessToken(for: connection, minValidity: .seconds(10), issue: issue)
            }
            #expect(
                try await workers[0].store.accessToken(for: connection, minValidity: .seconds(10), issue: issue) == "access-token-2-9f3b2c")
            for worker in workers { await worker.pool.close() }
        }
    }

    @Test func theRowHoldsNoPlaintextAndGoesWithItsConnection() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connections = ConnectionStore(pool: db.pool, secretBox: tokenKey)
            let connection = try await connections.create(sampleConnection())
            let id = try #require(connection.id)
            let store = PostgresTokenStore(pool: db.pool, secretBox: tokenKey, now: { clock.now() })
            let token = try await store.accessToken(for: connection, minValidity: .seconds(10)) {
                IssuedToken(accessToken: "eyJhbGciOiJQUzI1NiJ9.plaintext-token-4c1e", expiresAt: clock.now().addingTimeInterval(3600))
            }
            let row: String = try await db.pool.query("SELECT p::text AS row FROM ledgersync.provider_tokens p").rows[0].decode("row")
            #expect(!row.contains(token))
            #expect(!row.contains("plaintext-token"))
            let sealed: String = try await db.pool.query("SELECT access_token_sealed FROM ledgersync.provider_tokens").rows[0].decode(
                "access_token_sealed")
            #expect(sealed.hasPrefix("v2:"))
            // Sealed for its row: it opens only as this connection's token.
            #expect(try tokenKey.open(sealed, for: PostgresTokenStore.context(id)) == token)
            #expect(throws: CryptoError.self) { try tokenKey.open(sealed, for: PostgresTokenStore.context(UUID())) }

            // A store with another key cannot read it, and says so without the token.
            let otherKey = try SecretBox(key: Array(repeating: 7, count: 32))
            let other = PostgresTokenStore(pool: db.pool, secretBox: otherKey, now: { clock.now() })
            let error = await #expect(throws: StoreError.self) {
                try await other.accessToken(for: connection, minValidity: .seconds(10)) {
                    IssuedToken(accessToken: "never-used", expiresAt: clock.now().addingTimeInterval(3600))
                }
            }
            #expect(error?.code == .secretsUnreadable)
            #expect(error.map { !"\($0)".contains(token) } ?? false)

            #expect(try await connections.delete(id))
            #expect(
                try await db.pool.query("SELECT count(*)::bigint AS n FROM ledgersync.provider_tokens").rows[0].decode("n") as Int64 == 0)
            let gone = await #expect(throws: StoreError.self) {
                try await PostgresTokenStore(pool: db.pool, secretBox: tokenKey).accessToken(for: connection, minValidity: .seconds(10)) {
                    IssuedToken(accessToken: "never-used", expiresAt: Date().addingTimeInterval(3600))
                }
            }
            #expect(gone?.code == .notFound)
            #expect(gone?.field == "connection_id")
        }
    }

    @Test func aGoodTokenCostsNoQuery() async throws {
        try await withSyncDatabase { db in
            let clock = TestClock()
            let connection = try await ConnectionStore(pool: db.pool, secretBox: tokenKey).create(sampleConnection())
            let pool = ConnectionPool(url: db.url, maxConnections: 2)
            let store = PostgresTokenStore(pool: pool, secretBox: tokenKey, now: { clock.now() })
            let endpoint = TokenEndpoint()
            let issue = endpoint.issue(clock: clock, pool: db.pool)
            #expect(try await store.accessToken(for: connection, minValidity: .seconds(10), issue: issue) == "access-token-1-9f3b2c")
            // With its pool closed, any query would throw: the token comes from memory.
            await pool.close()
            for _ in 0..<100 {
                #expect(try await store.accessToken(for: connection, minValidity: .seconds(10), issue: issue) == "access-token-1-9f3b2c")
            }
            // Until it is about to expire: then the store must go to the database again.
            clock.advance(by: 55)
            await #expect(throws: PostgresError.self) {
                try await store.accessToken(for: connection, minValidity: .seconds(10), issue: issue)
            }
            #expect(await endpoint.issued == 1)
        }
    }

    @Test func aConnectionNotYetStoredIsRefused() async throws {
        let store = PostgresTokenStore(pool: ConnectionPool(url: "postgres://127.0.0.1:1/none"), secretBox: tokenKey)
        let error = await #expect(throws: StoreError.self) {
            try await store.accessToken(for: sampleConnection(), minValidity: .seconds(10)) {
                IssuedToken(accessToken: "never-used", expiresAt: Date().addingTimeInterval(3600))
            }
        }
        #expect(error?.field == "connection")
    }
}

/// Backends of this database holding a row lock on the token table. (pg_locks lists every
/// database's locks, and the parallel tests' databases, made by the same migrations, may give
/// their token tables the same oid: only this database's count.)
private func rowLockHolders(_ db: TestDatabase) async throws -> Int64 {
    try await db.pool.query(
        """
        SELECT count(DISTINCT pid)::bigint AS n FROM pg_locks
        WHERE database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND relation = 'ledgersync.provider_tokens'::regclass AND mode = 'RowShareLock' AND granted
        """
    ).rows[0].decode("n")
}
