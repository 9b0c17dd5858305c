import Foundation
import HTTPClient
import Hummingbird
import JobQueue
import LedgerCrypto
import Logging
import Postgres
import Prometheus
import ServiceLifecycle
import Sync
import UnixSignals

/// What the API process needs: where to listen, the database, the key that opens sealed
/// secrets, and what this binary knows (migrations, runnable kinds).
public struct APIConfiguration: Sendable {
    public var host: String
    /// 0 picks a free port (tests); `APIServer.run`'s `onListening` learns which.
    public var port: Int
    public var pool: ConnectionPool
    public var secretBox: SecretBox
    /// Every migration line of this binary; `/readyz` is ready only when the database has them all.
    public var migrations: [Migration]
    /// Job kinds a worker of this installation runs, besides any published in `ledgersync.job_kinds`.
    public var knownKinds: Set<String>
    /// This process's own metrics (Hummingbird's request metrics once the command bootstraps
    /// swift-metrics with it); appended to `/metrics`.
    public var processMetrics: PrometheusCollectorRegistry?
    /// A connection with no request in flight for this long is closed, and so is one whose
    /// client has not finished sending a request's head by then (a head that trickles in a
    /// byte at a time holds a connection no longer than this).
    public var idleTimeout: Duration
    /// How long a dashboard session lives after sign-in.
    public var dashboardSessionLifetime: Duration
    /// Mark the dashboard cookie Secure on every answer (the API is reached over TLS), not only
    /// when a proxy sends `X-Forwarded-Proto: https`.
    public var secureCookies: Bool
    /// Whether webhook and connection URLs may point at loopback, private and link-local
    /// networks (`NetworkGuard`); by default what `LEDGERSYNC_ALLOW_PRIVATE_NETWORK` says.
    public var allowPrivateNetworks: Bool = NetworkGuard.privateNetworksAllowed()
    /// The providers this installation knows (the executable registers them).
    public var providers: ProviderRegistry
    /// What `POST /v1/connections/{id}/test` gives a provider (HTTP client, timeouts).
    public var providerContext: ProviderContext

    public init(
        host: String = "127.0.0.1", port: Int = 8080, pool: ConnectionPool, secretBox: SecretBox, migrations: [Migration],
        providers: ProviderRegistry, providerContext: ProviderContext,
        knownKinds: Set<String> = APIConfiguration.syncKinds, processMetrics: PrometheusCollectorRegistry? = nil,
        idleTimeout: Duration = APIConfiguration.defaultIdleTimeout,
        dashboardSessionLifetime: Duration = APIConfiguration.defaultSessionLifetime,
        secureCookies: Bool = false
    ) {
        self.host = host
        self.port = port
        self.pool = pool
        self.secretBox = secretBox
        self.migrations = migrations
        self.providers = providers
        self.providerContext = providerContext
        self.knownKinds = knownKinds
        self.processMetrics = processMetrics
        self.idleTimeout = idleTimeout
        self.dashboardSessionLifetime = dashboardSessionLifetime
        self.secureCookies = secureCookies
    }

    public static let defaultIdleTimeout: Duration = .seconds(30)
    public static let defaultSessionLifetime: Duration = .seconds(8 * 3600)
    /// The longest one statement of the API may run (`statement_timeout` of its connections):
    /// every route reads or writes a bounded amount, so a statement past this is a runaway.
    public static let defaultStatementTimeout: Duration = .seconds(15)
    /// The longest a request waits for one of the API's database connections before 503.
    public static let defaultPoolWaitTimeout: Duration = .seconds(5)

    /// The API's database pool: every connection runs with `statement_timeout`, and a request
    /// waits at most `waitTimeout` for a free connection (then 503 `database_busy`).
    public static func makePool(
        url: String, maxConnections: Int, statementTimeout: Duration = defaultStatementTimeout,
        waitTimeout: Duration = defaultPoolWaitTimeout
    ) -> ConnectionPool {
        let milliseconds = statementTimeout.components.seconds * 1000 + statementTimeout.components.attoseconds / 1_000_000_000_000_000
        return ConnectionPool(
            url: url, maxConnections: maxConnections, applicationName: "ledgersync-api", waitTimeout: waitTimeout,
            sessionSettings: ["statement_timeout": "\(max(1, milliseconds))ms"])
    }

    /// The sync kinds and webhook delivery: what `ledgersync worker` runs.
    public static let syncKinds: Set<String> = Set(SyncJobKind.allCases.map(\.rawValue) + [WebhookDelivery.kind])
}

