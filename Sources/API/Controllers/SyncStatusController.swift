import Foundation
import Hummingbird
import JobQueue
import Sync

/// `/v1/sync-status…`: the sync status of billing objects (sync migration 016,
/// docs/sync-status.md), as `ledgersync status list|show` shows it.
struct SyncStatusController {
    let store: SyncStatusStore
    let queue: JobQueue

    static let defaultPageSize = 50
    static let maxPageSize = 500
    /// The jobs `GET /v1/sync-status/{…}` shows of one object, newest first.
    static let maxJobs = 20

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("sync-status") { request, _ -> Response in try await list(request) }
        group.get("sync-status/:connection_id/:object_type/:billing_id") { _, context -> Response in try await show(context) }
    }

    func list(_ request: Request) async throws -> Response {
        let query = try QueryReader(request)
        var filter = SyncStatusFilter()
        filter.billingID = try query.string("billing_id")
        filter.documentNumber = try query.string("document_number")
        filter.customerID = try query.string("customer")
        if let states = try query.string("state") {
            filter.states = try states.split(separator: ",", omittingEmptySubsequences: false).map { name in
                guard let state = SyncStatus.State(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw APIError.invalid(
                        "state",
                        "unknown state \"\(name.prefix(40))\" (states: \(SyncStatus.State.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                return state
            }
        }
        filter.connectionID = try query.uuid("connection_id")
        if let type = try query.string("object_type") {
            guard SyncStatusStore.objectTypes.contains(type) else {
                throw APIError.invalid(
                    "object_type", "must be one of \(SyncStatusStore.objectTypes.joined(separator: ", ")), got \"\(type.prefix(40))\"")
            }
            filter.objectType = type
        }
        for (name, value) in [
            ("billing_id", filter.billingID), ("document_number", filter.documentNumber), ("customer", filter.customerID),
        ] {
            if let value, value.count > 255 { throw APIError.invalid(name, "must be at most 255 characters") }
        }
        let limit = try query.int("limit", in: 1...Self.maxPageSize) ?? Self.defaultPageSize
        if let cursor = try query.string("cursor") {
            guard let after = SyncStatusCursor(cursor) else { throw APIError.invalid("cursor", "is not a cursor this API gave out") }
            filter.after = after
        }
        filter.limit = limit + 1
        let rows = try await store.list(filter)
        let page = Array(rows.prefix(limit))
        let next: JSON =
            rows.count > limit
            ? page.last.map {
                .string(SyncStatusCursor(connectionID: $0.connectionID, objectType: $0.objectType, billingID: $0.billingID).text)
            }
                ?? .null : .null
        return .json(.object([("sync_status", .array(page.map(Views.syncStatus))), ("next_cursor", next)]))
    }

    func show(_ context: APIRequestContext) async throws -> Response {
        let connection = try pathUUID(context, "connection_id")
        let type = context.parameters.get("object_type") ?? ""
        guard SyncStatusStore.objectTypes.contains(type) else {
            throw APIError.invalid(
                "object_type", "must be one of \(SyncStatusStore.objectTypes.joined(separator: ", ")), got \"\(type.prefix(40))\"")
        }
        // Hummingbird leaves path parameters percent-encoded.
        guard let billingID = (context.parameters.get("billing_id") ?? "").removingPercentEncoding, !billingID.isEmpty,
            billingID.count <= 255
        else {
            throw APIError.invalid("billing_id", "must be 1 to 255 characters of valid percent-encoded UTF-8")
        }
        guard var status = try await store.get(connection: connection, objectType: type, billingID: billingID) else {
            throw APIError.notFound(
                "no sync status for \(type) \(billingID.prefix(80)) on connection \(connection.uuidString.lowercased())",
                field: "billing_id")
        }
        var jobs: [JSON] = []
        for id in try await store.jobIDs(connection: connection, objectType: type, billingID: billingID, limit: Self.maxJobs) {
            if let job = try await queue.job(id: id) { jobs.append(Views.job(job)) }
        }
        let document = status.document.flatMap { try? JSONParser.parse(Array($0.utf8)) } ?? .null
        status.document = nil
        guard case .object(var fields) = Views.syncStatus(status) else { return .json(.null) }
        fields.append(("document", document))
        fields.append(("jobs", .array(jobs)))
        return .json(.object([("sync_status", .object(fields))]))
    }
}

extension Views {
    static func syncStatus(_ status: SyncStatus) -> JSON {
        .object([
            ("connection_id", .string(status.connectionID.uuidString.lowercased())),
            ("connection_name", .string(status.connectionName)),
            ("provider", .string(status.provider)),
            ("object_type", .string(status.objectType)),
            ("billing_id", .string(status.billingID)),
            ("document_number", .optional(status.documentNumber)),
            ("customer_billing_id", .optional(status.customerBillingID)),
            ("state", .string(status.state.rawValue)),
            ("provider_id", .optional(status.providerID)),
            ("provider_link", .optional(status.providerLink)),
            ("last_job_id", status.lastJobID.map { .int($0) } ?? .null),
            ("last_job_kind", .optional(status.lastJobKind)),
            ("last_error", .optional(status.lastError)),
            ("last_error_code", .optional(status.lastErrorCode)),
            ("document_digest", .optional(status.documentDigest)),
            ("synced_at", .optional(status.syncedAt)),
            ("updated_at", .date(status.updatedAt)),
        ])
    }
}
