import Foundation
import HTTPTypes
import Hummingbird
import JobQueue
import Postgres
import Sync

/// An answer of 4xx (or 5xx) with the one JSON shape every client can rely on:
/// `{"error": {"code": "...", "message": "...", "field": "..."}}`. `field` names the body
/// member, query parameter or path segment at fault, `jobs[2].priority` style, or is null.
///
/// Routes throw these before they change anything: input is checked in full first.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public let status: HTTPResponse.Status
    /// Stable, machine-readable: `malformed_json`, `invalid_field`, `unauthorized`, `not_found`, …
    public let code: String
    public let message: String
    public let field: String?

    public init(_ status: HTTPResponse.Status, code: String, _ message: String, field: String? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.field = field
    }

    public var description: String { "\(status.code) \(code): \(field.map { "\($0): " } ?? "")\(message)" }

    static func malformedJSON(_ message: String) -> APIError { APIError(.badRequest, code: "malformed_json", message) }
    static func invalid(_ field: String, _ message: String) -> APIError {
        APIError(.unprocessableContent, code: "invalid_field", message, field: field)
    }
    static func notFound(_ message: String, field: String? = nil) -> APIError {
        APIError(.notFound, code: "not_found", message, field: field)
    }
    static func conflict(_ message: String, field: String? = nil) -> APIError {
        APIError(.conflict, code: "conflict", message, field: field)
    }
    static let unauthorized = APIError(
        .unauthorized, code: "unauthorized",
        "a valid API token is required: send Authorization: Bearer <token> (create one with `ledgersync tokens create --scope …`)")
    static func tooLarge(_ limit: Int) -> APIError {
        APIError(.contentTooLarge, code: "body_too_large", "the request body is larger than the limit of \(limit) bytes")
    }

    var json: JSON {
        .object([("error", .object([("code", .string(code)), ("message", .string(message)), ("field", .optional(field))]))])
    }

    var response: Response {
        var response = Response.json(json, status: status)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer realm=\"ledgersync\"" }
        // RFC 6750: a valid token that lacks the scope.
        if code == "insufficient_scope" { response.headers[.wwwAuthenticate] = "Bearer realm=\"ledgersync\", error=\"insufficient_scope\"" }
        if status == .serviceUnavailable { response.headers[.retryAfter] = "1" }
        return response
    }

    /// Any error a route can meet, as the answer it deserves. Unexpected errors become a
    /// 500 whose message says only that (the detail goes to the log, never to the client: it
    /// could hold SQL or a secret-bearing value).
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as StoreError:
            switch error.code {
            case .invalidField, .invalidMapping:
                return APIError(.unprocessableContent, code: "invalid_field", error.message, field: error.field)
            case .notFound: return APIError(.notFound, code: "not_found", error.message, field: error.field)
            case .secretsUnreadable:
                return APIError(
                    .internalServerError, code: "secrets_unreadable",
                    "stored secrets cannot be opened: is LEDGERSYNC_SECRET_KEY the key they were sealed with?")
            }
        case let error as PostgresError where error.sqlState == "22023" || error.sqlState == "23514":
            // ledgersync.enqueue's own checks and table CHECKs: the input was wrong.
            return APIError(.unprocessableContent, code: "invalid_field", Self.firstLine(error.message))
        case let error as PostgresError where error.code == .connectionFailed:
            return APIError(.serviceUnavailable, code: "database_unavailable", "the database cannot be reached")
        case let error as PostgresError where error.code == .poolExhausted:
            // Every connection is busy: refuse quickly rather than queue without bound.
            return APIError(.serviceUnavailable, code: "database_busy", "the server is busy: \(error.message); try again shortly")
        case let error as PostgresError where error.sqlState == "57014":
            // statement_timeout (or a cancelled query): the database took too long.
            return APIError(
                .serviceUnavailable, code: "database_timeout",
                "the database did not answer within the API's statement_timeout; try again, or narrow the request")
        case let error as any HTTPResponseError where error.status == .contentTooLarge:
            return .tooLarge(APIRequestContext.bodyLimit)
        case let error as HTTPError:
            switch error.status {
            case .notFound: return .notFound("no such route")
            case .methodNotAllowed: return APIError(.methodNotAllowed, code: "method_not_allowed", "this route does not take that method")
            default: return APIError(error.status, code: "http_\(error.status.code)", error.body ?? error.status.reasonPhrase)
            }
        default:
            return APIError(.internalServerError, code: "internal_error", "the server failed to answer; see its log")
        }
    }

    private static func firstLine(_ text: String) -> String {
        text.split(whereSeparator: \.isNewline).first.map(String.init) ?? text
    }
}

extension Response {
    /// A JSON answer.
    static func json(_ value: JSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: value.text)))
    }
}
