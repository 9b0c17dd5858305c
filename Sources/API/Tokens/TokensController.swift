import Foundation
import Hummingbird
import Sync

/// `/v1/tokens…` (scope `admin`): list, create and revoke bearer tokens, as `ledgersync
/// tokens`. A token is returned once, in the create answer; lists show only its first
/// characters.
struct TokensController {
    let tokens: APITokenStore

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("tokens") { _, _ -> Response in
            .json(.object([("tokens", .array(try await tokens.list().map(Self.view)))]))
        }
        group.post("tokens") { request, context -> Response in try await create(request, context) }
        group.delete("tokens/:id") { _, context -> Response in
            let id = try pathID(context)
            // Revoking the token in hand would lock its holder out mid-task; that takes another
            // admin token or the CLI.
            if context.token?.id == id {
                throw APIError.conflict(
                    "token \(id) is the one making this request; revoke it with another admin token or `ledgersync tokens revoke \(id)`",
                    field: "id")
            }
            guard try await tokens.revoke(id: id) != nil else { throw APIError.notFound("no token with id \(id)", field: "id") }
            return Response(status: .noContent)
        }
    }

    func create(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: ["name", "scopes", "expires_at"])
        let name = try body.require("name") { try body.string($0, maxLength: 200) }
        let names = try body.require("scopes") { try body.stringArray($0, maxCount: APIScope.allCases.count) }
        guard !names.isEmpty else { throw APIError.invalid("scopes", "must name at least one scope (read, enqueue, operate, admin)") }
        var scopes: Set<APIScope> = []
        for (index, name) in names.enumerated() {
            guard let scope = APIScope(rawValue: name) else {
                throw APIError.invalid("scopes[\(index)]", "unknown scope \"\(name.prefix(40))\" (scopes: read, enqueue, operate, admin)")
            }
            scopes.insert(scope)
        }
        let expiresAt = try body.date("expires_at")
        if let expiresAt, expiresAt <= Date() { throw APIError.invalid("expires_at", "must be in the future") }
        let (token, secret) = try await tokens.create(name: name, scopes: scopes, expiresAt: expiresAt)
        return .json(.object([("token", .string(secret)), ("record", Self.view(token))]), status: .created)
    }

    static func view(_ token: APIToken) -> JSON {
        .object([
            ("id", .int(token.id)), ("name", .string(token.name)), ("hint", .string(token.hint)),
            ("scopes", .array(token.scopes.sorted().map { .string($0.rawValue) })),
            ("expires_at", .optional(token.expiresAt)), ("created_at", .date(token.createdAt)),
            ("last_used_at", .optional(token.lastUsedAt)), ("revoked_at", .optional(token.revokedAt)),
        ])
    }
}
