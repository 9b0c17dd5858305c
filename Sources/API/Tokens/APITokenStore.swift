import Foundation
import Postgres
import Sync

/// A token as `tokens list` and the API see it: never the token itself.
public struct APIToken: Sendable, Equatable {
    public let id: Int64
    public let name: String
    /// The token's first characters (`lsk_` and 4 more), to tell tokens apart.
    public let hint: String
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let revokedAt: Date?

    init(row: Row) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        hint = try row.decode("hint")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decodeIfPresent("last_used_at")
        revokedAt = try row.decodeIfPresent("revoked_at")
    }
}

/// Who made a request: the token that authenticated it.
public struct AuthenticatedToken: Sendable, Equatable {
    public let id: Int64
    public let name: String
}

/// Creates, lists, revokes and checks the API's bearer tokens (`ledgersync.api_tokens`).
/// Only SHA-256 hashes are stored; a token is seen once, by whoever creates it.
public struct APITokenStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Every token starts with this, so a leaked one is easy to find in logs and by secret
    /// scanners.
    public static let prefix = "lsk_"

    /// Makes a token; returns its record and the token, which exists nowhere else afterwards.
    public func create(name: String) async throws -> (token: APIToken, secret: String) {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw StoreError(.invalidField, field: "name", "must not be empty") }
        let secret = Self.prefix + WebhookDelivery.generateSecret()
        let rows = try await pool.query(APISQL.createToken, [trimmed, SHA256.hex(secret), String(secret.prefix(Self.prefix.count + 4))]).rows
        return (try APIToken(row: rows[0]), secret)
    }

    /// Every token, oldest first, revoked ones included.
    public func list() async throws -> [APIToken] {
        try await pool.query(APISQL.listTokens).rows.map(APIToken.init(row:))
    }

    /// Revokes a token; nil when there is none with that id. Takes effect on the next request.
    @discardableResult
    public func revoke(id: Int64) async throws -> APIToken? {
        try await pool.query(APISQL.revokeToken, [id]).rows.first.map(APIToken.init(row:))
    }

    /// The live token this presented text is, or nil.
    public func authenticate(_ presented: String) async throws -> AuthenticatedToken? {
        // Not a token of ours: no need to ask the database.
        guard presented.hasPrefix(Self.prefix), presented.count < 200 else { return nil }
        let rows = try await pool.query(APISQL.authenticateToken, [SHA256.hex(presented)], prepare: true).rows
        return try rows.first.map { AuthenticatedToken(id: try $0.decode("id"), name: try $0.decode("name")) }
    }
}

/// The `api` migration line (`sql/api/`): the token table. Apply it with the others:
/// `JobQueue.migrations + SyncSchema.migrations + APISchema.migrations`.
public enum APISchema {
    public static var migrations: [Migration] { APISQL.migrations }
}
