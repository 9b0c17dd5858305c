import API
import ArgumentParser
import Foundation
import HTTPClient
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
            Every route but /healthz, /readyz, /openapi.json and the dashboard's sign-in needs a bearer token from `ledgersync tokens create --scope …` holding the route's scope (docs/api.md); the dashboard signs in with `ledgersync dashboard link`. Needs LEDGERSYNC_SECRET_KEY (connections and webhook endpoints hold sealed secrets). See docs/api.md.
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: "Port to listen on.") var port = 8080
    @Option(help: "Address to listen on (0.0.0.0 for every interface, e.g. in a container).") var host = "127.0.0.1"
    @Option(help: "Database connections of this process.") var connections = 8
    @Flag(help: "Also accept the diag.* job kinds (smoke tests, benchmarks).") var diagnosticKinds = false
    @Option(help: "statement_timeout of the API's database connections: a longer statement is cancelled and the request answered 503.")
    var statementTimeout = DurationArgument(APIConfiguration.defaultStatementTimeout)
    @Option(help: "How long a request waits for a free database connection before 503 database_busy.")
    var poolWaitTimeout = DurationArgument(APIConfiguration.defaultPoolWaitTimeout)
    @Option(help: "Close a connection idle (or still sending a request's head) for this long.")
    var idleTimeout = DurationArgument(APIConfiguration.defaultIdleTimeout)
    @Option(help: "How long a dashboard session lasts after sign-in.")
    var dashboardSessionLifetime = DurationArgument(APIConfiguration.defaultSessionLifetime)
    @Flag(
        help:
            "Mark the dashboard cookie Secure on every answer (the API is reached over TLS). Without it, only requests a proxy marks X-Forwarded-Proto: https get it."
    )
    var secureCookies = false

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        for (name, value) in [
            ("--statement-timeout", statementTimeout), ("--pool-wait-timeout", poolWaitTimeout), ("--idle-timeout", idleTimeout),
            ("--dashboard-session-lifetime", dashboardSessionLifetime),
        ] {
            guard value.duration >= .milliseconds(1) else { throw ValidationError("\(name) must be more than 0, got \(value)") }
        }
    }

    func run() async throws {
        let box = try secretBoxFromEnvironment()
        let pool = try await database.openPool(maxConnections: connections) { url, size in
            APIConfiguration.makePool(
                url: url, maxConnections: size, statementTimeout: statementTimeout.duration, waitTimeout: poolWaitTimeout.duration)
        }
        try await checkSecretKey(box, pool: pool)
        // The process's own metrics (HTTP requests) go to this registry; /metrics appends them
        // to what it reads from the database. Bootstrapped once, here, never in the library.
        let processMetrics = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: processMetrics))
        var kinds = APIConfiguration.syncKinds
        if diagnosticKinds { kinds.formUnion(DiagnosticKinds.kinds) }
        // For the routes that call a provider: `POST /v1/connections/{id}/test` and
        // `GET /v1/connections/{id}/reference-data/{kind}`.
        let http = HTTPClient(maxConcurrentRequests: 4)
        defer { http.shutdown() }
        let configuration = APIConfiguration(
            host: host, port: port, pool: pool, secretBox: box, migrations: Schema.migrations,
            providers: Providers.registry,
            providerContext: ProviderContext(
                http: http, requestTimeout: .seconds(30), tokens: PostgresTokenStore(pool: pool, secretBox: box)),
            knownKinds: kinds,
            processMetrics: processMetrics, idleTimeout: idleTimeout.duration, dashboardSessionLifetime: dashboardSessionLifetime.duration,
            secureCookies: secureCookies)
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
        discussion: """
            Only a SHA-256 of each token is stored; `create` prints the token once. Scopes: read (jobs, stats, metrics, external refs), enqueue (POST /v1/jobs and the batch), operate (retry and cancel), admin (connections, secrets, mappings, webhook endpoints, tokens; includes every other scope). See docs/api.md.
            """,
        subcommands: [Create.self, List.self, Revoke.self])
}

/// What `tokens list --json` prints: never the token.
struct TokenSummary: Encodable {
    let id: Int64
    let name: String
    let hint: String
    let scopes: [String]
    let expiresAt: Date?
    let createdAt: Date
    let lastUsedAt: Date?
    let revokedAt: Date?

    init(_ token: APIToken) {
        id = token.id
        name = token.name
        hint = token.hint
        scopes = token.scopes.sorted().map(\.rawValue)
        expiresAt = token.expiresAt
        createdAt = token.createdAt
        lastUsedAt = token.lastUsedAt
        revokedAt = token.revokedAt
    }
}

/// `--scope read,operate` (also repeatable): at least one, each a known scope.
struct ScopeList: ExpressibleByArgument, Sendable {
    let scopes: Set<APIScope>

    init?(argument: String) {
        guard let scopes = try? APIScope.parseList(argument), !scopes.isEmpty else { return nil }
        self.scopes = scopes
    }

    init(_ scopes: Set<APIScope>) { self.scopes = scopes }

    static var allValueStrings: [String] { APIScope.allCases.map(\.rawValue) }

    /// How `--help` shows a default: `read,operate`, as the option is written.
    var defaultValueDescription: String {
        APIScope.allCases.filter { scopes.contains($0) }.map(\.rawValue).joined(separator: ",")
    }
}

