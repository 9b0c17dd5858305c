import ArgumentParser
import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import Postgres
import Sync

struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list, show, update and remove connections to accounting accounts.",
        discussion: """
            A connection is one account at a provider (\(Providers.registry.names.joined(separator: ", "))). Its credentials are sealed with LEDGERSYNC_SECRET_KEY before they reach the database and are never printed; list and show give the auth kind and the first characters of ids only.
            """,
        subcommands: [Add.self, List.self, Show.self, Update.self, Test.self, Remove.self, InboundSecret.self])

    /// The command-line option of each `AccountingConnection` field a store error can name.
    static let fieldOptions = [
        "provider": "--provider", "name": "--name", "account_id": "--account-id",
        "settings.concurrency_limit": "--concurrency-limit", "settings.base_url": "--base-url",
        "settings.objects_to_sync": "--objects",
        "settings.read_changes": "--read-changes", "settings.poll_interval": "--poll-interval",
    ]

    /// A connection completed by its driver before it is stored (`ProviderDriver.prepare`: a
    /// grant code exchanged for a refresh token). Errors name the field; nothing is stored.
    static func prepared(_ connection: AccountingConnection, pool: ConnectionPool, box: SecretBox) async throws -> AccountingConnection {
        let http = HTTPClient(maxConcurrentRequests: 2)
        defer { http.shutdown() }
        return try await withStoreErrors(options: fieldOptions) {
            try await Providers.registry.prepared(
                connection,
                context: ProviderContext(http: http, requestTimeout: .seconds(30), tokens: PostgresTokenStore(pool: pool, secretBox: box)))
        }
    }

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
    @Option(help: "Object types to sync, comma-separated: customer, invoice, sales_order, credit_memo, payment (default: all).")
    var objects: String?
    @Option(help: "Most requests the account takes at once; also the queue's limit for this connection's jobs (add: default 1).")
    var concurrencyLimit: Int?
    @Option(
        name: .customLong("base-url"), help: "The provider's API root instead of its own hosts, e.g. a simulator at http://127.0.0.1:8089.")
    var baseURL: String?
    @Option(
        name: .customLong("setting"),
        help: ArgumentHelp(
            "One of the provider's own settings, e.g. default_subsidiary=1 for NetSuite (docs/connections.md); repeat for more; KEY= clears one in update.",
            valueName: "key=value"))
    var settings: [String] = []
    @Option(
        help:
            "What to read back from the provider, comma-separated: paid_invoices, customer, invoice, sales_order, credit_memo, payment (docs/changes.md; default: nothing; empty clears it in update)."
    )
    var readChanges: String?
    @Option(help: "Seconds between two change polls of one record type (default 60).") var pollInterval: Double?

    var isEmpty: Bool {
        objects == nil && concurrencyLimit == nil && baseURL == nil && settings.isEmpty && readChanges == nil && pollInterval == nil
    }

    func validate() throws {
        for setting in settings {
            guard let equals = setting.firstIndex(of: "="), equals != setting.startIndex else {
                throw ValidationError("--setting must be KEY=VALUE, e.g. default_subsidiary=1; got \"\(setting.prefix(40))\"")
            }
            if AccountingConnection.Settings.commonKeys.contains(String(setting[..<equals])) {
                throw ValidationError("--setting \(setting[..<equals]) has its own option (--objects, --concurrency-limit, --base-url)")
            }
        }
    }

    func apply(to connectionSettings: inout AccountingConnection.Settings) {
        if let objects {
            connectionSettings.objectsToSync = objects.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }
        if let concurrencyLimit { connectionSettings.concurrencyLimit = concurrencyLimit }
        if let readChanges {
            connectionSettings.readChanges = readChanges.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
                !$0.isEmpty
            }
        }
        if let pollInterval { connectionSettings.pollInterval = pollInterval }
        if let baseURL { connectionSettings.baseURL = Self.nonEmpty(baseURL) }
        for setting in settings {
            guard let equals = setting.firstIndex(of: "=") else { continue }
            let key = setting[..<equals].trimmingCharacters(in: .whitespaces)
            connectionSettings.extra[key] = Self.nonEmpty(String(setting[setting.index(after: equals)...]))
        }
    }

    private static func nonEmpty(_ text: String) -> String? {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        return trimmed.isEmpty ? nil : trimmed
    }
}

/// What `--json` prints of a connection: everything but the secrets, of which only the
/// driver's hints (the auth kind, the first characters of ids).
struct ConnectionSummary: Encodable {
    let id: String
    let provider: String
    let name: String
    let accountId: String
    let settings: AccountingConnection.Settings
    let limitKey: String
    let secretHints: [String: String]
    let createdAt: Date?
    let updatedAt: Date?
    /// The hints in the driver's order, for text.
    private let hintList: [(name: String, value: String)]

