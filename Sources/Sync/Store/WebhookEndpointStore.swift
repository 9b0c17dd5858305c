import Foundation
import HTTPClient
import LedgerCrypto
import Postgres

/// A receiver of Ledgersync's webhooks (`ledgersync.webhook_endpoints`). `secret` signs each
/// delivery (Standard Webhooks, `StandardWebhooks`); during a rotation `previousSecret` signs
/// beside it until `previousSecretExpiresAt`. Both are sealed at rest and never appear in
/// `description` or `dump`.
public struct WebhookEndpoint: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let id: UUID
    public let url: String
    public let secret: String
    /// The secret before the last rotation, still signing until `previousSecretExpiresAt`.
    public let previousSecret: String?
    public let previousSecretExpiresAt: Date?
    /// The event types it receives; nil means every event.
    public let eventTypes: [String]?
    public let disabled: Bool
    public let createdAt: Date

    /// The secrets a delivery made at `now` is signed with: the current one, and the
    /// previous one while its overlap lasts.
    public func signingSecrets(at now: Date = Date()) -> [String] {
        guard let previousSecret, let previousSecretExpiresAt, previousSecretExpiresAt > now else { return [secret] }
        return [secret, previousSecret]
    }

    /// Whether this endpoint wants an event of this type (ignoring `disabled`).
    public func wants(_ eventType: String) -> Bool {
        eventTypes?.contains(eventType) ?? true
    }

    public var description: String {
        "WebhookEndpoint(id: \(id.uuidString.lowercased()), url: \(url), events: \(eventTypes?.joined(separator: ",") ?? "all"), "
            + "disabled: \(disabled), secret: redacted)"
    }

    public var debugDescription: String { description }

    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "id": id, "url": url, "eventTypes": eventTypes as Any, "disabled": disabled, "secret": "redacted",
                "previousSecretExpiresAt": previousSecretExpiresAt as Any,
            ],
            displayStyle: .struct)
    }
}

/// Creates, lists and deletes webhook endpoints, sealing their secrets.
public struct WebhookEndpointStore: Sendable {
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

    // event_types goes out as JSON: Row reads text, and a JSON array decodes without a
    // hand-written parser for PostgreSQL's array literal.
    private static let columns = """
        id::text AS id, url, secret_sealed, to_jsonb(event_types)::text AS event_types, disabled, created_at,
        previous_secret_sealed, previous_secret_expires_at
        """

    /// Stores an endpoint; `eventTypes` nil means every event.
    public func create(url: String, secret: String, eventTypes: [String]? = nil, disabled: Bool = false) async throws -> WebhookEndpoint {
        try StoreSupport.requireHTTPURL(url, "url")
        try await StoreSupport.requirePublicURL(url, "url", allowPrivateNetworks: allowPrivateNetworks)
        try StoreSupport.requireNotBlank(secret, "secret")
        if let eventTypes {
            guard !eventTypes.isEmpty else {
                throw StoreError.invalid("event_types", "must list at least one event type, or be omitted for all events")
            }
            for type in eventTypes { try StoreSupport.requireNotBlank(type, "event_types") }
        }
        // The id is chosen here: the secret is sealed for its row.
        let id = UUID()
        let result = try await pool.query(
            """
            INSERT INTO ledgersync.webhook_endpoints (id, url, secret_sealed, event_types, disabled)
            VALUES ($1::uuid, $2, $3, $4::text[], $5)
            RETURNING \(Self.columns)
            """,
            [id.uuidString, url, try box.seal(secret, for: Self.secretContext(id)), eventTypes, disabled])
        return try read(result.rows[0])
    }

