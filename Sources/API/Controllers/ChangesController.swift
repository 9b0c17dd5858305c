import ExactJSON
import Foundation
import Hummingbird
import Sync

/// `GET /v1/connections/{id}/changes?since=&object_type=&limit=`: the records created or
/// changed at the provider that the connection's change polls read back (docs/changes.md),
/// id ascending after `since`. Page on with `next_since`.
struct ChangesController {
    let store: ChangeEventStore
    let connections: ConnectionStore

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("connections/:id/changes") { request, context -> Response in
            let id = try pathUUID(context)
            let query = try QueryReader(request)
            let since = try query.int("since", in: 0...Int(Int64.max)) ?? 0
            let objectType = try query.oneOf("object_type", ExternalRef.ObjectType.allCases.map(\.rawValue))
                .flatMap(ExternalRef.ObjectType.init(rawValue:))
            let limit = try query.int("limit", in: 1...ChangeEventStore.maxLimit) ?? 100
            guard try await connections.exists(id) else {
                throw APIError.notFound("no connection \(id.uuidString.lowercased())", field: "id")
            }
            let events = try await store.events(connection: id, since: Int64(since), objectType: objectType, limit: limit)
            var items: [JSON] = []
            for event in events { items.append(try ExactJSON.parse(try event.json())) }
            let next: JSON = events.last.map { JSON.int($0.id) } ?? JSON.int(since)
            return .json(.object([("changes", .array(items)), ("next_since", next)]))
        }
    }
}

extension ConnectionsController {
    /// `read_changes` (a list) and `poll_interval` (seconds) of a `settings` object; null
    /// clears them. What they may hold is checked with the connection
    /// (`ChangeReadSettings.validate`).
    static func applyChangeReading(_ body: ObjectReader, to settings: inout AccountingConnection.Settings) throws {
        if body.has("read_changes") {
            if case .null? = body.members["read_changes"] {
                settings.readChanges = []
            } else if let values = try body.stringArray("read_changes", maxCount: 10) {
                settings.readChanges = values
            }
        }
        if let value = body.members["poll_interval"] {
            switch value {
            case .null: settings.pollInterval = nil
            case .number(let text):
                guard let seconds = Double(text), seconds.isFinite else {
                    throw APIError.invalid("settings.poll_interval", "must be a number of seconds, got \(text.prefix(40))")
                }
                settings.pollInterval = seconds
            default:
                throw APIError.invalid("settings.poll_interval", "must be a number of seconds, got \(value.typeName)")
            }
        }
    }
}

extension Views {
    /// `read_changes` and `poll_interval` of a connection's settings, when set.
    static func changeReadingSettings(_ settings: AccountingConnection.Settings) -> [(key: String, value: JSON)] {
        var members: [(key: String, value: JSON)] = []
        if !settings.readChanges.isEmpty { members.append(("read_changes", .array(settings.readChanges.map(JSON.string)))) }
        if let interval = settings.pollInterval { members.append(("poll_interval", .double(interval))) }
        return members
    }
}
