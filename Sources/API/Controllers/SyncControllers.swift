import Foundation
import Hummingbird
import JobQueue
import Postgres
import Sync

/// `/v1/connections…`: the same store and rules as `ledgersync connections`. Secrets are
/// write-only: they go in on create and update (`secrets`), and no answer carries them.
struct ConnectionsController {
    let store: ConnectionStore
    let queue: JobQueue
    let providers: ProviderRegistry
    let providerContext: ProviderContext

    func register(on group: RouterGroup<APIRequestContext>) {
        group.post("connections") { request, context -> Response in try await create(request, context) }
        group.get("connections") { _, _ -> Response in
            .json(.object([("connections", .array(try await store.list().map(view)))]))
        }
        group.get("connections/:id") { _, context -> Response in
            .json(.object([("connection", view(try await store.get(try pathUUID(context))))]))
        }
        group.patch("connections/:id") { request, context -> Response in try await update(request, context) }
        group.post("connections/:id/test") { _, context -> Response in try await test(context) }
    }

    func view(_ connection: AccountingConnection) -> JSON {
        Views.connection(connection, hints: (try? providers.driver(connection.provider))?.secretHints(connection.secrets) ?? [])
    }

    /// Applies the members of a `settings` object: the common ones, and the provider's own
    /// (strings, checked by its driver); in an update, null clears an optional one.
    static func apply(_ value: JSON, to settings: inout AccountingConnection.Settings) throws {
        guard case .object(let members) = value else { throw APIError.invalid("settings", "must be a JSON object, got \(value.typeName)") }
        let body = try ObjectReader(value, path: "settings", allowed: Set(members.map(\.key)))
        if let objects = try body.stringArray("objects_to_sync", maxCount: 20) { settings.objectsToSync = objects }
        if body.has("base_url") {
            if case .null? = body.members["base_url"] {
                settings.baseURL = nil
            } else {
                settings.baseURL = try body.httpURL("base_url", maxLength: 10_000)
            }
        }
        if let limit = try body.int("concurrency_limit", in: 1...1000) { settings.concurrencyLimit = limit }
        try applyChangeReading(body, to: &settings)
        for (key, _) in members where !AccountingConnection.Settings.commonKeys.contains(key) {
            guard key.count <= 100 else { throw APIError.invalid("settings", "a setting's name is at most 100 characters") }
            if let value = try body.nullableString(key) { settings.extra[key] = value }
        }
    }

    /// The `secrets` object: string fields only the provider's driver reads.
    static func secrets(_ value: JSON) throws -> ConnectionSecrets {
        guard case .object(let members) = value else { throw APIError.invalid("secrets", "must be a JSON object, got \(value.typeName)") }
        guard members.count <= 20 else { throw APIError.invalid("secrets", "has more than 20 fields") }
        let body = try ObjectReader(value, path: "secrets", allowed: Set(members.map(\.key)))
        var secrets = ConnectionSecrets()
        for (key, _) in members {
            guard key.count <= 100 else { throw APIError.invalid("secrets", "a field's name is at most 100 characters") }
            secrets[key] = try body.string(key, maxLength: 20_000)
        }
        return secrets
    }

    func create(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try ObjectReader(
            try await readJSONBody(request, context: context), allowed: ["provider", "name", "account_id", "settings", "secrets"])
        let provider = try body.require("provider") { try body.string($0, maxLength: 40) }
        // The driver's own spelling (`zoho-books` is `zoho_books`).
        let providerName = try providers.driver(provider).name
        let name = try body.require("name") { try body.string($0, maxLength: 200) }
        let accountID = try body.require("account_id") { try body.string($0, maxLength: 100) }
        var settings = AccountingConnection.Settings()
        if let value = try body.object("settings") { try Self.apply(value, to: &settings) }
        let secrets = try Self.secrets(try body.require("secrets") { try body.object($0) })
        // `prepared`: validated, then completed by the driver (a one-time grant code in the
        // secrets exchanged at the provider for a refresh token), last before storing.
        let connection = try await providers.prepared(
            AccountingConnection(
                provider: providerName, name: name.trimmingCharacters(in: .whitespaces), accountID: accountID, settings: settings,
                secrets: secrets), context: providerContext)
        let created = try await store.create(connection)
        try await SyncEnvironment.applyLimits(of: created, queue: queue, providers: providers)
        return .json(.object([("connection", view(created))]), status: .created)
    }

