import ExactJSON
import Foundation
import Hummingbird

// Reference data of Zoho Books: the organizations of a token, currencies, taxes, items and the
// chart of accounts. Seeded from `Configuration.referenceData` (the same for every
// organization), read-only here; what a connection test lists and what mappings point at.
//
// Zoho's pages each endpoint follows (the answer keys are those of the pages' examples):
// - "Organizations" (https://www.zoho.com/books/api/v3/organizations/): `GET /organizations`
//   lists the organizations of the user, {"organizations": [{organization_id, name,
//   currency_id, currency_code, is_default_org, …}]}. The Introduction page
//   (https://www.zoho.com/books/api/v3/introduction/) says the organization_id "can be
//   obtained from the GET /organizations API's JSON response", so this call is answered
//   without an organization_id (and counts against no organization's limits: NOT DOCUMENTED).
// - "Currency" (https://www.zoho.com/books/api/v3/currency/): `GET /settings/currencies`,
//   {"currencies": [{currency_id, currency_code, currency_name, currency_symbol,
//   price_precision, is_base_currency}]}.
// - "Taxes" (https://www.zoho.com/books/api/v3/taxes/): `GET /settings/taxes`, {"taxes":
//   [{tax_id, tax_name, tax_percentage, tax_type}]}.
// - "Items" (https://www.zoho.com/books/api/v3/items/): `GET /items`, {"items": [{item_id,
//   name, sku, status ("active" or "inactive"), rate, tax_id, account_id}]}.
// - "Chart Of Accounts" (https://www.zoho.com/books/api/v3/chart-of-accounts/):
//   `GET /chartofaccounts`, {"chartofaccounts": [{account_id, account_name, account_code,
//   account_type, is_active}]}.
// - "Locations" (https://www.zoho.com/books/api/v3/locations/): `GET /locations`,
//   {"locations": [{location_id, location_name, status ("active" or "inactive"), type,
//   is_primary}]}.
// - Every list is paged as "Pagination" (https://www.zoho.com/books/api/v3/pagination/) says
//   of Zoho Books' list APIs: `page` (from 1), `per_page` (200 by default), and
//   `page_context` {page, per_page, has_more_page}. The pages of taxes, currencies and
//   locations do not say whether their lists are paged; they are paged like every other list
//   here (NOT DOCUMENTED per endpoint). Zoho documents no largest `per_page`; this simulator
//   refuses more than 200, as its other lists do.
// - "Custom Fields" (https://www.zoho.com/books/api/v3/custom-fields/) documents creating a
//   field (`POST /settings/fields` with label, data_type, entity, show_on_pdf); NO documented
//   endpoint or attribute found that lists a field's "do not allow duplicate values" setting,
//   so the simulator serves none: a client learns it by a probe (a duplicate value refused).
//
// An unknown `currency_id`, `item_id`, `tax_id` or `account_id` in a write is refused with
// HTTP 400 code 4 "Invalid value passed for <field>" (the code and message are NOT DOCUMENTED;
// the same shape as the other refusals of this simulator).

extension ZohoBooksSimulator {
    /// The seeded currencies, taxes, items and accounts (`Configuration.referenceData`).
    public struct ReferenceData: Sendable, Equatable {
        public struct Currency: Sendable, Equatable {
            public var id: String
            public var code: String
            public var name: String
            public var symbol: String
            /// Decimals of the currency (`price_precision`).
            public var precision: Int
            public init(id: String, code: String, name: String, symbol: String, precision: Int = 2) {
                self.id = id
                self.code = code
                self.name = name
                self.symbol = symbol
                self.precision = precision
            }
        }

        public struct Tax: Sendable, Equatable {
            public var id: String
            public var name: String
            /// The percentage as decimal text (`"20"`, `"10.5"`).
            public var percentage: String
            public init(id: String, name: String, percentage: String) {
                self.id = id
                self.name = name
                self.percentage = percentage
            }
        }

        public struct Item: Sendable, Equatable {
            public var id: String
            public var name: String
            /// The default rate as decimal text.
            public var rate: String
            public var taxID: String?
            public var accountID: String?
            /// The item's `sku`, when it has one.
            public var sku: String?
            /// `status` "inactive" instead of "active".
            public var inactive: Bool
            public init(
                id: String, name: String, rate: String, taxID: String? = nil, accountID: String? = nil, sku: String? = nil,
                inactive: Bool = false
            ) {
                self.id = id
                self.name = name
                self.rate = rate
                self.taxID = taxID
                self.accountID = accountID
                self.sku = sku
                self.inactive = inactive
            }
        }

