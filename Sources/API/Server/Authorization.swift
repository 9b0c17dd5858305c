import Foundation
import HTTPTypes
import Hummingbird
import Sync

/// Which scope each route needs: the `x-scopes` of its operation in the OpenAPI document
/// (scripts/openapi.py is the one place to read and change them). A route the document does
/// not list is refused to every token (fail closed): a route added without a scope cannot
/// slip out unauthorized, and `AuthorizationTests` walks every registered route to prove it.
enum RouteScopes {
    /// "GET /v1/jobs/{id}" → the scope it needs. Public operations (`security: []`) are absent.
    static let table: [String: APIScope] = {
        guard case .object(let paths)? = (try? JSONParser.parse(Array(OpenAPIDocument.json.utf8)))?["paths"] else { return [:] }
        var table: [String: APIScope] = [:]
        for (path, operations) in paths {
            guard case .object(let members) = operations else { continue }
            for (method, operation) in members {
                guard case .array(let scopes)? = operation["x-scopes"], scopes.count == 1,
                    let name = scopes[0].stringValue, let scope = APIScope(rawValue: name)
                else { continue }
                table["\(method.uppercased()) \(path)"] = scope
            }
        }
        return table
    }()

    /// The scope the matched route needs, or nil when no scope opens it.
    static func required(method: HTTPRequest.Method, endpointPath: String?) -> APIScope? {
        guard let endpointPath else { return nil }
        return table["\(method.rawValue) \(endpointPath)"]
    }
}

extension APIError {
    static func insufficientScope(_ needed: APIScope, holder: AuthenticatedToken) -> APIError {
        let held = holder.scopes.isEmpty ? "no scope" : "only " + APIScope.list(holder.scopes)
        return APIError(
            .forbidden, code: "insufficient_scope",
            "this route needs the \"\(needed.rawValue)\" scope (or admin); this token has \(held). Create one with `ledgersync tokens create --scope \(needed.rawValue)`"
        )
    }

    static let noScopeOpensRoute = APIError(.forbidden, code: "insufficient_scope", "no scope opens this route")

    static func tokenExpired(_ at: Date) -> APIError {
        let formatter = ISO8601DateFormatter()
        return APIError(
            .unauthorized, code: "token_expired",
            "this token expired at \(formatter.string(from: at)); create a new one with `ledgersync tokens create --expires-in …`")
    }
}

/// Headers on every answer, JSON, HTML and errors alike: no MIME sniffing, no Referer (a
/// sign-in link's code must not leak to another site), no framing (clickjacking), nothing
/// cached. HSTS when the request came over TLS (a proxy's `X-Forwarded-Proto: https`).
struct SecurityHeadersMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    /// The API's own pages always say they are served over TLS (`--secure-cookies`).
    var behindTLS: Bool

    static let contentSecurityPolicy = HTTPField.Name("Content-Security-Policy")!
    static let contentTypeOptions = HTTPField.Name("X-Content-Type-Options")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let frameOptions = HTTPField.Name("X-Frame-Options")!
    static let strictTransportSecurity = HTTPField.Name("Strict-Transport-Security")!
    static let crossOriginOpenerPolicy = HTTPField.Name("Cross-Origin-Opener-Policy")!
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            // Anything the error middleware did not turn into an answer still gets the headers.
            response = APIError.from(error).response
        }
        response.headers[Self.contentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        response.headers[Self.frameOptions] = "DENY"
        response.headers[Self.crossOriginOpenerPolicy] = "same-origin"
        // The dashboard sets its own, stricter policy; JSON answers get one that allows nothing.
        if response.headers[Self.contentSecurityPolicy] == nil {
            response.headers[Self.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'"
        }
        if response.headers[.cacheControl] == nil, !request.uri.path.hasPrefix("/openapi.json") {
            response.headers[.cacheControl] = "no-store"
        }
        if behindTLS || Self.isTLS(request) {
            response.headers[Self.strictTransportSecurity] = "max-age=31536000"
        }
        return response
    }

    /// Whether the client reached us over TLS: the option, or a TLS-terminating proxy's
    /// `X-Forwarded-Proto: https`. Only ever makes cookies stricter, so a client that lies
    /// about it hurts only itself.
    static func isTLS(_ request: Request) -> Bool {
        guard let proto = request.headers[Self.forwardedProto] else { return false }
        return proto.split(separator: ",").first?.trimmingCharacters(in: .whitespaces).lowercased() == "https"
    }
}

/// Kinds only Ledgersync itself enqueues: a `webhook.deliver` job is signed with an
/// endpoint's secret by whichever worker runs it, so a client that could enqueue one could
/// have any body signed as if Ledgersync sent it. Inbound and maintenance kinds act on the
/// system's behalf in the same way. No token may enqueue them through the API, `admin`
/// included; a prefix covers kinds added later under the same name.
enum SystemJobKinds {
    static let exact: Set<String> = [WebhookDelivery.kind]
    static let prefixes = ["webhook.", "inbound.", "maintenance.", "system."]

    static func isSystem(_ kind: String) -> Bool {
        exact.contains(kind) || prefixes.contains { kind.hasPrefix($0) }
    }

    /// 403 naming the kind, before anything is looked up or stored.
    static func refuse(_ kind: String, field: String) throws {
        guard isSystem(kind) else { return }
        throw APIError(
            .forbidden, code: "system_kind",
            "\"\(kind.prefix(60))\" jobs are enqueued only by Ledgersync itself (webhook deliveries, inbound events, maintenance); no token may enqueue them",
            field: field)
    }
}