    enum CodingKeys: String, CodingKey {
        case id, provider, name, accountId, settings, limitKey, secretHints, createdAt, updatedAt
    }

    init(_ connection: AccountingConnection) {
        id = connection.id?.uuidString.lowercased() ?? ""
        provider = connection.provider
        name = connection.name
        accountId = connection.accountID
        settings = connection.settings
        limitKey = Connections.limitKey(of: connection) ?? ""
        hintList = (try? Providers.registry.driver(connection.provider))?.secretHints(connection.secrets) ?? []
        secretHints = Dictionary(hintList.map { ($0.name, $0.value) }, uniquingKeysWith: { first, _ in first })
        createdAt = connection.createdAt
        updatedAt = connection.updatedAt
    }

    var hintsText: String { hintList.map { "\($0.name) \($0.value)" }.joined(separator: ", ") }

    func printText() {
        print("connection \(id)  \(name)  [\(provider)]")
        print("  account \(accountId)")
        for (key, value) in settings.extra.sorted(by: { $0.key < $1.key }) { print("  \(key): \(value)") }
        print("  objects: \(settings.objectsToSync.isEmpty ? "all" : settings.objectsToSync.joined(separator: ", "))")
        if !settings.readChanges.isEmpty {
            print(
                "  reads back: \(settings.readChanges.joined(separator: ", ")) every \(settings.pollInterval ?? ChangeReadSettings.defaultPollInterval) s"
            )
        }
        print("  base url: \(settings.baseURL ?? "the provider's own")")
        print("  concurrency limit \(settings.concurrencyLimit) (limit key \(limitKey))")
        print("  credentials: \(hintsText) (secrets sealed, not shown)")
        if let createdAt, let updatedAt { print("  created \(format(createdAt)), updated \(format(updatedAt))") }
    }
}

extension Connections {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a connection; prints its id.",
            discussion: """
                The credentials never go on the command line, where shell history and ps would keep them: set the provider's variables (\(Providers.registry.drivers.values.sorted { $0.name < $1.name }.map { "\($0.name): " + $0.credentialFields.map(\.environment).joined(separator: ", ") }.joined(separator: "; "))), or pass --secrets-file (a file, or - for stdin). They are sealed with LEDGERSYNC_SECRET_KEY before they reach the database. docs/connections.md says which fields each auth kind needs.

                Also sets the queue's concurrency limit of the connection's limit key (<provider>:<id>) to --concurrency-limit, so all workers together stay under the account's limit.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "A name for people, e.g. \"NetSuite production\".") var name: String
        @Option(help: "The accounting provider: \(Providers.registry.names.joined(separator: ", ")).") var provider: String
        @Option(help: "The provider's account id: NetSuite's account (1234567, 1234567_SB1), Zoho Books' organization id.")
        var accountId: String = ""
        @OptionGroup var settings: ConnectionSettingsOptions
        @OptionGroup var secrets: ConnectionSecretsOptions
        @Flag(help: "Print the new connection as JSON (without secrets) instead of its id.") var json = false

        func run() async throws {
            let connection = try await withStoreErrors(options: Connections.fieldOptions) {
                let driver = try Providers.registry.driver(provider)
                var connectionSettings = AccountingConnection.Settings()
                settings.apply(to: &connectionSettings)
                return try Providers.registry.validated(
                    AccountingConnection(
                        provider: driver.name, name: name.trimmingCharacters(in: .whitespaces), accountID: accountId,
                        settings: connectionSettings, secrets: try secrets.read(for: driver)))
            }
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            // Last before storing, once every local check passed: a driver may spend a
            // one-time grant here (Zoho Books' grant code), which a later refusal would waste.
            let prepared = try await Connections.prepared(connection, pool: pool, box: box)
            let created = try await withStoreErrors(options: Connections.fieldOptions) {
                try await ConnectionStore(pool: pool, secretBox: box).create(prepared)
            }
            try await SyncEnvironment.applyLimits(of: created, queue: JobQueue(pool: pool), providers: Providers.registry)
            await pool.close()
            if json { return try printJSON(ConnectionSummary(created)) }
            // The id alone, so that `id=$(ledgersync connections add …)` works.
            print(created.id!.uuidString.lowercased())
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
            var table = [["ID", "NAME", "PROVIDER", "ACCOUNT", "OBJECTS", "LIMIT", "CREDENTIALS"]]
            for summary in summaries {
                table.append([
                    summary.id, truncate(summary.name, 30), summary.provider, summary.accountId,
                    summary.settings.objectsToSync.isEmpty ? "all" : summary.settings.objectsToSync.joined(separator: ","),
                    "\(summary.settings.concurrencyLimit)", summary.hintsText,
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
                Options left out keep their value; an empty value (--base-url "", --setting default_location=) clears an optional setting. --concurrency-limit also sets the queue's limit of the connection's limit key. --rotate-secrets reads the credentials again, from the provider's variables or --secrets-file, as add does, and replaces them whole: that is also how a connection changes its auth kind (NetSuite token-based authentication to OAuth 2.0) and keeps its id, refs and jobs.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument
        @Option(help: "A new name.") var name: String?
        @OptionGroup var settings: ConnectionSettingsOptions
        @Flag(help: "Replace the credentials with those in the provider's variables or --secrets-file.") var rotateSecrets = false
        @OptionGroup var secrets: ConnectionSecretsOptions
        @Flag(help: "Print the updated connection as JSON (without secrets).") var json = false

        func validate() throws {
            if secrets.secretsFile != nil && !rotateSecrets {
                throw ValidationError("--secrets-file is read only with --rotate-secrets")
            }
            guard name != nil || !settings.isEmpty || rotateSecrets else {
                throw ValidationError(
                    "nothing to update: give --name, --objects, --concurrency-limit, --base-url, --setting, --read-changes, --poll-interval or --rotate-secrets"
                )
            }
        }

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let store = ConnectionStore(pool: pool, secretBox: box)
            let updated = try await withStoreErrors(options: Connections.fieldOptions) {
                var connection = try await store.get(id.uuid)
                if let name { connection.name = name.trimmingCharacters(in: .whitespaces) }
                settings.apply(to: &connection.settings)
                if rotateSecrets { connection.secrets = try secrets.read(for: try Providers.registry.driver(connection.provider)) }
                let checked = try Providers.registry.validated(connection)
                return try await store.update(rotateSecrets ? try await Connections.prepared(checked, pool: pool, box: box) : checked)
            }
            // Only when asked: a limit someone paused with `limits set … 0` stays paused
            // through a rename.
            if settings.concurrencyLimit != nil || !settings.settings.isEmpty {
                try await SyncEnvironment.applyLimits(
                    of: updated, queue: JobQueue(pool: pool), providers: Providers.registry, concurrency: settings.concurrencyLimit != nil,
                    windows: !settings.settings.isEmpty)
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
            for provider in Providers.registry.names {
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
                The provider (or a script at it) signs each event it POSTs to /v1/inbound/<provider>/<connection>/<event> the Standard Webhooks way under this secret; see docs/api.md. The previous secret stops working at once. Sealed with LEDGERSYNC_SECRET_KEY in the database.
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
            FileHandle.standardError.write(
                Data("ledgersync: this is the only time the inbound secret of connection \(id.text) is shown\n".utf8))
        }
    }
}

extension Connections {
    struct Test: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check a connection against its provider: reachability, credentials, account id, limits.",
            discussion: """
                One line per check: PASS, FAIL (what is wrong and what to check) or SKIP (an earlier check failed, or the role may not read it). Exits 0 when no check failed, 1 otherwise. Sends only reads. Environment: DATABASE_URL, LEDGERSYNC_SECRET_KEY, LEDGERSYNC_ALLOW_PRIVATE_NETWORK=1 for a local simulator.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The connection id.") var id: UUIDArgument
        @Option(help: "How long one request may take.") var requestTimeout = DurationArgument(.seconds(30))
        @Flag(help: "Print JSON: {ok, checks: [{name, outcome, detail}]}.") var json = false

