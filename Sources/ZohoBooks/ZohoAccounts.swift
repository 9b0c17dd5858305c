import ExactJSON
import Foundation
import HTTPClient
import Sync

/// What Zoho's accounts server answered to a token request.
public struct ZohoTokenAnswer: Sendable, Equatable {
    public let accessToken: String
    /// Only in the answer to a grant code's exchange; a refresh answers without one.
    public let refreshToken: String?
    /// The API host the token is for (`https://www.zohoapis.eu`), when the answer names it.
    public let apiDomain: String?
    public let expiresAt: Date

    public var issued: IssuedToken { IssuedToken(accessToken: accessToken, expiresAt: expiresAt) }
}

/// Zoho's accounts server: `POST {accounts}/oauth/v2/token`, the self client's two grants.
///
/// "Self Client - Authorization code flow"
/// (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html):
/// `grant_type=authorization_code` with `client_id`, `client_secret` and `code` answers
/// `access_token`, `refresh_token`, `api_domain`, `token_type`, `expires_in`; the same endpoint
/// with `grant_type=refresh_token` and `refresh_token` answers a new access token. Zoho's page
/// shows the parameters in the query; they are sent here as an
/// `application/x-www-form-urlencoded` body (OAuth 2.0's own form, RFC 6749 §4.1.3), so that
/// no secret sits in a URL a proxy may log.
///
/// Zoho answers a refused code, refresh token or client with HTTP 200 and `{"error": "…"}`
/// (integrators' reports; Zoho's pages show no error table): the body decides, not the status.
public enum ZohoAccounts {
    /// Exchanges a self client's grant code (single use, minutes long) for a refresh token and
    /// a first access token. `accountsURL`: the data centre's accounts server, or a stand-in's
    /// URL (`settings.base_url`).
    public static func exchange(
        grantCode: String, clientID: String, clientSecret: String, accountsURL: String, http: HTTPClient,
        timeout: Duration = .seconds(30), now: @Sendable () -> Date = { Date() }
    ) async throws -> ZohoTokenAnswer {
        try await tokenRequest(
            [("grant_type", "authorization_code"), ("client_id", clientID), ("client_secret", clientSecret), ("code", grantCode)],
            accountsURL: accountsURL, http: http, timeout: timeout, now: now)
    }

    /// A new access token for a refresh token. A refresh token allows only a few access tokens
    /// per window (PROVIDERS 3: 10 per 10 minutes): callers go through the shared token store,
    /// which asks once for every process.
    public static func refresh(
        refreshToken: String, clientID: String, clientSecret: String, accountsURL: String, http: HTTPClient,
        timeout: Duration = .seconds(30), now: @Sendable () -> Date = { Date() }
    ) async throws -> ZohoTokenAnswer {
        try await tokenRequest(
            [("grant_type", "refresh_token"), ("client_id", clientID), ("client_secret", clientSecret), ("refresh_token", refreshToken)],
            accountsURL: accountsURL, http: http, timeout: timeout, now: now)
    }

    static func tokenRequest(
        _ parameters: [(String, String)], accountsURL: String, http: HTTPClient, timeout: Duration, now: @Sendable () -> Date
    ) async throws -> ZohoTokenAnswer {
        let sent: (response: HTTPResponse, sentAt: Date)
        do {
            sent = try await post(parameters, accountsURL: accountsURL, http: http, timeout: timeout, now: now)
        } catch let error as HTTPClientError {
            throw SyncError(from: error)
        }
        return try parseTokenAnswer(sent.response, sentAt: sent.sentAt)
    }

    /// `POST {accounts}/oauth/v2/token` with `parameters` as a form body: the raw answer and
    /// when the request left (a token expires `expires_in` after that). Throws the transport's
    /// `HTTPClientError`, for callers that tell a timeout (the code may be spent) from a refusal.
    static func post(
        _ parameters: [(String, String)], accountsURL: String, http: HTTPClient, timeout: Duration,
        now: @Sendable () -> Date = { Date() }
    ) async throws -> (response: HTTPResponse, sentAt: Date) {
        let body = parameters.map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
        let request = HTTPRequest(
            method: "POST", url: accountsURL.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/oauth/v2/token",
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Data(body.utf8), timeout: timeout)
        let sentAt = now()
        return (try await http.execute(request), sentAt)
    }

    /// Reads the accounts server's answer. Errors never carry the request's secrets; Zoho's
    /// own `error` code and description are kept (capped), since they say what to fix.
    public static func parseTokenAnswer(_ response: HTTPResponse, sentAt: Date) throws -> ZohoTokenAnswer {
        let json = try? ExactJSON.parse(response.body)
        if let code = json?["error"]?.stringValue {
            var text = "Zoho's accounts server refused the token request: \(clean(code, 60))"
            if let description = json?["error_description"]?.stringValue { text += " (\(clean(description, 200)))" }
            if code.lowercased().contains("access denied") || code.lowercased().contains("too many") {
                // Too many access tokens from one refresh token in the window (PROVIDERS 3).
                throw SyncError(.rateLimited, text, providerCode: clean(code, 60), retryAfter: .seconds(60))
            }
            throw SyncError(.permanent, text, providerCode: clean(code, 60))
        }
        guard (200...299).contains(response.status) else {
            let text = "Zoho's accounts server answered the token request with HTTP \(response.status)"
            if response.status == 429 { throw SyncError(.rateLimited, text) }
            if (500...599).contains(response.status) { throw SyncError(.transient, text) }
            throw SyncError(.permanent, text)
        }
        guard let json, let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw SyncError(.transient, "Zoho's accounts server answered the token request without an access_token")
        }
        let expiresText = json["expires_in"]?.numberText ?? json["expires_in"]?.stringValue
        guard let expiresText, let seconds = Int(expiresText), seconds > 0, seconds <= 86_400 else {
            throw SyncError(.transient, "Zoho's accounts server answered the token request without a usable expires_in")
        }
        return ZohoTokenAnswer(
            accessToken: token, refreshToken: json["refresh_token"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 },
            apiDomain: json["api_domain"]?.stringValue, expiresAt: sentAt.addingTimeInterval(TimeInterval(seconds)))
    }

    /// One line, printable characters, at most `limit` of them: a provider's text shown to people.
    static func clean(_ text: String, _ limit: Int) -> String {
        String(String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) }).prefix(limit))
    }

    /// `application/x-www-form-urlencoded`: unreserved characters stay, the rest percent-encoded.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(UnicodeScalar(byte)))
            default:
                out += String(format: "%%%02X", byte)
            }
        }
        return out
    }
}
