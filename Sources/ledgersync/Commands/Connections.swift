import ArgumentParser
import Foundation
import JobQueue
import NetSuite
import Postgres
import Sync

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list, show, update and remove connections to accounting accounts.",
        discussion: """
            A connection is one account at a provider (today NetSuite). Its credentials are sealed with LEDGERSYNC_SECRET_KEY before they reach the database and are never printed; list and show give the first characters of the consumer key and token id only.
            """,
        subcommands: [Add.self, List.self, Show.self, Update.self, Remove.self, InboundSecret.self])

    /// The command-line option of each `AccountingConnection` field a store error can name.
    static let fieldOptions = [
        "provider": "--provider", "name": "--name", "account_id": "--account-id",
        "settings.concurrency_limit": "--concurrency-limit", "settings.base_url": "--base-url",
        "settings.objects_to_sync": "--objects",
    ]

    /// The queue's limit key of a connection. The format is the contract with the sync jobs
    /// and `ledgersync.enqueue_sync`, so it is taken from Sync rather than spelled here.
    static func limitKey(of connection: AccountingConnection) -> String? {
        connection.id.map { SyncEnvironment.limitKey(provider: connection.provider, connection: $0) }
    }
}

/// A connection or webhook endpoint id on the command line.
struct UUIDArgument: ExpressibleByArgument, Sendable {
    let uuid: UUID

    init?(argument: String) {
        guard let uuid = UUID(uuidString: argument.trimmingCharacters(in: .whitespaces)) else { return nil }
        self.uuid = uuid
    }

    /// As PostgreSQL prints it.
    var text: String { uuid.uuidString.lowercased() }
}

/// The non-secret settings `add` and `update` share. In `update`, an option left out keeps
/// its value and an empty value clears it.
struct ConnectionSettingsOptions: ParsableArguments {
    @Option(help: "The subsidiary internal id that customers get (NetSuite requires one to sync customers).")
    var subsidiary: String?
    @Option(help: "Object types to sync, comma-separated: customer, invoice, sales_order, credit_memo, payment (default: all).")
    var objects: String?
    @Option(help: "Most requests the account takes at once; also the queue's limit for this connection's jobs (add: default 1).")
    var concurrencyLimit: Int?
    @Option(name: .customLong("base-url"), help: "The provider's API root instead of its own hosts, e.g. a simulator at http://127.0.0.1:8089.")
    var baseURL: String?
    @Option(help: "The location internal id put on transactions, for accounts whose forms require one.")
    var location: String?

    var isEmpty: Bool { subsidiary == nil && objects == nil && concurrencyLimit == nil && baseURL == nil && location == nil }

    func apply(to settings: inout AccountingConnection.Settings) {
        if let subsidiary { settings.defaultSubsidiary = Self.nonEmpty(subsidiary) }
        if let objects {
            settings.objectsToSync = objects.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        }
        if let concurrencyLimit { settings.concurrencyLimit = concurrencyLimit }
        if let baseURL { settings.baseURL = Self.nonEmpty(baseURL) }
        if let location { settings.defaultLocation = Self.nonEmpty(location) }
    }