        struct Output: Encodable {
            struct Check: Encodable {
                let name: String
                let outcome: String
                let detail: String
            }
            let ok: Bool
            let checks: [Check]
        }

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let connection = try await withStoreErrors { try await ConnectionStore(pool: pool, secretBox: box).get(id.uuid) }
            let driver = try await withStoreErrors { try Providers.registry.driver(connection.provider) }
            let http = HTTPClient(maxConcurrentRequests: 2)
            // The workers' shared token store: a test uses the token they use (a Zoho refresh
            // token allows only a few new ones per window) and leaves a new one for them.
            let checks = await driver.test(
                connection,
                context: ProviderContext(
                    http: http, requestTimeout: requestTimeout.duration, tokens: PostgresTokenStore(pool: pool, secretBox: box)))
            http.shutdown()
            await pool.close()
            let ok = !checks.contains { $0.outcome == .failed }
            if json {
                try printJSON(Output(ok: ok, checks: checks.map { .init(name: $0.name, outcome: $0.outcome.rawValue, detail: $0.detail) }))
            } else {
                for check in checks {
                    let label =
                        switch check.outcome {
                        case .passed: "PASS"
                        case .failed: "FAIL"
                        case .skipped: "SKIP"
                        }
                    print("\(label)  \(check.name): \(check.detail)")
                }
            }
            if !ok {
                throw CLIError.failed(
                    "connection \(id.text) failed: \(checks.filter { $0.outcome == .failed }.map(\.name).joined(separator: ", "))")
            }
        }
    }
}
