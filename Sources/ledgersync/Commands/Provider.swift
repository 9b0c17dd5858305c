import ArgumentParser
import Foundation
import HTTPClient
import LedgerCrypto
import Postgres
import Sync

/// `ledgersync provider …`: what a connection's provider holds, read from it.
struct ProviderCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provider",
        abstract: "Read a connection's reference data from its provider (items, tax codes, accounts…).",
        subcommands: [List.self])

    /// A connection on the command line: its id, or its name when no other connection has it.
    static func connection(_ text: String, pool: ConnectionPool, box: SecretBox) async throws -> AccountingConnection {
        let store = ConnectionStore(pool: pool, secretBox: box)
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        if let id = UUID(uuidString: trimmed) {
            return try await withStoreErrors { try await store.get(id) }
        }
        let named = try await withStoreErrors { try await store.list() }.filter { $0.name == trimmed }
        guard let connection = named.first else { throw CLIError.notFound("no connection with the id or name \"\(trimmed.prefix(60))\"") }
        guard named.count == 1 else {
            throw CLIError.usage(
                "\(named.count) connections are named \"\(trimmed.prefix(60))\": give the id (\(named.compactMap { $0.id?.uuidString.lowercased() }.joined(separator: ", ")))"
            )
        }
        return connection
    }

    /// The provider of `connection`, opened as `connections test` opens it: the secret key,
    /// the workers' shared token store. The caller shuts `http` down.
    static func open(_ connection: AccountingConnection, pool: ConnectionPool, box: SecretBox, requestTimeout: Duration) async throws -> (
        provider: any AccountingProvider, driver: any ProviderDriver, http: HTTPClient
    ) {
        let driver = try await withStoreErrors { try Providers.registry.driver(connection.provider) }
        let http = HTTPClient(maxConcurrentRequests: 2)
        do {
            let provider = try await withStoreErrors {
                try await Providers.registry.provider(
                    for: connection,
                    context: ProviderContext(
                        http: http, requestTimeout: requestTimeout, tokens: PostgresTokenStore(pool: pool, secretBox: box)))
            }
            return (provider, driver, http)
        } catch {
            http.shutdown()
            throw error
        }
    }

    /// Every record of `kind` (after transient failures and rate limits, up to 5 attempts);
    /// a provider's refusal becomes a CLI error naming what was asked.
    static func referenceData(
        _ kind: ReferenceDataKind, of provider: any AccountingProvider, driver: any ProviderDriver
    ) async throws -> [ReferenceRecord] {
        guard let reader = provider as? any ReferenceDataReading else {
            throw CLIError.usage("\(driver.displayName) connections cannot list reference data")
        }
        do {
            return try await reader.referenceData(kind, attempts: 5)
        } catch let error as SyncError {
            switch error.errorClass {
            case .permanent:
                throw CLIError.failed("\(driver.displayName) \(kind.rawValue): \(error.message)")
            default:
                throw CLIError.unavailable("\(driver.displayName) \(kind.rawValue): \(error.message)")
            }
        }
    }
}

/// A `ReferenceDataKind` on the command line.
extension ReferenceDataKind: ExpressibleByArgument {
    public init?(argument: String) {
        self.init(rawValue: argument.trimmingCharacters(in: .whitespaces).lowercased())
    }

    public static var allValueStrings: [String] { allCases.map(\.rawValue) }
}

/// What `--json` prints of a reference record.
struct ReferenceRecordSummary: Encodable {
    let id: String
    let code: String?
    let name: String
    let inactive: Bool

    init(_ record: ReferenceRecord) {
        id = record.id
        code = record.code
        name = record.name
        inactive = record.inactive
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(code, forKey: .code)
        try container.encode(name, forKey: .name)
        try container.encode(inactive, forKey: .inactive)
    }

    enum CodingKeys: String, CodingKey { case id, code, name, inactive }
}

extension ProviderCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a connection's items, taxes, accounts, subsidiaries, currencies or locations, read from its provider.",
            discussion: """
                One row per record: the provider's id (what `mappings set --provider-id` takes), its code (an item's number or SKU, an account number, a currency's ISO code, a tax code), its name, and whether the provider marks it inactive. Sends only reads. A kind the provider does not have (Zoho Books has no subsidiaries) fails naming it. Environment: DATABASE_URL, LEDGERSYNC_SECRET_KEY, LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1 for a local simulator.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "items, taxes, accounts, subsidiaries, currencies or locations.") var kind: ReferenceDataKind
        @Option(help: "The connection: its id, or its name.") var connection: String
        @Option(help: "How long one request may take.") var requestTimeout = DurationArgument(.seconds(60))
        @Flag(help: "Print JSON: [{id, code, name, inactive}].") var json = false

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            let records: [ReferenceRecord]
            let providerName: String
            do {
                try await checkSecretKey(box, pool: pool)
                let connection = try await ProviderCommand.connection(connection, pool: pool, box: box)
                let (provider, driver, http) = try await ProviderCommand.open(
                    connection, pool: pool, box: box, requestTimeout: requestTimeout.duration)
                defer { http.shutdown() }
                providerName = driver.displayName
                records = try await ProviderCommand.referenceData(kind, of: provider, driver: driver)
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
            if json { return try printJSON(records.map(ReferenceRecordSummary.init)) }
            guard !records.isEmpty else { return print("no \(kind.rawValue) at \(providerName)") }
            var table = [["ID", "CODE", "NAME", "INACTIVE"]]
            for record in records {
                table.append([record.id, truncate(record.code ?? "", 30), truncate(record.name, 60), record.inactive ? "yes" : ""])
            }
            printTable(table)
        }
    }
}
