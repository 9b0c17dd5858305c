import Foundation
import LedgerCrypto
import Postgres

/// The access tokens of connections whose tokens expire, in `ledgersync.provider_tokens`
/// (sql/sync/013_provider_tokens.sql), shared by every worker process.
///
/// A token is looked up, in order: in this process's memory (no query while it is good),
/// then in its row, and only then issued, under a lock that holds across processes (the
/// row's `SELECT … FOR UPDATE`, in a transaction that lasts one call to `issue`). Inside the
/// lock the row is read again (the process before may have just issued), so `issue` runs
/// once per expiry however many processes and callers want a token. Within one process,
/// callers wanting a token at the same moment wait for one lookup (single-flight).
///
/// A token counts as usable while it has at least `minValidity` left (or half its lifetime,
/// when the provider issues tokens shorter than twice `minValidity`), so a request never
/// leaves with a token about to die. A token issued for another version of the connection
/// (`updatedAt`, which `connections update` changes) is never used.
///
/// Tokens are sealed with the secret box at rest and appear in no error, log or description.
public final class PostgresTokenStore: AccessTokenStore {
    public let pool: ConnectionPool
    private let box: SecretBox
    private let now: @Sendable () -> Date
    private let cache = TokenCache()

    /// `now` is the clock tokens' expiry is judged by (tests pass their own).
    public init(pool: ConnectionPool, secretBox: SecretBox, now: @escaping @Sendable () -> Date = { Date() }) {
        self.pool = pool
        self.box = secretBox
        self.now = now
    }

    public func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String {
        let key = try Key(connection)
        let clock = now
        return try await cache.token(
            for: key, usable: { $0.usable(at: clock(), minValidity: minValidity) },
            load: { try await self.load(key, minValidity: minValidity, issue: issue) })
    }

    public func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws {
        let key = try Key(connection)
        // The row first, then memory: a caller that reads the row between the two reads the
        // cleared row (or a newer token), never the refused one back into memory.
        try await pool.withTransaction { db in
            guard let row = try await db.query(SyncSQL.lockProviderToken, [key.id.uuidString]).rows.first,
                let sealed: String = try row.decodeIfPresent("access_token_sealed"),
                try self.openToken(sealed, key.id) == accessToken
            else { return }
            try await db.query(SyncSQL.clearProviderToken, [key.id.uuidString])
        }
        await cache.forget(key.id, token: accessToken)
    }

    /// The row's token when usable; else, under the row lock, the row's token when another
    /// process issued one meanwhile; else a new one from `issue`, stored before the lock goes.
    private func load(
        _ key: Key, minValidity: Duration, issue: @Sendable () async throws -> IssuedToken
    ) async throws -> CachedToken {
        if let row = try await pool.query(SyncSQL.providerToken, [key.id.uuidString]).rows.first,
            let stored = try read(row, key), stored.version == key.version, stored.usable(at: now(), minValidity: minValidity)
        {
            return stored
        }
        return try await StoreSupport.mapForeignKey(connection: key.id) {
            try await pool.withTransaction { db in
                try await db.query(SyncSQL.insertProviderTokenRow, [key.id.uuidString])
                let row = try await db.query(SyncSQL.lockProviderToken, [key.id.uuidString]).rows.first
                let stored = try row.flatMap { try self.read($0, key) }
                if let stored, stored.version == key.version, stored.usable(at: now(), minValidity: minValidity) {
                    return stored
                }
                let issuedAt = now()
                let issued = try await issue()
                guard !issued.accessToken.isEmpty else {
                    throw StoreError(.invalidField, field: "access_token", "the provider's token endpoint answered an empty access token")
                }
                guard issued.expiresAt > issuedAt else {
                    throw StoreError(
                        .invalidField, field: "expires_at",
                        "the provider's token endpoint answered a token that expires at \(issued.expiresAt), not after \(issuedAt)")
                }
                let token = CachedToken(token: issued.accessToken, expiresAt: issued.expiresAt, issuedAt: issuedAt, version: key.version)
                // A row issued for a newer version than this caller's connection: this caller's
                // connection is out of date; its token serves it, but must not replace the
                // newer one every up-to-date process uses.
                if let stored, stored.version > key.version { return token }
                try await db.query(
                    SyncSQL.storeProviderToken,
                    [
                        key.id.uuidString, try box.seal(issued.accessToken, for: Self.context(key.id)), issued.expiresAt, key.version,
                        issuedAt,
                    ])
                return token
            }
        }
    }

