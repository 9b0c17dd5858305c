import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import Postgres

/// Tunables of the sync job kinds (the worker's command line sets them).
public struct SyncOptions: Sendable {
    /// Attempts, run timeout and backoff of the five sync kinds.
    public var jobOptions = JobKindOptions(maxAttempts: 10, timeout: .seconds(120), backoff: Backoff(base: 5, cap: 1800))
    /// `jobOptions` for the document sync kinds, whose every provider call goes through
    /// `PacedProvider`, which waits for the limit slot first: the worker may claim standby
    /// runs of them (queue migration 013).
    var standbyJobOptions: JobKindOptions {
        var options = jobOptions
        options.standby = true
        return options
    }
    /// Attempts, run timeout and backoff of `webhook.deliver`: many attempts over about a
    /// day, because a receiver may be down for hours.
    public var webhookOptions = JobKindOptions(maxAttempts: 16, timeout: .seconds(60), backoff: Backoff(base: 5, cap: 3600))
    /// A job waiting for its customer or invoice (a dependency snooze uses no attempt) fails
    /// once it is this old: a payment for an invoice that never syncs must surface, not wait
    /// forever.
    public var dependencyTimeout: Duration = .seconds(86_400)
    /// The change polls' tunables (`changes.poll`, docs/changes.md).
    public var changes = ChangePollOptions()

    public init() {}
}

/// Everything the sync handlers share: the stores, the providers, the HTTP client for
/// webhooks. Built once per worker process over the worker's pool.
public struct SyncEnvironment: Sendable {
    public let connections: ConnectionStore
    public let mappings: MappingStore
    public let refs: ExternalRefStore
    public let endpoints: WebhookEndpointStore
    public let queue: JobQueue
    /// The drivers this installation knows, and their providers per connection version.
    public let providers: ProviderRegistry
    /// What a provider gets from this process (HTTP client, timeouts, the token store).
    public let providerContext: ProviderContext
    public let http: HTTPClient
    public let options: SyncOptions

    public init(
        pool: ConnectionPool, secretBox: SecretBox, http: HTTPClient, options: SyncOptions = SyncOptions(), providers: ProviderRegistry,
        providerContext: ProviderContext? = nil
    ) {
        connections = ConnectionStore(pool: pool, secretBox: secretBox)
        mappings = MappingStore(pool: pool)
        refs = ExternalRefStore(pool: pool)
        endpoints = WebhookEndpointStore(pool: pool, secretBox: secretBox)
        queue = JobQueue(pool: pool)
        self.providers = providers
        self.providerContext = providerContext ?? ProviderContext(http: http, requestTimeout: .seconds(60))
        self.http = http
        self.options = options
    }

    /// The job kinds of the sync: the pushes, `webhook.deliver` and `changes.poll`.
    public func register(in registry: inout JobRegistry) {
        registry.register(CustomerSyncJob(sync: self))
        registry.register(InvoicePushJob(sync: self))
        registry.register(SalesOrderPushJob(sync: self))
        registry.register(CreditMemoPushJob(sync: self))
        registry.register(InvoiceVoidJob(sync: self))
        registry.register(CreditMemoVoidJob(sync: self))
        registry.register(PaymentApplyJob(sync: self))
        registry.register(RecordActionJob(sync: self))
        registry.register(WebhookDeliverJob(endpoints: endpoints, http: http, options: options.webhookOptions))
        registry.register(ChangePollJob(sync: self))
        registry.register(ReconcileRunJob(sync: self))
    }

    /// The queue's limit key of a connection: all workers together run at most the account's
    /// concurrency limit of jobs with it. `ledgersync.enqueue_sync` builds the same key in SQL.
    public static func limitKey(provider: String, connection: UUID) -> String {
        "\(provider):\(connection.uuidString.lowercased())"
    }

    /// Sets the queue's limits of a connection's limit key from its settings: the concurrency
    /// limit, and the rate windows its driver says the provider counts. A driver that names
    /// none leaves the key's windows alone (a person may have set some: `limits set --window`).
    /// An update sets only what it changed (`concurrency`, `windows`): a limit someone paused
    /// with `limits set … 0` stays paused through a rename.
    public static func applyLimits(
        of connection: AccountingConnection, queue: JobQueue, providers: ProviderRegistry, concurrency: Bool = true, windows: Bool = true
    ) async throws {
        guard let id = connection.id else { return }
        let key = limitKey(provider: connection.provider, connection: id)
        if concurrency { try await queue.setConcurrencyLimit(key, maxRunning: connection.settings.concurrencyLimit) }
        let rateWindows = try providers.driver(connection.provider).rateWindows(connection.settings)
        if windows && !rateWindows.isEmpty { try await queue.setRateWindows(key, rateWindows) }
    }
}
