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

/// Lets a request through only with a live bearer token: `Authorization: Bearer lsk_…`, or
/// for the dashboard the `ledgersync_token` cookie its login form sets.
struct BearerAuthMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let tokens: APITokenStore
    /// Where to send a browser without a token, instead of a 401 JSON (the dashboard).
    var loginRedirect: String?

    static let cookieName = "ledgersync_token"

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let presented = Self.presentedToken(request), let token = try await tokens.authenticate(presented) else {
            if let loginRedirect { return Response(status: .seeOther, headers: [.location: loginRedirect]) }
            throw APIError.unauthorized
        }
        var context = context
        context.token = token
        context.logger[metadataKey: "token"] = "\(token.id)"
        return try await next(request, context)
    }

    static func presentedToken(_ request: Request) -> String? {
        if let header = request.headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" { return parts[1].trimmingCharacters(in: .whitespaces) }
            return nil
        }
        return cookie(named: cookieName, in: request)
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
