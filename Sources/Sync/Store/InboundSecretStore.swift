import Foundation
import LedgerCrypto
import Postgres

/// The secret a connection's provider signs its inbound events with
/// (`ledgersync.inbound_secrets`), sealed at rest like every other secret.
public struct InboundSecretStore: Sendable {
    public let pool: ConnectionPool
    private let box: SecretBox

    public init(pool: ConnectionPool, secretBox: SecretBox) {
        self.pool = pool
        self.box = secretBox
    }

    /// Generates a new secret for the connection, replacing any earlier one, and returns it:
    /// the only time it leaves this process in clear.
    public func rotate(connection: UUID) async throws -> String {
        let secret = StandardWebhooks.generateSecret()
        try await StoreSupport.mapForeignKey(connection: connection) {
            try await pool.query(
                """
                INSERT INTO ledgersync.inbound_secrets (connection_id, secret_sealed) VALUES ($1::uuid, $2)
                ON CONFLICT (connection_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = now()
                """,
                [connection.uuidString, try box.seal(secret, for: Self.context(connection))])
        }
        return secret
    }

    /// Where a connection's sealed inbound secret lives (its associated data).
    public static func context(_ connection: UUID) -> SealContext {
        SealContext(table: "inbound_secrets", row: connection, column: "secret_sealed")
    }

    /// Records an accepted inbound message on `db` (the caller's transaction, which also
    /// enqueues what the message causes); false when this id was already accepted on this
    /// connection: a replay. Ids older than any acceptable timestamp are pruned first
    /// (`StandardWebhooks.tolerance` each way, and a margin for clocks).
    public func recordMessage(connection: UUID, messageID: String, timestamp: Int, on db: Connection) async throws -> Bool {
        try await db.query("DELETE FROM ledgersync.inbound_seen_messages WHERE seen_at < now() - interval '15 minutes'")
        let inserted = try await db.query(
            """
            INSERT INTO ledgersync.inbound_seen_messages (connection_id, message_id, message_timestamp)
            VALUES ($1::uuid, $2, to_timestamp($3::bigint))
            ON CONFLICT (connection_id, message_id) DO NOTHING
            """,
            [connection.uuidString, messageID, Int64(timestamp)])
        return inserted.affectedRows == 1
    }

    /// The connection's secret, nil when none was set (or there is no such connection).
    public func secret(connection: UUID) async throws -> String? {
        let rows = try await pool.query(
            "SELECT secret_sealed FROM ledgersync.inbound_secrets WHERE connection_id = $1::uuid", [connection.uuidString]
        ).rows
        guard let row = rows.first else { return nil }
        return try StoreSupport.open(
            try row.decode("secret_sealed"), with: box, for: Self.context(connection),
            what: "the inbound secret of connection \(connection.uuidString.lowercased())")
    }
}
