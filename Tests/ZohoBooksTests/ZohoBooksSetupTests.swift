import Foundation
import HTTPClient
import Simulators
import SyncTesting
import Testing
import ZohoBooks

@testable import Sync

/// `ZohoBooksDriver.prepare` (the grant code's exchange at `connections add`) and
/// `ZohoBooksDriver.test` (`connections test`) against the Zoho Books simulator over real HTTP.
@Suite(.timeLimit(.minutes(2)))
struct ZohoBooksSetupTests {
    static let client = ZohoBooksSimulator.SelfClient.demo
    static let organization = ZohoBooksSimulator.Organization.demo.id

    static func with<T: Sendable>(
        _ configuration: ZohoBooksSimulator.Configuration = .init(), _ body: (ZohoBooksSimulator, ProviderContext) async throws -> T
    ) async throws -> T {
        let simulator = ZohoBooksSimulator(configuration: configuration)
        _ = try await simulator.start()
        let http = HTTPClient(allowPrivateNetworks: true)
        defer { http.shutdown() }
        do {
            let result = try await body(simulator, ProviderContext(http: http, requestTimeout: .seconds(10)))
            await simulator.stop()
            return result
        } catch {
            await simulator.stop()
            throw error
        }
    }

    /// A connection as `connections add` hands it to `prepare`: the client's id and secret
    /// and, unless nil, a grant code.
    static func connection(
        baseURL: String, dataCenter: String = "com", accountID: String = organization, grantCode: String?,
        refreshToken: String? = nil, objects: [String] = []
    ) -> AccountingConnection {
        var secrets = ConnectionSecrets(["client_id": client.clientID, "client_secret": client.clientSecret])
        secrets["grant_code"] = grantCode
        secrets["refresh_token"] = refreshToken
        return AccountingConnection(
            provider: "zoho_books", name: "Zoho test", accountID: accountID,
            settings: .init(objectsToSync: objects, baseURL: baseURL, extra: ["data_center": dataCenter]), secrets: secrets)
    }

    static func prepareError(_ connection: AccountingConnection, _ context: ProviderContext) async -> StoreError? {
        do {
            _ = try await ZohoBooksDriver().prepare(connection, context: context)
            return nil
        } catch let error as StoreError {
            return error
        } catch {
            Issue.record("not a StoreError: \(error)")
            return nil
        }
    }

    /// No error text carries a secret or the code.
    static func expectNoSecrets(_ text: String, code: String, sourceLocation: SourceLocation = #_sourceLocation) {
        for secret in [client.clientSecret, code] where !secret.isEmpty {
            #expect(!text.contains(secret), "a secret in: \(text)", sourceLocation: sourceLocation)
        }
    }

    @Test("a grant code is exchanged: the refresh token and api_domain kept, the code dropped and spent")
    func exchange() async throws {
        try await Self.with { simulator, context in
            let code = try simulator.issueGrantCode(clientID: Self.client.clientID)
            let prepared = try await ZohoBooksDriver().prepare(
                Self.connection(baseURL: simulator.baseURL, grantCode: code), context: context)
            #expect(prepared.secrets["grant_code"] == nil)
            #expect(prepared.secrets["refresh_token"]?.isEmpty == false)
            #expect(prepared.secrets["client_id"] == Self.client.clientID)
            #expect(prepared.secrets["client_secret"] == Self.client.clientSecret)
            #expect(Set(prepared.secrets.fields.keys) == ["client_id", "client_secret", "refresh_token"])
            #expect(prepared.settings.extra["api_domain"] == simulator.apiDomain())
            // What the driver keeps passes its own checks (the CLI validates again).
            try ZohoBooksDriver().validateSettings(prepared.settings)
            try ZohoBooksDriver().validateSecrets(prepared.secrets)
            #expect(simulator.tokenRequests.map(\.grantType) == ["authorization_code"])
            #expect(simulator.tokenRequests.allSatisfy { $0.error == nil })

            // The code works once: the same code again is refused, naming the grant code.
            let again = await Self.prepareError(Self.connection(baseURL: simulator.baseURL, grantCode: code), context)
            #expect(again?.field == "secrets.grant_code")
            #expect(again?.message.contains("generate a new code") == true, "\(String(describing: again))")
            Self.expectNoSecrets(again?.description ?? "", code: code)
        }
    }

