import Foundation
import Hummingbird
import Sync

/// `/v1/connections/{id}/refs/{object_type}/{billing_id}`: links a billing object to a record
/// that already exists at the provider, and removes the link, as `ledgersync refs link` and
/// `unlink` do (docs/linking.md). The API does not ask the provider whether the record exists
/// (it makes no provider requests); `ledgersync refs link` does.
struct RefsController {
    let store: ExternalRefStore
    let connections: ConnectionStore

    func register(on group: RouterGroup<APIRequestContext>) {
        group.put("connections/:id/refs/:object_type/:billing_id") { request, context -> Response in try await link(request, context) }
        group.delete("connections/:id/refs/:object_type/:billing_id") { _, context -> Response in try await unlink(context) }
    }

    /// The path's connection (which must exist), object type and billing id.
    func target(_ context: APIRequestContext) async throws -> (UUID, ExternalRef.ObjectType, String) {
        let id = try pathUUID(context)
        let typeText = context.parameters.get("object_type") ?? ""
        guard let type = ExternalRef.ObjectType(rawValue: typeText) else {
            let known = ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")
            throw APIError.invalid("object_type", "must be one of \(known), got \"\(typeText.prefix(40))\"")
        }
        // Hummingbird leaves path parameters percent-encoded.
        guard let billingID = (context.parameters.get("billing_id") ?? "").removingPercentEncoding else {
            throw APIError.invalid("billing_id", "is not valid percent-encoded UTF-8")
        }
        guard !billingID.trimmingCharacters(in: .whitespaces).isEmpty, billingID.count <= 255 else {
            throw APIError.invalid("billing_id", "must be 1 to 255 characters")
        }
        guard !billingID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw APIError.invalid("billing_id", "must not contain control characters")
        }
        guard try await connections.exists(id) else {
            throw APIError.notFound("no connection \(id.uuidString.lowercased())", field: "id")
        }
        return (id, type, billingID)
    }

    func link(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: ["provider_id"])
        let providerID = try body.require("provider_id") { try body.string($0, maxLength: 18) }
        let (id, type, billingID) = try await target(context)
        do {
            let ref = try await store.link(connection: id, objectType: type, billingID: billingID, providerID: providerID)
            return .json(.object([("external_ref", Views.externalRef(ref))]))
        } catch let conflict as RefLinkConflict {
            throw APIError.conflict(conflict.message, field: "provider_id")
        }
    }

    func unlink(_ context: APIRequestContext) async throws -> Response {
        let (id, type, billingID) = try await target(context)
        guard try await store.unlink(connection: id, objectType: type, billingID: billingID) != nil else {
            throw APIError.notFound(
                "\(type.rawValue) \(billingID) has no link on this connection (a ref the workers recorded is not a link)",
                field: "billing_id")
        }
        return Response(status: .noContent)
    }
}