    private static func nonEmpty(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// What `--json` prints of a connection: everything but the secrets, of which only the
/// hints of the two ids.
struct ConnectionSummary: Encodable {
    let id: String
    let provider: String
    let name: String
    let accountId: String
    let settings: AccountingConnection.Settings
    let limitKey: String
    let consumerKeyHint: String
    let tokenIdHint: String
    let createdAt: Date?
    let updatedAt: Date?

    init(_ connection: AccountingConnection) {
        id = connection.id?.uuidString.lowercased() ?? ""
        provider = connection.provider.rawValue
        name = connection.name
        accountId = connection.accountID
        settings = connection.settings
        limitKey = Connections.limitKey(of: connection) ?? ""
        consumerKeyHint = secretHint(connection.secrets.consumerKey)
        tokenIdHint = secretHint(connection.secrets.tokenID)
        createdAt = connection.createdAt
        updatedAt = connection.updatedAt
    }

    func printText() {
        print("connection \(id)  \(name)  [\(provider)]")
        print("  account \(accountId), subsidiary \(settings.defaultSubsidiary ?? "none"), location \(settings.defaultLocation ?? "none")")
        print("  objects: \(settings.objectsToSync.isEmpty ? "all" : settings.objectsToSync.joined(separator: ", "))")
        print("  base url: \(settings.baseURL ?? "the provider's own")")
        print("  concurrency limit \(settings.concurrencyLimit) (limit key \(limitKey))")
        print("  consumer key \(consumerKeyHint), token id \(tokenIdHint) (secrets sealed, not shown)")
        if let createdAt, let updatedAt { print("  created \(format(createdAt)), updated \(format(updatedAt))") }
    }
}

extension Connections {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a connection; prints its id.",
            discussion: """
                The credentials never go on the command line, where shell history and ps would keep them: set NETSUITE_CONSUMER_KEY, NETSUITE_CONSUMER_SECRET, NETSUITE_TOKEN_ID and NETSUITE_TOKEN_SECRET, or pass --secrets-file (a file, or - for stdin). They are sealed with LEDGERSYNC_SECRET_KEY before they reach the database.

                Also sets the queue's concurrency limit of the connection's limit key (netsuite:<id>) to --concurrency-limit, so all workers together stay under the account's limit.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A name for people, e.g. \"NetSuite production\".") var name: String
        @Option(help: "The accounting provider.") var provider = AccountingConnection.Provider.netsuite.rawValue
        @Option(help: "The provider's account id, e.g. 1234567 or 1234567_SB1.") var accountId: String
        @OptionGroup var settings: ConnectionSettingsOptions
        @OptionGroup var secrets: ConnectionSecretsOptions
        @Flag(help: "Print the new connection as JSON (without secrets) instead of its id.") var json = false

        func run() async throws {
            let connection = try await withStoreErrors(options: Connections.fieldOptions) {
                let parsedProvider = try AccountingConnection.Provider.parse(provider)
                guard parsedProvider == .netsuite else {
                    throw CLIError.usage("provider (--provider): \(parsedProvider.rawValue) connections cannot be added yet; only netsuite")
                }
                var connectionSettings = AccountingConnection.Settings()
                settings.apply(to: &connectionSettings)
                let connection = AccountingConnection(
                    provider: parsedProvider, name: name.trimmingCharacters(in: .whitespaces),
                    accountID: try Self.netSuiteAccountID(accountId), settings: connectionSettings, secrets: try secrets.read())
                try connection.validate()
                return connection
            }
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let created = try await withStoreErrors(options: Connections.fieldOptions) {
                try await ConnectionStore(pool: pool, secretBox: box).create(connection)
            }
            try await SyncEnvironment.applyConcurrencyLimit(of: created, queue: JobQueue(pool: pool))
            await pool.close()
            if json { return try printJSON(ConnectionSummary(created)) }
            // The id alone, so that `id=$(ledgersync connections add …)` works.
            print(created.id!.uuidString.lowercased())
        }

        /// The account id as NetSuite's rules read it, refused here rather than at the first sync.
        static func netSuiteAccountID(_ text: String) throws -> String {
            do {
                return try NetSuiteAccount(accountID: text).accountID
            } catch let error as NetSuiteConfigError {
                throw CLIError.usage("account_id (--account-id): \(error.message)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List connections, oldest first (no secrets).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            let connections = try await withStoreErrors { try await ConnectionStore(pool: pool, secretBox: box).list() }
            await pool.close()
            let summaries = connections.map(ConnectionSummary.init)
            if json { return try printJSON(summaries) }
            guard !summaries.isEmpty else { return print("no connections") }
            var table = [["ID", "NAME", "PROVIDER", "ACCOUNT", "SUBSIDIARY", "OBJECTS", "LIMIT", "CONSUMER KEY", "TOKEN ID"]]
            for summary in summaries {
                table.append([
                    summary.id, truncate(summary.name, 30), summary.provider, summary.accountId, summary.settings.defaultSubsidiary ?? "",
                    summary.settings.objectsToSync.isEmpty ? "all" : summary.settings.objectsToSync.joined(separator: ","),
                    "\(summary.settings.concurrencyLimit)", summary.consumerKeyHint, summary.tokenIdHint,
                ])
            }
            printTable(table)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one connection (no secrets).")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            let connection = try await withStoreErrors { try await ConnectionStore(pool: pool, secretBox: box).get(id.uuid) }
            await pool.close()
            let summary = ConnectionSummary(connection)
            if json { return try printJSON(summary) }
            summary.printText()
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Change a connection's name, settings or credentials.",
            discussion: """
                Options left out keep their value; an empty value (--base-url "") clears an optional setting. --concurrency-limit also sets the queue's limit of the connection's limit key. --rotate-secrets reads all four credentials again, from the NETSUITE_* variables or --secrets-file, as add does.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument
        @Option(help: "A new name.") var name: String?
        @OptionGroup var settings: ConnectionSettingsOptions
        @Flag(help: "Replace the credentials with those in the NETSUITE_* variables or --secrets-file.") var rotateSecrets = false
        @OptionGroup var secrets: ConnectionSecretsOptions
        @Flag(help: "Print the updated connection as JSON (without secrets).") var json = false

        func validate() throws {
            if secrets.secretsFile != nil && !rotateSecrets {
                throw ValidationError("--secrets-file is read only with --rotate-secrets")
            }
            guard name != nil || !settings.isEmpty || rotateSecrets else {
                throw ValidationError("nothing to update: give --name, --subsidiary, --objects, --concurrency-limit, --base-url, --location or --rotate-secrets")
            }
        }

        func run() async throws {
            let newSecrets = rotateSecrets ? try secrets.read() : nil
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let store = ConnectionStore(pool: pool, secretBox: box)
            let updated = try await withStoreErrors(options: Connections.fieldOptions) {
                var connection = try await store.get(id.uuid)
                if let name { connection.name = name.trimmingCharacters(in: .whitespaces) }
                settings.apply(to: &connection.settings)
                if let newSecrets { connection.secrets = newSecrets }
                return try await store.update(connection)
            }
            // Only when asked: a limit someone paused with `limits set … 0` stays paused
            // through a rename.
            if settings.concurrencyLimit != nil {
                try await SyncEnvironment.applyConcurrencyLimit(of: updated, queue: JobQueue(pool: pool))
            }
            await pool.close()
            if json { return try printJSON(ConnectionSummary(updated)) }
            print("updated connection \(id.text)" + (rotateSecrets ? " (credentials rotated)" : ""))
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a connection with its mappings and external refs, and lift its concurrency limit.",
            discussion: "Jobs already queued for it fail when they run (invalid_config). Needs no LEDGERSYNC_SECRET_KEY.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let removed = try await ConnectionStore(pool: pool, secretBox: unusedSecretBox()).delete(id.uuid)
            guard removed else {
                await pool.close()
                throw CLIError.notFound("no connection \(id.text)")
            }
            // The row, and with it the provider, is gone; the key of every provider is lifted
            // (a key that was never set costs one no-op statement).
            let queue = JobQueue(pool: pool)
            for provider in AccountingConnection.Provider.allCases {
                try await queue.setConcurrencyLimit(SyncEnvironment.limitKey(provider: provider, connection: id.uuid), maxRunning: nil)
            }
            await pool.close()
            print("removed connection \(id.text)")
        }
    }
}

extension Connections {
    struct InboundSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "inbound-secret",
            abstract: "Make a new secret for the provider's inbound events to this connection; prints it once.",
            discussion: """
                The provider signs each event it POSTs to /v1/inbound/netsuite/<connection>/payments with HMAC-SHA256 of the body under this secret (X-Ledgersync-Signature, base64); see docs/api.md. The previous secret stops working at once. Sealed with LEDGERSYNC_SECRET_KEY in the database.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let secret = try await withStoreErrors { try await InboundSecretStore(pool: pool, secretBox: box).rotate(connection: id.uuid) }
            await pool.close()
            // The secret alone on stdout, so that `secret=$(ledgersync connections inbound-secret …)` works.
            print(secret)
            FileHandle.standardError.write(Data("ledgersync: this is the only time the inbound secret of connection \(id.text) is shown\n".utf8))
        }
    }
}
