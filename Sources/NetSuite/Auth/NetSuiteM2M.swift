import ExactJSON
import Foundation
import HTTPClient
import LedgerCrypto
import Sync

// NetSuite OAuth 2.0 client credentials (machine to machine), PROVIDERS 2.5.
//
// Oracle NetSuite Help Center:
// - "POST Request to the Token Endpoint and the Access Token Response" (section_162755359851,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162755359851.html):
//   POST https://<accountID>.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token,
//   form-urlencoded `grant_type=client_credentials`,
//   `client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`,
//   `client_assertion=<JWT>`; the answer's `access_token` "is valid for 60 minutes",
//   `expires_in` (the sample has it as the string "3600"), `token_type` "Bearer".
// - "The Request Token Structure" (section_162790605110,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162790605110.html):
//   header `typ` JWT, `alg` PS256/PS384/PS512/ES256/ES384/ES512, `kid` = the certificate id of
//   the M2M mapping; payload `iss` = client id, `scope` (restlets, rest_webservices,
//   suite_analytics), `aud` = the token endpoint, `iat`, `exp` "less than 60 minutes greater
//   than the value of the iat parameter".
// - "OAuth 2.0 for REST Web Services" (section_157780312610,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_157780312610.html):
//   requests carry `Authorization: Bearer <access token>`.
// - "Response Errors in Step Two and in the Refresh Token Response" (subsect_161252460252,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_161252460252.html):
//   token endpoint errors are `{"error": "<error_value>"}` (invalid_request 400,
//   invalid_client 401, invalid_grant 400, …). Oracle documents that table for the
//   authorization code flow; no separate table for the client credentials flow was found, so
//   the same shape (RFC 6749 §5.2) is assumed here.

/// The credentials of a NetSuite OAuth 2.0 client credentials (M2M) integration: the
/// integration record's client id, the certificate id NetSuite gave the M2M mapping, and the
/// private key (PEM, RSA 3072/4096 or EC P-256/384/521) of the certificate uploaded there.
/// Its description shows the ids' first characters and never the key.
public struct NetSuiteM2MCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let clientID: String
    public let certificateID: String
    public let privateKeyPEM: String

    public init(clientID: String, certificateID: String, privateKeyPEM: String) {
        self.clientID = clientID
        self.certificateID = certificateID
        self.privateKeyPEM = privateKeyPEM
    }

    public var description: String {
        "NetSuiteM2MCredentials(client_id: \(clientID.prefix(6))…, certificate_id: \(certificateID.prefix(6))…, private key redacted)"
    }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// How a `NetSuiteClient` authorizes its requests.
public enum NetSuiteAuth: Sendable {
    /// Token-Based Authentication: every request signed (PROVIDERS 2.1).
    case tba(NetSuiteCredentials)
    /// OAuth 2.0 client credentials: `Authorization: Bearer` with an access token from
    /// `tokens` (shared by every process), issued for `connection` by signing an assertion
    /// with `credentials` and asking NetSuite's token endpoint (`NetSuiteM2M`).
    case oauth2(NetSuiteM2MCredentials, connection: AccountingConnection, tokens: any AccessTokenStore)
}

/// The client credentials flow: the JWT assertion and the token request.
public enum NetSuiteM2M {
    /// The token endpoint's path under the account's SuiteTalk host (or a base URL override).
    public static let tokenPath = "/services/rest/auth/oauth2/v1/token"
    public static let grantType = "client_credentials"
    public static let clientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    /// The scope asked for: REST web services only (what the record API and SuiteQL need).
    public static let scope = ["rest_webservices"]
    /// How long an assertion is valid (`exp - iat`). Oracle allows up to 3600 s; an assertion
    /// is sent once, right after it is signed, so 5 minutes is plenty for the request and a
    /// small clock difference, and keeps a leaked assertion's use short.
    public static let assertionLifetimeSeconds = 300
    /// A token is replaced when it has less than this left: long enough that a request sent
    /// with it arrives before it expires, short enough for tokens that live only seconds
    /// (the simulator's `--token-lifetime 20s`). A token that still expires on the way is
    /// caught by the 401 invalid_token retry.
    public static let defaultMinValidity: Duration = .seconds(10)

    /// `https://<account>.suitetalk.api.netsuite.com/services/rest/auth/oauth2/v1/token`, or the
    /// same path under a connection's base URL (the simulator).
    public static func tokenURL(account: NetSuiteAccount) -> String { account.suiteTalkOrigin + tokenPath }

    /// A signed client assertion (RFC 7523) for `tokenURL`: header `typ`, `alg`, `kid`; payload
    /// `iss`, `scope`, `aud`, `iat`, `exp = iat + assertionLifetimeSeconds`. `algorithm`
    /// defaults to PS256 for an RSA key and the curve's ES algorithm for an EC key. Errors name
    /// the field (`private_key`, `client_id`, `certificate_id`) and never show the key.
    public static func assertion(
        credentials: NetSuiteM2MCredentials, tokenURL: String, now: Date = Date(), algorithm: JWTAlgorithm? = nil
    ) throws -> String {
        guard !credentials.clientID.isEmpty else { throw SyncError(.permanent, "client_id is empty") }
        guard !credentials.certificateID.isEmpty else { throw SyncError(.permanent, "certificate_id is empty") }
        let key: JWTPrivateKey
        do {
            key = try JWTPrivateKey(pem: credentials.privateKeyPEM)
        } catch let error as CryptoError {
            throw SyncError(.permanent, "private_key: \(error.message)")
        }
        let alg = algorithm ?? key.defaultAlgorithm
        let iat = Int(now.timeIntervalSince1970)
        let header = ExactJSON.object([
            ("typ", .string("JWT")), ("alg", .string(alg.rawValue)), ("kid", .string(credentials.certificateID)),
        ])
        let payload = ExactJSON.object([
            ("iss", .string(credentials.clientID)),
            ("scope", .array(scope.map { .string($0) })),
            ("aud", .string(tokenURL)),
            ("iat", .number(String(iat))),
            ("exp", .number(String(iat + assertionLifetimeSeconds))),
        ])
        do {
            return try JWT.sign(headerJSON: header.description, payloadJSON: payload.description, key: key, algorithm: alg)
        } catch let error as CryptoError {
            throw SyncError(.permanent, "private_key: \(error.message)")
        }
    }

