import ExactJSON
import Foundation
import Hummingbird

// Zoho's accounts server: the self client's grant code, its exchange and the refresh.
//
// Zoho's pages each rule follows:
// - "Self Client - Authorization code flow"
//   (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html):
//   the code is generated in the API console for chosen scopes with an expiry ("By default, it
//   is 3 minutes"); `POST {accounts-server-url}/oauth/v2/token` with the query parameters
//   client_id, client_secret, grant_type=authorization_code and code (all required); "The
//   accounts-server-url is specific to the location (i.e., datacenter) where the client is
//   registered"; the answer holds access_token ("Validity: 1 hour"), refresh_token,
//   api_domain, token_type and expires_in. The refresh (same page, step 3): grant_type=
//   refresh_token with refresh_token, client_id, client_secret; its answer has no refresh_token.
// - "Self client" overview (https://www.zoho.com/accounts/protocol/oauth/self-client/overview.html):
//   the code is exchanged for an access token and a refresh token.
// - Zoho Backstage "Step 3: Generate Access And Refresh Token"
//   (https://www.zoho.com/backstage/api/v3/generate-access-and-refresh-token.html): "The
//   refresh_token has no expiry"; at most 20 refresh tokens per user (NOT simulated).
// - The limit of access tokens per refresh token (10 per 10 minutes, PROVIDERS 3) and the
//   shape of its refusal: NO ZOHO PAGE WAS FOUND in the search corpus. The refusal answered
//   here, HTTP 400 {"error": "Access Denied", "error_description": "You have made too many
//   requests continuously. Please try again after some time.", "status": "failure"}, is what
//   integrators report; the window length is configurable.
// - Error answers of the token endpoint: Zoho's pages show no error table. A refused code or
//   refresh token is answered HTTP 200 with {"error": "invalid_code"} and a wrong client with
//   {"error": "invalid_client"}, as integrators report Zoho doing (an error inside a 200 answer
//   is the strict case for a client: it must read the body, not only the status).
// - The grant code is single use: RFC 6749 §4.1.2 ("The client MUST NOT use the authorization
//   code more than once"); Zoho's page says "exchange" once and documents no reuse.

extension ZohoBooksSimulator {
    /// Generates a grant code for a configured self client, as "Generate Code" in the API
    /// console does: valid for `configuration.grantCodeLifetime`, exchangeable once, at the
    /// accounts server of the client's data centre.
    public func issueGrantCode(clientID: String, scope: String = "ZohoBooks.fullaccess.all", now: Date = Date()) throws -> String {
        guard let client = configuration.selfClients.first(where: { $0.clientID == clientID }) else {
            throw SimulatorError("no self client with client_id \(clientID) is configured")
        }
        let code = "1000." + Self.randomHex(32)
        let expires = now.addingTimeInterval(Self.seconds(configuration.grantCodeLifetime))
        state.withLock {
            $0.grantCodes[code] = GrantCode(clientID: clientID, dataCenter: client.dataCenter, scope: scope, expires: expires)
        }
        return code
    }

    /// Forgets every access token issued (they then get 401), as their expiry would.
    public func expireAccessTokens() {
        state.withLock { $0.accessTokens.removeAll() }
    }

