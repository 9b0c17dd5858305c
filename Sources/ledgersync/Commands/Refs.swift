import ArgumentParser
import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Postgres
import Sync

/// `ledgersync refs …`: which provider record each billing object is, and links to records
/// that already exist at the provider (docs/linking.md).
struct Refs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Link billing objects to records that already exist at NetSuite, and list the refs.",
        discussion: """
            A linked object is written by its NetSuite internal id (PATCH …/<type>/<id>) and never created again; a sync never replaces the link. Object types: \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")).

            Environment: DATABASE_URL (or --database-url); LEDGERSYNC_SECRET_KEY for the commands that talk to NetSuite (link without --no-verify, match).
            """,
        subcommands: [Link.self, Unlink.self, List.self, Match.self])

    static func objectType(_ text: String) throws -> ExternalRef.ObjectType {
        guard let type = ExternalRef.ObjectType(rawValue: text.trimmingCharacters(in: .whitespaces)) else {
            throw ValidationError(
                "<object-type> must be one of \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")); got \"\(text.prefix(40))\"")
        }
        return type
    }

    /// The NetSuite record type of an object type (the REST record API's spelling).
    static func recordType(_ type: ExternalRef.ObjectType) -> String {
        switch type {
        case .customer: "customer"
        case .invoice: "invoice"
        case .salesOrder: "salesOrder"
        case .creditMemo: "creditMemo"
        case .payment: "customerPayment"
        }
    }

    /// The connection with its credentials, and a client for its account.
    static func client(_ id: UUID, pool: ConnectionPool) async throws -> (NetSuiteClient, HTTPClient) {
        let box = try secretBoxFromEnvironment()
        try await checkSecretKey(box, pool: pool)
        let connection = try await withStoreErrors { try await ConnectionStore(pool: pool, secretBox: box).get(id) }
        guard connection.provider == .netsuite else {
            throw CLIError.usage("connection \(id.uuidString.lowercased()) is a \(connection.provider.rawValue) connection; refs link and match talk to NetSuite")
        }
        let http = HTTPClient(maxConcurrentRequests: 2)
        do {
            return (try await withStoreErrors { try NetSuiteClient(connection: connection, http: http, requestTimeout: .seconds(60)) }, http)
        } catch {
            http.shutdown()
            throw error
        }
    }

    static let fieldOptions = ["provider_id": "<netsuite-internal-id>", "billing_id": "<billing-id>", "connection_id": "--connection"]
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
            abstract: "Link a billing object to an existing NetSuite record (its internal id).",
            discussion: """
                Checks first that the record exists at NetSuite (GET by internal id) and shows its name: a link to a wrong or deleted id would make every later sync of the object fail. --no-verify skips the check (no LEDGERSYNC_SECRET_KEY needed).

                Refused when another billing object of the connection and type already has that NetSuite record. Jobs waiting for the object (an invoice waiting for its customer) run now.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("customer, invoice, sales_order, credit_memo or payment.", valueName: "object-type")) var objectType: String
        @Argument(help: ArgumentHelp("The billing system's id of the object (Lago's lago_id).", valueName: "billing-id")) var billingID: String
        @Argument(help: ArgumentHelp("The NetSuite internal id of the existing record.", valueName: "netsuite-internal-id")) var providerID: String
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Flag(name: .customLong("no-verify"), help: "Link without asking NetSuite whether the record exists.") var noVerify = false
        @Flag(help: "Print the ref as JSON.") var json = false

        func validate() throws {
            _ = try Refs.objectType(objectType)
            guard !billingID.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("<billing-id> must not be empty") }
            do {
                try ExternalRefStore.requireInternalID(providerID)
            } catch let error as StoreError {
                throw ValidationError("<netsuite-internal-id> \(error.message)")
            }
        }

        func run() async throws {
            let type = try Refs.objectType(objectType)
            let providerID = providerID.trimmingCharacters(in: .whitespaces)
            let pool = try await database.openPool(maxConnections: 2)
            var found: ExactJSON?
            if !noVerify {
                let (client, http) = try await Refs.client(connection.uuid, pool: pool)
                defer { http.shutdown() }
                do {
                    found = try await client.get(recordType: Refs.recordType(type), internalID: providerID)
                } catch let error as SyncError {
                    await pool.close()
                    throw CLIError.unavailable("could not ask NetSuite for \(Refs.recordType(type)) \(providerID): \(error.message) (--no-verify links without asking)")
                }
                guard found != nil else {
                    await pool.close()
                    throw CLIError.notFound("NetSuite has no \(Refs.recordType(type)) with internal id \(providerID) (--no-verify links anyway)")
                }
            }
            let ref: ExternalRef
            do {
                ref = try await withStoreErrors(options: Refs.fieldOptions) {
                    try await ExternalRefStore(pool: pool).link(
                        connection: connection.uuid, objectType: type, billingID: billingID.trimmingCharacters(in: .whitespaces), providerID: providerID)
                }
            } catch let conflict as RefLinkConflict {
                await pool.close()
                throw CLIError.failed(conflict.message)
            }
            await pool.close()
            if json { return try printJSON(RefSummary(ref)) }
            let name = found.flatMap { $0["companyName"]?.stringValue ?? $0["entityId"]?.stringValue ?? $0["tranId"]?.stringValue }
            print("linked \(type.rawValue) \(ref.billingID) to NetSuite \(Refs.recordType(type)) \(ref.providerID)" + (name.map { " (\($0))" } ?? "")
                + " on connection \(connection.text)")
            if let other = found?["externalId"]?.stringValue, other != ref.billingID {
                print("note: the record's externalId is \"\(other)\"; syncs leave it as it is and write the record by internal id")
            }
        }
    }

    struct Unlink: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove the link of a billing object; its next sync writes by external id again.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: ArgumentHelp("customer, invoice, sales_order, credit_memo or payment.", valueName: "object-type")) var objectType: String
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
                throw CLIError.notFound("\(type.rawValue) \(billingID) has no link on connection \(connection.text) (a ref the workers recorded is not a link)")
            }
            print("unlinked \(type.rawValue) \(billingID) from NetSuite \(Refs.recordType(type)) \(removed) on connection \(connection.text)")
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List a connection's refs, most recent first; LINKED shows when a person linked one.")
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
                table.append([ref.objectType.rawValue, truncate(ref.billingID, 40), ref.providerID, format(ref.syncedAt), ref.linkedAt.map(format) ?? ""])
            }
            printTable(table)
        }
    }
}
