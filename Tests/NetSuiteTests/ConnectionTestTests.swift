import Foundation
import HTTPClient
import Simulators
import Sync
import Testing

@testable import NetSuite

private let credentials = NetSuiteCredentials(
    consumerKey: "ct-consumer-key", consumerSecret: "ct-consumer-secret", tokenID: "ct-token-id", tokenSecret: "ct-token-secret")

/// Runs the checks of a client for `accountID` and `secrets` against a simulator of account
/// 1234567_SB1 (`configure` changes it), and returns the outcomes by name and the details.
private func checks(
    accountID: String = "1234567_SB1", secrets: NetSuiteCredentials = credentials, concurrencyLimit: Int = 3,
    configure: (inout NetSuiteSimulator.Configuration) -> Void = { _ in }
) async throws -> [ConnectionCheck] {
    var configuration = NetSuiteSimulator.Configuration(accountID: "1234567_SB1", credentials: [credentials], concurrencyLimit: 5)
    configure(&configuration)
    let simulator = NetSuiteSimulator(configuration: configuration)
    _ = try await simulator.start()
    let http = HTTPClient(allowPrivateNetworks: true)
    defer { http.shutdown() }
    let client = NetSuiteClient(
        account: try NetSuiteAccount(accountID: accountID, baseURLOverride: simulator.baseURL), credentials: secrets, http: http,
        requestTimeout: .seconds(10))
    let result = await NetSuiteConnectionTest.run(client: client, concurrencyLimit: concurrencyLimit)
    await simulator.stop()
    return result
}

private func outcomes(_ checks: [ConnectionCheck]) -> [String] {
    checks.map { "\($0.name):\($0.outcome.rawValue)" }
}

@Suite("NetSuite connection checks", .timeLimit(.minutes(2)))
struct ConnectionTestTests {
    @Test func allPassAgainstTheSimulator() async throws {
        let result = try await checks()
        #expect(outcomes(result) == ["reachability:passed", "account_id:passed", "credentials:passed", "concurrency_limit:passed"])
        // The account's 5, nothing allocated to anyone: all of it is unallocated.
        #expect(result[3].detail.contains("NetSuite allows 5"))
        #expect(result[3].detail.contains("settings.concurrency_limit is 3"))
    }

    @Test func aWrongTokenSecretFailsTheCredentials() async throws {
        var wrong = credentials
        wrong.tokenSecret = "not-the-token-secret-9f2c"
        let result = try await checks(secrets: wrong)
        #expect(outcomes(result) == ["reachability:passed", "account_id:passed", "credentials:failed", "concurrency_limit:skipped"])
        // NetSuite's own words, and what to check; never the secret.
        #expect(result[2].detail.contains("INVALID_LOGIN"))
        #expect(result[2].detail.contains("token id and secret"))
        for check in result {
            #expect(!check.detail.contains("not-the-token-secret"))
            #expect(!check.detail.contains("ct-consumer-secret"))
        }
    }

    @Test func aWrongAccountIDFailsTheAccountCheck() async throws {
        let result = try await checks(accountID: "7654321")
        #expect(outcomes(result) == ["reachability:passed", "account_id:failed", "credentials:skipped", "concurrency_limit:skipped"])
        #expect(result[1].detail.contains("1234567_SB1"))
        #expect(result[1].detail.contains("account_id is 7654321"))
    }

    @Test func anUnreachableHostIsNamed() async throws {
        // A port nothing listens on: the simulator's, after it stopped.
        let simulator = NetSuiteSimulator(configuration: .init(credentials: [credentials]))
        _ = try await simulator.start()
        let baseURL = simulator.baseURL
        await simulator.stop()
        let http = HTTPClient(allowPrivateNetworks: true)
        defer { http.shutdown() }
        let client = NetSuiteClient(
            account: try NetSuiteAccount(accountID: "1234567_SB1", baseURLOverride: baseURL), credentials: credentials, http: http,
            requestTimeout: .seconds(10))
        let result = await NetSuiteConnectionTest.run(client: client, concurrencyLimit: 1)
        #expect(outcomes(result) == ["reachability:failed", "account_id:skipped", "credentials:skipped", "concurrency_limit:skipped"])
        let host = String(baseURL.dropFirst("http://".count))
        #expect(result[0].detail.contains("cannot reach \(host)"))
    }

