import ArgumentParser
import ExactJSON
import Foundation
import HTTPClient
import Postgres
import Sync

/// `ledgersync refs …`: which provider record each billing object is, and links to records
/// that already exist at the provider (docs/linking.md).
struct Refs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link billing objects to records that already exist at the provider, and list the refs.",
        discussion: """
            A linked object is written by the provider's id of the record  and never created again; a sync never replaces the link. Object types: \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")).

            Environment: DATABASE_URL (or --database-url); LEDGERSYNC_SECRET_KEY for the commands that talk to the provider (link without --no-verify, match).
            """,
        subcommands: [Link.self, Unlink.self, List.self, Match.self])

    static func objectType(_ text: String) throws -> ExternalRef.ObjectType {
        guard let type = ExternalRef.ObjectType(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError(
                "<object-type> must be one of \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(text.prefix(40))\""
            )
        }
        return type
    }

    /// The connection's provider, built by its driver, and the HTTP client it uses (shut it
    /// down after).
    static func provider(_ id: UUID, pool: ConnectionPool) async throws -> (any AccountingProvider, any ProviderDriver, HTTPClient) {
        let box = try secretBoxFromEnvironment()
        try await checkSecretKey(box, pool: pool)
        let connection = try await withStoreErrors { try await ConnectionStore(pool: pool, secretBox: box).get(id) }
        let driver = try await withStoreErrors { try Providers.registry.driver(connection.provider) }
        let http = HTTPClient(maxConcurrentRequests: 2)
        do {
            let provider = try await withStoreErrors {
                try await Providers.registry.provider(
                    for: connection,
                    context: ProviderContext(
                        http: http, requestTimeout: .seconds(60), tokens: PostgresTokenStore(pool: pool, secretBox: box)))
            }
            return (provider, driver, http)
        } catch {
            http.shutdown()
            throw error
        }
    }

    static let fieldOptions = ["provider_id": "<provider-id>", "billing_id": "<billing-id>", "connection_id": "--connection"]
}

/// What `--json` prints of a ref.
struct RefSummary: Encodable {
    let connectionId: String
    let objectType: String
    let billingId: String
    let providerId: String
    let customerBillingId: String?
    let syncedAt: Date
    let linkedAt: Date?

    init(_ ref: ExternalRef) {
        connectionId = ref.connectionID.uuidString.lowercased()
        objectType = ref.objectType.rawValue
        billingId = ref.billingID
        providerId = ref.providerID
        customerBillingId = ref.customerBillingID
        syncedAt = ref.syncedAt
        linkedAt = ref.linkedAt
    }
}

