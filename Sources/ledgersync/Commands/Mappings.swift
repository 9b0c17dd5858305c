import ArgumentParser
import Foundation
import Postgres
import Sync

struct Mappings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Map billing codes to provider items, tax codes, currencies and custom fields, per connection.",
        discussion: """
            Kinds and their --key:
              item            a billable metric or add-on code (one-to-one item)
              default_item    subscription | minimum_commitment | coupon | credit_note | prepaid_credit
              fallback_item   no --key: the connection's catch-all item
              tax             a billing tax code; --detail nexus=, tax_type=, tax_code= (SuiteTax) or --detail legacy_tax_item=; no --provider-id needed
              currency        an ISO 4217 code, e.g. EUR
              custom_field    a billing field or metadata key, with --record-type (e.g. invoice); --provider-id is the field id (custbody_x)

            For a fee the workers use its item, else the default_item of its kind, else the fallback_item; with none the job fails as invalid_mapping.
            """,
        subcommands: [Set.self, List.self, Remove.self, Suggest.self])

    /// The command-line option of each `Mapping` field a store error can name.
    static let fieldOptions = [
        "billing_key": "--key", "provider_id": "--provider-id", "record_type": "--record-type", "connection_id": "<connection-id>",
    ]

    static func kind(_ text: String) throws -> Mapping.Kind {
        guard let kind = Mapping.Kind(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError(
                "--kind must be one of \(Mapping.Kind.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(text.prefix(40))\"")
        }
        return kind
    }

    /// Whether the connection exists, to tell "no such connection" from "no such mapping".
    static func connectionExists(_ id: UUID, pool: ConnectionPool) async throws -> Bool {
        try await ConnectionStore(pool: pool, secretBox: unusedSecretBox()).exists(id)
    }
}

/// What `--json` prints of a mapping.
struct MappingSummary: Encodable {
    let connectionId: String
    let kind: String
    let billingKey: String
    let recordType: String?
    let providerId: String
    let providerName: String?
    let accountCode: String?
    let details: [String: String]

    init(_ mapping: Mapping) {
        connectionId = mapping.connectionID.uuidString.lowercased()
        kind = mapping.kind.rawValue
        billingKey = mapping.billingKey
        recordType = mapping.recordType
        providerId = mapping.providerID
        providerName = mapping.providerName
        accountCode = mapping.accountCode
        details = mapping.details
    }

    var detailsText: String { details.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") }
}

extension Mappings {
    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a mapping, or replace the one with the same kind, key and record type.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("The connection id.", valueName: "connection-id")) var connection: UUIDArgument
        @Option(help: "item, default_item, fallback_item, tax, currency or custom_field.") var kind: String
        @Option(help: "The billing key, by kind (see `ledgersync mappings --help`); none for fallback_item.") var key: String?
        @Option(help: "Only for custom_field: the provider record type, e.g. invoice.") var recordType: String?
        @Option(
            help:
                "The provider's internal id of the item or currency, or the custom field id (custbody_x). Required but for tax, where the workers send the --detail ids; a tax mapping without it stores its tax_code or legacy_tax_item."
        )
        var providerId: String?
        @Option(help: "The provider's name for it, for people reading the mapping.") var name: String?
        @Option(
            help:
                "For people reading the mapping: the internal id of the item's income account at NetSuite (not the account number of the chart of accounts). Stored and listed, not sent: NetSuite takes the income account from the item record."
        )
        var accountCode: String?
        @Option(
            name: .customLong("detail"),
            help: ArgumentHelp(
                "Extra data as key=value; repeat it. For tax: nexus, tax_type, tax_code (SuiteTax) or legacy_tax_item.",
                valueName: "key=value"))
        var details: [String] = []
        @Flag(help: "Print the mapping as JSON.") var json = false

        func validate() throws {
            let kind = try Mappings.kind(kind)
            let details = try parsedDetails()
            _ = try resolvedProviderID(kind: kind, details: details)
        }

        /// `--provider-id`, required for every kind the payload reads it from. A tax mapping's
        /// NetSuite ids are its details, so there it is optional and defaults to the id that
        /// is sent (the SuiteTax tax code, else the legacy tax item) for `mappings list`.
        func resolvedProviderID(kind: Mapping.Kind, details: [String: String]) throws -> String {
            if let providerId { return providerId.trimmingCharacters(in: .whitespaces) }
            guard kind == .tax else {
                throw ValidationError("--provider-id is required for a \(kind.rawValue) mapping: the provider's internal id it maps to")
            }
            return details["tax_code"] ?? details["legacy_tax_item"] ?? ""
        }