extension Tokens {
    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a token and print it (the only time it is shown).",
            discussion: """
                Without --json, stdout is the token alone, so `token=$(ledgersync tokens create --name ci --scope enqueue)` works. --scope is required: give a token only what its holder needs (a billing backend: enqueue,read; the person on call: read,operate).
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Who or what holds the token, e.g. billing-backend.") var name = "default"
        @Option(help: "What the token may do: read, enqueue, operate, admin (comma-separated or repeated; admin includes the others).")
        var scope: [ScopeList] = []
        @Option(help: "Let the token expire after this long (e.g. 90d, 12h); without it, it lives until revoked.")
        var expiresIn: DurationArgument?
        @Flag(help: "Print JSON: the token and its record.") var json = false

        func validate() throws {
            guard !scope.isEmpty else {
                throw ValidationError("--scope is required: one or more of read, enqueue, operate, admin (e.g. --scope read,operate)")
            }
            if let expiresIn, expiresIn.duration < .seconds(1) {
                throw ValidationError("--expires-in must be at least 1s, got \(expiresIn)")
            }
        }

        func run() async throws {
            let scopes = scope.reduce(into: Set<APIScope>()) { $0.formUnion($1.scopes) }
            let expiresAt = expiresIn.map { Date().addingTimeInterval($0.duration.seconds) }
            let pool = try await database.openPool(maxConnections: 1)
            let (token, secret) = try await withStoreErrors(options: ["name": "--name", "expires_at": "--expires-in"]) {
                try await APITokenStore(pool: pool).create(name: name, scopes: scopes, expiresAt: expiresAt)
            }
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
            let expiry = token.expiresAt.map { "expires \(format($0))" } ?? "no expiry"
            FileHandle.standardError.write(
                Data(
                    "ledgersync: token \(token.id) (\(token.name)) created with scopes \(token.scopes.sorted().map(\.rawValue).joined(separator: ",")), \(expiry); this is the only time it is shown\n"
                        .utf8))
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List tokens, oldest first, with their scopes and expiry (never the tokens themselves).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let tokens = try await APITokenStore(pool: pool).list()
            await pool.close()
            if json { return try printJSON(tokens.map(TokenSummary.init)) }
            guard !tokens.isEmpty else { return print("no tokens") }
            var table = [["ID", "NAME", "STARTS WITH", "SCOPES", "EXPIRES", "CREATED", "LAST USED", "REVOKED"]]
            let now = Date()
            for token in tokens {
                let expires = token.expiresAt.map { $0 <= now ? "expired " + format($0) : format($0) } ?? "never"
                table.append([
                    "\(token.id)", truncate(token.name, 40), token.hint + "…", token.scopes.sorted().map(\.rawValue).joined(separator: ","),
                    expires, format(token.createdAt), token.lastUsedAt.map(format) ?? "never", token.revokedAt.map(format) ?? "",
                ])
            }
            printTable(table)
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Revoke a token: requests with it are refused from now on, and its dashboard sessions end.")
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

/// `ledgersync dashboard link`: a one-time sign-in link to the dashboard, so no long-lived
/// token ever travels in a URL.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Sign-in links for the dashboard.",
        subcommands: [Link.self])

    struct Link: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print a one-time sign-in link to the dashboard.",
            discussion: """
                The link holds a random code that works once and only for --expires-in (default 10m); only its SHA-256 is stored. Opening it shows a Sign in button; pressing it opens a dashboard session (an HttpOnly cookie) with --scope and uses the code up.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(name: .customLong("for"), help: "Who the link is for (shown in the API's log with the session).") var label = "dashboard"
        @Option(help: "What the session may do (read to look, operate to retry and cancel).") var scope: [ScopeList] = [
            ScopeList([.read, .operate])
        ]
        @Option(help: "How long the link works (at most 24h).") var expiresIn = DurationArgument(DashboardSessionStore.defaultCodeLifetime)
        @Option(help: "The API's address as the browser reaches it (default: $LEDGERSYNC_API_URL, else http://127.0.0.1:8080).")
        var url: String?
        @Flag(help: "Print JSON: the link and when it expires.") var json = false

        func run() async throws {
            let scopes = scope.reduce(into: Set<APIScope>()) { $0.formUnion($1.scopes) }
            let base = (url ?? ProcessInfo.processInfo.environment["LEDGERSYNC_API_URL"] ?? "http://127.0.0.1:8080")
                .trimmingCharacters(in: CharacterSet(charactersIn: "/"))
            guard base.hasPrefix("http://") || base.hasPrefix("https://") else {
                throw CLIError.usage("--url must start with http:// or https://, got \(base.prefix(80))")
            }
            let pool = try await database.openPool(maxConnections: 1)
            let (code, expiresAt) = try await withStoreErrors(options: ["expires_in": "--expires-in", "for": "--for", "scopes": "--scope"])
            {
                try await DashboardSessionStore(pool: pool).createSignInCode(scopes: scopes, label: label, lifetime: expiresIn.duration)
            }
            await pool.close()
            let link = "\(base)/dashboard/sign-in?code=\(code)"
            if json {
                struct Created: Encodable {
                    let url: String
                    let expiresAt: Date
                    let scopes: [String]
                }
                return try printJSON(Created(url: link, expiresAt: expiresAt, scopes: scopes.sorted().map(\.rawValue)))
            }
            print(link)
            FileHandle.standardError.write(Data("ledgersync: the link works once, until \(format(expiresAt))\n".utf8))
        }
    }
}