    @Test("a connection without a grant code (a refresh token obtained elsewhere) is left as it is, nothing asked")
    func withoutGrantCode() async throws {
        try await Self.with { simulator, context in
            let connection = Self.connection(baseURL: simulator.baseURL, grantCode: nil, refreshToken: "1000.given")
            let prepared = try await ZohoBooksDriver().prepare(connection, context: context)
            #expect(prepared == connection)
            #expect(simulator.tokenRequests.isEmpty)
        }
    }

    @Test("a bad grant code: secrets.grant_code, saying to generate a new one; the code never echoed")
    func badGrantCode() async throws {
        try await Self.with { simulator, context in
            let code = "1000.0123456789abcdef0123456789abcdef"
            let error = await Self.prepareError(Self.connection(baseURL: simulator.baseURL, grantCode: code), context)
            #expect(error?.field == "secrets.grant_code")
            #expect(error?.message.contains("invalid_code") == true, "\(String(describing: error))")
            #expect(error?.message.contains("works once") == true, "\(String(describing: error))")
            Self.expectNoSecrets(error?.description ?? "", code: code)
        }
    }

    @Test("a wrong data centre: settings.data_center, listing the data centres; the code is not spent")
    func wrongDataCenter() async throws {
        try await Self.with { simulator, context in
            // The client is registered in com; its code taken to eu's accounts server.
            let code = try simulator.issueGrantCode(clientID: Self.client.clientID)
            let error = await Self.prepareError(
                Self.connection(baseURL: simulator.accountsURL(dataCenter: "eu"), dataCenter: "eu", grantCode: code), context)
            #expect(error?.field == "settings.data_center")
            #expect(error?.message.contains("invalid_client") == true, "\(String(describing: error))")
            for dataCenter in ["com: accounts.zoho.com", "eu: accounts.zoho.eu", "ca: accounts.zohocloud.ca"] {
                #expect(error?.message.contains(dataCenter) == true, "\(String(describing: error))")
            }
            Self.expectNoSecrets(error?.description ?? "", code: code)
            // Refused before the code was looked at: it still works at the right data centre.
            let prepared = try await ZohoBooksDriver().prepare(
                Self.connection(baseURL: simulator.baseURL, grantCode: code), context: context)
            #expect(prepared.secrets["refresh_token"] != nil)
        }
    }

    @Test("an organization the token does not see: account_id, naming it and saying the code is spent")
    func unknownOrganization() async throws {
        try await Self.with { simulator, context in
            let code = try simulator.issueGrantCode(clientID: Self.client.clientID)
            let error = await Self.prepareError(
                Self.connection(baseURL: simulator.baseURL, accountID: "99999999", grantCode: code), context)
            #expect(error?.field == "account_id")
            #expect(error?.message.contains("99999999") == true, "\(String(describing: error))")
            #expect(error?.message.contains("generate a new one") == true, "\(String(describing: error))")
            // GET /organizations answers: the error lists the ones the token sees.
            #expect(error?.message.contains("the organizations it sees: \(Self.organization)") == true, "\(String(describing: error))")
            Self.expectNoSecrets(error?.description ?? "", code: code)
        }
    }

    @Test("an accounts server that does not answer: named, with the field to check")
    func unreachable() async throws {
        let closed = try await Self.with { simulator, _ in simulator.baseURL }
        try await Self.with { _, context in
            let error = await Self.prepareError(Self.connection(baseURL: closed, grantCode: "1000.abc"), context)
            #expect(error?.field == "settings.base_url")
            #expect(error?.message.contains("cannot reach \(closed.dropFirst("http://".count))") == true, "\(String(describing: error))")
        }
    }

    // MARK: - connections test

    static func added(_ simulator: ZohoBooksSimulator, _ context: ProviderContext, objects: [String]) async throws
        -> AccountingConnection
    {
        let code = try simulator.issueGrantCode(clientID: client.clientID)
        var connection = try await ZohoBooksDriver().prepare(
            connection(baseURL: simulator.baseURL, grantCode: code, objects: objects), context: context)
        connection.id = UUID()
        connection.updatedAt = Date()
        return connection
    }

