import Foundation
import HTTPClient
import LedgerCrypto
import Postgres

/// Creates, reads, updates and deletes `AccountingConnection`s. Secrets are sealed with the
/// box on write and opened on read, so plaintext never leaves this process.
public struct ConnectionStore: Sendable {
    public let pool: ConnectionPool
    private let box: SecretBox

    /// Whether URLs may point at loopback, private and link-local networks (`NetworkGuard`);
    /// by default what `LEDGERSYNC_ALLOW_PRIVATE_NETWORK` says.
    public let allowPrivateNetworks: Bool

    public init(pool: ConnectionPool, secretBox: SecretBox, allowPrivateNetworks: Bool = NetworkGuard.privateNetworksAllowed()) {
        self.pool = pool
        self.box = secretBox
        self.allowPrivateNetworks = allowPrivateNetworks
    }

    private static let columns = """
        id::text AS id, provider, name, account_id, settings, secrets_sealed, created_at, updated_at
        """

    /// Validates and stores a new connection; returns it with its id and timestamps.
    public func create(_ connection: AccountingConnection) async throws -> AccountingConnection {
        try connection.validate()
        try await StoreSupport.requirePublicURL(
            connection.settings.baseURL, "settings.base_url", allowPrivateNetworks: allowPrivateNetworks)
        // The id is chosen here, not by the table's default: the secrets are sealed for their row.
        let id = UUID()
        let result = try await pool.query(
            """
            INSERT INTO ledgersync.connections (id, provider, name, account_id, settings, secrets_sealed)
            VALUES ($1::uuid, $2, $3, $4, $5::jsonb, $6)
            RETURNING \(Self.columns)
            """,
            [
                id.uuidString, connection.provider, connection.name, connection.accountID,
                try JSONText(encoding: connection.settings),
                try StoreSupport.seal(connection.secrets, with: box, for: Self.secretsContext(id)),
            ])
        return try read(result.rows[0])
    }

    /// Replaces every field of an existing connection (secrets re-sealed under a fresh nonce).
    public func update(_ connection: AccountingConnection) async throws -> AccountingConnection {
        guard let id = connection.id else {
            throw StoreError.invalid("id", "a connection must be created before it is updated")
        }
        try connection.validate()
        try await StoreSupport.requirePublicURL(
            connection.settings.baseURL, "settings.base_url", allowPrivateNetworks: allowPrivateNetworks)
        let result = try await pool.query(
            """
            UPDATE ledgersync.connections
            SET provider = $2, name = $3, account_id = $4, settings = $5::jsonb, secrets_sealed = $6, updated_at = now()
            WHERE id = $1::uuid
            RETURNING \(Self.columns)
            """,
            [
                id.uuidString, connection.provider, connection.name, connection.accountID,
                try JSONText(encoding: connection.settings),
                try StoreSupport.seal(connection.secrets, with: box, for: Self.secretsContext(id)),
            ])
        guard let row = result.rows.first else { throw Self.notFound(id) }
        return try read(row)
    }

    /// The connection with this id; throws `.notFound` when there is none.
    public func get(_ id: UUID) async throws -> AccountingConnection {
        let result = try await pool.query(
            "SELECT \(Self.columns) FROM ledgersync.connections WHERE id = $1::uuid", [id.uuidString])
        guard let row = result.rows.first else { throw Self.notFound(id) }
        return try read(row)
    }

    /// Every connection, oldest first.
    public func list() async throws -> [AccountingConnection] {
        let result = try await pool.query("SELECT \(Self.columns) FROM ledgersync.connections ORDER BY created_at, id")
        return try result.rows.map(read)
    }

    /// Whether a connection with this id exists; opens no secret (so needs no right key).
    public func exists(_ id: UUID) async throws -> Bool {
        let rows = try await pool.query(
            "SELECT EXISTS (SELECT 1 FROM ledgersync.connections WHERE id = $1::uuid) AS found", [id.uuidString]
        ).rows
        return try rows[0].decode("found")
    }

    /// The provider of a connection, nil when there is none; opens no secret.
    public func provider(of id: UUID) async throws -> String? {
        let rows = try await pool.query("SELECT provider FROM ledgersync.connections WHERE id = $1::uuid", [id.uuidString]).rows
        return try rows.first?.decode("provider")
    }

    /// Deletes a connection with its mappings and external refs; false when there was none.
    @discardableResult
    public func delete(_ id: UUID) async throws -> Bool {
        try await pool.query("DELETE FROM ledgersync.connections WHERE id = $1::uuid", [id.uuidString]).affectedRows > 0
    }

    private func read(_ row: Row) throws -> AccountingConnection {
        let id = try StoreSupport.uuid(row, "id")
        let secretsJSON = try StoreSupport.open(
            try row.decode("secrets_sealed"), with: box, for: Self.secretsContext(id), what: "connection \(id.uuidString.lowercased())")
        let secrets: ConnectionSecrets
        do {
            secrets = try JSONText(secretsJSON).decode(ConnectionSecrets.self)
        } catch {
            // The decoding error could quote the plaintext; say only what is wrong.
            throw StoreError(
                .secretsUnreadable, "the sealed secrets of connection \(id.uuidString.lowercased()) are not a valid secrets object")
        }
        var connection = AccountingConnection(
            provider: try row.decode("provider"),
            name: try row.decode("name"),
            accountID: try row.decode("account_id"),
            settings: try row.decode("settings", as: JSONText.self).decode(AccountingConnection.Settings.self),
            secrets: secrets)
        connection.id = id
        connection.createdAt = try row.decode("created_at")
        connection.updatedAt = try row.decode("updated_at")
        return connection
    }

    /// Where a connection's sealed secrets live (their associated data).
    public static func secretsContext(_ id: UUID) -> SealContext {
        SealContext(table: "connections", row: id, column: "secrets_sealed")
    }

    private static func notFound(_ id: UUID) -> StoreError {
        StoreError(.notFound, field: "id", "no connection \(id.uuidString.lowercased())")
    }
}
