import ExactJSON
import Foundation
import Sync

// Zoho Books' reference data, what mappings point at (`ledgersync provider list`,
// `ledgersync mappings suggest`). Written from Zoho's pages, one list endpoint per kind, each
// paged as "Pagination" (https://www.zoho.com/books/api/v3/pagination/) says: `page` (from 1)
// and `per_page` (200 by default, the most asked for here), and `page_context.has_more_page`
// telling whether another page follows.
//
// - items: "Items" (https://www.zoho.com/books/api/v3/items/), `GET /items` → {"items":
//   [{item_id, name, sku, status: "active" | "inactive", …}]}; the code is the `sku`.
// - taxes: "Taxes" (https://www.zoho.com/books/api/v3/taxes/), `GET /settings/taxes` →
//   {"taxes": [{tax_id, tax_name, tax_percentage, tax_type, …}]}; Zoho's taxes have no code
//   besides their name, and the page documents no inactive flag on a tax.
// - accounts: "Chart Of Accounts" (https://www.zoho.com/books/api/v3/chart-of-accounts/),
//   `GET /chartofaccounts` → {"chartofaccounts": [{account_id, account_name, account_code,
//   is_active, account_type, …}]}.
// - currencies: "Currency" (https://www.zoho.com/books/api/v3/currency/),
//   `GET /settings/currencies` → {"currencies": [{currency_id, currency_code, currency_name,
//   …}]}; the code is the ISO 4217 `currency_code`.
// - locations: "Locations" (https://www.zoho.com/books/api/v3/locations/), `GET /locations` →
//   {"locations": [{location_id, location_name, status: "active" | "inactive", …}]}.
// - subsidiaries: Zoho Books has none (an organization is one company; the API reference has
//   no such module), so asking for them is a permanent error naming the kind.

extension ZohoBooksClient {
    /// How one kind is listed: the path, the answer's member, and the record's members.
    struct ReferenceList: Sendable {
        let path: String
        let member: String
        let id: String
        let name: String
        let code: String?
        /// The member telling an inactive record, and how.
        let inactive: (@Sendable (ExactJSON) -> Bool)?

        static func of(_ kind: ReferenceDataKind) -> ReferenceList? {
            let status: @Sendable (ExactJSON) -> Bool = { $0["status"]?.stringValue == "inactive" }
            switch kind {
            case .items:
                return ReferenceList(path: "items", member: "items", id: "item_id", name: "name", code: "sku", inactive: status)
            case .taxes:
                return ReferenceList(path: "settings/taxes", member: "taxes", id: "tax_id", name: "tax_name", code: nil, inactive: nil)
            case .accounts:
                return ReferenceList(
                    path: "chartofaccounts", member: "chartofaccounts", id: "account_id", name: "account_name", code: "account_code",
                    inactive: { $0["is_active"]?.boolValue == false })
            case .currencies:
                return ReferenceList(
                    path: "settings/currencies", member: "currencies", id: "currency_id", name: "currency_name", code: "currency_code",
                    inactive: nil)
            case .locations:
                return ReferenceList(
                    path: "locations", member: "locations", id: "location_id", name: "location_name", code: nil, inactive: status)
            case .subsidiaries:
                return nil
            }
        }
    }

    /// At most this many pages of 200 are read of one kind (40,000 records): a list that says
    /// it has more after that is cut off rather than read forever.
    public static let maxReferencePages = 200

    /// Every record of `kind` at the organization, page after page, through `pacer` (a job's
    /// rate-window pacing; nil outside a job). Subsidiaries: a permanent error, Zoho Books has
    /// none.
    public func referenceData(_ kind: ReferenceDataKind, perPage: Int = 200, pacer: ZohoRequestPacer? = nil) async throws
        -> [ReferenceRecord]
    {
        guard let list = ReferenceList.of(kind) else {
            throw SyncError(.permanent, "Zoho Books has no \(kind.rawValue): an organization is one company (use another kind)")
        }
        guard (1...200).contains(perPage) else { throw SyncError(.permanent, "per_page must be 1…200 (Zoho's Pagination page)") }
        var records: [ReferenceRecord] = []
        var page = 1
        while page <= Self.maxReferencePages {
            let answer = try await send(
                "GET", list.path, query: [("page", String(page)), ("per_page", String(perPage))], pacer: pacer)
            guard let items = answer[list.member]?.arrayValue else {
                throw SyncError(.transient, "Zoho Books answered GET /\(list.path) without a \"\(list.member)\" list")
            }
            for item in items {
                guard let id = Self.text(item[list.id]), !id.isEmpty else { continue }
                let name = Self.text(item[list.name]) ?? ""
                let code = list.code.flatMap { Self.text(item[$0]) }.flatMap { $0.isEmpty ? nil : $0 }
                records.append(ReferenceRecord(id: id, name: name, code: code, inactive: list.inactive?(item) ?? false))
            }
            guard answer["page_context"]?["has_more_page"]?.boolValue == true, !items.isEmpty else { break }
            page += 1
        }
        return records
    }

    /// A member's text: a string, or a number's text (an id Zoho may send as a number).
    static func text(_ value: ExactJSON?) -> String? {
        value?.stringValue ?? value?.numberText
    }
}

extension ZohoBooksProvider: ReferenceDataReading {
    func referenceData(_ kind: ReferenceDataKind) async throws -> [ReferenceRecord] {
        try await client.referenceData(kind)
    }
}