/// The HTTP API, `/metrics` and the dashboard, in one Hummingbird application.
public enum APIServer {
    /// The router with every route; `run` serves it.
    public static func router(_ configuration: APIConfiguration) -> Router<APIRequestContext> {
        let pool = configuration.pool
        let queue = JobQueue(pool: pool)
        let tokens = APITokenStore(pool: pool)
        let router = Router(context: APIRequestContext.self)
        // Metrics outermost, so they count the status the client got (after the error middleware
        // turned a thrown error into a 4xx), not the error.
        if configuration.processMetrics != nil { router.add(middleware: MetricsMiddleware()) }
        // Around the error middleware, so errors and unknown routes get the headers too.
        router.add(middleware: SecurityHeadersMiddleware(behindTLS: configuration.secureCookies))
        router.add(middleware: APIErrorMiddleware())

        let operations = OperationsController(
            queue: queue, migrations: configuration.migrations, processMetrics: configuration.processMetrics)
        operations.registerPublic(on: router)

        let protected = router.group().add(middleware: BearerAuthMiddleware(tokens: tokens))
        operations.registerProtected(on: protected)
        let v1 = protected.group("v1")
        let connections = ConnectionStore(
            pool: pool, secretBox: configuration.secretBox, allowPrivateNetworks: configuration.allowPrivateNetworks)
        JobsController(queue: queue, connections: connections, knownKinds: configuration.knownKinds).register(on: v1)
        ConnectionsController(
            store: connections, queue: queue, providers: configuration.providers, providerContext: configuration.providerContext
        ).register(on: v1)
        MappingsController(store: MappingStore(pool: pool), connections: connections, providers: configuration.providers).register(on: v1)
        ReferenceDataController(
            connections: connections, providers: configuration.providers, providerContext: configuration.providerContext
        ).register(on: v1)
        WebhookEndpointsController(
            store: WebhookEndpointStore(
                pool: pool, secretBox: configuration.secretBox, allowPrivateNetworks: configuration.allowPrivateNetworks),
            queue: queue
        ).register(on: v1)
        ExternalRefsController(store: ExternalRefStore(pool: pool)).register(on: v1)
        ReconciliationController(store: ReconcileStore(pool: pool), connections: connections).register(on: v1)
        RefsController(store: ExternalRefStore(pool: pool), connections: connections).register(on: v1)
        SyncStatusController(store: SyncStatusStore(pool: pool), queue: queue).register(on: v1)
        RecordsController(queue: queue).register(on: v1)
        ChangesController(store: ChangeEventStore(pool: pool), connections: connections).register(on: v1)
        TokensController(tokens: tokens).register(on: v1)
        let inbound = InboundController(
            secrets: InboundSecretStore(pool: pool, secretBox: configuration.secretBox),
            connections: connections, providers: configuration.providers, refs: ExternalRefStore(pool: pool),
            endpoints: WebhookEndpointStore(pool: pool, secretBox: configuration.secretBox), queue: queue)
        inbound.registerProtected(on: v1)
        // Signed by the provider per connection instead of a bearer token.
        inbound.registerPublic(on: router)

        DashboardController(
            queue: queue, tokens: tokens, sessions: DashboardSessionStore(pool: pool),
            sessionLifetime: configuration.dashboardSessionLifetime,
            secureCookies: configuration.secureCookies
        ).register(on: router)
        return router
    }

    /// Serves until the task is cancelled or a graceful-shutdown signal arrives (when
    /// `gracefulShutdownSignals` is not empty); `onListening` gets the bound port.
    public static func run(
        _ configuration: APIConfiguration, logger: Logger = Logger(label: "ledgersync.api"),
        gracefulShutdownSignals: [UnixSignal] = [.sigterm, .sigint],
        onListening: @escaping @Sendable (Int) async -> Void = { _ in }
    ) async throws {
        let app = Application(
            router: router(configuration),
            server: .http1(
                configuration: .init(
                    idleTimeout: .nanoseconds(
                        configuration.idleTimeout.components.seconds * 1_000_000_000 + configuration.idleTimeout.components.attoseconds
                            / 1_000_000_000))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "ledgersync"),
            onServerRunning: { channel in await onListening(channel.localAddress?.port ?? configuration.port) },
            logger: logger)
        try await app.runService(gracefulShutdownSignals: gracefulShutdownSignals)
    }
}