    /// Name, settings and credentials; new `secrets` replace the old ones whole, so a
    /// connection changes its auth kind (NetSuite TBA → OAuth 2.0) with its id, refs and jobs.
    func update(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let id = try pathUUID(context)
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: ["name", "settings", "secrets"])
        let name = try body.string("name", maxLength: 200)
        let settingsValue = try body.object("settings")
        let secrets = try body.object("secrets").map(Self.secrets)
        var connection = try await store.get(id)
        if let name { connection.name = name.trimmingCharacters(in: .whitespaces) }
        if let settingsValue { try Self.apply(settingsValue, to: &connection.settings) }
        if let secrets { connection.secrets = secrets }
        let updated = try await store.update(
            secrets == nil ? try providers.validated(connection) : try await providers.prepared(connection, context: providerContext))
        // Only when asked, as `connections update` does: a limit someone paused with
        // `limits set … 0` stays paused through a rename.
        if let settingsValue {
            let concurrency = settingsValue["concurrency_limit"] != nil
            let windows = settingsValue.objectMembers.contains { !AccountingConnection.Settings.commonKeys.contains($0.key) }
            if concurrency || windows {
                try await SyncEnvironment.applyLimits(
                    of: updated, queue: queue, providers: providers, concurrency: concurrency, windows: windows)
            }
        }
        return .json(.object([("connection", view(updated))]))
    }

    /// `POST /v1/connections/{id}/test`: the driver's checks (`ledgersync connections test`);
    /// 200 with `ok: false` when a check failed: the request itself worked.
    func test(_ context: APIRequestContext) async throws -> Response {
        let connection = try await store.get(try pathUUID(context))
        let checks = await try providers.driver(connection.provider).test(connection, context: providerContext)
        return .json(
            .object([
                ("ok", .bool(!checks.contains { $0.outcome == .failed })),
                (
                    "checks",
                    .array(
                        checks.map {
                            .object([("name", .string($0.name)), ("outcome", .string($0.outcome.rawValue)), ("detail", .string($0.detail))])
                        })
                ),
            ]))
    }
}

/// `/v1/connections/{id}/mappings`: list, set (create or replace) and remove, as
/// `ledgersync mappings`.
struct MappingsController {
    let store: MappingStore
    let connections: ConnectionStore
    let providers: ProviderRegistry

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("connections/:id/mappings") { request, context -> Response in try await list(request, context) }
        group.put("connections/:id/mappings") { request, context -> Response in try await set(request, context) }
        group.delete("connections/:id/mappings") { request, context -> Response in try await remove(request, context) }
    }

    static let kinds = Mapping.Kind.allCases.map(\.rawValue)

    /// The connection's provider; 404 when there is no such connection.
    @discardableResult
    func requireConnection(_ id: UUID) async throws -> String {
        guard let provider = try await connections.provider(of: id) else {
            throw APIError.notFound("no connection \(id.uuidString.lowercased())", field: "id")
        }
        return provider
    }

    func list(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let id = try pathUUID(context)
        let kind = try QueryReader(request).oneOf("kind", Self.kinds).flatMap(Mapping.Kind.init(rawValue:))
        try await requireConnection(id)
        return .json(.object([("mappings", .array(try await store.list(connection: id, kind: kind).map(Views.mapping)))]))
    }

    func set(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let id = try pathUUID(context)
        let body = try ObjectReader(
            try await readJSONBody(request, context: context),
            allowed: ["kind", "billing_key", "record_type", "provider_id", "provider_name", "account_code", "details"])
        let kind = Mapping.Kind(rawValue: try body.require("kind") { try body.oneOf($0, Self.kinds) })!
        let details = try body.stringMap("details") ?? [:]
        let mapping = Mapping(
            connectionID: id, kind: kind,
            billingKey: try body.string("billing_key", nonBlank: false, maxLength: 500)?.trimmingCharacters(in: .whitespaces) ?? "",
            recordType: try body.string("record_type", maxLength: 200),
            providerID: try body.require("provider_id") { try body.string($0, maxLength: 500) }.trimmingCharacters(in: .whitespaces),
            providerName: try body.string("provider_name", maxLength: 500), accountCode: try body.string("account_code", maxLength: 200),
            details: details)
        try mapping.validate()
        // What only the provider knows (NetSuite: a tax mapping's SuiteTax details).
        try providers.driver(try await requireConnection(id)).validateMapping(mapping)
        let stored = try await store.upsert(mapping)
        return .json(.object([("mapping", Views.mapping(stored))]))
    }

    func remove(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let id = try pathUUID(context)
        let query = try QueryReader(request)
        guard let kindText = try query.oneOf("kind", Self.kinds), let kind = Mapping.Kind(rawValue: kindText) else {
            throw APIError.invalid("kind", "is required (one of \(Self.kinds.joined(separator: ", ")))")
        }
        let key = try query.string("billing_key")?.trimmingCharacters(in: .whitespaces) ?? ""
        let recordType = try query.string("record_type")
        try await requireConnection(id)
        guard try await store.delete(connection: id, kind: kind, billingKey: key, recordType: recordType) else {
            throw APIError.notFound("no \(kind.rawValue) mapping for \"\(key.prefix(80))\" on connection \(id.uuidString.lowercased())")
        }
        return Response(status: .noContent)
    }
}

/// `/v1/webhook-endpoints…`: add, list, show, remove and ping, as `ledgersync webhooks`.
/// The signing secret is write-only; when the client sends none, one is generated and
/// returned once, in the create answer only.
struct WebhookEndpointsController {
    let store: WebhookEndpointStore
    let queue: JobQueue

