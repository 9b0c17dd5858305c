import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import SyncTesting
import ZohoBooks

/// A running Zoho Books simulator, a real HTTP client (libcurl) and a refresh token of the
/// simulator's demo self client, obtained by exchanging a grant code as `connections add` does.
struct ZohoTestBed: Sendable {
    static let connectionID = UUID(uuidString: "2b7f0d64-5c1e-4a9b-8f3d-6e0a1c9b7d21")!
    static let selfClient = ZohoBooksSimulator.SelfClient.demo
    static let organization = ZohoBooksSimulator.Organization.demo.id

    let simulator: ZohoBooksSimulator
    let http: HTTPClient
    let refreshToken: String

    static func run<T: Sendable>(
        _ configuration: ZohoBooksSimulator.Configuration = .init(), _ body: (ZohoTestBed) async throws -> T
    ) async throws -> T {
        let simulator = ZohoBooksSimulator(configuration: configuration)
        _ = try await simulator.start()
        let http = HTTPClient()
        defer { http.shutdown() }
        do {
            let code = try simulator.issueGrantCode(clientID: selfClient.clientID)
            let answer = try await ZohoAccounts.exchange(
                grantCode: code, clientID: selfClient.clientID, clientSecret: selfClient.clientSecret,
                accountsURL: simulator.accountsURL(), http: http)
            guard let refresh = answer.refreshToken else { throw TestBedError("the grant code exchange answered no refresh token") }
            let result = try await body(ZohoTestBed(simulator: simulator, http: http, refreshToken: refresh))
            await simulator.stop()
            return result
        } catch {
            await simulator.stop()
            throw error
        }
    }

    /// The connection to the simulator's demo organization (`secrets` replace the good ones).
    func connection(secrets: ConnectionSecrets? = nil, extra: [String: String] = [:]) -> AccountingConnection {
        AccountingConnection(
            provider: "zoho_books", name: "zoho test", accountID: Self.organization,
            settings: .init(baseURL: simulator.baseURL, concurrencyLimit: 5, extra: extra),
            secrets: secrets
                ?? ConnectionSecrets([
                    "client_id": Self.selfClient.clientID, "client_secret": Self.selfClient.clientSecret, "refresh_token": refreshToken,
                ]))
    }

    func context(tokens: any AccessTokenStore, requestTimeout: Duration = .seconds(10), serverTimeLimit: Duration? = nil)
        -> ProviderContext
    {
        ProviderContext(http: http, requestTimeout: requestTimeout, serverTimeLimit: serverTimeLimit, tokens: tokens)
    }

    func client(tokens: any AccessTokenStore, requestTimeout: Duration = .seconds(10)) throws -> ZohoBooksClient {
        try ZohoBooksClient(connection: connection(), context: context(tokens: tokens, requestTimeout: requestTimeout))
    }

    /// The provider as a worker builds it: `ZohoBooksDriver.makeProvider`.
    func provider(tokens: any AccessTokenStore, requestTimeout: Duration = .seconds(10), secrets: ConnectionSecrets? = nil) throws
        -> any AccountingProvider
    {
        try ZohoBooksDriver().makeProvider(
            for: connection(secrets: secrets), context: context(tokens: tokens, requestTimeout: requestTimeout))
    }

    /// Mappings onto the simulator's reference data (`ReferenceData.demo`): the subscription
    /// default item, the usage item, the credit-note default item, USD with the accounts a
    /// payment and a refund need.
    static func mappings() -> [Mapping] {
        let id = connectionID
        return [
            .fallbackItem(connectionID: id, providerID: "460000000020001", providerName: "Platform fee"),
            .defaultItem(connectionID: id, for: .subscription, providerID: "460000000020001"),
            .defaultItem(connectionID: id, for: .creditNote, providerID: "460000000020001"),
            .item(connectionID: id, code: "conformance_usage", providerID: "460000000020003"),
            Mapping(
                connectionID: id, kind: .currency, billingKey: "USD", providerID: "460000000000097",
                details: [
                    "payment_account_id": "460000000000391", "refund_account_id": "460000000000393", "payment_mode": "banktransfer",
                ]),
        ]
    }

    func target() -> SyncTarget {
        SyncTarget(
            connectionID: Self.connectionID, connection: connection(),
            mappings: MappingSet(connectionID: Self.connectionID, mappings: Self.mappings()))
    }

    /// The records of a module, as the simulator holds them.
    func records(_ module: String) -> [ExactJSON] { simulator.records(module) }

    /// The value of the unique custom field in a record.
    static func billingID(_ record: ExactJSON, field: String = ZohoBooksDriver.defaultUniqueField) -> String? {
        record["custom_fields"]?.arrayValue?.first { $0["api_name"]?.stringValue == field }?["value"]?.stringValue
    }
}

struct TestBedError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// A token store that always hands out the same token and counts what it is asked.
actor FixedTokenStore: AccessTokenStore {
    let token: String
    private(set) var invalidated = 0

    init(token: String) { self.token = token }

    func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String { token }

    func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws { invalidated += 1 }
}
