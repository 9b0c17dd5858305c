import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

@Suite("NetSuiteSimulator authentication", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorAuthenticationTests {
    static let invalidLoginBody =
        #"{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2","title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.","o:errorCode":"INVALID_LOGIN"}]}"#

    /// Sends a customer upsert with `authorization` and checks the generic 401 and the audit reason.
    func expectRejected(
        _ sim: SimulatorHarness, _ authorization: String?, url: String? = nil, reason: NetSuiteSimulator.LoginFailure,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let before = sim.simulator.loginAudit.count
        let target = url ?? sim.url("customer", "eid:cus_1")
        let response = try await sim.send("PUT", target, json: Bodies.customer("cus_1"), authorization: authorization ?? "")
        #expect(response.status == 401, sourceLocation: sourceLocation)
        #expect(response.text == Self.invalidLoginBody, sourceLocation: sourceLocation)
        #expect(response.errorClass == .permanent, sourceLocation: sourceLocation)
        let audit = sim.simulator.loginAudit
        #expect(audit.count == before + 1, sourceLocation: sourceLocation)
        #expect(audit.last?.reason == reason, sourceLocation: sourceLocation)
        #expect(audit.last?.method == "PUT", sourceLocation: sourceLocation)
        #expect(sim.simulator.records(.customer).isEmpty, sourceLocation: sourceLocation)
    }

    func header(
        _ sim: SimulatorHarness, url: String, credentials: NetSuiteCredentials = SimulatorHarness.credentials,
        realm: String? = nil, timestamp: Int = TBASigner.currentTimestamp(), nonce: String = TBASigner.makeNonce()
    ) throws -> String {
        try TBASigner.authorizationHeader(
            method: "PUT", url: url, credentials: credentials, realm: realm ?? sim.account.realm, timestamp: timestamp, nonce: nonce)
    }

    @Test("a request signed with the wrong secret is a bad signature")
    func badSignature() async throws {
        try await SimulatorHarness.run { sim in
            var wrong = SimulatorHarness.credentials
            wrong.tokenSecret = "not-the-secret"
            let url = sim.url("customer", "eid:cus_1")
            try await expectRejected(sim, try header(sim, url: url, credentials: wrong), reason: .badSignature)
            // Signed for another URL.
            try await expectRejected(sim, try header(sim, url: sim.url("customer", "eid:cus_2")), url: url, reason: .badSignature)
            #expect(sim.simulator.stats.authFailures == 2)
        }
    }

    @Test("a timestamp more than 5 minutes off is stale, either way")
    func staleTimestamp() async throws {
        try await SimulatorHarness.run { sim in
            let url = sim.url("customer", "eid:cus_1")
            try await expectRejected(sim, try header(sim, url: url, timestamp: TBASigner.currentTimestamp() - 301), reason: .staleTimestamp)
            try await expectRejected(sim, try header(sim, url: url, timestamp: TBASigner.currentTimestamp() + 400), reason: .staleTimestamp)
            // Within the tolerance is fine.
            let fine = try await sim.send(
                "PUT", url, json: Bodies.customer("cus_1"),
                authorization: try header(sim, url: url, timestamp: TBASigner.currentTimestamp() - 200))
            #expect(fine.status == 204)
        }
    }

    @Test("a nonce is accepted once; a forged request does not use it up")
    func reusedNonce() async throws {
        try await SimulatorHarness.run { sim in
            let url = sim.url("customer", "eid:cus_1")
            let nonce = TBASigner.makeNonce()
            var wrong = SimulatorHarness.credentials
            wrong.consumerSecret = "forged"
            try await expectRejected(sim, try header(sim, url: url, credentials: wrong, nonce: nonce), reason: .badSignature)

            let signed = try header(sim, url: url, nonce: nonce)
            let first = try await sim.send("PUT", url, json: Bodies.customer("cus_1"), authorization: signed)
            #expect(first.status == 204)
            let before = sim.simulator.loginAudit.count
            let replay = try await sim.send("PUT", url, json: Bodies.customer("cus_1"), authorization: signed)
            #expect(replay.status == 401)
            #expect(sim.simulator.loginAudit.count == before + 1)
            #expect(sim.simulator.loginAudit.last?.reason == .reusedNonce)
            #expect(sim.simulator.record(.customer, externalID: "cus_1")?.writeCount == 1)
        }
    }

    @Test("an unknown consumer key or token, a wrong realm, HMAC-SHA1 or no OAuth header are refused")
    func otherFailures() async throws {
        try await SimulatorHarness.run { sim in
            let url = sim.url("customer", "eid:cus_1")
            var unknownToken = SimulatorHarness.credentials
            unknownToken.tokenID = "someone-elses-token"
            try await expectRejected(sim, try header(sim, url: url, credentials: unknownToken), reason: .unknownToken)

            try await expectRejected(sim, try header(sim, url: url, realm: "7654321"), reason: .badRealm)

            let sha1 = try header(sim, url: url).replacingOccurrences(of: "HMAC-SHA256", with: "HMAC-SHA1")
            try await expectRejected(sim, sha1, reason: .unsupportedMethod)

            try await expectRejected(sim, nil, reason: .malformed)
            // A bearer token is OAuth 2.0 (TokenEndpoint.swift): one the simulator never issued.
            try await expectRejected(sim, "Bearer abc", reason: .unknownAccessToken)
            let withoutNonce = try header(sim, url: url).replacingOccurrences(of: "oauth_nonce=", with: "oauth_nonsense=")
            try await expectRejected(sim, withoutNonce, reason: .malformed)
        }
    }

    @Test("query parameters are part of what is signed, as the signer does it")
    func signedQuery() async throws {
        try await SimulatorHarness.run { sim in
            _ = try await sim.createCustomer("cus_1")
            let response = try await sim.send("GET", sim.url("customer", "eid:cus_1") + "?expandSubResources=true&fields=a%20b")
            #expect(response.status == 200)
            #expect(sim.simulator.loginAudit.isEmpty)
        }
    }

    @Test("any of several configured token sets is accepted")
    func severalTokenSets() async throws {
        let second = NetSuiteCredentials(consumerKey: "ck2", consumerSecret: "cs2", tokenID: "t2", tokenSecret: "ts2")
        try await SimulatorHarness.run(.init(credentials: [SimulatorHarness.credentials, second])) { sim async throws in
            let url = sim.url("customer", "eid:cus_1")
            #expect(try await sim.send("PUT", url, json: Bodies.customer("cus_1"), credentials: second).status == 204)
            #expect(try await sim.send("PUT", url, json: Bodies.customer("cus_1")).status == 204)
        }
    }
}
