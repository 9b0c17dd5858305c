import Foundation
import Postgres

/// One record created or changed at the provider by someone other than Ledgersync, as a
/// change poll stored it (`ledgersync.change_events`), and the webhook it becomes:
/// `customer.changed_in_provider`, `invoice.changed_in_provider`, … (docs/changes.md).
public struct ChangeEvent: Sendable, Equatable {
    /// `created`: the first event of a record created since the poll before; `updated`:
    /// any other.
    public enum Change: String, Sendable, Equatable, Codable {
        case created, updated
    }

    /// One invoice a payment is applied to.
    public struct Application: Sendable, Equatable, Codable {
        public let providerID: String
        /// The billing invoice id when Ledgersync synced the invoice.
        public let billingID: String?
        /// Decimal text as the provider wrote it.
        public let amount: String?

        enum CodingKeys: String, CodingKey {
            case providerID = "provider_id"
            case billingID = "billing_id"
            case amount
        }
    }

    /// Ascending in the order the changes were read; `GET …/changes?since=` pages by it.
    public let id: Int64
    public let connectionID: UUID
    public let objectType: ExternalRef.ObjectType
    public let change: Change
    public let providerID: String
    public let externalID: String?
    /// The billing id when the record is one Ledgersync synced (a person edited it).
    public let billingID: String?
    /// The provider's modification time.
    public let modifiedAt: Date
    public let number: String?
    public let amount: String?
    public let currency: String?
    /// The record as the provider answered, JSON text (nil when it sent none).
    public let record: String?
    public let applications: [Application]
    /// When Ledgersync stored it.
    public let createdAt: Date

    /// `<object type>.changed_in_provider`.
    public static func eventType(_ objectType: ExternalRef.ObjectType) -> String { "\(objectType.rawValue).changed_in_provider" }

    /// Every change event type, for webhook subscriptions.
    public static var eventTypes: [String] { ExternalRef.ObjectType.allCases.map(eventType) }

    public var eventType: String { Self.eventType(objectType) }

    /// The webhook's event id: one per stored change.
    public var webhookID: String { "evt_change_\(connectionID.uuidString.lowercased())_\(id)" }

    /// The exact bytes signed and sent; the API's change list writes each event the same way
    /// (`json`).
    public func body(provider: String, now: Date = Date()) throws -> String {
        struct Envelope: Encodable {
            let id: String
            let type: String
            let createdAt: String
            let connectionID: String
            let provider: String
            enum CodingKeys: String, CodingKey {
                case id, type, provider
                case createdAt = "created_at"
                case connectionID = "connection_id"
            }
        }
        let head = try JSONText(
            encoding: Envelope(
                id: webhookID, type: eventType, createdAt: Self.timestamp(now), connectionID: connectionID.uuidString.lowercased(),
                provider: provider)
        ).text
        return String(head.dropLast()) + ",\"change\":" + (try json()) + "}"
    }

    /// The event as a JSON object: what the webhook's `change` and the API's list hold.
    public func json() throws -> String {
        struct Fields: Encodable {
            let id: Int64
            let objectType: String
            let change: String
            let providerID: String
            let externalID: String?
            let billingID: String?
            let modifiedAt: String
            let number: String?
            let amount: String?
            let currency: String?
            let applications: [Application]
            let createdAt: String
            enum CodingKeys: String, CodingKey {
                case id, change, number, amount, currency, applications
                case objectType = "object_type"
                case providerID = "provider_id"
                case externalID = "external_id"
                case billingID = "billing_id"
                case modifiedAt = "modified_at"
                case createdAt = "created_at"
            }
            func encode(to encoder: any Encoder) throws {
                var container = encoder.container(keyedBy: CodingKeys.self)
                try container.encode(id, forKey: .id)
                try container.encode(objectType, forKey: .objectType)
                try container.encode(change, forKey: .change)
                try container.encode(providerID, forKey: .providerID)
                // Explicit nulls: a receiver sees every field on every event.
                try container.encode(externalID, forKey: .externalID)
                try container.encode(billingID, forKey: .billingID)
                try container.encode(modifiedAt, forKey: .modifiedAt)
                try container.encode(number, forKey: .number)
                try container.encode(amount, forKey: .amount)
                try container.encode(currency, forKey: .currency)
                try container.encode(applications, forKey: .applications)
                try container.encode(createdAt, forKey: .createdAt)
            }
        }
        let text = try JSONText(
            encoding: Fields(
                id: id, objectType: objectType.rawValue, change: change.rawValue, providerID: providerID, externalID: externalID,
                billingID: billingID, modifiedAt: Self.timestamp(modifiedAt), number: number, amount: amount, currency: currency,
                applications: applications, createdAt: Self.timestamp(createdAt))
        ).text
        return String(text.dropLast()) + ",\"record\":" + (record ?? "null") + "}"
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Reads a connection's change events (`GET /v1/connections/{id}/changes`, `ledgersync
/// changes list`).
public struct ChangeEventStore: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    public static let maxLimit = 1000

    /// The events of `connection` after event id `since`, of `objectType` (nil: all), id
    /// ascending, at most `limit` (1 to 1000).
    public func events(connection: UUID, since: Int64 = 0, objectType: ExternalRef.ObjectType? = nil, limit: Int = 100) async throws
        -> [ChangeEvent]
    {
        guard (1...Self.maxLimit).contains(limit) else {
            throw StoreError.invalid("limit", "must be from 1 to \(Self.maxLimit), got \(limit)")
        }
        guard since >= 0 else { throw StoreError.invalid("since", "must be an event id (0 or more), got \(since)") }
        let rows = try await pool.query(SyncSQL.listChangeEvents, [connection.uuidString, since, objectType?.rawValue, limit]).rows
        return try rows.map { row in
            let applicationsText: String = try row.decode("applications")
            return ChangeEvent(
                id: try row.decode("id"), connectionID: connection,
                objectType: try row.decode("object_type", as: ExternalRef.ObjectType.self),
                change: try row.decode("change", as: ChangeEvent.Change.self), providerID: try row.decode("provider_id"),
                externalID: try row.decodeIfPresent("external_id"), billingID: try row.decodeIfPresent("billing_id"),
                modifiedAt: try row.decode("modified_at"), number: try row.decodeIfPresent("number"),
                amount: try row.decodeIfPresent("amount"), currency: try row.decodeIfPresent("currency"),
                record: try row.decodeIfPresent("record"),
                applications: try JSONDecoder().decode([ChangeEvent.Application].self, from: Data(applicationsText.utf8)),
                createdAt: try row.decode("created_at"))
        }
    }

    /// Where a connection's polls stand, per record type.
    public struct Cursor: Sendable, Equatable {
        public let objectType: String
        public let modifiedSince: Date
        public let polledAt: Date?
        public let lastError: String?
    }

    public func cursors(connection: UUID) async throws -> [Cursor] {
        let rows = try await pool.query(SyncSQL.changeCursors, [connection.uuidString]).rows
        return try rows.map {
            Cursor(
                objectType: try $0.decode("object_type"), modifiedSince: try $0.decode("modified_since"),
                polledAt: try $0.decodeIfPresent("polled_at"), lastError: try $0.decodeIfPresent("last_error"))
        }
    }
}