        public struct Account: Sendable, Equatable {
            public var id: String
            public var name: String
            /// Zoho's `account_type` (`income`, `cash`, `bank`, `accounts_receivable`, …).
            public var type: String
            /// The account's `account_code`, when it has one.
            public var code: String?
            /// `is_active` false.
            public var inactive: Bool
            public init(id: String, name: String, type: String, code: String? = nil, inactive: Bool = false) {
                self.id = id
                self.name = name
                self.type = type
                self.code = code
                self.inactive = inactive
            }
        }

        public struct Location: Sendable, Equatable {
            public var id: String
            public var name: String
            public var inactive: Bool
            public init(id: String, name: String, inactive: Bool = false) {
                self.id = id
                self.name = name
                self.inactive = inactive
            }
        }

        public var currencies: [Currency]
        public var taxes: [Tax]
        public var items: [Item]
        public var accounts: [Account]
        public var locations: [Location]

        public init(
            currencies: [Currency] = [], taxes: [Tax] = [], items: [Item] = [], accounts: [Account] = [], locations: [Location] = []
        ) {
            self.currencies = currencies
            self.taxes = taxes
            self.items = items
            self.accounts = accounts
            self.locations = locations
        }

        /// A few records of each kind, as a new organization has (ids in Zoho's style), and
        /// what `BillingScenario` (the demo, the end-to-end tests) maps onto: its currencies
        /// (USD, EUR, JPY with no decimals, KWD with 3), its taxes (20% and 8.875%) and an item
        /// for each of its fee kinds.
        public static let demo = ReferenceData(
            currencies: [
                Currency(id: "460000000000097", code: "USD", name: "USD- US Dollar", symbol: "$"),
                Currency(id: "460000000000099", code: "EUR", name: "EUR- Euro", symbol: "€"),
                Currency(id: "460000000000101", code: "KWD", name: "KWD- Kuwaiti Dinar", symbol: "KWD", precision: 3),
                Currency(id: "460000000000103", code: "JPY", name: "JPY- Japanese Yen", symbol: "¥", precision: 0),
            ],
            taxes: [
                Tax(id: "460000000017094", name: "Standard Rate", percentage: "20"),
                Tax(id: "460000000017096", name: "Reduced Rate", percentage: "5"),
                Tax(id: "460000000017098", name: "NY Sales Tax", percentage: "8.875"),
            ],
            items: [
                Item(id: "460000000020001", name: "Platform fee", rate: "100", accountID: "460000000000388"),
                Item(id: "460000000020003", name: "Usage", rate: "0.01", accountID: "460000000000388"),
                Item(id: "460000000020005", name: "Billing (other charges)", rate: "0", accountID: "460000000000388"),
                Item(id: "460000000020007", name: "Minimum commitment", rate: "0", accountID: "460000000000388"),
                Item(id: "460000000020009", name: "Coupon", rate: "0", accountID: "460000000000388"),
                Item(id: "460000000020011", name: "Credit note", rate: "0", accountID: "460000000000388"),
                Item(id: "460000000020013", name: "Prepaid credits", rate: "0", accountID: "460000000000388"),
                Item(id: "460000000020015", name: "Setup fee", rate: "250", accountID: "460000000000388"),
            ],
            accounts: [
                Account(id: "460000000000388", name: "Sales", type: "income"),
                Account(id: "460000000000391", name: "Undeposited Funds", type: "cash"),
                Account(id: "460000000000393", name: "Business Checking", type: "bank"),
            ],
            locations: [Location(id: "460000000038080", name: "Head Office")])
    }

