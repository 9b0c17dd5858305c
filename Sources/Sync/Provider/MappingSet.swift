import Foundation

/// All the mappings of one connection, loaded once per job, with the resolution rules of
/// PROVIDERS.md 1.4. Pure: payload builders call it without touching the database.
public struct MappingSet: Sendable {
    public let connectionID: UUID
    private let byKey: [Key: Mapping]

    private struct Key: Hashable {
        let kind: Mapping.Kind
        let billingKey: String
        let recordType: String
    }

    public init(connectionID: UUID, mappings: [Mapping]) {
        self.connectionID = connectionID
        var byKey: [Key: Mapping] = [:]
        for mapping in mappings where mapping.connectionID == connectionID {
            byKey[Key(kind: mapping.kind, billingKey: mapping.billingKey, recordType: mapping.recordType ?? "")] = mapping
        }
        self.byKey = byKey
    }

    public func mapping(_ kind: Mapping.Kind, _ billingKey: String, recordType: String? = nil) -> Mapping? {
        byKey[Key(kind: kind, billingKey: billingKey, recordType: recordType ?? "")]
    }

    /// The item for a line: the one-to-one `item` for `code`, else the `default_item` for
    /// `feeKind`, else the `fallback_item`. Throws `.invalidMapping` naming every mapping that
    /// was looked for when none exists: the job cannot succeed until someone adds one.
    public func resolveItem(feeKind: Mapping.FeeKind, code: String? = nil) throws(StoreError) -> Mapping {
        let code = code.flatMap { $0.isEmpty ? nil : $0 }
        if let code, let item = mapping(.item, code) { return item }
        if let key = feeKind.defaultItemKey, let item = mapping(.defaultItem, key) { return item }
        if let fallback = mapping(.fallbackItem, "") { return fallback }
        var missing: [String] = []
        if let code { missing.append("no item mapping for \"\(code)\"") }
        if let key = feeKind.defaultItemKey { missing.append("no default item for \(key)") }
        missing.append("no fallback item")
        throw StoreError(
            .invalidMapping, field: "mappings",
            "cannot map a \(feeKind.rawValue) line on connection \(connectionID.uuidString.lowercased()): \(missing.joined(separator: ", "))"
        )
    }

    /// The provider's currency id for an ISO code, nil when unmapped (the provider then uses
    /// the customer's or subsidiary's currency).
    public func currency(_ code: String) -> String? { mapping(.currency, code)?.providerID }

    /// Whether any tax mapping is a complete SuiteTax one (nexus, tax_type and tax_code): the
    /// account then takes `taxDetails` rows, and a transaction without taxes sends an empty
    /// `taxDetails` sublist so rows of an earlier version are replaced away.
    public var hasSuiteTaxMappings: Bool {
        byKey.values.contains { mapping in
            mapping.kind == .tax && ["nexus", "tax_type", "tax_code"].allSatisfy { !(mapping.details[$0] ?? "").isEmpty }
        }
    }

    /// The tax mapping for a billing tax code, nil when there is none.
    public func tax(_ code: String) -> Mapping? { mapping(.tax, code) }

    /// Custom field mappings of one provider record type: billing field or metadata key →
    /// provider field id, sorted by key so payloads are stable.
    public func customFields(recordType: String) -> [(billingKey: String, fieldID: String)] {
        byKey.values
            .filter { $0.kind == .customField && $0.recordType == recordType }
            .sorted { $0.billingKey < $1.billingKey }
            .map { ($0.billingKey, $0.providerID) }
    }
}

extension Mapping.FeeKind {
    /// The mapping category of an invoice fee (Lago's `fee.item.type`).
    public init(_ fee: FeeKind) {
        switch fee {
        case .subscription: self = .subscription
        case .charge: self = .charge
        case .addOn, .fixedCharge: self = .addOn
        case .commitment: self = .minimumCommitment
        case .credit: self = .prepaidCredit
        }
    }
}