    /// The form body of the token request (`application/x-www-form-urlencoded`).
    public static func tokenRequestBody(assertion: String) -> String {
        [("grant_type", grantType), ("client_assertion_type", clientAssertionType), ("client_assertion", assertion)]
            .map { "\(formEncode($0.0))=\(formEncode($0.1))" }.joined(separator: "&")
    }

    /// Signs an assertion and asks NetSuite for an access token. Classified errors: NetSuite's
    /// `invalid_client`/`invalid_grant`/… refusals are permanent (its error text kept), 429 is
    /// rate_limited, 5xx and transport failures transient.
    public static func requestToken(
        credentials: NetSuiteM2MCredentials, account: NetSuiteAccount, http: HTTPClient, timeout: Duration = .seconds(60),
        now: @Sendable () -> Date = { Date() }
    ) async throws -> IssuedToken {
        let url = tokenURL(account: account)
        let assertion = try assertion(credentials: credentials, tokenURL: url, now: now())
        let request = HTTPRequest(
            method: "POST", url: url,
            headers: [("Content-Type", "application/x-www-form-urlencoded"), ("Accept", "application/json")],
            body: Data(tokenRequestBody(assertion: assertion).utf8), timeout: timeout)
        let sentAt = now()
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch let error as HTTPClientError {
            throw SyncError(from: error)
        }
        return try parseTokenAnswer(response, sentAt: sentAt)
    }

    /// Reads the token endpoint's answer. `expires_in` may be a string ("3600", Oracle's
    /// sample) or a number; the token expires `expires_in` seconds after `sentAt` (the
    /// moment the request left, so the time on the wire only makes it expire early here).
    public static func parseTokenAnswer(_ response: HTTPResponse, sentAt: Date) throws -> IssuedToken {
        let json = try? ExactJSON.parse(response.body)
        guard (200...299).contains(response.status) else {
            let retryAfter = response.header("Retry-After").flatMap { NetSuiteErrorParser.parseRetryAfter($0, now: sentAt) }
            let code = json?["error"]?.stringValue
            var text = "NetSuite refused the OAuth 2.0 token request: HTTP \(response.status)"
            if let code { text += " \(code.prefix(60))" }
            if let description = json?["error_description"]?.stringValue { text += " (\(description.prefix(200)))" }
            if response.status == 429 { throw SyncError(.rateLimited, text, providerCode: code, retryAfter: retryAfter) }
            if (500...599).contains(response.status) { throw SyncError(.transient, text, providerCode: code) }
            if code == nil, json == nil {
                // Not an OAuth error body: NetSuite's own REST error shape, parsed as any other answer.
                throw NetSuiteErrorParser.parse(response, now: sentAt)
            }
            throw SyncError(
                .permanent, text + "; check client_id, certificate_id, the private key and the M2M mapping in NetSuite", providerCode: code)
        }
        guard let json, let token = json["access_token"]?.stringValue, !token.isEmpty else {
            throw SyncError(.transient, "NetSuite answered the OAuth 2.0 token request without an access_token")
        }
        if let type = json["token_type"]?.stringValue, type.lowercased() != "bearer" {
            throw SyncError(.permanent, "NetSuite issued a token of type \(type.prefix(20)), not Bearer")
        }
        let expiresText = json["expires_in"]?.stringValue ?? json["expires_in"]?.numberText
        guard let expiresText, let seconds = Int(expiresText), seconds > 0, seconds <= 86_400 else {
            throw SyncError(.transient, "NetSuite answered the OAuth 2.0 token request without a usable expires_in")
        }
        return IssuedToken(accessToken: token, expiresAt: sentAt.addingTimeInterval(TimeInterval(seconds)))
    }

    /// `application/x-www-form-urlencoded` (WHATWG URL §5.1, the "URL Specification 5.1"
    /// Oracle's page names): unreserved stay, space is `+`, the rest percent-encoded.
    static func formEncode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "*"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"):
                out.append(Character(UnicodeScalar(byte)))
            case UInt8(ascii: " "):
                out.append("+")
            default:
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    /// True when a 401's `WWW-Authenticate` says the bearer token is invalid (expired,
    /// revoked, unknown): `Bearer … error="invalid_token"`.
    public static func saysInvalidToken(_ response: HTTPResponse) -> Bool {
        guard response.status == 401, let challenge = response.header("WWW-Authenticate") else { return false }
        let squashed = challenge.lowercased().replacingOccurrences(of: " ", with: "")
        return squashed.hasPrefix("bearer") && squashed.contains("error=\"invalid_token\"")
    }
}

extension String {
    fileprivate func leftPadded(to length: Int) -> String {
        count >= length ? self : String(repeating: "0", count: length - count) + self
    }
}