    /// `GET /organizations`: the organizations of the token's data centre.
    func organizationsResponse(dataCenter: String) -> Response {
        let reference = configuration.referenceData
        let organizations = configuration.organizations.filter { $0.dataCenter == dataCenter }
        let list = organizations.enumerated().map { at, organization -> ExactJSON in
            let currency = reference.currencies.first { $0.code == organization.currencyCode }
            return .object([
                ("organization_id", .string(organization.id)), ("name", .string(organization.name)),
                ("currency_id", .string(currency?.id ?? "")), ("currency_code", .string(organization.currencyCode)),
                ("currency_symbol", .string(currency?.symbol ?? "")),
                ("price_precision", .number(String(currency?.precision ?? 2))), ("is_default_org", .bool(at == 0)),
                ("is_org_active", .bool(true)),
            ])
        }
        return Self.json(.object([("code", .number("0")), ("message", .string("success")), ("organizations", .array(list))]))
    }

    /// The reference lists by path, paged by `query`'s `page` and `per_page`; nil for another path.
    func referenceList(_ parts: [String], organizationID: String, query: [(String, String)] = []) -> Response? {
        let reference = configuration.referenceData
        let base = configuration.organizations.first { $0.id == organizationID }?.currencyCode
        let key: String
        let list: [ExactJSON]
        switch parts {
        case ["settings", "currencies"]:
            key = "currencies"
            list = reference.currencies.map {
                .object([
                    ("currency_id", .string($0.id)), ("currency_code", .string($0.code)), ("currency_name", .string($0.name)),
                    ("currency_symbol", .string($0.symbol)), ("price_precision", .number(String($0.precision))),
                    ("is_base_currency", .bool($0.code == base)),
                ])
            }
        case ["settings", "taxes"]:
            key = "taxes"
            list = reference.taxes.map {
                .object([
                    ("tax_id", .string($0.id)), ("tax_name", .string($0.name)), ("tax_percentage", .number($0.percentage)),
                    ("tax_type", .string("tax")),
                ])
            }
        case ["items"]:
            key = "items"
            list = reference.items.map { item in
                var members: [(String, ExactJSON)] = [
                    ("item_id", .string(item.id)), ("name", .string(item.name)), ("status", .string(item.inactive ? "inactive" : "active")),
                    ("rate", .number(item.rate)),
                ]
                if let sku = item.sku { members.append(("sku", .string(sku))) }
                if let tax = item.taxID { members.append(("tax_id", .string(tax))) }
                if let account = item.accountID { members.append(("account_id", .string(account))) }
                return .object(members)
            }
        case ["chartofaccounts"]:
            key = "chartofaccounts"
            list = reference.accounts.map {
                .object([
                    ("account_id", .string($0.id)), ("account_name", .string($0.name)), ("account_code", .string($0.code ?? "")),
                    ("account_type", .string($0.type)), ("is_active", .bool(!$0.inactive)),
                ])
            }
        case ["locations"]:
            key = "locations"
            list = reference.locations.enumerated().map { at, location in
                .object([
                    ("location_id", .string(location.id)), ("location_name", .string(location.name)),
                    ("status", .string(location.inactive ? "inactive" : "active")), ("type", .string("general")),
                    ("is_primary", .bool(at == 0)),
                ])
            }
        default:
            return nil
        }
        var page = 1
        var perPage = 200
        for (name, value) in query {
            switch name {
            case "page":
                guard let number = Int(value), number >= 1 else { return APIError.invalid("page").response }
                page = number
            case "per_page":
                guard let number = Int(value), (1...200).contains(number) else { return APIError.invalid("per_page").response }
                perPage = number
            default:
                break
            }
        }
        let (skip, overflow) = (page - 1).multipliedReportingOverflow(by: perPage)
        let start = overflow ? list.count : min(list.count, skip)
        let end = min(list.count, start + perPage)
        return Self.json(
            .object([
                ("code", .number("0")), ("message", .string("success")), (key, .array(Array(list[start..<end]))),
                (
                    "page_context",
                    .object([
                        ("page", .number(String(page))), ("per_page", .number(String(perPage))), ("has_more_page", .bool(end < list.count)),
                    ])
                ),
            ]))
    }

    /// Refuses an id that names no seeded record (`currency_id`, a line's `item_id`, `tax_id`,
    /// `account_id`, a payment's `account_id`); absent or empty is accepted.
    static func checkReference(_ value: ExactJSON?, field: String, known: [String]) throws(APIError) {
        guard let value, value != .null else { return }
        guard let text = value.stringValue ?? value.numberText else { throw APIError.invalid(field) }
        guard text.isEmpty || known.contains(text) else { throw APIError.invalid(field) }
    }
}