        func parsedDetails() throws -> [String: String] {
            var result: [String: String] = [:]
            for detail in details {
                let parts = detail.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                let key = parts[0].trimmingCharacters(in: .whitespaces)
                guard parts.count == 2, !key.isEmpty else {
                    throw ValidationError("--detail must be key=value, got \"\(detail.prefix(60))\"")
                }
                guard result[key] == nil else { throw ValidationError("--detail \(key) is given twice") }
                result[key] = parts[1].trimmingCharacters(in: .whitespaces)
            }
            return result
        }

        /// What the connection's provider requires of a mapping (NetSuite: a tax mapping's
        /// SuiteTax details; the API checks the same); here its errors name the option to change.
        static func validateForProvider(_ mapping: Mapping, provider: String) throws {
            do {
                try Providers.registry.driver(provider).validateMapping(mapping)
            } catch let error as StoreError where error.field?.hasPrefix("details") == true {
                let option =
                    error.field.map { $0.hasPrefix("details.") ? "--detail \($0.dropFirst("details.".count))" : "--detail" } ?? "--detail"
                throw CLIError.usage("\(option): \(error.message)")
            }
        }

        func run() async throws {
            let kind = try Mappings.kind(kind)
            let details = try parsedDetails()
            let mapping = Mapping(
                connectionID: connection.uuid, kind: kind, billingKey: key?.trimmingCharacters(in: .whitespaces) ?? "",
                recordType: recordType, providerID: try resolvedProviderID(kind: kind, details: details), providerName: name,
                accountCode: accountCode, details: details)
            // Checked before the database is opened, so a typo costs no connection.
            try await withStoreErrors(options: Mappings.fieldOptions) { try mapping.validate() }
            let pool = try await database.openPool(maxConnections: 1)
            let stored = try await withStoreErrors(options: Mappings.fieldOptions) {
                guard let provider = try await ConnectionStore(pool: pool, secretBox: unusedSecretBox()).provider(of: connection.uuid)
                else {
                    throw StoreError(.notFound, field: "connection_id", "no connection \(connection.text)")
                }
                try Self.validateForProvider(mapping, provider: provider)
                return try await MappingStore(pool: pool).upsert(mapping)
            }
            await pool.close()
            if json { return try printJSON(MappingSummary(stored)) }
            let key = stored.kind == .fallbackItem ? "" : " \"\(stored.billingKey)\"" + (stored.recordType.map { " on \($0)" } ?? "")
            print("mapped \(stored.kind.rawValue)\(key) to \(stored.providerID) on connection \(connection.text)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a connection's mappings, by kind and key.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("The connection id.", valueName: "connection-id")) var connection: UUIDArgument
        @Option(help: "Only mappings of this kind.") var kind: String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let kind { _ = try Mappings.kind(kind) }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let mappings = try await MappingStore(pool: pool).list(connection: connection.uuid, kind: try kind.map(Mappings.kind))
            if mappings.isEmpty, try await !Mappings.connectionExists(connection.uuid, pool: pool) {
                await pool.close()
                throw CLIError.notFound("no connection \(connection.text)")
            }
            await pool.close()
            let summaries = mappings.map(MappingSummary.init)
            if json { return try printJSON(summaries) }
            guard !summaries.isEmpty else { return print("no mappings") }
            var table = [["KIND", "KEY", "RECORD TYPE", "PROVIDER ID", "NAME", "ACCOUNT", "DETAILS"]]
            for summary in summaries {
                table.append([
                    summary.kind, summary.billingKey, summary.recordType ?? "", summary.providerId,
                    truncate(summary.providerName ?? "", 30),
                    summary.accountCode ?? "", summary.detailsText,
                ])
            }
            printTable(table)
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Remove one mapping.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("The connection id.", valueName: "connection-id")) var connection: UUIDArgument
        @Option(help: "The mapping's kind.") var kind: String
        @Option(help: "The mapping's billing key; none for fallback_item.") var key: String?
        @Option(help: "The mapping's record type (custom_field only).") var recordType: String?

        func validate() throws {
            _ = try Mappings.kind(kind)
        }

        func run() async throws {
            let kind = try Mappings.kind(kind)
            let key = key?.trimmingCharacters(in: .whitespaces) ?? ""
            let pool = try await database.openPool(maxConnections: 1)
            let removed = try await MappingStore(pool: pool).delete(
                connection: connection.uuid, kind: kind, billingKey: key, recordType: recordType)
            if !removed {
                let connectionExists = try await Mappings.connectionExists(connection.uuid, pool: pool)
                await pool.close()
                guard connectionExists else { throw CLIError.notFound("no connection \(connection.text)") }
                let what =
                    kind == .fallbackItem
                    ? "no fallback_item mapping" : "no \(kind.rawValue) mapping for \"\(key)\"" + (recordType.map { " on \($0)" } ?? "")
                throw CLIError.notFound("\(what) on connection \(connection.text)")
            }
            await pool.close()
            print("removed the \(kind.rawValue) mapping" + (key.isEmpty ? "" : " of \"\(key)\"") + " on connection \(connection.text)")
        }
    }
}
