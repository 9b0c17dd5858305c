import Foundation
import JobQueue
import Postgres

/// The webhook a stored reconciliation run sends (`reconciliation.completed`) with its counts,
/// signed like every webhook. `drift` says whether anything is to be looked at.
public struct ReconciliationEvent: Sendable, Equatable {
    public static let type = "reconciliation.completed"

    public let runID: Int64
    public let connectionID: UUID
    public let provider: String
    public let summary: ReconcileSummary

    public init(runID: Int64, connectionID: UUID, provider: String, summary: ReconcileSummary) {
        self.runID = runID
        self.connectionID = connectionID
        self.provider = provider
        self.summary = summary
    }

    /// One per run.
    public var id: String { "evt_reconcile_\(connectionID.uuidString.lowercased())_\(runID)" }

    /// The exact bytes signed and sent.
    public func body(now: Date = Date()) throws -> String {
        struct Body: Encodable {
            let id: String
            let type: String
            let createdAt: Date
            let connectionID: String
            let provider: String
            let runID: Int64
            let drift: Bool
            let counts: ReconcileSummary
            enum CodingKeys: String, CodingKey {
                case id, type
                case createdAt = "created_at"
                case connectionID = "connection_id"
                case provider
                case runID = "run_id"
                case drift, counts
            }
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        let body = Body(
            id: id, type: Self.type, createdAt: now, connectionID: connectionID.uuidString.lowercased(), provider: provider,
            runID: runID, drift: summary.hasDrift, counts: summary)
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }
}

/// `reconcile.run` {connection_id, since?, object_types?}: one reconciliation of a connection,
/// stored (sync migration 018) and announced by a `reconciliation.completed` webhook. For a
/// nightly run, enqueue it from cron with a unique key (docs/reconciliation.md). It reports;
/// it never repairs (a person runs `ledgersync reconcile --repair` after reading the report).
public struct ReconcileRunJob: JobHandler {
    public static let kind = "reconcile.run"

    public struct Args: Decodable, Sendable {
        public let connectionID: UUID
        public let since: Date?
        public let objectTypes: [ExternalRef.ObjectType]?

        enum CodingKeys: String, CodingKey {
            case connectionID = "connection_id"
            case since
            case objectTypes = "object_types"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            connectionID = try c.decode(UUID.self, forKey: .connectionID)
            if let text = try c.decodeIfPresent(String.self, forKey: .since) {
                guard let date = ProviderTime.parseDateOrTime(text) else {
                    throw DecodingError.dataCorruptedError(
                        forKey: .since, in: c,
                        debugDescription: "since must be a date (2026-11-01) or an ISO 8601 time, got \"\(text.prefix(40))\"")
                }
                since = date
            } else {
                since = nil
            }
            objectTypes = try c.decodeIfPresent([ExternalRef.ObjectType].self, forKey: .objectTypes)
        }
    }

    let sync: SyncEnvironment
    public var options: JobKindOptions { JobKindOptions(maxAttempts: 3, timeout: .seconds(3600), backoff: Backoff(base: 60, cap: 1800)) }

    public init(sync: SyncEnvironment) { self.sync = sync }

    public func run(_ args: Args, context: JobContext) async throws {
        do {
            let connection = try await sync.connections.get(args.connectionID)
            let provider = try await sync.providers.provider(for: connection, context: sync.providerContext)
            let reconciler = try Reconciler(
                pool: context.pool, connection: connection, mappings: try await sync.mappings.mappingSet(connection: args.connectionID),
                provider: provider)
            var options = Reconciler.Options(since: args.since, objectTypes: args.objectTypes)
            options.concurrency = connection.settings.concurrencyLimit
            let recorder = ReconcileStore.Recorder()
            let summary = try await reconciler.run(options) { recorder.record($0) }
            let store = ReconcileStore(pool: context.pool)
            let runID = try await store.store(
                summary, findings: recorder, jobID: context.job.id, since: args.since, objectTypes: args.objectTypes)
            let event = ReconciliationEvent(runID: runID, connectionID: args.connectionID, provider: connection.provider, summary: summary)
            let deliveries = try await WebhookDelivery.enqueue(
                eventID: event.id, eventType: ReconciliationEvent.type, body: try event.body(), endpoints: sync.endpoints, queue: sync.queue
            )
            context.logger.info(
                "reconciliation stored",
                metadata: [
                    "run": "\(runID)", "checked": "\(summary.checked)", "missing": "\(summary.missing)", "changed": "\(summary.changed)",
                    "extra": "\(summary.extra)", "unlinked": "\(summary.unlinked)", "deliveries": "\(deliveries.count)",
                ])
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw sync.jobError(for: error, job: context.job)
        }
    }
}
