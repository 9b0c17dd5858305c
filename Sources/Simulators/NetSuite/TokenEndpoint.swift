import ExactJSON
import Foundation
import Hummingbird
import LedgerCrypto
import NetSuite

// NetSuite's OAuth 2.0 client credentials (M2M) token endpoint, and the bearer tokens it issues.
//
// Oracle NetSuite Help Center pages each rule follows:
// - "POST Request to the Token Endpoint and the Access Token Response" (section_162755359851,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162755359851.html):
//   the path, the form body (grant_type "always client_credentials", client_assertion_type
//   "always urn:ietf:params:oauth:client-assertion-type:jwt-bearer", client_assertion), the
//   answer {"access_token", "expires_in": "3600" (a string in Oracle's sample), "token_type":
//   "Bearer"}, "The access token is valid for 60 minutes".
// - "The Request Token Structure" (section_162790605110,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162790605110.html):
//   typ "always JWT"; alg PS256, PS384, PS512, ES256, ES384 or ES512 (so RS256 is refused);
//   kid = the certificate id of the mapping; iss = the integration's client id; scope
//   restlets, rest_webservices, suite_analytics; aud = the token endpoint; exp "must be less
//   than 60 minutes greater than" iat (taken here as exp - iat <= 3600, PROVIDERS 2.5).
// - "OAuth 2.0 Client Credentials Setup" (section_162686838198,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_162686838198.html):
//   a mapping ties an application (client id) to an uploaded certificate; NetSuite creates
//   "a record for every unique combination of application and certificate".
// - "Response Errors in Step Two and in the Refresh Token Response" (subsect_161252460252,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_161252460252.html):
//   error bodies are {"error": "<error_value>"}; invalid_request is 400 ("the grant_type
//   value is incorrect", missing or malformed parameters); invalid_client is 401 with
//   `WWW-Authenticate: Basic realm="<accountID>"`. That table is Oracle's for the
//   authorization code flow: NO ORACLE PAGE WAS FOUND listing the client credentials flow's
//   errors, so a refused assertion is answered as RFC 7521 §4.2.1 says for client assertions
//   (invalid_client) in the shape of that table, and the reason is kept for inspection the
//   way NetSuite keeps it in its Login Audit Trail.
// - "OAuth 2.0 for REST Web Services" (section_157780312610,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_157780312610.html):
//   requests carry `Authorization: Bearer <access token>`. An expired or unknown token gets
//   401 with `WWW-Authenticate: Bearer realm="<account>", error="invalid_token"` (PROVIDERS
//   2.2; the Login Audit Trail page "RESTlets and REST Web Services Error Messages in the
//   Login Audit Trail", subsect_158324637123, names the reason AccessTokenExpired).

extension NetSuiteSimulator {
    /// One OAuth 2.0 M2M mapping of the simulated account: an integration's client id and the
    /// certificate uploaded for it, with the id NetSuite gave the mapping.
    public struct M2MMapping: Sendable, Equatable {
        public var clientID: String
        /// The `kid` assertions name.
        public var certificateID: String
        /// The certificate (`BEGIN CERTIFICATE`) or public key (`BEGIN PUBLIC KEY`) PEM.
        public var publicKeyPEM: String

        public init(clientID: String, certificateID: String, publicKeyPEM: String) {
            self.clientID = clientID
            self.certificateID = certificateID
            self.publicKeyPEM = publicKeyPEM
        }
    }

    /// Why the token endpoint refused a request (kept like the Login Audit Trail).
    public enum TokenRefusal: String, Sendable, CaseIterable {
        /// A parameter is missing, repeated or the body is not a form.
        case malformedRequest
        /// grant_type is not `client_credentials`.
        case wrongGrantType
        /// client_assertion_type is not the jwt-bearer URN.
        case wrongAssertionType
        /// The assertion is not a JWT with JSON header and payload, or lacks a claim.
        case malformedAssertion
        /// `typ` is not JWT.
        case wrongType
        /// `alg` is not PS256/384/512 or ES256/384/512 (RS256, HS256, none…).
        case algorithmNotAllowed
        /// No mapping has the assertion's `kid`.
        case unknownCertificate
        /// The signature does not verify with the mapping's public key.
        case badSignature
        /// `iss` is not the client id of the mapping with that `kid`.
        case unknownIssuer
        /// `aud` is not the token endpoint.
        case wrongAudience
        /// `exp` is not in the future.
        case expired
        /// `exp` is more than 3600 s after `iat`, or before it.
        case lifetimeTooLong
        /// `iat` is further in the future than the timestamp tolerance.
        case issuedInFuture
        /// `scope` does not include rest_webservices.
        case wrongScope

