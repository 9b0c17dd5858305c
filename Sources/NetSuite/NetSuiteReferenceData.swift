import Foundation
import Sync

// NetSuite's reference data, what mappings point at (`ledgersync provider list`,
// `ledgersync mappings suggest`): one SuiteQL query per kind (NetSuiteClient.suiteQL, every
// page of 1000 rows: "Collection Paging", section_156414087576), ordered by internal id so
// pages do not overlap.
//
// Tables and columns, from Oracle's NetSuite Help Center and its Records Catalog (Setup >
// Records Catalog, "The Records Catalog", article_160276344912: the SuiteScript and REST
// Query API channel, which SuiteQL reads):
// - items: `item` — `id`, `itemid` (the item's name/number, "Item Name/Number"),
//   `displayname`, `isinactive`. The code is `itemid`; the name is `displayname`, else `itemid`.
// - accounts: `account` — `id`, `acctnumber` (the account number), `acctname` (its name;
//   `fullname` adds the parents' names), `isinactive`.
// - subsidiaries: `subsidiary` — `id`, `name`, `isinactive` ("Subsidiary", section_157607424766,
//   lists internalid, isinactive, name, fullname among its exposed elements).
// - currencies: `currency` — `id`, `symbol` (the ISO 4217 code, "USD"; `displaysymbol` is the
//   sign), `name`, `isinactive` ("Currency", section_N3201267: the currency record's `symbol`).
// - locations: `location` — `id`, `name`, `isinactive`.
// - taxes: `salestaxitem` — `id`, `itemid` (the tax code's name), `description`,
//   `isinactive` (SuiteTalk Schema Browser, "SalesTaxItem": itemId "Name", isInactive). In
//   an account with SuiteTax the tax codes are records of the same type (the "Tax Code"
//   record, whose id a SuiteTax mapping's `tax_code` takes); without it they are the legacy
//   tax items a `legacy_tax_item` mapping takes. Either way `id` is what a mapping sends.
//
// SuiteQL answers a checkbox as "T" or "F" ("SuiteQL Syntax and Examples",
// section_156257790831, compares `isinactive = 'F'`); a null column is left out of its row.

extension NetSuiteClient {
    /// The query of one kind (no user text in it: nothing to quote).
    public static func referenceQuery(_ kind: ReferenceDataKind) -> String {
        switch kind {
        case .items: "SELECT id, itemid, displayname, isinactive FROM item ORDER BY id"
        case .accounts: "SELECT id, acctnumber, acctname, isinactive FROM account ORDER BY id"
        case .subsidiaries: "SELECT id, name, isinactive FROM subsidiary ORDER BY id"
        case .currencies: "SELECT id, symbol, name, isinactive FROM currency ORDER BY id"
        case .locations: "SELECT id, name, isinactive FROM location ORDER BY id"
        case .taxes: "SELECT id, itemid, description, isinactive FROM salestaxitem ORDER BY id"
        }
    }

    /// At most this many records of one kind are read (the query pages through them 1000 at
    /// a time).
    public static let maxReferenceRecords = 50_000

    /// Every record of `kind`, page after page.
    public func referenceData(_ kind: ReferenceDataKind, pageSize: Int = 1000) async throws -> [ReferenceRecord] {
        let rows = try await suiteQLAll(Self.referenceQuery(kind), pageSize: pageSize, maxRows: Self.maxReferenceRecords)
        return rows.compactMap { row in Self.referenceRecord(kind, row) }
    }

    /// One row as a record; nil without an id.
    static func referenceRecord(_ kind: ReferenceDataKind, _ row: [String: String]) -> ReferenceRecord? {
        guard let id = row["id"], !id.isEmpty else { return nil }
        let nonEmpty = { (key: String) in row[key].flatMap { $0.isEmpty ? nil : $0 } }
        let inactive = ["T", "t", "true"].contains(row["isinactive"] ?? "F")
        switch kind {
        case .items:
            return ReferenceRecord(
                id: id, name: nonEmpty("displayname") ?? nonEmpty("itemid") ?? "", code: nonEmpty("itemid"), inactive: inactive)
        case .accounts:
            return ReferenceRecord(id: id, name: nonEmpty("acctname") ?? "", code: nonEmpty("acctnumber"), inactive: inactive)
        case .currencies:
            return ReferenceRecord(id: id, name: nonEmpty("name") ?? "", code: nonEmpty("symbol"), inactive: inactive)
        case .taxes:
            return ReferenceRecord(
                id: id, name: nonEmpty("itemid") ?? nonEmpty("description") ?? "", code: nonEmpty("itemid"), inactive: inactive)
        case .subsidiaries, .locations:
            return ReferenceRecord(id: id, name: nonEmpty("name") ?? "", code: nil, inactive: inactive)
        }
    }
}

extension NetSuiteProvider: ReferenceDataReading {
    public func referenceData(_ kind: ReferenceDataKind) async throws -> [ReferenceRecord] {
        try await client.referenceData(kind)
    }
}
