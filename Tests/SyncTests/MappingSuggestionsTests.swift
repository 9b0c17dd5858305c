import Foundation
import Testing

@testable import Sync

/// `MappingSuggestions.suggest`'s rules on their own: what counts as a match, in which order,
/// and what is left out.
@Suite("mapping suggestions", .timeLimit(.minutes(1)))
struct MappingSuggestionsTests {
    static let connection = UUID(uuidString: "6f1c2b0e-4d3a-4f5e-9a8b-7c6d5e4f3a2b")!

    static func outcomes(
        _ codes: [BillingCode], existing: [Mapping] = [], reference: [ReferenceDataKind: [ReferenceRecord]],
        validate: (Mapping) throws -> Void = { _ in }
    ) -> [String] {
        MappingSuggestions.suggest(codes: codes, existing: existing, connectionID: connection, reference: reference, validate: validate)
            .map {
                "\($0.code.key) \($0.outcome.rawValue) \($0.matchedBy ?? "-") "
                    + ($0.mapping?.providerID ?? $0.candidates.map(\.id).joined(separator: "+"))
            }
    }

    @Test("a code beats a name, a name beats the billing name; exact, case included; active before inactive")
    func precedence() {
        let items = [
            ReferenceRecord(id: "1", name: "api_calls"),
            ReferenceRecord(id: "2", name: "API calls", code: "api_calls"),
            ReferenceRecord(id: "3", name: "Storage"),
            ReferenceRecord(id: "4", name: "storage_gb", inactive: true),
            ReferenceRecord(id: "5", name: "Seats", inactive: true),
            ReferenceRecord(id: "6", name: "Seats", inactive: true),
        ]
        let codes = [
            BillingCode(kind: .item, key: "api_calls", names: ["API calls"]),
            BillingCode(kind: .item, key: "storage_gb", names: ["Storage"]),
            BillingCode(kind: .item, key: "seats", names: ["Seats"]),
            BillingCode(kind: .item, key: "API_CALLS"),
            BillingCode(kind: .item, key: "mapped"),
        ]
        #expect(
            Self.outcomes(
                codes, existing: [.item(connectionID: Self.connection, code: "mapped", providerID: "9")], reference: [.items: items])
                == [
                    "api_calls proposed code 2",
                    // The active record named by the billing name, not the inactive one named by the code.
                    "storage_gb proposed billing_name 3",
                    "seats ambiguous billing_name 5+6",
                    "API_CALLS unmatched - ",
                ])
    }

    @Test("a match the provider refuses as it stands is incomplete and carries the provider's reason")
    func incomplete() {
        struct Refused: Error, CustomStringConvertible {
            var description: String { "details: a tax mapping needs nexus, tax_type and tax_code (SuiteTax) or legacy_tax_item" }
        }
        let suggestions = MappingSuggestions.suggest(
            codes: [BillingCode(kind: .tax, key: "vat_20"), BillingCode(kind: .currency, key: "EUR")], existing: [],
            connectionID: Self.connection,
            reference: [
                .taxes: [ReferenceRecord(id: "20", name: "vat_20", code: "vat_20")],
                .currencies: [ReferenceRecord(id: "2", name: "Euro", code: "EUR")],
            ],
            validate: { mapping in if mapping.kind == .tax { throw Refused() } })
        #expect(suggestions.map(\.outcome) == [.incomplete, .proposed])
        #expect(suggestions[0].message?.contains("legacy_tax_item") == true)
        #expect(suggestions[0].mapping?.providerID == "20")
        #expect(
            suggestions[1].mapping
                == Mapping(connectionID: Self.connection, kind: .currency, billingKey: "EUR", providerID: "2", providerName: "Euro"))
    }
}