        /// The OAuth error code answered.
        var errorCode: String {
            switch self {
            case .malformedRequest, .wrongGrantType, .wrongAssertionType: "invalid_request"
            case .wrongScope: "invalid_scope"
            default: "invalid_client"
            }
        }
    }

    /// One request to the token endpoint.
    public struct TokenRequest: Sendable {
        public let time: Date
        /// The assertion's `iss`, when it could be read.
        public let clientID: String?
        /// Nil when a token was issued.
        public let refusal: TokenRefusal?
    }

    /// Counters of the token endpoint since the start (or the last `reset()`).
    public struct TokenStats: Sendable {
        /// Requests to the token endpoint, refused ones included.
        public var requests = 0
        public var issued = 0
        public var refused = 0
        /// Token requests being processed right now.
        public var inFlight = 0
        /// The most token requests ever in processing at once.
        public var maxInFlight = 0
        /// Record requests refused because their bearer token was expired or unknown.
        public var invalidTokenRefusals = 0
    }

    static let tokenRequestCapacity = 10_000

    public var tokenStats: TokenStats { state.withLock { $0.tokenStats } }
    /// The token requests, oldest first (the newest 10 000).
    public var tokenRequests: [TokenRequest] { state.withLock { $0.tokenRequests } }
    /// Access tokens issued and not yet expired or forgotten.
    public var liveTokenCount: Int {
        let now = Date()
        return state.withLock { $0.tokens.values.filter { $0 > now }.count }
    }

    /// Forgets every issued token (as if NetSuite revoked them): the next request with one
    /// gets 401 invalid_token.
    public func forgetTokens() {
        state.withLock { $0.tokens.removeAll() }
    }

    /// `POST /services/rest/auth/oauth2/v1/token`.
    func tokenEndpoint(_ request: Request) async -> Response {
        state.withLock { state in
            state.tokenStats.requests += 1
            state.tokenStats.inFlight += 1
            state.tokenStats.maxInFlight = max(state.tokenStats.maxInFlight, state.tokenStats.inFlight)
        }
        defer { state.withLock { $0.tokenStats.inFlight -= 1 } }
        // A token request takes a moment at NetSuite too; it makes overlapping requests visible.
        if configuration.tokenEndpointLatency > .zero { try? await Task.sleep(for: configuration.tokenEndpointLatency) }

        var request = request
        let host = request.head.authority ?? ""
        let tokenURL = "http://" + host + NetSuiteM2M.tokenPath
        let body = (try? await request.collectBody(upTo: 64 << 10)).map { String(buffer: $0) }
        let now = Date()
        let outcome = body.map { checkTokenRequest($0, tokenURL: tokenURL, now: now) } ?? .failure(.malformedRequest, clientID: nil)
        switch outcome {
        case .failure(let refusal, let clientID):
            state.withLock { state in
                state.tokenStats.refused += 1
                state.appendTokenRequest(TokenRequest(time: now, clientID: clientID, refusal: refusal))
            }
            var response = Self.json(
                .object([("error", .string(refusal.errorCode))]),
                status: refusal.errorCode == "invalid_client" ? .unauthorized : .badRequest)
            if refusal.errorCode == "invalid_client" {
                response.headers[.wwwAuthenticate] = "Basic realm=\"\(configuration.realm)\""
            }
            return response
        case .success(let clientID):
            let token = Base64URL.encode(SecureRandom.bytes(32))
            let lifetime = max(1, Int(configuration.tokenLifetime.components.seconds))
            state.withLock { state in
                state.tokenStats.issued += 1
                // Expired tokens are dropped as new ones come, so the table stays small.
                state.tokens = state.tokens.filter { $0.value > now }
                state.tokens[token] = now.addingTimeInterval(TimeInterval(lifetime))
                state.appendTokenRequest(TokenRequest(time: now, clientID: clientID, refusal: nil))
            }
            return Self.json(
                .object([
                    ("access_token", .string(token)), ("expires_in", .string(String(lifetime))), ("token_type", .string("Bearer")),
                ]))
        }
    }

    enum TokenCheck {
        case success(clientID: String)
        case failure(TokenRefusal, clientID: String?)
    }

