import Foundation
import Simulators
import Sync
import SyncTesting
import Testing
import ZohoBooks

/// Zoho Books' reference data as `provider list` and `mappings suggest` read it, against the
/// simulator: every kind, every page.
@Suite("Zoho Books reference data", .timeLimit(.minutes(2)))
struct ZohoReferenceDataTests {
    typealias Data = ZohoBooksSimulator.ReferenceData

    /// Five items (two with a SKU, one inactive), accounts with codes, taxes, currencies and
    /// two locations: enough for pages of two.
    static let reference = Data(
        currencies: [
            .init(id: "460000000000097", code: "USD", name: "USD- US Dollar", symbol: "$"),
            .init(id: "460000000000099", code: "EUR", name: "EUR- Euro", symbol: "€"),
            .init(id: "460000000000101", code: "KWD", name: "KWD- Kuwaiti Dinar", symbol: "KWD", precision: 3),
        ],
        taxes: [
            .init(id: "460000000017094", name: "Standard Rate", percentage: "20"),
            .init(id: "460000000017096", name: "Reduced Rate", percentage: "5"),
            .init(id: "460000000017098", name: "NY Sales Tax", percentage: "8.875"),
        ],
        items: [
            .init(id: "460000000020001", name: "Platform fee", rate: "100", sku: "PLATFORM"),
            .init(id: "460000000020003", name: "Usage", rate: "0.01"),
            .init(id: "460000000020005", name: "Seats", rate: "10", sku: "SEATS"),
            .init(id: "460000000020007", name: "Old plan", rate: "5", inactive: true),
            .init(id: "460000000020009", name: "Support", rate: "50"),
        ],
        accounts: [
            .init(id: "460000000000388", name: "Sales", type: "income", code: "4000"),
            .init(id: "460000000000391", name: "Undeposited Funds", type: "cash"),
            .init(id: "460000000000395", name: "Old Sales", type: "income", code: "4010", inactive: true),
        ],
        locations: [.init(id: "460000000038080", name: "Head Office"), .init(id: "460000000038082", name: "Warehouse", inactive: true)])

    @Test("every kind is read from its endpoint: ids, codes, names and inactive flags as Zoho lists them")
    func everyKind() async throws {
        try await ZohoTestBed.run(.init(referenceData: Self.reference)) { bed in
            let provider = try #require(try bed.provider(tokens: InMemoryTokenStore()) as? any ReferenceDataReading)
            #expect(
                try await provider.referenceData(.items) == [
                    ReferenceRecord(id: "460000000020001", name: "Platform fee", code: "PLATFORM"),
                    ReferenceRecord(id: "460000000020003", name: "Usage"),
                    ReferenceRecord(id: "460000000020005", name: "Seats", code: "SEATS"),
                    ReferenceRecord(id: "460000000020007", name: "Old plan", inactive: true),
                    ReferenceRecord(id: "460000000020009", name: "Support"),
                ])
            #expect(
                try await provider.referenceData(.accounts) == [
                    ReferenceRecord(id: "460000000000388", name: "Sales", code: "4000"),
                    ReferenceRecord(id: "460000000000391", name: "Undeposited Funds"),
                    ReferenceRecord(id: "460000000000395", name: "Old Sales", code: "4010", inactive: true),
                ])
            #expect(try await provider.referenceData(.taxes).map(\.name) == ["Standard Rate", "Reduced Rate", "NY Sales Tax"])
            #expect(try await provider.referenceData(.taxes).allSatisfy { $0.code == nil && !$0.inactive })
            #expect(
                try await provider.referenceData(.currencies) == [
                    ReferenceRecord(id: "460000000000097", name: "USD- US Dollar", code: "USD"),
                    ReferenceRecord(id: "460000000000099", name: "EUR- Euro", code: "EUR"),
                    ReferenceRecord(id: "460000000000101", name: "KWD- Kuwaiti Dinar", code: "KWD"),
                ])
            #expect(
                try await provider.referenceData(.locations) == [
                    ReferenceRecord(id: "460000000038080", name: "Head Office"),
                    ReferenceRecord(id: "460000000038082", name: "Warehouse", inactive: true),
                ])
            // Zoho Books has no subsidiaries: a permanent error naming the kind, no request.
            let error = await #expect(throws: SyncError.self) { try await provider.referenceData(.subsidiaries) }
            #expect(error?.errorClass == .permanent)
            #expect(error?.message.contains("subsidiaries") == true)
        }
    }

    @Test("a list longer than a page is read page after page, each record once")
    func paging() async throws {
        try await ZohoTestBed.run(.init(referenceData: Self.reference)) { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            let before = bed.simulator.stats.requests
            let items = try await client.referenceData(.items, perPage: 2)
            #expect(items.map(\.id) == Self.reference.items.map(\.id))
            // Three pages of 2, 2 and 1: three requests.
            #expect(bed.simulator.stats.requests - before == 3)
            let taxes = try await client.referenceData(.taxes, perPage: 1)
            #expect(taxes.map(\.id) == Self.reference.taxes.map(\.id))
            let locations = try await client.referenceData(.locations, perPage: 1)
            #expect(locations.map(\.id) == Self.reference.locations.map(\.id))
        }
    }
}