    /// The checks' names and outcomes are `expected` (`"credentials passed"`), in order.
    static func expectOutcomes(
        _ checks: [ConnectionCheck], _ expected: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let found: [String] = checks.map { "\($0.name) \($0.outcome.rawValue)" }
        #expect(found == expected, "\(checks)", sourceLocation: sourceLocation)
    }

    @Test("every check passes; the unique field is probed on each module synced without writing anything")
    func allPass() async throws {
        try await Self.with { simulator, context in
            let connection = try await Self.added(simulator, context, objects: [])
            let tokens = InMemoryTokenStore()
            var shared = context
            shared.tokens = tokens
            let checks = await ZohoBooksDriver().test(connection, context: shared)
            Self.expectOutcomes(
                checks,
                [
                    "reachability passed", "credentials passed", "organization passed", "unique_field passed", "limits passed",
                ])
            let unique = checks.first { $0.name == "unique_field" }?.detail ?? ""
            #expect(
                unique.contains("cf_ledgersync_id") && unique.contains("contacts, invoices, salesorders, creditnotes, customerpayments"),
                "\(unique)")
            #expect(checks.last?.detail.contains("100/61s and 1000/1d") == true, "\(checks)")
            #expect(simulator.stats.writes == 0)
            for module in ["contacts", "invoices", "salesorders", "creditnotes", "customerpayments"] {
                #expect(simulator.records(module).isEmpty)
            }

            // With the shared store, a second run spends no access token of the refresh token.
            let refreshes = simulator.tokenRequests.filter { $0.grantType == "refresh_token" }.count
            #expect(refreshes == 1)
            let again = await ZohoBooksDriver().test(connection, context: shared)
            #expect(again.allSatisfy { $0.outcome == .passed }, "\(again)")
            #expect(simulator.tokenRequests.filter { $0.grantType == "refresh_token" }.count == refreshes)
            #expect(await tokens.issued == 1)
        }
    }

    @Test("a module whose custom field is missing fails unique_field, naming the module and where to add the field")
    func missingUniqueField() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.uniqueCustomFields = ["contacts": ["cf_ledgersync_id"], "creditnotes": ["cf_ledgersync_id"]]
        try await Self.with(configuration) { simulator, context in
            let connection = try await Self.added(simulator, context, objects: ["customer", "invoice", "credit_memo"])
            let checks = await ZohoBooksDriver().test(connection, context: context)
            Self.expectOutcomes(
                checks,
                [
                    "reachability passed", "credentials passed", "organization passed", "unique_field failed", "limits passed",
                ])
            let detail = checks.first { $0.name == "unique_field" }?.detail ?? ""
            #expect(detail.hasPrefix("invoices: "), "\(detail)")
            #expect(detail.contains("Settings → Invoices → Fields → New Custom Field"), "\(detail)")
            #expect(detail.contains("is a unique key on contacts, creditnotes"), "\(detail)")
            #expect(!detail.contains("contacts: "), "\(detail)")
            #expect(simulator.stats.writes == 0)
            #expect(simulator.records("invoices").isEmpty)
        }
    }

    @Test("a refused refresh token fails credentials with Zoho's code and how to rotate; the checks after it are skipped")
    func refusedRefreshToken() async throws {
        try await Self.with { simulator, context in
            var connection = try await Self.added(simulator, context, objects: [])
            connection.secrets["refresh_token"] = "1000.revoked.revoked"
            let checks = await ZohoBooksDriver().test(connection, context: context)
            Self.expectOutcomes(
                checks,
                [
                    "reachability passed", "credentials failed", "organization skipped", "unique_field skipped", "limits passed",
                ])
            let detail = checks[1].detail
            #expect(detail.contains("invalid_code") && detail.contains("--rotate-secrets --grant-code"), "\(detail)")
            #expect(!checks.map(\.detail).joined().contains("1000.revoked.revoked"))
        }
    }

    @Test("an organization the token does not see fails organization")
    func wrongOrganization() async throws {
        try await Self.with { simulator, context in
            var connection = try await Self.added(simulator, context, objects: [])
            connection.accountID = "99999999"
            let checks = await ZohoBooksDriver().test(connection, context: context)
            Self.expectOutcomes(
                checks,
                [
                    "reachability passed", "credentials passed", "organization failed", "unique_field skipped", "limits passed",
                ])
            #expect(checks[2].detail.contains("99999999") && checks[2].detail.contains(Self.organization), "\(checks)")
        }
    }
}
