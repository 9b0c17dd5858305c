import Foundation
import LedgerCrypto
import Postgres
import Sync

/// What a token (or a dashboard session) may do. Each route needs one scope (the OpenAPI
/// document's `x-scopes`, read by `RouteScopes`); `admin` includes every other scope.
public enum APIScope: String, Sendable, CaseIterable, Comparable {
    /// Jobs, stats, metrics, external refs.
    case read
    /// `POST /v1/jobs` and `/v1/jobs/batch`: what a billing backend needs, and nothing more.
    case enqueue
    /// Retry and cancel, one job or by filter.
    case operate
    /// Connections and their secrets, mappings, webhook endpoints, inbound secrets, tokens.
    case admin

    /// The order scopes are listed in: from least to most power.
    private var rank: Int {
        switch self {
        case .read: 0
        case .enqueue: 1
        case .operate: 2
        case .admin: 3
        }
    }

    public static func < (lhs: APIScope, rhs: APIScope) -> Bool { lhs.rank < rhs.rank }

    /// `read,operate` (the form the CLI and the database use); throws naming the unknown one.
    public static func parseList(_ text: String) throws -> Set<APIScope> {
        var scopes: Set<APIScope> = []
        for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
            guard let scope = APIScope(rawValue: name) else {
                throw StoreError(
                    .invalidField, field: "scopes",
                    "unknown scope \"\(name.prefix(40))\" (scopes: \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            scopes.insert(scope)
        }
        return scopes
    }

    static func list(_ scopes: Set<APIScope>) -> String { scopes.sorted().map(\.rawValue).joined(separator: ",") }

    /// Whether holding `scopes` allows a route that needs `self`.
    func isGranted(by scopes: Set<APIScope>) -> Bool { scopes.contains(self) || scopes.contains(.admin) }
}

/// A token as `tokens list` and the API see it: never the token itself.
public struct APIToken: Sendable, Equatable {
    public let id: Int64
    public let name: String
    /// The token's first characters (`lsk_` and 4 more), to tell tokens apart.
    public let hint: String
    public let scopes: Set<APIScope>
    /// nil: until revoked.
    public let expiresAt: Date?
    public let createdAt: Date
    public let lastUsedAt: Date?
    public let revokedAt: Date?

    init(row: Row) throws {
        id = try row.decode("id")
        name = try row.decode("name")
        hint = try row.decode("hint")
        scopes = try APIScope.parseList(try row.decode("scopes"))
        expiresAt = try row.decodeIfPresent("expires_at")
        createdAt = try row.decode("created_at")
        lastUsedAt = try row.decodeIfPresent("last_used_at")
        revokedAt = try row.decodeIfPresent("revoked_at")
    }
}

/// Who made a request: the token that authenticated it, or a dashboard session.
public struct AuthenticatedToken: Sendable, Equatable {
    /// The token's id; nil for a dashboard session opened with a sign-in link.
    public let id: Int64?
    public let name: String
    public let scopes: Set<APIScope>
}

/// What `authenticate` found.
public enum TokenCheck: Sendable, Equatable {
    case live(AuthenticatedToken)
    /// Known and unrevoked, but past its expiry: 401 that says so.
    case expired(at: Date)
    /// Not a token, unknown, or revoked.
    case unknown
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
    /// `scopes` defaults to every scope (what a token could do before scopes existed);
    /// the CLI and `POST /v1/tokens` always pass them.
    public func create(name: String, scopes: Set<APIScope> = Set(APIScope.allCases), expiresAt: Date? = nil) async throws -> (
        token: APIToken, secret: String
    ) {
        let trimmed = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else { throw StoreError(.invalidField, field: "name", "must not be empty") }
        guard trimmed.count <= 200, !trimmed.contains("\u{0}") else {
            throw StoreError(.invalidField, field: "name", "must be at most 200 characters, without U+0000")
        }
        if let expiresAt, expiresAt <= Date() { throw StoreError(.invalidField, field: "expires_at", "must be in the future") }
        let secret = Self.prefix + WebhookDelivery.generateSecret()
        let rows = try await pool.query(
            APISQL.createToken,
            [trimmed, SHA256.hex(secret), String(secret.prefix(Self.prefix.count + 4)), scopes.sorted().map(\.rawValue), expiresAt]
        ).rows
        return (try APIToken(row: rows[0]), secret)
    }

    /// Every token, oldest first, revoked ones included.
    public func list() async throws -> [APIToken] {
        try await pool.query(APISQL.listTokens).rows.map(APIToken.init(row:))
    }

    /// Revokes a token; nil when there is none with that id. Takes effect on the next request;
    /// dashboard sessions opened with it end too.
    @discardableResult
    public func revoke(id: Int64) async throws -> APIToken? {
        try await pool.query(APISQL.revokeToken, [id]).rows.first.map(APIToken.init(row:))
    }

    /// The live token this presented text is, or nil (unknown, revoked or expired).
    public func authenticate(_ presented: String) async throws -> AuthenticatedToken? {
        if case .live(let token) = try await check(presented) { return token }
        return nil
    }

    /// What the presented text is: a live token, an expired one, or nothing.
    public func check(_ presented: String) async throws -> TokenCheck {
        // Not a token of ours: no need to ask the database.
        guard presented.hasPrefix(Self.prefix), presented.count < 200 else { return .unknown }
        let rows = try await pool.query(APISQL.authenticateToken, [SHA256.hex(presented)], prepare: true).rows
        guard let row = rows.first else { return .unknown }
        if try row.decode("expired", as: Bool.self) { return .expired(at: try row.decode("expires_at")) }
        return .live(
            AuthenticatedToken(
                id: try row.decode("id"), name: try row.decode("name"), scopes: try APIScope.parseList(try row.decode("scopes"))))
    }
}

/// The `api` migration line (`sql/api/`): tokens and dashboard sessions. Apply it with the
/// others: `JobQueue.migrations + SyncSchema.migrations + APISchema.migrations`.
public enum APISchema {
    public static var migrations: [Migration] { APISQL.migrations }
}
