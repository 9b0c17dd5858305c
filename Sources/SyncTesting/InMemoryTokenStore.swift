import Foundation
import Sync

/// An `AccessTokenStore` for one process, in memory: one token per connection version, issued
/// single-flight (concurrent callers wait for the one `issue` under way), renewed when it
/// would expire within `minValidity`. For tests and single-process tools; workers on many
/// machines share the PostgreSQL store instead.
public actor InMemoryTokenStore: AccessTokenStore {
    private var entries: [String: IssuedToken] = [:]
    private var pending: [String: Task<IssuedToken, any Error>] = [:]
    /// How many times `issue` was called.
    public private(set) var issued = 0
    /// How many tokens were marked bad.
    public private(set) var invalidated = 0

    public init() {}

    public func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String {
        let key = Self.key(connection)
        let threshold = Date().addingTimeInterval(
            Double(minValidity.components.seconds) + Double(minValidity.components.attoseconds) / 1e18)
        if let token = entries[key], token.expiresAt > threshold { return token.accessToken }
        if let running = pending[key] { return try await running.value.accessToken }
        let task = Task { try await issue() }
        pending[key] = task
        issued += 1
        do {
            let token = try await task.value
            entries[key] = token
            pending[key] = nil
            return token.accessToken
        } catch {
            pending[key] = nil
            throw error
        }
    }

    public func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws {
        let key = Self.key(connection)
        guard entries[key]?.accessToken == accessToken else { return }
        entries[key] = nil
        invalidated += 1
    }

    /// One entry per connection version: its id (or account, for a connection not stored)
    /// and `updatedAt`.
    static func key(_ connection: AccountingConnection) -> String {
        let id = connection.id?.uuidString ?? "\(connection.provider)/\(connection.accountID)"
        return "\(id)@\(connection.updatedAt?.timeIntervalSince1970 ?? 0)"
    }
}