    func register(on group: RouterGroup<APIRequestContext>) {
        group.post("webhook-endpoints") { request, context -> Response in try await create(request, context) }
        group.get("webhook-endpoints") { _, _ -> Response in
            .json(.object([("webhook_endpoints", .array(try await store.list().map(Views.webhookEndpoint)))]))
        }
        group.get("webhook-endpoints/:id") { _, context -> Response in
            .json(.object([("webhook_endpoint", Views.webhookEndpoint(try await endpoint(context)))]))
        }
        group.delete("webhook-endpoints/:id") { _, context -> Response in
            let id = try pathUUID(context)
            guard try await store.delete(id) else {
                throw APIError.notFound("no webhook endpoint \(id.uuidString.lowercased())", field: "id")
            }
            return Response(status: .noContent)
        }
        group.post("webhook-endpoints/:id/rotate-secret") { request, context -> Response in try await rotateSecret(request, context) }
        group.post("webhook-endpoints/:id/ping") { _, context -> Response in
            let endpoint = try await endpoint(context)
            let (jobID, eventID) = try await WebhookDelivery.ping(endpoint, queue: queue)
            return .json(
                .object([("job_id", .int(jobID)), ("event_id", .string(eventID)), ("event_type", .string(WebhookDelivery.pingEventType))]),
                status: .accepted)
        }
    }

    func endpoint(_ context: APIRequestContext) async throws -> WebhookEndpoint {
        let id = try pathUUID(context)
        guard let endpoint = try await store.get(id) else {
            throw APIError.notFound("no webhook endpoint \(id.uuidString.lowercased())", field: "id")
        }
        return endpoint
    }

    /// `POST /v1/webhook-endpoints/{id}/rotate-secret` `{"overlap_seconds": 86400, "secret": …}`:
    /// a new signing secret (generated unless given, and then returned once); the current one
    /// keeps signing beside it for the overlap (default a day, 0 retires it at once).
    func rotateSecret(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let id = try pathUUID(context)
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        // An empty body takes every default.
        let json: JSON = buffer.readableBytes == 0 ? .object([]) : try parseJSONBody(Array(buffer.readableBytesView))
        let body = try ObjectReader(json, allowed: ["overlap_seconds", "secret"])
        let overlap = try body.int("overlap_seconds", in: 0...(30 * 86_400)) ?? 86_400
        let given = try body.string("secret", maxLength: 500)
        let (endpoint, secret) = try await store.rotateSecret(id, overlap: .seconds(overlap), secret: given)
        return .json(
            .object([
                ("webhook_endpoint", Views.webhookEndpoint(endpoint)),
                ("secret", given == nil ? .string(secret) : .null),
                ("previous_secret_expires_at", endpoint.previousSecretExpiresAt.map(JSON.date) ?? .null),
            ]))
    }

    func create(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try ObjectReader(
            try await readJSONBody(request, context: context), allowed: ["url", "secret", "event_types", "disabled"])
        let url = try body.require("url") { try body.httpURL($0) }
        let given = try body.string("secret", maxLength: 500)
        var eventTypes: [String]?
        if let types = try body.stringArray("event_types", maxCount: 20) {
            guard !types.isEmpty else { throw APIError.invalid("event_types", "must list at least one event type, or be left out for all") }
            if let unknown = types.first(where: { !WebhookDelivery.eventTypes.contains($0) }) {
                throw APIError.invalid(
                    "event_types",
                    "unknown event type \"\(unknown.prefix(60))\" (known: \(WebhookDelivery.eventTypes.joined(separator: ", ")))")
            }
            var unique: [String] = []
            for type in types where !unique.contains(type) { unique.append(type) }
            eventTypes = unique
        }
        let disabled = try body.bool("disabled") ?? false
        let secret = given ?? StandardWebhooks.generateSecret()
        let endpoint = try await store.create(url: url, secret: secret, eventTypes: eventTypes, disabled: disabled)
        return .json(
            .object([
                ("webhook_endpoint", Views.webhookEndpoint(endpoint)),
                // Shown once, and only when this server made it up.
                ("secret", given == nil ? .string(secret) : .null),
            ]),
            status: .created)
    }
}

/// `GET /v1/external-refs`: which provider record a billing object became.
struct ExternalRefsController {
    let store: ExternalRefStore

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("external-refs") { request, _ -> Response in
            let query = try QueryReader(request)
            guard let connection = try query.uuid("connection_id") else { throw APIError.invalid("connection_id", "is required") }
            let objectType = try query.oneOf("object_type", ExternalRef.ObjectType.allCases.map(\.rawValue))
                .flatMap(ExternalRef.ObjectType.init(rawValue:))
            let billingID = try query.string("billing_id")
            let limit = try query.int("limit", in: 1...1000) ?? 100
            let refs = try await store.list(connection: connection, objectType: objectType, billingID: billingID, limit: limit)
            return .json(.object([("external_refs", .array(refs.map(Views.externalRef)))]))
        }
    }
}
