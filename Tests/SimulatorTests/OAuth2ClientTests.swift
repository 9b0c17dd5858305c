import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Synchronization
import Testing

/// A tiny in-memory `AccessTokenStore` for one process (the PostgreSQL one, shared by every
/// worker, is `TokenStore` in Sync). Its clock can be moved forward, so a test sees a token
/// replaced before it expires without waiting for it. Calls are serialized by a lock, the
/// token issued outside it; a test here runs one request at a time.
final class MemoryTokenStore: AccessTokenStore {
    struct State {
        var token: IssuedToken?
        var issued = 0
        var invalidated: [String] = []
        var clockOffset: TimeInterval = 0
    }

    let state = Mutex(State())

    var issued: Int { state.withLock { $0.issued } }
    var invalidated: [String] { state.withLock { $0.invalidated } }
    var current: String? { state.withLock { $0.token?.accessToken } }
    func advanceClock(by seconds: TimeInterval) { state.withLock { $0.clockOffset += seconds } }

    func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String {
        let fresh = state.withLock { state -> String? in
            let now = Date().addingTimeInterval(state.clockOffset)
            guard let token = state.token, token.expiresAt.timeIntervalSince(now) >= Double(minValidity.components.seconds) else {
                return nil
            }
            return token.accessToken
        }
        if let fresh { return fresh }
        let token = try await issue()
        state.withLock { state in
            state.token = token
            state.issued += 1
        }
        return token.accessToken
    }

    func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws {
        state.withLock { state in
            state.invalidated.append(accessToken)
            if state.token?.accessToken == accessToken { state.token = nil }
        }
    }
}

/// A store that always hands out a token the simulator never issued and forgets nothing:
/// the request's retry gets a 401 too.
final class BogusTokenStore: AccessTokenStore {
    let invalidations = Mutex(0)

    func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String { "never-issued" }

    func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws {
        invalidations.withLock { $0 += 1 }
    }
}

/// Issue 13, must-show 1 (d): a `NetSuiteClient` with OAuth 2.0 client credentials against the
/// simulator over real HTTP: bearer requests, a new token before the old one expires, one
/// retry after a 401 invalid_token, a permanent failure after a second.
@Suite("NetSuite OAuth 2.0 client credentials", .timeLimit(.minutes(2)))
struct OAuth2ClientTests {
    static let connection = AccountingConnection(
        provider: "netsuite", name: "oauth2-test", accountID: "1234567_SB1", secrets: SimulatorHarness.credentials.connectionSecrets)

    static func configuration(tokenLifetime: Duration = .seconds(3600)) -> NetSuiteSimulator.Configuration {
        var configuration = NetSuiteSimulator.Configuration(credentials: [SimulatorHarness.credentials])
        configuration.tokenLifetime = tokenLifetime
        configuration.tokenEndpointLatency = .zero
        return configuration
    }

    static func client(
        _ harness: SimulatorHarness, tokens: any AccessTokenStore,
        credentials: NetSuiteM2MCredentials = NetSuiteSimulator.Configuration.demoM2MCredentials
    ) -> NetSuiteClient {
        NetSuiteClient(
            account: harness.account, auth: .oauth2(credentials, connection: connection, tokens: tokens), http: harness.http,
            requestTimeout: .seconds(10))
    }

    static func customer(_ externalID: String) throws -> ExactJSON {
        try ExactJSON.parse(Array(Bodies.customer(externalID).utf8))
    }

    @Test("upserts go with Bearer tokens; a token is reused, replaced before it expires, and retried once after the simulator forgets it")
    func upsertRefreshAndRetry() async throws {
        try await SimulatorHarness.run(Self.configuration(tokenLifetime: .seconds(60))) { harness in
            let tokens = MemoryTokenStore()
            var client = Self.client(harness, tokens: tokens)
            client.tokenMinValidity = .seconds(10)

            let id = try await client.upsert(recordType: "customer", externalID: "cus-oauth-1", body: try Self.customer("cus-oauth-1"))
            #expect(harness.simulator.record(.customer, externalID: "cus-oauth-1")?.internalID == id)
            #expect(harness.simulator.tokenStats.issued == 1)
            #expect(tokens.issued == 1)
            // Counted as a bearer request, not a TBA one.
            #expect(harness.simulator.stats.bearerRequests >= 1 && harness.simulator.stats.tbaRequests == 0)

            // Reused while it has more than tokenMinValidity left.
            _ = try await client.upsert(recordType: "customer", externalID: "cus-oauth-2", body: try Self.customer("cus-oauth-2"))
            #expect(harness.simulator.tokenStats.requests == 1)

            // 55 s later by the store's clock the token has 5 s left (< 10 s): a new one is
            // issued before the simulator would refuse the old.
            let first = tokens.current
            tokens.advanceClock(by: 55)
            _ = try await client.upsert(recordType: "customer", externalID: "cus-oauth-3", body: try Self.customer("cus-oauth-3"))
            #expect(harness.simulator.tokenStats.issued == 2)
            #expect(tokens.current != first)
            #expect(harness.simulator.tokenStats.invalidTokenRefusals == 0)
            // Back to the real clock: the new token is fresh again.
            tokens.advanceClock(by: -55)

            // The simulator forgets its tokens (a revocation): 401 invalid_token, the token is
            // invalidated, a new one issued and the request sent once more.
            let revoked = tokens.current
            harness.simulator.forgetTokens()
            let again = try await client.upsert(recordType: "customer", externalID: "cus-oauth-1", body: try Self.customer("cus-oauth-1"))
            #expect(again == id)
            #expect(tokens.invalidated == [revoked].compactMap { $0 })
            #expect(harness.simulator.tokenStats.invalidTokenRefusals == 1)
            #expect(harness.simulator.tokenStats.issued == 3)
            #expect(harness.simulator.records(.customer).count == 3)
            #expect(harness.simulator.stats.authFailures == 1)
            #expect(harness.simulator.loginAudit.map(\.reason) == [.unknownAccessToken])
        }
    }