    func checkTokenRequest(_ body: String, tokenURL: String, now: Date) -> TokenCheck {
        guard let form = Self.parseForm(body) else { return .failure(.malformedRequest, clientID: nil) }
        guard let grantType = form["grant_type"], let assertionType = form["client_assertion_type"],
            let assertion = form["client_assertion"]
        else { return .failure(.malformedRequest, clientID: nil) }
        guard grantType == NetSuiteM2M.grantType else { return .failure(.wrongGrantType, clientID: nil) }
        guard assertionType == NetSuiteM2M.clientAssertionType else { return .failure(.wrongAssertionType, clientID: nil) }
        guard let parts = try? JWT.parts(of: assertion),
            let header = try? ExactJSON.parse(parts.header), let payload = try? ExactJSON.parse(parts.payload),
            header.objectValue != nil, payload.objectValue != nil
        else { return .failure(.malformedAssertion, clientID: nil) }
        let issuer = payload["iss"]?.stringValue
        guard header["typ"]?.stringValue == "JWT" else { return .failure(.wrongType, clientID: issuer) }
        guard let algName = header["alg"]?.stringValue, let algorithm = JWTAlgorithm(rawValue: algName) else {
            return .failure(.algorithmNotAllowed, clientID: issuer)
        }
        guard let kid = header["kid"]?.stringValue,
            let mapping = configuration.m2mMappings.first(where: { $0.certificateID == kid })
        else { return .failure(.unknownCertificate, clientID: issuer) }
        // The signature before any claim: nothing unsigned is trusted.
        guard let key = try? JWTPublicKey(pem: mapping.publicKeyPEM), JWT.verify(parts, key: key, algorithm: algorithm) else {
            return .failure(.badSignature, clientID: issuer)
        }
        guard let issuer, issuer == mapping.clientID else { return .failure(.unknownIssuer, clientID: issuer) }
        let audiences = payload["aud"]?.stringValue.map { [$0] } ?? payload["aud"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard audiences.contains(tokenURL) else { return .failure(.wrongAudience, clientID: issuer) }
        guard let iat = payload["iat"]?.numberText.flatMap(Self.seconds), let exp = payload["exp"]?.numberText.flatMap(Self.seconds) else {
            return .failure(.malformedAssertion, clientID: issuer)
        }
        let nowSeconds = Int(now.timeIntervalSince1970)
        guard exp > nowSeconds else { return .failure(.expired, clientID: issuer) }
        guard exp > iat, exp - iat <= 3600 else { return .failure(.lifetimeTooLong, clientID: issuer) }
        // Not in Oracle's pages: RFC 7523 §3 lets a server refuse an iat far off; the TBA
        // timestamp tolerance is used as the allowed clock difference.
        guard iat <= nowSeconds + Int(configuration.timestampTolerance.components.seconds) else {
            return .failure(.issuedInFuture, clientID: issuer)
        }
        let scopes =
            payload["scope"]?.arrayValue?.compactMap(\.stringValue)
            ?? payload["scope"]?.stringValue?.split(whereSeparator: { $0 == "," || $0 == " " }).map(String.init) ?? []
        guard scopes.contains("rest_webservices") else { return .failure(.wrongScope, clientID: issuer) }
        return .success(clientID: issuer)
    }

    /// A NumericDate (RFC 7519 §2): whole seconds; a fraction (PyJWT's float iat) is cut.
    static func seconds(_ text: String) -> Int? {
        if let whole = Int(text) { return whole }
        guard let value = Decimal(string: text) else { return nil }
        return NSDecimalNumber(decimal: value).intValue
    }

    /// `application/x-www-form-urlencoded` → name → value; nil for a repeated name or a
    /// broken escape.
    static func parseForm(_ body: String) -> [String: String]? {
        var form: [String: String] = [:]
        for pair in body.split(separator: "&", omittingEmptySubsequences: true) {
            let halves = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decodeForm(halves[0]), let value = decodeForm(halves.count > 1 ? halves[1] : "") else { return nil }
            guard form[name] == nil else { return nil }
            form[name] = value
        }
        return form
    }

    private static func decodeForm(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// Nil when `authorization` is a bearer token the simulator issued and that has not
    /// expired; else why not.
    func authenticateBearer(_ authorization: String) -> LoginFailure? {
        let token = String(authorization.dropFirst("Bearer ".count)).trimmingCharacters(in: .whitespaces)
        let now = Date()
        return state.withLock { state -> LoginFailure? in
            guard let expiresAt = state.tokens[token] else { return .unknownAccessToken }
            return expiresAt > now ? nil : .expiredAccessToken
        }
    }

    /// 401 for a bad bearer token: NetSuite's invalid-login body and the challenge that tells
    /// the client to get a new token.
    func invalidTokenResponse() -> Response {
        var response = Self.response(.invalidLogin)
        response.headers[.wwwAuthenticate] =
            "Bearer realm=\"\(configuration.realm)\", error=\"invalid_token\", error_description=\"The access token is expired or invalid\""
        return response
    }
}

extension NetSuiteSimulator.State {
    mutating func appendTokenRequest(_ entry: NetSuiteSimulator.TokenRequest) {
        if tokenRequests.count >= NetSuiteSimulator.tokenRequestCapacity { tokenRequests.removeFirst() }
        tokenRequests.append(entry)
    }
}
