import Foundation
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
        let secret = WebhookDelivery.generateSecret()
        try await StoreSupport.mapForeignKey(connection: connection) {
            try await pool.query(
                """
                INSERT INTO ledgersync.inbound_secrets (connection_id, secret_sealed) VALUES ($1::uuid, $2)
                ON CONFLICT (connection_id) DO UPDATE SET secret_sealed = EXCLUDED.secret_sealed, created_at = now()
                """,
                [connection.uuidString, try box.seal(secret)])
        }
        return secret
    }

    /// The connection's secret, nil when none was set (or there is no such connection).
    public func secret(connection: UUID) async throws -> String? {
        let rows = try await pool.query(
            "SELECT secret_sealed FROM ledgersync.inbound_secrets WHERE connection_id = $1::uuid", [connection.uuidString]).rows
        guard let row = rows.first else { return nil }
        return try StoreSupport.open(try row.decode("secret_sealed"), with: box, what: "the inbound secret of connection \(connection.uuidString.lowercased())")
    }
}
