import Foundation
import LedgerCrypto
import Postgres
import Sync

/// A signed-in browser of the dashboard.
public struct DashboardSession: Sendable, Equatable {
    public let id: Int64
    public let scopes: Set<APIScope>
    /// Who it is: the link's `--for`, or the token it was opened with.
    public let label: String
    public let expiresAt: Date

    init(row: Row) throws {
        id = try row.decode("id")
        scopes = try APIScope.parseList(try row.decode("scopes"))
        label = try row.decode("label")
        expiresAt = try row.decode("expires_at")
    }
}

/// Dashboard sessions and one-time sign-in codes (`ledgersync.dashboard_sessions`,
/// `ledgersync.dashboard_sign_in_codes`, sql/api/002). Both are random, shown once (the code
/// in a link, the session key in an HttpOnly cookie) and stored only as SHA-256.
public struct DashboardSessionStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// Sign-in codes start with this, session keys with `sessionPrefix`: neither is an API
    /// token (`lsk_`), so neither opens `/v1`.
    public static let codePrefix = "lsc_"
    public static let sessionPrefix = "lss_"
    /// How long a sign-in link works, unless `dashboard link --expires-in` says otherwise.
    public static let defaultCodeLifetime: Duration = .seconds(10 * 60)
    /// The longest a link may work: it travels through chat and mail.
    public static let maxCodeLifetime: Duration = .seconds(24 * 3600)

    /// A one-time code opening a session with `scopes`; returns the code (shown once) and
    /// when it dies.
    public func createSignInCode(scopes: Set<APIScope>, label: String, lifetime: Duration = defaultCodeLifetime) async throws -> (
        code: String, expiresAt: Date
    ) {
        guard !scopes.isEmpty else {
            throw StoreError(.invalidField, field: "scopes", "a sign-in link needs at least one scope (e.g. read,operate)")
        }
        guard lifetime > .zero, lifetime <= Self.maxCodeLifetime else {
            throw StoreError(.invalidField, field: "expires_in", "must be more than 0 and at most 24h")
        }
        let trimmed = label.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty, trimmed.count <= 200, !trimmed.contains("\u{0}") else {
            throw StoreError(.invalidField, field: "for", "must be 1 to 200 characters, without U+0000")
        }
        let code = Self.codePrefix + WebhookDelivery.generateSecret()
        let rows = try await pool.query(
            APISQL.createDashboardSignInCode, [SHA256.hex(code), scopes.sorted().map(\.rawValue), trimmed, Self.seconds(lifetime)]
        ).rows
        return (code, try rows[0].decode("expires_at"))
    }

    /// Uses a sign-in code (once) and opens a session; nil when the code is unknown, used or
    /// expired. Returns the session and its key (for the cookie).
    public func redeem(code: String, sessionLifetime: Duration) async throws -> (session: DashboardSession, key: String)? {
        guard code.hasPrefix(Self.codePrefix), code.count < 200 else { return nil }
        let key = Self.sessionPrefix + WebhookDelivery.generateSecret()
        let rows = try await pool.query(
            APISQL.redeemDashboardSignInCode, [SHA256.hex(code), SHA256.hex(key), Self.seconds(sessionLifetime)]
        ).rows
        return try rows.first.map { (try DashboardSession(row: $0), key) }
    }

    /// A session for a live API token (the sign-in form), with its scopes, ending with it.
    public func open(token: AuthenticatedToken, sessionLifetime: Duration) async throws -> (session: DashboardSession, key: String)? {
        guard let tokenID = token.id else { return nil }
        let key = Self.sessionPrefix + WebhookDelivery.generateSecret()
        let rows = try await pool.query(APISQL.openDashboardSessionWithToken, [tokenID, SHA256.hex(key), Self.seconds(sessionLifetime)])
            .rows
        return try rows.first.map { (try DashboardSession(row: $0), key) }
    }

    /// The live session of this cookie value, or nil.
    public func authenticate(_ key: String) async throws -> DashboardSession? {
        guard key.hasPrefix(Self.sessionPrefix), key.count < 200 else { return nil }
        return try await pool.query(APISQL.authenticateDashboardSession, [SHA256.hex(key)], prepare: true).rows.first.map(
            DashboardSession.init(row:))
    }

    /// Signs out: the session is gone from the table, whatever the browser keeps.
    public func end(_ key: String) async throws {
        guard key.hasPrefix(Self.sessionPrefix), key.count < 200 else { return }
        try await pool.query(APISQL.endDashboardSession, [SHA256.hex(key)])
    }

    static func seconds(_ duration: Duration) -> Double {
        let parts = duration.components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