    /// Gives the endpoint a new signing secret (`secret`, or a generated one) and keeps the
    /// current one signing beside it for `overlap`, so the receiver can switch at any time
    /// within it; returns the endpoint and the new secret, the only time it leaves this
    /// process in clear. A zero overlap retires the old secret at once. Throws `.notFound`.
    public func rotateSecret(_ id: UUID, overlap: Duration, secret given: String? = nil) async throws -> (
        endpoint: WebhookEndpoint, secret: String
    ) {
        if let given { try StoreSupport.requireNotBlank(given, "secret") }
        guard overlap >= .zero, overlap <= .seconds(30 * 86_400) else {
            throw StoreError.invalid("overlap", "must be between 0 and 30 days")
        }
        let secret = given ?? StandardWebhooks.generateSecret()
        let endpoint = try await pool.withTransaction { connection -> WebhookEndpoint in
            let rows = try await connection.query(
                "SELECT \(Self.columns) FROM ledgersync.webhook_endpoints WHERE id = $1::uuid FOR UPDATE", [id.uuidString]
            ).rows
            guard let row = rows.first else {
                throw StoreError(.notFound, field: "id", "no webhook endpoint \(id.uuidString.lowercased())")
            }
            let current = try read(row)
            let seconds = Double(overlap.components.seconds) + Double(overlap.components.attoseconds) / 1e18
            let updated = try await connection.query(
                """
                UPDATE ledgersync.webhook_endpoints
                SET secret_sealed = $2,
                    previous_secret_sealed = CASE WHEN $4::float8 > 0 THEN $3 END,
                    previous_secret_expires_at = CASE WHEN $4::float8 > 0 THEN now() + make_interval(secs => $4::float8) END
                WHERE id = $1::uuid
                RETURNING \(Self.columns)
                """,
                [
                    id.uuidString, try box.seal(secret, for: Self.secretContext(id)),
                    try box.seal(current.secret, for: Self.previousSecretContext(id)), seconds,
                ])
            return try read(updated.rows[0])
        }
        return (endpoint, secret)
    }

    /// Every endpoint, oldest first.
    public func list() async throws -> [WebhookEndpoint] {
        let result = try await pool.query("SELECT \(Self.columns) FROM ledgersync.webhook_endpoints ORDER BY created_at, id")
        return try result.rows.map(read)
    }

    /// The enabled endpoints that receive `eventType`.
    public func endpoints(for eventType: String) async throws -> [WebhookEndpoint] {
        let result = try await pool.query(
            """
            SELECT \(Self.columns) FROM ledgersync.webhook_endpoints
            WHERE NOT disabled AND (event_types IS NULL OR $1::text = ANY (event_types))
            ORDER BY created_at, id
            """,
            [eventType])
        return try result.rows.map(read)
    }

    /// The endpoint with this id, nil when there is none.
    public func get(_ id: UUID) async throws -> WebhookEndpoint? {
        let result = try await pool.query(
            "SELECT \(Self.columns) FROM ledgersync.webhook_endpoints WHERE id = $1::uuid", [id.uuidString])
        return try result.rows.first.map(read)
    }

    /// Deletes an endpoint; false when there was none.
    @discardableResult
    public func delete(_ id: UUID) async throws -> Bool {
        try await pool.query("DELETE FROM ledgersync.webhook_endpoints WHERE id = $1::uuid", [id.uuidString]).affectedRows > 0
    }

    /// Where an endpoint's sealed secrets live (their associated data).
    public static func secretContext(_ id: UUID) -> SealContext {
        SealContext(table: "webhook_endpoints", row: id, column: "secret_sealed")
    }

    public static func previousSecretContext(_ id: UUID) -> SealContext {
        SealContext(table: "webhook_endpoints", row: id, column: "previous_secret_sealed")
    }

    private func read(_ row: Row) throws -> WebhookEndpoint {
        let id = try StoreSupport.uuid(row, "id")
        let what = "webhook endpoint \(id.uuidString.lowercased())"
        let previousSealed: String? = try row.decodeIfPresent("previous_secret_sealed")
        return WebhookEndpoint(
            id: id,
            url: try row.decode("url"),
            secret: try StoreSupport.open(try row.decode("secret_sealed"), with: box, for: Self.secretContext(id), what: what),
            previousSecret: try previousSealed.map {
                try StoreSupport.open($0, with: box, for: Self.previousSecretContext(id), what: what)
            },
            previousSecretExpiresAt: try row.decodeIfPresent("previous_secret_expires_at"),
            eventTypes: try row.decodeIfPresent("event_types", as: JSONText.self).map { try $0.decode([String].self) },
            disabled: try row.decode("disabled"),
            createdAt: try row.decode("created_at"))
    }
}
