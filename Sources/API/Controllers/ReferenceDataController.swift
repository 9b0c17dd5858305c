import Foundation
import Hummingbird
import Sync

/// `GET /v1/connections/{id}/reference-data/{kind}`: the connection's items, taxes, accounts,
/// subsidiaries, currencies or locations, read from its provider as `ledgersync provider list`
/// reads them, for a mapping screen to offer what a mapping's `provider_id` can point at.
///
/// It sends only reads, and only to the connection's own provider. A read that fails for a
/// moment (a 5xx, a dropped connection, a rate limit) is tried again up to 3 times in all
/// before the answer is 503; a provider's refusal (a kind it does not have, credentials it
/// rejects) is 422 with the provider's words.
struct ReferenceDataController {
    let connections: ConnectionStore
    let providers: ProviderRegistry
    let providerContext: ProviderContext

    static let attempts = 3

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("connections/:id/reference-data/:kind") { _, context -> Response in try await list(context) }
    }

    func list(_ context: APIRequestContext) async throws -> Response {
        let connectionID = try pathUUID(context)
        let text = context.parameters.get("kind") ?? ""
        guard let kind = ReferenceDataKind(rawValue: text) else {
            throw APIError.invalid(
                "kind", "must be one of \(ReferenceDataKind.allCases.map(\.rawValue).joined(separator: ", ")), got \"\(text.prefix(40))\"")
        }
        let connection = try await connections.get(connectionID)
        let driver = try providers.driver(connection.provider)
        let provider = try await providers.provider(for: connection, context: providerContext)
        guard let reader = provider as? any ReferenceDataReading else {
            throw APIError(
                .unprocessableContent, code: "not_supported", "\(driver.displayName) connections cannot list reference data",
                field: "kind")
        }
        let records: [ReferenceRecord]
        do {
            records = try await reader.referenceData(kind, attempts: Self.attempts)
        } catch let error as SyncError {
            switch error.errorClass {
            case .transient, .rateLimited:
                throw APIError(
                    .serviceUnavailable, code: "provider_unavailable",
                    "\(driver.displayName) did not answer the \(kind.rawValue) read after \(Self.attempts) attempts: \(error.message)")
            default:
                throw APIError(
                    .unprocessableContent, code: "provider_refused", "\(driver.displayName) \(kind.rawValue): \(error.message)",
                    field: "kind")
            }
        }
        return .json(
            .object([
                ("connection_id", .string(connectionID.uuidString.lowercased())), ("provider", .string(connection.provider)),
                ("kind", .string(kind.rawValue)),
                (
                    "records",
                    .array(
                        records.map {
                            .object([
                                ("id", .string($0.id)), ("code", .optional($0.code)), ("name", .string($0.name)),
                                ("inactive", .bool($0.inactive)),
                            ])
                        })
                ),
            ]))
    }
}
