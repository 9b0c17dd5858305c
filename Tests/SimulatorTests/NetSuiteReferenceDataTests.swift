import Foundation
import NetSuite
import Simulators
import Sync
import Testing

/// NetSuite's reference data as `provider list` and `mappings suggest` read it: one SuiteQL
/// query per kind, every page, against the simulator's catalogue.
@Suite("NetSuite reference data", .timeLimit(.minutes(2)))
struct NetSuiteReferenceDataTests {
    static func client(_ harness: SimulatorHarness) -> NetSuiteClient {
        NetSuiteClient(account: harness.account, credentials: SimulatorHarness.credentials, http: harness.http)
    }

    /// The ids of a list sorted as SuiteQL's `ORDER BY id` sorts numbers.
    static func sorted(_ ids: some Sequence<String>) -> [String] {
        ids.sorted { (Int($0) ?? 0, $0) < (Int($1) ?? 0, $1) }
    }

    @Test("every kind: ids, codes, names as the catalogue holds them; the provider reads them as ReferenceDataReading")
    func everyKind() async throws {
        var configuration = NetSuiteSimulator.Configuration(credentials: [SimulatorHarness.credentials])
        configuration.catalogue.reference.accounts.append(.init(id: "57", number: "4030", name: "Services", type: "Income"))
        try await SimulatorHarness.run(configuration) { harness in
            let catalogue = configuration.catalogue
            let provider: any AccountingProvider = NetSuiteProvider(client: Self.client(harness))
            let reader = try #require(provider as? any ReferenceDataReading)

            let items = try await reader.referenceData(.items)
            #expect(items.map(\.id) == Self.sorted(catalogue.items.map(\.id)))
            let api = try #require(items.first { $0.id == "601" })
            #expect(api == ReferenceRecord(id: "601", name: "API calls", code: "API calls"))

            let accounts = try await reader.referenceData(.accounts)
            #expect(accounts.map(\.id) == Self.sorted(catalogue.reference.accounts.map(\.id)))
            #expect(accounts.contains(ReferenceRecord(id: "57", name: "Services", code: "4030")))

            let currencies = try await reader.referenceData(.currencies)
            #expect(currencies.map(\.id) == Self.sorted(catalogue.currencies))
            #expect(currencies.first { $0.id == "2" } == ReferenceRecord(id: "2", name: "Euro", code: "EUR"))

            let subsidiaries = try await reader.referenceData(.subsidiaries)
            #expect(subsidiaries.map(\.id) == Self.sorted(catalogue.subsidiaries))
            #expect(subsidiaries.allSatisfy { $0.code == nil && !$0.name.isEmpty && !$0.inactive })

            let locations = try await reader.referenceData(.locations)
            #expect(locations.map(\.id) == Self.sorted(catalogue.locations))
            #expect(locations.first { $0.id == "1" }?.name == catalogue.reference.locationNames["1"])

            // Tax codes: SuiteTax codes and legacy tax items, both in salestaxitem.
            let taxes = try await reader.referenceData(.taxes)
            #expect(taxes.map(\.id) == Self.sorted(catalogue.taxCodes.union(catalogue.taxItems)))
            #expect(taxes.first { $0.id == "20" } == ReferenceRecord(id: "20", name: "vat_20", code: "vat_20"))
        }
    }

    @Test("a kind longer than a page is read page after page, each record once")
    func paging() async throws {
        try await SimulatorHarness.run { harness in
            let client = Self.client(harness)
            let queriesBefore = harness.simulator.stats.queries
            let items = try await client.referenceData(.items, pageSize: 2)
            let all = try await client.referenceData(.items)
            #expect(items == all)
            #expect(items.count > 4)
            // ceil(count / 2) pages, then the one full read.
            #expect(harness.simulator.stats.queries - queriesBefore == (items.count + 1) / 2 + 1)
        }
    }
}
