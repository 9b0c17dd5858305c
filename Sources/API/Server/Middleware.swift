import Foundation
import HTTPTypes
import Hummingbird
import Logging

/// Turns every error a route throws (and "no such route") into the API's JSON error, and
/// logs the unexpected ones with their detail, which the client never sees.
struct APIErrorMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as HTTPError where error.status == .notFound {
            // No route: a documented path with another method is 405, with the methods it takes.
            if let methods = DocumentedRoutes.methods(for: request.uri.path), !methods.isEmpty {
                var response = APIError(
                    .methodNotAllowed, code: "method_not_allowed",
                    "\(request.method.rawValue) is not a method of \(request.uri.path) (it takes \(methods.joined(separator: ", ")))"
                ).response
                response.headers[.allow] = methods.joined(separator: ", ")
                return response
            }
            return APIError.from(error).response
        } catch {
            let answer = APIError.from(error)
            if answer.status.code >= 500 {
                context.logger.error(
                    "request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(describing: error).prefix(500))"])
            }
            return answer.response
        }
    }
}

/// Lets a request through only with a live bearer token (`Authorization: Bearer lsk_…`, the
/// header and nothing else: a dashboard session cookie never opens these routes) that holds
/// the scope its route needs (`RouteScopes`). No token, an unknown or revoked one: 401; an
/// expired one: 401 saying so; a token without the scope: 403 naming it. Checked before the
/// route reads anything, so a refused request costs one indexed lookup.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let tokens: APITokenStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let presented = Self.presentedToken(request) else { throw APIError.unauthorized }
        let token: AuthenticatedToken
        switch try await tokens.check(presented) {
        case .live(let live): token = live
        case .expired(let at): throw APIError.tokenExpired(at)
        case .unknown: throw APIError.unauthorized
        }
        guard let needed = RouteScopes.required(method: request.method, endpointPath: context.endpointPath) else {
            throw APIError.noScopeOpensRoute
        }
        guard needed.isGranted(by: token.scopes) else { throw APIError.insufficientScope(needed, holder: token) }
        var context = context
        context.token = token
        context.logger[metadataKey: "token"] = "\(token.id.map(String.init) ?? token.name)"
        return try await next(request, context)
    }

    static func presentedToken(_ request: Request) -> String? {
        guard let header = request.headers[.authorization] else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return parts[1].trimmingCharacters(in: .whitespaces)
    }

    static func cookie(named name: String, in request: Request) -> String? {
        for header in request.headers[values: .cookie] {
            for pair in header.split(separator: ";") {
                let parts = pair.split(separator: "=", maxSplits: 1)
                if parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name {
                    return parts[1].trimmingCharacters(in: .whitespaces).removingPercentEncoding
                }
            }
        }
        return nil
    }
}

/// The methods each documented path takes, read once from the OpenAPI document, so that a
/// request with another method gets 405 and an `Allow` header rather than 404.
enum DocumentedRoutes {
    /// (path segments, with nil for a `{parameter}`; methods in upper case).
    static let table: [(segments: [String?], methods: [String])] = {
        guard case .object(let paths)? = (try? JSONParser.parse(Array(OpenAPIDocument.json.utf8)))?["paths"] else { return [] }
        return paths.map { path, operations in
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
            guard case .object(let members) = operations else { return (segments, []) }
            return (segments, members.map { $0.key.uppercased() }.filter { $0 != "PARAMETERS" })
        }
    }()

    /// The methods the path takes, or nil when no documented path matches it.
    static func methods(for path: String) -> [String]? {
        let parts = path.split(separator: "/").map(String.init)
        let matches = table.filter { route in
            route.segments.count == parts.count && zip(route.segments, parts).allSatisfy { $0 == nil || $0 == $1 }
        }
        // A literal segment beats a parameter (`/v1/jobs/retry` is not `/v1/jobs/{id}`).
        let best = matches.max { $0.segments.compactMap { $0 }.count < $1.segments.compactMap { $0 }.count }
        return best?.methods
    }
}