extension Refs {
    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Link a billing object to an existing record at the provider (by the provider's id).",
            discussion: """
                Checks first that the record exists at the provider (a read by its id) and shows its name: a link to a wrong or deleted id would make every later sync of the object fail. --no-verify skips the check (no LEDGERSYNC_SECRET_KEY needed).

                Refused when another billing object of the connection and type already has that provider record. Jobs waiting for the object (an invoice waiting for its customer) run now.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("customer, invoice, sales_order, credit_memo or payment.", valueName: "object-type")) var objectType:
            String
        @Argument(help: ArgumentHelp("The billing system's id of the object (Lago's lago_id).", valueName: "billing-id")) var billingID:
            String
        @Argument(help: ArgumentHelp("The provider's id of the existing record .", valueName: "provider-id")) var providerID: String
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Flag(name: .customLong("no-verify"), help: "Link without asking the provider whether the record exists.") var noVerify = false
        @Flag(help: "Print the ref as JSON.") var json = false

        func validate() throws {
            _ = try Refs.objectType(objectType)
            guard !billingID.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("<billing-id> must not be empty") }
            do {
                try ExternalRefStore.requireInternalID(providerID)
            } catch let error as StoreError {
                throw ValidationError("<provider-id> \(error.message)")
            }
        }

        func run() async throws {
            let type = try Refs.objectType(objectType)
            let providerID = providerID.trimmingCharacters(in: .whitespaces)
            let pool = try await database.openPool(maxConnections: 2)
            var found: FoundRecord?
            var providerName = "the provider"
            if !noVerify {
                let (provider, driver, http) = try await Refs.provider(connection.uuid, pool: pool)
                defer { http.shutdown() }
                providerName = driver.displayName
                guard let lookup = provider as? any RecordLookup else {
                    await pool.close()
                    throw CLIError.usage("\(driver.displayName) connections cannot look a record up; --no-verify links without asking")
                }
                do {
                    found = try await lookup.lookUp(type, providerID: providerID)
                } catch let error as SyncError {
                    await pool.close()
                    throw CLIError.unavailable(
                        "could not ask \(driver.displayName) for \(type.rawValue) \(providerID): \(error.message) (--no-verify links without asking)"
                    )
                }
                guard found != nil else {
                    await pool.close()
                    throw CLIError.notFound(
                        "\(driver.displayName) has no \(type.rawValue) with id \(providerID) (--no-verify links anyway)")
                }
            }
            let ref: ExternalRef
            do {
                ref = try await withStoreErrors(options: Refs.fieldOptions) {
                    try await ExternalRefStore(pool: pool).link(
                        connection: connection.uuid, objectType: type, billingID: billingID.trimmingCharacters(in: .whitespaces),
                        providerID: providerID)
                }
            } catch let conflict as RefLinkConflict {
                await pool.close()
                throw CLIError.failed(conflict.message)
            }
            await pool.close()
            if json { return try printJSON(RefSummary(ref)) }
            let name = found?.name
            print(
                "linked \(type.rawValue) \(ref.billingID) to \(providerName) \(found?.recordType ?? "record") \(ref.providerID)"
                    + (name.map { " (\($0))" } ?? "")
                    + " on connection \(connection.text)")
            if let other = found?.externalID, other != ref.billingID {
                print("note: the record's externalId is \"\(other)\"; syncs leave it as it is and write the record by internal id")
            }
        }
    }

    struct Unlink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the link of a billing object; its next sync writes by external id again.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("customer, invoice, sales_order, credit_memo or payment.", valueName: "object-type")) var objectType:
            String
        @Argument(help: ArgumentHelp("The billing system's id of the object.", valueName: "billing-id")) var billingID: String
        @Option(help: "The connection id.") var connection: UUIDArgument

        func validate() throws { _ = try Refs.objectType(objectType) }

        func run() async throws {
            let type = try Refs.objectType(objectType)
            let pool = try await database.openPool(maxConnections: 1)
            let removed = try await ExternalRefStore(pool: pool).unlink(
                connection: connection.uuid, objectType: type, billingID: billingID.trimmingCharacters(in: .whitespaces))
            await pool.close()
            guard let removed else {
                throw CLIError.notFound(
                    "\(type.rawValue) \(billingID) has no link on connection \(connection.text) (a ref the workers recorded is not a link)")
            }
            print("unlinked \(type.rawValue) \(billingID) from provider record \(removed) on connection \(connection.text)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a connection's refs, most recent first; LINKED shows when a person linked one.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Option(help: "Only refs of this object type.") var objectType: String?
        @Flag(help: "Only linked refs.") var linked = false
        @Option(help: "At most this many (1…10000).") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            if let objectType { _ = try Refs.objectType(objectType) }
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000") }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let refs = try await ExternalRefStore(pool: pool).list(
                connection: connection.uuid, objectType: try objectType.map(Refs.objectType), linkedOnly: linked, limit: limit)
            await pool.close()
            if json { return try printJSON(refs.map(RefSummary.init)) }
            guard !refs.isEmpty else { return print("no refs") }
            var table = [["OBJECT TYPE", "BILLING ID", "PROVIDER ID", "SYNCED", "LINKED"]]
            for ref in refs {
                table.append([
                    ref.objectType.rawValue, truncate(ref.billingID, 40), ref.providerID, format(ref.syncedAt),
                    ref.linkedAt.map(format) ?? "",
                ])
            }
            printTable(table)
        }
    }
}
