import Foundation
import JobQueue
import Logging
import Postgres

// How the sync jobs keep `ledgersync.sync_status` current (sync migration 016,
// docs/sync-status.md). Every write here is best effort: a status that cannot be written is
// logged, never the job's failure (after a successful provider write, failing the job would
// only repeat the write).

extension SyncEnvironment {
    /// The status rows (sync migration 016).
    public var status: SyncStatusStore { SyncStatusStore(pool: queue.pool) }

    /// A sync job starts running: its object is pending (the row is created when the job was
    /// not enqueued through `enqueue_sync`, which makes it pending already), its error cleared.
    func recordStarted(_ context: JobContext) async {
        do {
            try await status.pending(jobID: context.job.id)
        } catch {
            context.logger.warning("could not mark the job's billing object pending", metadata: ["error": "\(error)"])
        }
    }

    /// The job waits or will be retried: its object stays pending, with what it waits for as
    /// its last error (a dependency, a retry's cause). A rate-limit snooze writes nothing: it
    /// says nothing about the object, and the row is pending since the job started.
    func recordWaiting(_ context: JobContext, _ error: JobError) async {
        guard error.errorClass != SyncError.ErrorClass.rateLimited.rawValue else { return }
        do {
            try await status.pending(jobID: context.job.id, reason: error.message, code: error.code ?? error.errorClass)
        } catch {
            context.logger.warning("could not record why the job's billing object is pending", metadata: ["error": "\(error)"])
        }
    }

    /// The job failed for good: `needs_action` when `cause` is for a person to fix (a
    /// missing mapping, a closed period, a locked record: `needsAction(_:)`), else `failed`.
    func recordFailed(_ context: JobContext, _ error: JobError, cause: any Error) async {
        do {
            try await status.failed(
                jobID: context.job.id, needsAction: Self.needsAction(cause), error: error.message, code: error.code ?? error.errorClass)
        } catch {
            context.logger.warning("could not record the job's failure on its billing object", metadata: ["error": "\(error)"])
        }
    }

    /// Whether a job's failure is for a person to fix before a retry can succeed: a mapping
    /// that is missing (`StoreError.invalidMapping`), or what the provider's error parser
    /// marked (`SyncError.needsAction`: a closed period, a locked record).
    public static func needsAction(_ error: any Error) -> Bool {
        switch error {
        case let error as SyncError: error.needsAction
        case let error as StoreError: error.code == .invalidMapping
        default: false
        }
    }
}

extension SyncSession {
    /// After a successful provider write of `objectType` `billingID` (the job's own document
    /// when `documentPath` is nil, else the one at that path of its args): the row is
    /// `synced` with the provider id, the link (`ProviderDriver.recordLink`), the document
    /// and its digest; and the success webhook (`AccountingSyncedEvent`) is enqueued to every
    /// endpoint that wants it, in the same transaction, once per job and object. Failing is
    /// logged: the write succeeded.
    func recordSynced(
        _ objectType: ExternalRef.ObjectType, billingID: String, providerID: String, customerBillingID: String?, documentPath: [String]?
    ) async {
        let connection = target.connection
        let link = (try? sync.providers.driver(connection.provider))?.recordLink(connection, objectType, providerID: providerID)
        let kind = context.job.kind
        let voided = kind == SyncJobKind.invoiceVoid.rawValue || kind == SyncJobKind.creditMemoVoid.rawValue
        do {
            // The endpoints are read first, on their own connection: the transaction below
            // holds one, and a pool of one must not wait for a second. Success events go to
            // the endpoints that name them in their event types only: one arrives per object
            // synced, and an endpoint made for every event before they existed (a receiver of
            // provider errors) keeps receiving what it did.
            let endpoints = try await sync.endpoints.list().filter { !$0.disabled && $0.eventTypes != nil }
            let jobID = context.job.id
            let sent = try await sync.queue.pool.withTransaction { db -> (AccountingSyncedEvent, Int)? in
                guard
                    let synced = try await sync.status.synced(
                        jobID: jobID, objectType: objectType, billingID: billingID, documentPath: documentPath, providerID: providerID,
                        providerLink: link, customerBillingID: customerBillingID, on: db),
                    !synced.repeated
                else { return nil }
                let event = AccountingSyncedEvent(
                    jobID: jobID, jobKind: kind, createdAt: Date(), connectionID: connectionID, connectionName: connection.name,
                    provider: connection.provider, objectType: objectType, billingID: billingID, number: synced.documentNumber,
                    customerID: synced.customerBillingID ?? customerBillingID, providerID: providerID, providerLink: link,
                    created: synced.first, voided: voided)
                let body = try event.body()
                var count = 0
                for endpoint in endpoints where endpoint.wants(event.type) {
                    let args = WebhookDelivery.Args(endpointID: endpoint.id, eventID: event.id, eventType: event.type, body: body)
                    _ = try await sync.queue.enqueue(
                        EnqueueRequest(
                            kind: WebhookDelivery.kind, args: try JSONText(encoding: args),
                            uniqueKey: "webhook:\(endpoint.id.uuidString.lowercased()):\(event.id)"),
                        on: db)
                    count += 1
                }
                return (event, count)
            }
            if let (event, count) = sent, count > 0 {
                context.logger.info(
                    "sync succeeded; webhook enqueued",
                    metadata: ["event": "\(event.id)", "type": "\(event.type)", "deliveries": "\(count)"])
            }
        } catch {
            context.logger.warning(
                "could not record the billing object's sync status after a successful write",
                metadata: ["error": "\(error)", "object": "\(objectType.rawValue) \(billingID)"])
        }
    }
}
