import Foundation
import Postgres

/// A receiver of Ledgersync's webhooks (`ledgersync.webhook_endpoints`). `secret` signs each
/// delivery (HMAC-SHA256); it is sealed at rest and never appears in `description` or `dump`.
public struct WebhookEndpoint: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let id: UUID
    public let url: String
    public let secret: String
    /// The event types it receives; nil means every event.
    public let eventTypes: [String]?
    public let disabled: Bool
    public let createdAt: Date

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
            children: ["id": id, "url": url, "eventTypes": eventTypes as Any, "disabled": disabled, "secret": "redacted"],
            displayStyle: .struct)
    }
}

/// Creates, lists and deletes webhook endpoints, sealing their secrets.
public struct WebhookEndpointStore: Sendable {
    public let pool: ConnectionPool
    private let box: SecretBox

    public init(pool: ConnectionPool, secretBox: SecretBox) {
        self.pool = pool
        self.box = secretBox
    }

    // event_types goes out as JSON: Row reads text, and a JSON array decodes without a
    // hand-written parser for PostgreSQL's array literal.
    private static let columns = """
        id::text AS id, url, secret_sealed, to_jsonb(event_types)::text AS event_types, disabled, created_at
        """

    /// Stores an endpoint; `eventTypes` nil means every event.
    public func create(url: String, secret: String, eventTypes: [String]? = nil, disabled: Bool = false) async throws -> WebhookEndpoint {
        try StoreSupport.requireHTTPURL(url, "url")
        try StoreSupport.requireNotBlank(secret, "secret")
        if let eventTypes {
            guard !eventTypes.isEmpty else {
                throw StoreError.invalid("event_types", "must list at least one event type, or be omitted for all events")
            }
            for type in eventTypes { try StoreSupport.requireNotBlank(type, "event_types") }
        }
        let result = try await pool.query(
            """
            INSERT INTO ledgersync.webhook_endpoints (url, secret_sealed, event_types, disabled)
            VALUES ($1, $2, $3::text[], $4)
            RETURNING \(Self.columns)
            """,
            [url, try box.seal(secret), eventTypes, disabled])
        return try read(result.rows[0])
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

    private func read(_ row: Row) throws -> WebhookEndpoint {
        let id = try StoreSupport.uuid(row, "id")
        return WebhookEndpoint(
            id: id,
            url: try row.decode("url"),
            secret: try StoreSupport.open(try row.decode("secret_sealed"), with: box, what: "webhook endpoint \(id.uuidString.lowercased())"),
            eventTypes: try row.decodeIfPresent("event_types", as: JSONText.self).map { try $0.decode([String].self) },
            disabled: try row.decode("disabled"),
            createdAt: try row.decode("created_at"))
    }
}