    @Test func aLimitAboveWhatNetSuiteAllowsFails() async throws {
        // 2 allocated to this integration out of the account's 5.
        let result = try await checks(concurrencyLimit: 4) { $0.governance = .init(integrationConcurrencyLimit: 2) }
        #expect(outcomes(result).last == "concurrency_limit:failed")
        #expect(result[3].detail.contains("settings.concurrency_limit is 4, but NetSuite allows 2 (allocated to this integration)"))

        // No limit of its own: the unallocated rest (5 − 3 allocated to others) is what it may use.
        let shared = try await checks(concurrencyLimit: 3) { $0.governance = .init(allocatedToOtherIntegrations: 3) }
        #expect(outcomes(shared).last == "concurrency_limit:failed")
        #expect(shared[3].detail.contains("NetSuite allows 2 (the account's unallocated limit"))
    }

    @Test func aRoleThatMayNotReadTheLimitsSkipsTheCheck() async throws {
        let result = try await checks { $0.governance = .init(roleIsAdministrator: false) }
        #expect(outcomes(result) == ["reachability:passed", "account_id:passed", "credentials:passed", "concurrency_limit:skipped"])
        #expect(result[3].detail.contains("administrator"))
    }

    /// The driver's checks of an OAuth 2.0 connection with the demo mapping's client id,
    /// `certificateID` and `privateKeyPEM`, against a simulator of account 1234567_SB1.
    private func oauth2Checks(
        accountID: String = "1234567_SB1", certificateID: String = NetSuiteSimulator.Configuration.demoM2MCertificateID,
        privateKeyPEM: String = NetSuiteSimulator.Configuration.demoM2MPrivateKeyPEM
    ) async throws -> (checks: [ConnectionCheck], tokenRequests: Int) {
        let simulator = NetSuiteSimulator(configuration: .init(accountID: "1234567_SB1", credentials: [credentials]))
        _ = try await simulator.start()
        let http = HTTPClient(allowPrivateNetworks: true)
        defer { http.shutdown() }
        var secrets = ConnectionSecrets()
        secrets["client_id"] = NetSuiteSimulator.Configuration.demoM2MClientID
        secrets["certificate_id"] = certificateID
        secrets["private_key"] = privateKeyPEM
        let connection = AccountingConnection(
            provider: "netsuite", name: "m2m", accountID: accountID,
            settings: .init(defaultSubsidiary: "1", objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: 2), secrets: secrets)
        let result = await NetSuiteDriver().test(connection, context: ProviderContext(http: http, requestTimeout: .seconds(10)))
        let requests = simulator.tokenStats.requests
        await simulator.stop()
        return (result, requests)
    }

    @Test func anOAuth2ConnectionPassesWithOneToken() async throws {
        let (result, tokenRequests) = try await oauth2Checks()
        #expect(outcomes(result) == ["reachability:passed", "account_id:passed", "credentials:passed", "concurrency_limit:passed"])
        #expect(result[2].detail.contains("OAuth 2.0 access token"))
        #expect(tokenRequests == 1, "the token of the credentials check serves the later requests")
    }

    @Test func aRefusedTokenRequestFailsTheCredentialsNotTheAccount() async throws {
        let (result, _) = try await oauth2Checks(certificateID: "not-the-mapping-certificate")
        #expect(outcomes(result) == ["reachability:passed", "account_id:passed", "credentials:failed", "concurrency_limit:skipped"])
        #expect(result[2].detail.contains("invalid_client"), "\(result[2].detail)")
        #expect(result[2].detail.contains("certificate_id") && result[2].detail.contains("private_key"))
        #expect(!result[2].detail.contains("BEGIN PRIVATE KEY"))
    }

    @Test func anOAuth2ConnectionToAnotherAccountFailsBeforeAnyToken() async throws {
        let (result, tokenRequests) = try await oauth2Checks(accountID: "7654321")
        #expect(outcomes(result) == ["reachability:passed", "account_id:failed", "credentials:skipped", "concurrency_limit:skipped"])
        #expect(result[1].detail.contains("account_id is 7654321"))
        #expect(tokenRequests == 0)
    }

    @Test func hostsAndRealmsAreRead() {
        #expect(NetSuiteConnectionTest.namedAccount("1234567-sb1.suitetalk.api.netsuite.com") == "1234567-sb1")
        #expect(NetSuiteConnectionTest.namedAccount("127.0.0.1:8089") == nil)
        #expect(NetSuiteConnectionTest.canonical("1234567-sb1") == "1234567_SB1")
        #expect(NetSuiteConnectionTest.realm(in: #"Bearer realm="123456", error="invalid_token""#) == "123456")
        #expect(NetSuiteConnectionTest.realm(in: #"OAuth realm="bad realm""#) == nil)
        #expect(NetSuiteConnectionTest.realm(in: nil) == nil)
    }
}
