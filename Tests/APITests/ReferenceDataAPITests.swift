import API
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing
import ZohoBooks

/// `GET /v1/connections/{id}/reference-data/{kind}`: what `ledgersync provider list` prints,
/// read from the provider by the API over real HTTP, NetSuite's and Zoho Books' simulators.
@Suite(.timeLimit(.minutes(2)))
struct ReferenceDataAPITests {
    /// The API's own client toward providers: one that may reach the simulators on loopback.
    static let providerHTTP = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)

    static func records(_ answer: APIHarness.Answer) -> [[String: Any]] { answer.object["records"] as? [[String: Any]] ?? [] }

    @Test("NetSuite: each kind read from the provider; admin scope; an unknown kind or connection named; a provider down is 503")
    func netSuite() async throws {
        var configuration = NetSuiteSimulator.Configuration(credentials: [RecordActionsAPITests.credentials])
        configuration.accountID = "1234567_SB1"
        configuration.items = [
            .init(id: "510", name: "Platform fee"), .init(id: "511", name: "Seats", taxable: false),
        ]
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()
        do {
            try await APIHarness.with(providerHTTP: Self.providerHTTP) { api in
                let created = try await api.post(
                    "/v1/connections",
                    APIHarness.connectionBody().replacingOccurrences(of: "http://127.0.0.1:9/netsuite", with: simulator.baseURL))
                let id = try #require((created.object["connection"] as? [String: Any])?["id"] as? String, "\(created)")

                let items = try await api.get("/v1/connections/\(id)/reference-data/items")
                #expect(items.status == 200, "\(items)")
                #expect(items.object["kind"] as? String == "items" && items.object["provider"] as? String == "netsuite")
                #expect(items.object["connection_id"] as? String == id)
                let listed = Self.records(items)
                #expect(Set(listed.compactMap { $0["id"] as? String }) == ["510", "511"], "\(listed)")
                #expect(listed.first { $0["id"] as? String == "511" }?["name"] as? String == "Seats")
                #expect(listed.allSatisfy { $0["inactive"] as? Bool == false && $0.keys.contains("code") })
                // Every kind NetSuite has answers; each from the provider, not from a table here.
                let before = simulator.stats.requests
                for kind in ReferenceDataKind.allCases {
                    let answer = try await api.get("/v1/connections/\(id)/reference-data/\(kind.rawValue)")
                    #expect(answer.status == 200, "\(kind): \(answer)")
                    #expect(answer.object["records"] is [Any], "\(kind): \(answer)")
                }
                #expect(simulator.stats.requests >= before + ReferenceDataKind.allCases.count)

                // Admin only, as the mappings are: a read token is refused, and sends nothing.
                let reader = try await AuthorizationTests.token(api, [.read, .enqueue, .operate])
                let sent = simulator.stats.requests
                let refused = try await api.get("/v1/connections/\(id)/reference-data/items", token: reader)
                #expect(refused.status == 403 && refused.error["code"] as? String == "insufficient_scope", "\(refused)")
                #expect(simulator.stats.requests == sent)

                let widgets = try await api.get("/v1/connections/\(id)/reference-data/widgets")
                #expect(widgets.status == 422 && widgets.error["field"] as? String == "kind", "\(widgets)")
                #expect((widgets.error["message"] as? String)?.contains("subsidiaries") == true, "\(widgets)")
                let nobody = try await api.get("/v1/connections/\(UUID().uuidString.lowercased())/reference-data/items")
                #expect(nobody.status == 404, "\(nobody)")
                let notAnID = try await api.get("/v1/connections/not-a-uuid/reference-data/items")
                #expect(notAnID.status == 422 && notAnID.error["field"] as? String == "id", "\(notAnID)")

                // The provider stops answering: three attempts, then 503 naming the provider.
                await simulator.stop()
                let down = try await api.get("/v1/connections/\(id)/reference-data/items")
                #expect(down.status == 503 && down.error["code"] as? String == "provider_unavailable", "\(down)")
                #expect(down.header("Retry-After") != nil)
                #expect(!down.text.contains("TOKEN-SECRET") && !down.text.contains("CONSUMER-SECRET"), "\(down)")
            }
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }

    @Test("Zoho Books: items and currencies as its simulator holds them; subsidiaries, which Zoho has not, refused by name")
    func zohoBooks() async throws {
        let simulator = ZohoBooksSimulator(configuration: .init())
        _ = try await simulator.start()
        do {
            try await APIHarness.with(providers: ProviderRegistry([ZohoBooksDriver()]), providerHTTP: Self.providerHTTP) { api in
                let client = ZohoBooksSimulator.SelfClient.demo
                let answer = try await ZohoAccounts.exchange(
                    grantCode: try simulator.issueGrantCode(clientID: client.clientID), clientID: client.clientID,
                    clientSecret: client.clientSecret, accountsURL: simulator.accountsURL(), http: Self.providerHTTP)
                let connection = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).create(
                    AccountingConnection(
                        provider: "zoho_books", name: "Zoho reference", accountID: ZohoBooksSimulator.Organization.demo.id,
                        settings: AccountingConnection.Settings(baseURL: simulator.baseURL, extra: ["data_center": "com"]),
                        secrets: ConnectionSecrets([
                            "client_id": client.clientID, "client_secret": client.clientSecret,
                            "refresh_token": try #require(answer.refreshToken),
                        ])))
                let id = try #require(connection.id?.uuidString.lowercased())

                let items = try await api.get("/v1/connections/\(id)/reference-data/items")
                #expect(items.status == 200, "\(items)")
                #expect(
                    Self.records(items).compactMap { $0["id"] as? String } == ZohoBooksSimulator.ReferenceData.demo.items.map(\.id),
                    "\(items)")
                let currencies = try await api.get("/v1/connections/\(id)/reference-data/currencies")
                #expect(
                    Self.records(currencies).compactMap { $0["code"] as? String }
                        == ZohoBooksSimulator.ReferenceData.demo.currencies.map(\.code), "\(currencies)")

                let subsidiaries = try await api.get("/v1/connections/\(id)/reference-data/subsidiaries")
                #expect(subsidiaries.status == 422, "\(subsidiaries)")
                #expect(subsidiaries.error["code"] as? String == "provider_refused" && subsidiaries.error["field"] as? String == "kind")
                #expect((subsidiaries.error["message"] as? String)?.contains("subsidiaries") == true, "\(subsidiaries)")
                #expect(!subsidiaries.text.contains(client.clientSecret))
            }
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }
}