    /// The row as a token; nil when it holds none (never issued, or invalidated).
    private func read(_ row: Row, _ key: Key) throws -> CachedToken? {
        guard let sealed: String = try row.decodeIfPresent("access_token_sealed"),
            let expiresAt: Date = try row.decodeIfPresent("expires_at"),
            let version: Date = try row.decodeIfPresent("connection_version"),
            let issuedAt: Date = try row.decodeIfPresent("issued_at")
        else { return nil }
        return CachedToken(token: try openToken(sealed, key.id), expiresAt: expiresAt, issuedAt: issuedAt, version: version)
    }

    private func openToken(_ sealed: String, _ id: UUID) throws -> String {
        try StoreSupport.open(
            sealed, with: box, for: Self.context(id), what: "the access token of connection \(id.uuidString.lowercased())")
    }

    /// Where a connection's sealed access token lives (its associated data).
    public static func context(_ connection: UUID) -> SealContext {
        SealContext(table: "provider_tokens", row: connection, column: "access_token_sealed")
    }

    /// A stored connection's id and version.
    struct Key: Sendable {
        let id: UUID
        let version: Date

        init(_ connection: AccountingConnection) throws {
            guard let id = connection.id, let version = connection.updatedAt else {
                throw StoreError.invalid("connection", "a connection must be created before it has access tokens")
            }
            self.id = id
            self.version = version
        }
    }
}

/// A token as held in memory. Its description hides the token.
struct CachedToken: Sendable, CustomStringConvertible {
    let token: String
    let expiresAt: Date
    let issuedAt: Date
    let version: Date

    /// Whether the token has at least `minValidity` left at `now`, or half its lifetime for a
    /// provider whose tokens live shorter than twice `minValidity` (else every call would
    /// issue a new one).
    func usable(at now: Date, minValidity: Duration) -> Bool {
        let wanted = Double(minValidity.components.seconds) + Double(minValidity.components.attoseconds) / 1e18
        let lifetime = expiresAt.timeIntervalSince(issuedAt)
        return expiresAt.timeIntervalSince(now) >= min(wanted, lifetime / 2)
    }

    var description: String { "CachedToken(expiresAt: \(expiresAt), token: <redacted>)" }
}

/// The tokens this process holds, and the lookups under way: callers of one connection wait
/// for one lookup instead of each querying (or issuing).
actor TokenCache {
    private var tokens: [UUID: CachedToken] = [:]
    private var lookups: [UUID: (version: Date, task: Task<CachedToken, any Error>)] = [:]

    func token(
        for key: PostgresTokenStore.Key, usable: (CachedToken) -> Bool, load: @escaping @Sendable () async throws -> CachedToken
    ) async throws -> String {
        while true {
            if let held = tokens[key.id], held.version == key.version, usable(held) { return held.token }
            if let lookup = lookups[key.id] {
                guard lookup.version == key.version else {
                    // A lookup for another version of the connection: wait for it to end,
                    // then look again (its result does not serve this version).
                    _ = try? await lookup.task.value
                    continue
                }
                // Joins the lookup under way; its failure is this caller's too (one failing
                // token endpoint is not asked again by every waiting caller).
                return try await lookup.task.value.token
            }
            let task = Task { try await load() }
            lookups[key.id] = (key.version, task)
            do {
                let token = try await task.value
                lookups[key.id] = nil
                if let held = tokens[key.id], held.version > token.version {
                    return token.token
                }
                tokens[key.id] = token
                return token.token
            } catch {
                lookups[key.id] = nil
                throw error
            }
        }
    }

    /// Drops `token` from memory; a newer token is kept.
    func forget(_ id: UUID, token: String) {
        if tokens[id]?.token == token { tokens[id] = nil }
    }
}