    @Test("a token the simulator let expire is refused with 401 invalid_token and replaced; the answer tells the client so")
    func expiredTokenAnswer() async throws {
        try await SimulatorHarness.run(Self.configuration(tokenLifetime: .seconds(1))) { harness in
            let issued = try await NetSuiteM2M.requestToken(
                credentials: NetSuiteSimulator.Configuration.demoM2MCredentials, account: harness.account, http: harness.http)
            #expect(issued.expiresAt.timeIntervalSinceNow <= 1)
            // Wait for the token's lifetime itself (what is tested), polling the simulator's state.
            let deadline = Date().addingTimeInterval(5)
            while harness.simulator.liveTokenCount > 0, Date() < deadline { try await Task.sleep(for: .milliseconds(50)) }
            #expect(harness.simulator.liveTokenCount == 0)
            let response = try await harness.send(
                "GET", harness.url("customer", "eid:nobody"), authorization: "Bearer \(issued.accessToken)")
            #expect(response.status == 401)
            #expect(NetSuiteM2M.saysInvalidToken(response))
            #expect(harness.simulator.loginAudit.last?.reason == .expiredAccessToken)
        }
    }

    @Test("a second 401 is a permanent auth failure, after exactly one retry")
    func secondUnauthorizedIsPermanent() async throws {
        try await SimulatorHarness.run(Self.configuration()) { harness in
            let tokens = BogusTokenStore()
            let client = Self.client(harness, tokens: tokens)
            do {
                _ = try await client.upsert(recordType: "customer", externalID: "cus-x", body: try Self.customer("cus-x"))
                Issue.record("the upsert passed with a token never issued")
            } catch let error as SyncError {
                #expect(error.errorClass == .permanent)
            }
            #expect(tokens.invalidations.withLock { $0 } == 1)
            #expect(harness.simulator.stats.authFailures == 2)
            #expect(harness.simulator.records(.customer).isEmpty)
        }
    }

    @Test("a refused assertion is a permanent error with NetSuite's error code; the token endpoint's JSON counts it")
    func refusedAssertion() async throws {
        try await SimulatorHarness.run(Self.configuration()) { harness in
            let demo = NetSuiteSimulator.Configuration.demoM2MCredentials
            let wrong = NetSuiteM2MCredentials(
                clientID: demo.clientID, certificateID: "no-such-certificate", privateKeyPEM: demo.privateKeyPEM)
            do {
                _ = try await NetSuiteM2M.requestToken(credentials: wrong, account: harness.account, http: harness.http)
                Issue.record("a token was issued for an unknown certificate id")
            } catch let error as SyncError {
                #expect(error.errorClass == .permanent)
                #expect(error.providerCode == "invalid_client")
                #expect(!error.message.contains("PRIVATE KEY"))
            }
            let answer = try await harness.inspect("GET", "/_simulator/token-requests")
            let json = try ExactJSON.parse(answer.body)
            #expect(json["count"]?.numberText == "1")
            #expect(json["refused"]?.numberText == "1")
            #expect(json["maxInFlight"]?.numberText == "1")
            #expect(json["requests"]?.arrayValue?.first?["reason"]?.stringValue == "unknownCertificate")
            #expect(json["requests"]?.arrayValue?.first?["clientId"]?.stringValue == demo.clientID)
        }
    }

    @Test("the token answer's expires_in is read as a string or a number; errors are classified by status")
    func tokenAnswerParsing() throws {
        let sent = Date(timeIntervalSince1970: 1_800_000_000)
        func answer(_ status: Int, _ body: String, headers: [(name: String, value: String)] = []) -> HTTPResponse {
            HTTPResponse(status: status, headers: headers, body: Data(body.utf8))
        }
        let text = try NetSuiteM2M.parseTokenAnswer(
            answer(200, #"{"access_token":"a","expires_in":"3600","token_type":"Bearer"}"#), sentAt: sent)
        #expect(text == IssuedToken(accessToken: "a", expiresAt: sent.addingTimeInterval(3600)))
        let number = try NetSuiteM2M.parseTokenAnswer(
            answer(200, #"{"access_token":"b","expires_in":20,"token_type":"bearer"}"#), sentAt: sent)
        #expect(number.expiresAt == sent.addingTimeInterval(20))
        func failure(_ response: HTTPResponse) -> SyncError? {
            do {
                _ = try NetSuiteM2M.parseTokenAnswer(response, sentAt: sent)
                return nil
            } catch {
                return error as? SyncError
            }
        }
        #expect(failure(answer(200, #"{"access_token":"c"}"#))?.errorClass == .transient)
        #expect(failure(answer(400, #"{"error":"invalid_grant"}"#))?.errorClass == .permanent)
        #expect(failure(answer(400, #"{"error":"invalid_grant"}"#))?.providerCode == "invalid_grant")
        #expect(failure(answer(401, #"{"error":"invalid_client"}"#))?.errorClass == .permanent)
        #expect(failure(answer(503, "Service Unavailable"))?.errorClass == .transient)
        let limited = failure(answer(429, "", headers: [("Retry-After", "7")]))
        #expect(limited?.errorClass == .rateLimited)
        #expect(limited?.retryAfter == .seconds(7))
    }
}