    static func randomHex(_ count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in "0123456789abcdef".randomElement(using: &generator) ?? "0" })
    }

    static func seconds(_ duration: Duration) -> TimeInterval {
        let (seconds, attoseconds) = duration.components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }

    func tokenEndpoint(_ request: Request, dataCenter: String) async -> Response {
        state.withLock { state in
            state.stats.tokenRequests += 1
            state.stats.tokenInFlight += 1
            state.stats.tokenMaxInFlight = max(state.stats.tokenMaxInFlight, state.stats.tokenInFlight)
        }
        defer { state.withLock { $0.stats.tokenInFlight -= 1 } }

        // Zoho documents the parameters in the query; a form body (curl -d) is read as well.
        var parameters = NetSuiteSimulator.parseForm(request.uri.query ?? "") ?? [:]
        var request = request
        if let body = try? await request.collectBody(upTo: 64 << 10),
            let form = NetSuiteSimulator.parseForm(String(decoding: body.readableBytesView, as: UTF8.self))
        {
            parameters.merge(form) { query, _ in query }
        }
        let grantType = parameters["grant_type"] ?? ""
        let clientID = parameters["client_id"] ?? ""
        let now = Date()
        let apiDomain = apiDomain(dataCenter: dataCenter)
        let outcome = state.withLock { state in
            let outcome = Self.exchange(
                parameters, dataCenter: dataCenter, apiDomain: apiDomain, configuration: configuration, state: &state, now: now)
            let error: String? =
                if case .refused(let body, _) = outcome { body["error"]?.stringValue ?? "refused" } else { nil }
            if error != nil { state.stats.tokenRefusals += 1 }
            if state.tokenRequests.count >= 10_000 { state.tokenRequests.removeFirst() }
            state.tokenRequests.append(
                TokenRequest(at: now, dataCenter: dataCenter, grantType: grantType, clientID: clientID, error: error))
            return outcome
        }
        switch outcome {
        case .issued(let body): return Self.json(body)
        case .refused(let body, let status): return Self.json(body, status: status)
        }
    }

    enum TokenOutcome {
        case issued(ExactJSON)
        case refused(ExactJSON, HTTPResponse.Status)
    }

    private static func refusal(_ error: String) -> TokenOutcome {
        .refused(.object([("error", .string(error))]), .ok)
    }

    static func exchange(
        _ parameters: [String: String], dataCenter: String, apiDomain: String, configuration: Configuration, state: inout State, now: Date
    ) -> TokenOutcome {
        let grantType = parameters["grant_type"] ?? ""
        guard grantType == "authorization_code" || grantType == "refresh_token" else { return refusal("unsupported_grant_type") }
        // The client must be registered in this data centre, with this secret.
        guard let clientID = parameters["client_id"], let secret = parameters["client_secret"],
            let client = configuration.selfClients.first(where: { $0.clientID == clientID && $0.dataCenter == dataCenter }),
            client.clientSecret == secret
        else { return refusal("invalid_client") }

        let refreshToken: String
        let scope: String
        if grantType == "authorization_code" {
            guard let code = parameters["code"], let grant = state.grantCodes[code], grant.clientID == clientID,
                grant.dataCenter == dataCenter, grant.expires > now
            else { return refusal("invalid_code") }
            state.grantCodes[code] = nil // single use
            refreshToken = "1000." + randomHex(32) + "." + randomHex(32)
            scope = grant.scope
            state.refreshTokens[refreshToken] = RefreshToken(clientID: clientID, dataCenter: dataCenter, scope: scope, issued: [])
        } else {
            guard let token = parameters["refresh_token"], let stored = state.refreshTokens[token], stored.clientID == clientID,
                stored.dataCenter == dataCenter
            else { return refusal("invalid_code") }
            refreshToken = token
            scope = stored.scope
        }
        let windowStart = now.addingTimeInterval(-seconds(configuration.refreshWindow))
        var issued = state.refreshTokens[refreshToken]?.issued.filter { $0 > windowStart } ?? []
        guard issued.count < configuration.accessTokensPerRefreshWindow else {
            state.refreshTokens[refreshToken]?.issued = issued
            return .refused(
                .object([
                    ("error", .string("Access Denied")),
                    ("error_description", .string("You have made too many requests continuously. Please try again after some time.")),
                    ("status", .string("failure")),
                ]), .badRequest)
        }
        issued.append(now)
        state.refreshTokens[refreshToken]?.issued = issued
        let accessToken = "1000." + randomHex(32) + "." + randomHex(32)
        let lifetime = seconds(configuration.accessTokenLifetime)
        state.accessTokens[accessToken] = AccessToken(dataCenter: dataCenter, expires: now.addingTimeInterval(lifetime))
        var members: [(key: String, value: ExactJSON)] = [("access_token", .string(accessToken))]
        if grantType == "authorization_code" { members.append(("refresh_token", .string(refreshToken))) }
        members += [
            ("scope", .string(scope)),
            ("api_domain", .string(apiDomain)),
            ("token_type", .string("Bearer")),
            ("expires_in", .number(String(Int(lifetime.rounded(.down))))),
        ]
        return .issued(.object(members))
    }
}
