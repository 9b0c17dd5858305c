import API
import Foundation
import Hummingbird
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// Scopes, expiry and the kinds no token may enqueue, over real HTTP and a real database.
@Suite(.timeLimit(.minutes(3)))
struct AuthorizationTests {
    /// Routes anyone may call: health, the document, the dashboard's sign-in (HTML, which
    /// makes its own session), and the inbound route (signed by the provider, not a token).
    static let publicRoutes: Set<String> = [
        "GET /healthz", "GET /readyz", "GET /openapi.json", "POST /v1/inbound/{provider}/{connection_id}/{event}",
        "GET /dashboard/login", "POST /dashboard/login", "GET /dashboard/sign-in", "POST /dashboard/sign-in", "POST /dashboard/logout",
    ]

    /// Every route the server registers, as "METHOD /path/{param}".
    static func registeredRoutes(_ api: APIHarness) -> [(method: String, path: String)] {
        let configuration = APIConfiguration(
            pool: api.pool, secretBox: api.secretBox, migrations: APIHarness.allMigrations, providers: APIHarness.providers,
            providerContext: ProviderContext(http: APIHarness.http))
        return APIServer.router(configuration).routes.map { (method: $0.method.rawValue, path: $0.path.description) }
    }

    /// A concrete path for a route: every parameter filled with an id no row has.
    static func concrete(_ path: String) -> String {
        path.replacingOccurrences(of: #"\{[a-z_]+\}"#, with: "999999", options: .regularExpression)
    }

    /// A token with exactly these scopes.
    static func token(_ api: APIHarness, _ scopes: Set<APIScope>, name: String = "scoped") async throws -> String {
        try await APITokenStore(pool: api.pool).create(name: name, scopes: scopes).secret
    }

    @Test("every registered route refuses a token without any scope, except the public ones")
    func everyRouteIsAuthorized() async throws {
        try await APIHarness.with { api in
            let routes = Self.registeredRoutes(api)
            #expect(routes.count > 30, "the walk found the routes: \(routes.count)")
            let noScope = try await Self.token(api, [], name: "no scope")
            let before = try await api.snapshot()
            for route in routes where !Self.publicRoutes.contains("\(route.method) \(route.path)") {
                let path = Self.concrete(route.path)
                let body: String? = ["POST", "PUT", "PATCH"].contains(route.method) ? "{}" : nil
                if route.path.hasPrefix("/dashboard") {
                    // The dashboard takes no bearer token at all: back to sign-in.
                    let answer = try await api.request(route.method, path, body: body, token: noScope)
                    #expect(answer.status == 303 && answer.header("Location") == "/dashboard/login", "\(route): \(answer)")
                    continue
                }
                let anonymous = try await api.request(route.method, path, body: body, token: "")
                #expect(
                    anonymous.status == 401 && anonymous.error["code"] as? String == "unauthorized",
                    "\(route) without a token: \(anonymous)")
                let answer = try await api.request(route.method, path, body: body, token: noScope)
                #expect(
                    answer.status == 403 && answer.error["code"] as? String == "insufficient_scope", "\(route) with no scope: \(answer)")
            }
            #expect(try await api.snapshot() == before, "refused requests changed nothing")
        }
    }

    @Test("each route opens to exactly the scope the OpenAPI document gives it, and to admin")
    func eachScopeOpensItsRoutesOnly() async throws {
        try await APIHarness.with { api in
            let document = try #require(try await api.get("/openapi.json", token: "").object["paths"] as? [String: [String: Any]])
            var tokens: [APIScope: String] = [:]
            for scope in APIScope.allCases { tokens[scope] = try await Self.token(api, [scope], name: scope.rawValue) }
            var checked = 0
            for route in Self.registeredRoutes(api)
            where !Self.publicRoutes.contains("\(route.method) \(route.path)") && !route.path.hasPrefix("/dashboard") {
                let operation = document[route.path]?[route.method.lowercased()] as? [String: Any]
                let needed = try #require(
                    (operation?["x-scopes"] as? [String])?.first.flatMap(APIScope.init(rawValue:)),
                    "\(route) has no x-scopes in the document")
                let path = Self.concrete(route.path)
                let body: String? = ["POST", "PUT", "PATCH"].contains(route.method) ? "{}" : nil
                for scope in APIScope.allCases {
                    let answer = try await api.request(route.method, path, body: body, token: tokens[scope]!)
                    if scope == needed || scope == .admin {
                        // Past authorization: whatever the empty body or unknown id earns, not 401/403.
                        #expect(![401, 403].contains(answer.status), "\(route) with \(scope): \(answer)")
                    } else {
                        #expect(answer.status == 403, "\(route) needs \(needed), \(scope) got: \(answer)")
                        #expect(
                            (answer.error["message"] as? String)?.contains("\"\(needed.rawValue)\"") == true,
                            "the error names the scope: \(answer)")
                    }
                }
                checked += 1
            }
            #expect(checked >= 25)
        }
    }

    @Test("without admin: 403 for connections, secrets, mappings, webhooks and tokens, naming the scope; nothing changes")
    func adminRoutesNeedAdmin() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            #expect(created.status == 201, "\(created)")
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let endpoint = try await api.post("/v1/webhook-endpoints", #"{"url": "http://127.0.0.1:9/hook"}"#)
            let endpointID = try #require((endpoint.object["webhook_endpoint"] as? [String: Any])?["id"] as? String)
            // Everything but admin.
            let onCall = try await Self.token(api, [.read, .enqueue, .operate], name: "oncall")
            let before = try await api.snapshot()
            let attempts: [(String, String, String?)] = [
                ("POST", "/v1/connections", APIHarness.connectionBody(name: "other")),
                ("GET", "/v1/connections", nil),
                ("GET", "/v1/connections/\(connection)", nil),
                (
                    "PATCH", "/v1/connections/\(connection)",
                    #"{"secrets": {"consumer_key": "a", "consumer_secret": "b", "token_id": "c", "token_secret": "d"}}"#
                ),
                ("POST", "/v1/connections/\(connection)/inbound-secret", nil),
                ("PUT", "/v1/connections/\(connection)/mappings", #"{"kind": "fallback_item", "provider_id": "7"}"#),
                ("POST", "/v1/webhook-endpoints", #"{"url": "http://127.0.0.1:9/evil"}"#),
                ("GET", "/v1/webhook-endpoints", nil),
                ("POST", "/v1/webhook-endpoints/\(endpointID)/ping", nil),
                ("DELETE", "/v1/webhook-endpoints/\(endpointID)", nil),
                ("GET", "/v1/tokens", nil),
                ("POST", "/v1/tokens", #"{"name": "mine", "scopes": ["admin"]}"#),
                ("DELETE", "/v1/tokens/1", nil),
            ]
            for (method, path, body) in attempts {
                let answer = try await api.request(method, path, body: body, token: onCall)
                #expect(answer.status == 403, "\(method) \(path): \(answer)")
                #expect(
                    answer.error["code"] as? String == "insufficient_scope"
                        && (answer.error["message"] as? String)?.contains("\"admin\"") == true, "\(answer)")
                #expect(answer.header("WWW-Authenticate")?.contains("insufficient_scope") == true)
                #expect(!answer.text.contains("CONSUMER-SECRET") && !answer.text.contains("secret\":\""), "no secret in a refusal")
            }
            #expect(try await api.snapshot() == before, "nothing changed: no connection, endpoint, token or inbound secret")
            let inboundSecrets = try await api.database.count("SELECT count(*) FROM ledgersync.inbound_secrets")
            #expect(inboundSecrets == 0, "no inbound secret was handed out")
            // The same token does what its scopes allow.
            #expect(try await api.get("/v1/jobs", token: onCall).status == 200)
        }
    }

    @Test("no token can enqueue webhook.deliver or another system kind, alone or in a batch; nothing is stored")
    func systemKindsCannotBeEnqueued() async throws {
        try await APIHarness.with { api in
            let enqueuer = try await Self.token(api, [.enqueue], name: "billing-backend")
            let before = try await api.snapshot()
            let forged = #"{"url": "https://billing.example/hooks", "secret_ref": "x", "body": "{\"type\": \"invoice.paid\"}"}"#
            for token in [api.token, enqueuer] {
                for kind in ["webhook.deliver", "webhook.anything", "inbound.netsuite.payment", "maintenance.prune", "system.x"] {
                    let answer = try await api.post("/v1/jobs", #"{"kind": "\#(kind)", "args": \#(forged)}"#, token: token)
                    #expect(answer.status == 403, "\(kind): \(answer)")
                    #expect(answer.error["code"] as? String == "system_kind" && answer.error["field"] as? String == "kind", "\(answer)")
                    #expect((answer.error["message"] as? String)?.contains(kind) == true, "the error names the kind: \(answer)")
                }
                let batch = try await api.post(
                    "/v1/jobs/batch", #"{"jobs": [{"kind": "test.echo"}, {"kind": "webhook.deliver", "args": \#(forged)}]}"#, token: token)
                #expect(batch.status == 403 && batch.error["field"] as? String == "jobs[1].kind", "\(batch)")
            }
            #expect(try await api.snapshot() == before, "nothing enqueued, not even the batch's good job")
            // An ordinary kind still goes through for the enqueue-only token.
            let echo = try await api.post("/v1/jobs", #"{"kind": "test.echo"}"#, token: enqueuer)
            #expect(echo.status == 201, "\(echo)")
        }
    }

    @Test("an expired token gets 401 token_expired; a revoked one 401; one expiring later works")
    func expiry() async throws {
        try await APIHarness.with { api in
            let store = APITokenStore(pool: api.pool)
            let (expiring, expiringSecret) = try await store.create(
                name: "expiring", scopes: [.read], expiresAt: Date().addingTimeInterval(3600))
            #expect(try await api.get("/v1/stats", token: expiringSecret).status == 200)
            // Its hour passes (the store refuses a past expiry, so the test moves it).
            try await api.pool.query(
                "UPDATE ledgersync.api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [expiring.id])
            let expired = try await api.get("/v1/stats", token: expiringSecret)
            #expect(expired.status == 401 && expired.error["code"] as? String == "token_expired", "\(expired)")
            #expect(expired.header("WWW-Authenticate")?.hasPrefix("Bearer") == true)
            #expect(!expired.text.contains(expiringSecret))

            let (revoked, revokedSecret) = try await store.create(name: "revoked", scopes: [.read])
            try await store.revoke(id: revoked.id)
            let refused = try await api.get("/v1/stats", token: revokedSecret)
            #expect(refused.status == 401 && refused.error["code"] as? String == "unauthorized", "\(refused)")

            // The store itself refuses an expiry in the past.
            await #expect(throws: StoreError.self) {
                try await store.create(name: "late", scopes: [.read], expiresAt: Date().addingTimeInterval(-5))
            }
        }
    }

    @Test("tokens over the API: created with scopes and shown once, listed without secrets, revoked; not the one in use")
    func tokensAPI() async throws {
        try await APIHarness.with { api in
            let created = try await api.post(
                "/v1/tokens", #"{"name": "ci", "scopes": ["enqueue", "read"], "expires_at": "2099-01-01T00:00:00Z"}"#)
            #expect(created.status == 201, "\(created)")
            let secret = try #require(created.object["token"] as? String)
            let record = try #require(created.object["record"] as? [String: Any])
            #expect(record["scopes"] as? [String] == ["read", "enqueue"] && record["expires_at"] as? String == "2099-01-01T00:00:00.000Z")
            #expect(try await api.get("/v1/jobs", token: secret).status == 200)
            #expect(try await api.post("/v1/jobs/retry", #"{"state": "failed"}"#, token: secret).status == 403)

            let listed = try await api.get("/v1/tokens")
            #expect(listed.status == 200 && !listed.text.contains(secret) && !listed.text.contains(api.token), "no token in a list")

            let bad = try await api.post("/v1/tokens", #"{"name": "x", "scopes": ["root"]}"#)
            #expect(bad.status == 422 && bad.error["field"] as? String == "scopes[0]", "\(bad)")

            let ownID = try await api.pool.query("SELECT id FROM ledgersync.api_tokens WHERE name = 'tests'").rows[0].decode(
                "id", as: Int64.self)
            let own = try await api.request("DELETE", "/v1/tokens/\(ownID)")
            #expect(own.status == 409, "\(own)")
            let id = try #require(record["id"] as? Int)
            #expect(try await api.request("DELETE", "/v1/tokens/\(id)").status == 204)
            #expect(try await api.get("/v1/jobs", token: secret).status == 401)
        }
    }
}
