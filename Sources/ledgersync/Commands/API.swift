import API
import ArgumentParser
import Foundation
import Logging
import Metrics
import Postgres
import Prometheus
import Sync

struct APICommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "api",
        abstract: "Serve the HTTP API, /metrics and the dashboard until SIGTERM/SIGINT.",
        discussion: """
            Every route but /healthz, /readyz and /openapi.json needs a bearer token from `ledgersync tokens create`. Needs LEDGERSYNC_SECRET_KEY (connections and webhook endpoints hold sealed secrets). See docs/api.md.
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Address to listen on (0.0.0.0 for every interface, e.g. in a container).") var host = "127.0.0.1"
    @Option(help: "Database connections of this process.") var connections = 8
    @Flag(help: "Also accept the diag.* job kinds (smoke tests, benchmarks).") var diagnosticKinds = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
    }

    func run() async throws {
        let box = try secretBoxFromEnvironment()
        let pool = try await database.openPool(maxConnections: connections)
        try await checkSecretKey(box, pool: pool)
        // The process's own metrics (HTTP requests) go to this registry; /metrics appends them
        // to what it reads from the database. Bootstrapped once, here, never in the library.
        let processMetrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: processMetrics))
        var kinds = APIConfiguration.syncKinds
        if diagnosticKinds { kinds.formUnion(DiagnosticKinds.kinds) }
        let configuration = APIConfiguration(
            host: host, port: port, pool: pool, secretBox: box, migrations: Schema.migrations, knownKinds: kinds,
            processMetrics: processMetrics)
        let logger = Logger(label: "ledgersync.api")
        try await APIServer.run(configuration, logger: logger) { port in
            logger.info("listening", metadata: ["address": "http://\(host):\(port)"])
        }
        await pool.close()
    }
}

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, list and revoke the HTTP API's bearer tokens.",
        discussion: "Only a SHA-256 of each token is stored; `create` prints the token once.",
        subcommands: [Create.self, List.self, Revoke.self])
}

/// What `tokens list --json` prints: never the token.
struct TokenSummary: Encodable {
    let id: Int64
    let name: String
    let hint: String
    let createdAt: Date
    let lastUsedAt: Date?
    let revokedAt: Date?

    init(_ token: APIToken) {
        id = token.id
        name = token.name
        hint = token.hint
        createdAt = token.createdAt
        lastUsedAt = token.lastUsedAt
        revokedAt = token.revokedAt
    }
}

extension Tokens {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (the only time it is shown).",
            discussion: "Without --json, stdout is the token alone, so `token=$(ledgersync tokens create --name ci)` works.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Who or what holds the token, e.g. billing-backend.") var name = "default"
        @Flag(help: "Print JSON: the token and its record.") var json = false

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let (token, secret) = try await withStoreErrors(options: ["name": "--name"]) { try await APITokenStore(pool: pool).create(name: name) }
            await pool.close()
            if json {
                struct Created: Encodable {
                    let token: String
                    let record: TokenSummary
                }
                try printJSON(Created(token: secret, record: TokenSummary(token)))
            } else {
                print(secret)
            }
            FileHandle.standardError.write(Data("ledgersync: token \(token.id) (\(token.name)) created; this is the only time it is shown\n".utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List tokens, oldest first (never the tokens themselves).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let tokens = try await APITokenStore(pool: pool).list()
            await pool.close()
            if json { return try printJSON(tokens.map(TokenSummary.init)) }
            guard !tokens.isEmpty else { return print("no tokens") }
            var table = [["ID", "NAME", "STARTS WITH", "CREATED", "LAST USED", "REVOKED"]]
            for token in tokens {
                table.append([
                    "\(token.id)", truncate(token.name, 40), token.hint + "…", format(token.createdAt),
                    token.lastUsedAt.map(format) ?? "never", token.revokedAt.map(format) ?? "",
                ])
            }
            printTable(table)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a token: requests with it are refused from now on.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The token id (from `tokens list`).") var id: Int64

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let token = try await APITokenStore(pool: pool).revoke(id: id)
            await pool.close()
            guard let token else { throw CLIError.notFound("no token with id \(id)") }
            print("revoked token \(token.id) (\(token.name))")
        }
    }
}
