import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator accounts server", .timeLimit(.minutes(2)))
struct ZohoBooksAccountsTests {
    typealias H = ZohoBooksHarness

    @Test("a grant code is exchanged once for an access and a refresh token; the refresh gives access tokens only")
    func exchangeAndRefresh() async throws {
        try await H.run { sim in
            let code = try sim.simulator.issueGrantCode(clientID: H.client.clientID)
            let parameters = [
                ("code", code), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                ("grant_type", "authorization_code"),
            ]
            let answer = try await sim.token(parameters)
            #expect(answer.status == 200)
            let json = try #require(answer.exactJSON)
            let access = try #require(json["access_token"]?.stringValue)
            let refresh = try #require(json["refresh_token"]?.stringValue)
            #expect(json["expires_in"] == .number("3600"))
            #expect(json["token_type"] == .string("Bearer"))
            #expect(json["api_domain"] == .string(sim.simulator.apiDomain()))
            #expect(try await sim.api("GET", "/contacts", token: access).status == 200)

            // Single use.
            let again = try await sim.token(parameters)
            #expect(again.exactJSON?["error"] == .string("invalid_code"))
            #expect(again.exactJSON?["access_token"] == nil)

            let refreshed = try await sim.token([
                ("refresh_token", refresh), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                ("grant_type", "refresh_token"),
            ])
            let newAccess = try #require(refreshed.exactJSON?["access_token"]?.stringValue)
            #expect(refreshed.exactJSON?["refresh_token"] == nil)
            #expect(newAccess != access)
            #expect(try await sim.api("GET", "/contacts", token: newAccess).status == 200)

            let unknown = try await sim.token([
                ("refresh_token", "1000.nope"), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                ("grant_type", "refresh_token"),
            ])
            #expect(unknown.exactJSON?["error"] == .string("invalid_code"))
        }
    }

    @Test("an expired grant code, a wrong secret, an unknown client and a wrong grant type are refused")
    func refusals() async throws {
        try await H.run { sim in
            let expired = try sim.simulator.issueGrantCode(clientID: H.client.clientID, now: Date().addingTimeInterval(-181))
            let base = [("client_id", H.client.clientID), ("client_secret", H.client.clientSecret)]
            #expect(
                try await sim.token(base + [("code", expired), ("grant_type", "authorization_code")]).exactJSON?["error"]
                    == .string("invalid_code"))
            let code = try sim.simulator.issueGrantCode(clientID: H.client.clientID)
            #expect(
                try await sim.token([
                    ("client_id", H.client.clientID), ("client_secret", "wrong"), ("code", code), ("grant_type", "authorization_code"),
                ]).exactJSON?["error"] == .string("invalid_client"))
            #expect(
                try await sim.token([
                    ("client_id", "1000.OTHER"), ("client_secret", H.client.clientSecret), ("code", code),
                    ("grant_type", "authorization_code"),
                ]).exactJSON?["error"] == .string("invalid_client"))
            #expect(
                try await sim.token(base + [("code", code), ("grant_type", "password")]).exactJSON?["error"]
                    == .string("unsupported_grant_type"))
            // The refusals did not use the code up.
            #expect(
                try await sim.token(base + [("code", code), ("grant_type", "authorization_code")]).exactJSON?["access_token"] != nil)
            #expect(throws: (any Error).self) { try sim.simulator.issueGrantCode(clientID: "1000.UNKNOWN") }

            let requests = sim.simulator.tokenRequests
            #expect(requests.count == 5)
            #expect(requests.filter { $0.error == nil }.count == 1)
            #expect(sim.simulator.stats.tokenRefusals == 4)
        }
    }

    @Test("at most N access tokens per refresh token per window, then again once the window has passed")
    func refreshLimit() async throws {
        // A window long enough for four local requests on a loaded machine (1 s was not: CI
        // runs the suites side by side on 2 cores).
        let configuration = ZohoBooksSimulator.Configuration(accessTokensPerRefreshWindow: 3, refreshWindow: .seconds(8))
        try await H.run(configuration) { sim in
            // Taken before the exchange: its token is the window's first.
            let start = Date()
            let (_, refresh) = try await sim.exchange()
            let parameters = [
                ("refresh_token", refresh), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                ("grant_type", "refresh_token"),
            ]
            for _ in 0..<2 { #expect(try await sim.token(parameters).exactJSON?["access_token"] != nil) }
            let refused = try await sim.token(parameters)
            #expect(refused.status == 400)
            #expect(refused.exactJSON?["error"] == .string("Access Denied"))
            #expect(refused.exactJSON?["access_token"] == nil)
            // The window is a time, so the test waits for the time to pass; each try is refused
            // until then.
            var issued: Date?
            while issued == nil, Date().timeIntervalSince(start) < 20 {
                try await Task.sleep(for: .milliseconds(200))
                if try await sim.token(parameters).exactJSON?["access_token"] != nil { issued = Date() }
            }
            let when = try #require(issued)
            #expect(when.timeIntervalSince(start) >= 7.99)
        }
    }

    @Test("an access token stops working when its lifetime is over")
    func expiry() async throws {
        // Long enough for the first call to come before the end on a loaded machine.
        try await H.run(.init(accessTokenLifetime: .seconds(6))) { sim in
            let start = Date()
            let (access, _) = try await sim.exchange()
            #expect(try await sim.api("GET", "/contacts", token: access).status == 200)
            var refusedAt: Date?
            while refusedAt == nil, Date().timeIntervalSince(start) < 20 {
                try await Task.sleep(for: .milliseconds(200))
                let answer = try await sim.api("GET", "/contacts", token: access)
                if answer.status == 401 {
                    refusedAt = Date()
                    #expect(answer.exactJSON?["code"] != .number("0"))
                }
            }
            #expect(try #require(refusedAt).timeIntervalSince(start) >= 5.99)
        }
    }

    @Test("each data centre knows only its own clients, organizations and tokens")
    func dataCentres() async throws {
        let eu = ZohoBooksSimulator.SelfClient(clientID: "1000.EUCLIENT", clientSecret: "eu-secret", dataCenter: "eu")
        let configuration = ZohoBooksSimulator.Configuration(
            selfClients: [H.client, eu], organizations: [.demo, .init(id: "20000001", dataCenter: "eu")])
        try await H.run(configuration) { sim in
            let (comToken, _) = try await sim.exchange()
            let (euToken, _) = try await sim.exchange(client: eu)
            #expect(sim.simulator.apiDomain(dataCenter: "eu").hasSuffix("/dc/eu"))
            // A token of one data centre is refused by the other's API.
            #expect(try await sim.api("GET", "/contacts", token: comToken, organizationID: "20000001", dataCenter: "eu").status == 401)
            #expect(try await sim.api("GET", "/contacts", token: euToken).status == 401)
            #expect(try await sim.api("GET", "/contacts", token: euToken, organizationID: "20000001", dataCenter: "eu").status == 200)
            // An organization of another data centre is unknown here.
            #expect(try await sim.api("GET", "/contacts", token: euToken, organizationID: H.organization, dataCenter: "eu").status == 400)
            // The com client's code exchanged at the eu accounts server: the client is unknown there.
            let code = try sim.simulator.issueGrantCode(clientID: H.client.clientID)
            let answer = try await sim.token(
                [
                    ("code", code), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                    ("grant_type", "authorization_code"),
                ], dataCenter: "eu")
            #expect(answer.exactJSON?["error"] == .string("invalid_client"))
        }
    }
}
