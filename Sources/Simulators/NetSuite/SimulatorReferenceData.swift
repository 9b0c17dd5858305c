import Foundation

extension NetSuiteSimulator {
    /// Names and details of the catalogue's reference records, for SuiteQL's `account`,
    /// `subsidiary`, `currency`, `location`, `salestaxitem`, `taxtype` and `nexus` tables
    /// (SuiteQLTables.swift). Which ids exist stays the catalogue's lists; an id listed there
    /// without an entry here gets a made-up name ("Location 7"). The defaults match the
    /// demo's mappings (`BillingScenario.mappings`): currencies 1 USD, 2 EUR, 3 JPY, 4 KWD; tax
    /// codes 20 `vat_20` and 21 `us_sales` of tax types 10 and 11 in nexus 1; the item
    /// accounts 4010 and 4020.
    public struct ReferenceData: Sendable, Equatable {
        public struct Account: Sendable, Equatable {
            public var id: String
            public var number: String
            public var name: String
            /// NetSuite's account type id (`Income`, `AcctRec`, `Bank`).
            public var type: String

            public init(id: String, number: String, name: String, type: String) {
                self.id = id
                self.number = number
                self.name = name
                self.type = type
            }
        }

        public struct Currency: Sendable, Equatable {
            /// The ISO 4217 code (SuiteQL's `currency.symbol`).
            public var code: String
            public var name: String

            public init(code: String, name: String) {
                self.code = code
                self.name = name
            }
        }

        public struct TaxCode: Sendable, Equatable {
            public var name: String
            /// As NetSuite shows a rate: "20.00%".
            public var rate: String
            public var taxType: String?

            public init(name: String, rate: String, taxType: String? = nil) {
                self.name = name
                self.rate = rate
                self.taxType = taxType
            }
        }

        public struct Nexus: Sendable, Equatable {
            public var description: String
            /// ISO 3166 country code.
            public var country: String

            public init(description: String, country: String) {
                self.description = description
                self.country = country
            }
        }

        public var accounts: [Account]
        public var subsidiaryNames: [String: String]
        /// A subsidiary's base currency (internal id).
        public var subsidiaryCurrencies: [String: String]
        public var currencies: [String: Currency]
        public var baseCurrency: String
        public var locationNames: [String: String]
        /// SuiteTax tax codes and legacy tax items, by internal id.
        public var taxCodes: [String: TaxCode]
        public var taxTypeNames: [String: String]
        public var nexuses: [String: Nexus]

        public init(
            accounts: [Account], subsidiaryNames: [String: String], subsidiaryCurrencies: [String: String],
            currencies: [String: Currency], baseCurrency: String, locationNames: [String: String], taxCodes: [String: TaxCode],
            taxTypeNames: [String: String], nexuses: [String: Nexus]
        ) {
            self.accounts = accounts
            self.subsidiaryNames = subsidiaryNames
            self.subsidiaryCurrencies = subsidiaryCurrencies
            self.currencies = currencies
            self.baseCurrency = baseCurrency
            self.locationNames = locationNames
            self.taxCodes = taxCodes
            self.taxTypeNames = taxTypeNames
            self.nexuses = nexuses
        }

        public static let defaults = ReferenceData(
            accounts: [
                Account(id: "120", number: "1100", name: "Accounts Receivable", type: "AcctRec"),
                Account(id: "54", number: "4000", name: "Sales", type: "Income"),
                Account(id: "55", number: "4010", name: "API Revenue", type: "Income"),
                Account(id: "56", number: "4020", name: "Setup Revenue", type: "Income"),
            ],
            subsidiaryNames: ["1": "Parent Company"],
            subsidiaryCurrencies: ["1": "1"],
            currencies: [
                "1": Currency(code: "USD", name: "US Dollar"), "2": Currency(code: "EUR", name: "Euro"),
                "3": Currency(code: "JPY", name: "Japanese Yen"), "4": Currency(code: "KWD", name: "Kuwaiti Dinar"),
            ],
            baseCurrency: "1",
            locationNames: ["1": "Headquarters", "2": "Warehouse East", "3": "Warehouse West"],
            taxCodes: [
                "20": TaxCode(name: "vat_20", rate: "20.00%", taxType: "10"),
                "21": TaxCode(name: "us_sales", rate: "8.25%", taxType: "11"),
                "30": TaxCode(name: "Legacy sales tax", rate: "7.00%"),
            ],
            taxTypeNames: ["10": "VAT", "11": "Sales Tax"],
            nexuses: ["1": Nexus(description: "United Kingdom", country: "GB")])
    }
}
