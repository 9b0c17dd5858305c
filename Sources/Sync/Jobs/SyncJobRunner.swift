import Foundation
import JobQueue
import Logging

/// The args every sync job carries besides its document: which connection to write to, and
/// (for documents that do not name it) the billing customer. `ledgersync.enqueue_sync` writes
/// both; the document itself is read from the same args by `DocumentDecoder`.
public struct SyncJobArgs: Decodable, Sendable {
    public let connectionID: UUID
    public let customerID: String?

    enum CodingKeys: String, CodingKey {
        case connectionID = "connection_id"
        case customerID = "customer_id"
    }
}

/// A sync job's args decoded once, for its handler: the connection and customer of
/// `SyncJobArgs`, its document decoded and validated (errors name the field), and the
/// envelope the document arrived under. Built by `SyncEnvironment.run(_:_:kind:_:_:)` and
/// passed down; nothing below it reads the args text for them again.
struct SyncJobInput<D: BillingDocument>: Sendable {
    let kind: SyncJobKind
    let connectionID: UUID
    /// `customer_id` of the args (enqueue_sync writes it when it knows the customer).
    let customerID: String?
    /// The key the document sits under in the args; the kind's own one for a bare document
    /// (paths into the args, e.g. of custom field values, start with it either way).
    let envelope: String
    let document: D

    init(kind: SyncJobKind, args: SyncJobArgs, text: String) throws {
        self.kind = kind
        connectionID = args.connectionID
        customerID = args.customerID
        document = try DocumentDecoder.decode(D.self, from: text)
        envelope = DocumentDecoder.envelope(of: D.self, in: text) ?? kind.definition.envelope
    }
}

/// What one running sync job works with.
struct SyncSession: Sendable {
    let sync: SyncEnvironment
    let context: JobContext
    let args: SyncJobArgs
    let target: SyncTarget
    let provider: any AccountingProvider

    var connectionID: UUID { target.connectionID }

    /// The provider id of the billing customer `customerID`. A customer that is not at the
    /// provider yet is pushed first when the document carries it (an invoice usually does);
    /// otherwise the job waits for the `customer.sync` that will create it.
    func customerRef(_ customerID: String, document customer: BillingCustomer?, at path: [String]) async throws -> String {
        if let ref = try await sync.refs.lookup(connection: connectionID, objectType: .customer, billingID: customerID) {
            return ref.providerID
        }
        guard let customer, customer.lagoID == customerID else {
            throw await waitFor(.customer, customerID)
        }
        return try await pushCustomer(customer, at: path)
    }

    /// Upserts a customer found at `path` in the args (["customer"], ["invoice", "customer"]).
    /// `last`: this is the job's last provider request (see `recordResult`).
    func pushCustomer(_ customer: BillingCustomer, at path: [String], last: Bool = false) async throws -> String {
        let id = try await provider.upsertCustomer(
            customer, target: try await target(recordType: "customer", at: path, writing: .customer, customer.lagoID))
        if last { context.releaseLimitSlot() }
        try await sync.refs.record(connection: connectionID, objectType: .customer, billingID: customer.lagoID, providerID: id)
        await wakeWaiting(.customer, customer.lagoID)
        // A customer.sync job's document is its own (bare or enveloped); an invoice's
        // customer is at `path` in the args.
        await recordSynced(
            .customer, billingID: customer.lagoID, providerID: id, customerBillingID: customer.lagoID,
            documentPath: context.job.kind == SyncJobKind.customerSync.rawValue ? nil : path)
        return id
    }

    /// Records the provider's id of the job's document after the job's last provider
    /// request. The connection's concurrency limit counts requests in flight, so the slot
    /// is given back first: writing the id, storing the result and fetching the next job
    /// take a few milliseconds (a durable commit each) in which another job can already be
    /// talking to the provider. No provider request may follow this call.
    func recordResult(
        _ objectType: ExternalRef.ObjectType, billingID: String, providerID: String, customerBillingID: String
    ) async throws {
        context.releaseLimitSlot()
        _ = try await sync.refs.record(
            connection: connectionID, objectType: objectType, billingID: billingID, providerID: providerID,
            customerBillingID: customerBillingID)
        if objectType == .invoice || objectType == .customer || objectType == .creditMemo { await wakeWaiting(objectType, billingID) }
        await recordSynced(
            objectType, billingID: billingID, providerID: providerID, customerBillingID: customerBillingID, documentPath: nil)
    }

    /// After the job's provider write succeeded: stores the `fallback_item` warning for the
    /// lines of `objectType` `billingID` that landed on the connection's fallback item, or
    /// removes the object's earlier one when none did (sync migration 012). Decided here, from
    /// the document and the mappings, not by the provider. A warning that cannot be written
    /// is logged: the write it is about succeeded, and failing the job would repeat it.
    func recordFallbackWarning(_ lines: [FallbackLine], _ objectType: ExternalRef.ObjectType, billingID: String) async {
        let warning = target.mappings.fallbackWarning(lines)
        do {
            try await JobWarnings.record(
                warning, code: JobWarning.fallbackItem, jobID: context.job.id, connection: connectionID,
                objectType: objectType.rawValue, billingID: billingID, pool: context.pool)
            if let warning {
                context.logger.warning(
                    "lines put on the connection's fallback item",
                    metadata: ["warning": "\(warning.message)", "object": "\(objectType.rawValue) \(billingID)"])
            }
        } catch {
            context.logger.warning(
                "could not store the job's fallback-item warning", metadata: ["error": "\(error)", "lines": "\(lines.count)"])
        }
    }

    /// The target with the custom field values of the document at `path` in the args (the
    /// path's first key is the envelope; a bare document is the args themselves).
    func target(recordType: String, at path: [String]) -> SyncTarget {
        var target = self.target
        target.customFields = CustomFieldValue.resolve(target.mappings, recordType: recordType, args: context.job.args.text, at: path)
        return target
    }

    /// The provider id of an invoice; waits (dependency) while its `invoice.push` has not run.
    func invoiceRef(_ invoiceID: String) async throws -> ExternalRef {
        guard let ref = try await sync.refs.lookup(connection: connectionID, objectType: .invoice, billingID: invoiceID) else {
            throw await waitFor(.invoice, invoiceID)
        }
        return ref
    }

    /// What a job that needs `objectType` `billingID` (not at the provider yet) does, after
    /// recording its wait (sync migrations 007, 009), so the job's views say what it waits
    /// for ("waiting for invoice inv_1 (invoice.push job 12)"):
    ///
    /// - it PARKS on the object's wait key (`SyncSession.waitKey`): it holds no place in
    ///   the customer's lane meanwhile, and rejoins it as soon as the object's provider id
    ///   is recorded (`wakeWaiting`) or the job that would create it ends without it;
    /// - when no unfinished job creates the object and the latest that tried failed for
    ///   good (or was cancelled), it fails now (class `dependency`), naming that job;
    /// - with no job at all creating it, it stays parked until `--dependency-timeout`.
    ///
    /// The park's fallback time is a safety net only (30 s while a job that creates the
    /// object is queued; up to 5 minutes, never past the timeout, while none is).
    func waitFor(_ objectType: ExternalRef.ObjectType, _ billingID: String) async -> JobError {
        let kind = Self.creatorKind(of: objectType)
        var message = "waiting for \(objectType.rawValue) \(billingID): not synced to this connection yet"
        var fallback = SyncError.dependencyDelay
        do {
            let row = try await context.pool.query(
                SyncSQL.awaitDependency, [context.job.id, connectionID.uuidString, objectType.rawValue, billingID]
            ).rows.first
            if let failedJob = try row?.decodeIfPresent("failed_job_id", as: Int64.self) {
                let state = try row?.decodeIfPresent("failed_state", as: String.self)
                let reason = try row?.decodeIfPresent("failed_reason", as: String.self)
                let ended = state == "cancelled" ? "was cancelled" : "failed"
                return JobError(
                    action: .fail, errorClass: SyncError.ErrorClass.dependency.rawValue,
                    message: "\(objectType.rawValue) \(billingID) cannot be synced: its \(kind) job \(failedJob) \(ended)"
                        + (reason.map { ": \($0)" } ?? ""))
            }
            if let awaited = try row?.decodeIfPresent("awaited_job_id", as: Int64.self) {
                message = "waiting for \(objectType.rawValue) \(billingID) (\(kind) job \(awaited))"
            } else {
                message += " (no queued job creates it)"
                fallback = .seconds(300)
            }
        } catch {
            context.logger.warning("could not record what the job waits for", metadata: ["error": "\(error)"])
        }
        // Never parked past the dependency timeout: the job must run to fail then.
        let left = sync.options.dependencyTimeout.seconds - Date().timeIntervalSince(context.job.createdAt)
        fallback = min(fallback, .milliseconds(Int64(max(1, left) * 1000)))
        return .wait(
            for: Self.waitKey(connection: connectionID, objectType, billingID), fallback: fallback, reason: message,
            errorClass: SyncError.ErrorClass.dependency.rawValue)
    }

    /// The kind of job that creates an object of this type at the provider (as
    /// `ledgersync.dependency_creator`, from the kinds' descriptions).
    static func creatorKind(of objectType: ExternalRef.ObjectType) -> String {
        SyncJobKind.creator(of: objectType)?.rawValue ?? "sync"
    }

    /// The queue wait key of a customer or invoice on a connection, as
    /// `ledgersync.sync_wait_key` builds it (sync migration 009).
    static func waitKey(connection: UUID, _ objectType: ExternalRef.ObjectType, _ billingID: String) -> String {
        "sync:\(connection.uuidString.lowercased()):\(objectType.rawValue):\(billingID)"
    }

    /// Wakes the jobs waiting for the object whose provider id was just recorded (their
    /// wait records are cleared and their wait key woken). Failing to is logged: they
    /// still rejoin their lanes when their fallback time passes.
    func wakeWaiting(_ objectType: ExternalRef.ObjectType, _ billingID: String) async {
        do {
            try await context.pool.query(SyncSQL.wakeDependencyWaits, [connectionID.uuidString, objectType.rawValue, billingID])
        } catch {
            context.logger.warning("could not wake the jobs waiting for this object", metadata: ["error": "\(error)"])
        }
    }
}

extension SyncEnvironment {
    /// Runs one sync job of `kind` whose document is a `D`: as `run(_:_:objectType:_:)` for
    /// the kind's object type, its args decoded once into a `SyncJobInput` for `body`.
    func run<D: BillingDocument>(
        _ context: JobContext, _ args: SyncJobArgs, kind: SyncJobKind, _ type: D.Type,
        _ body: @Sendable (SyncSession, SyncJobInput<D>) async throws -> Void
    ) async throws {
        try await run(context, args, objectType: kind.definition.objectType) { session in
            try await body(session, try SyncJobInput<D>(kind: kind, args: args, text: context.job.args.text))
        }
    }

    /// Runs one sync job: loads its connection, mappings and provider, runs `body`, and turns
    /// every failure into a `JobError` the worker acts on. A job that fails for good emits a
    /// provider-error webhook before the failure is stored (see `ProviderErrorEvent`).
    func run(
        _ context: JobContext, _ args: SyncJobArgs, objectType: ExternalRef.ObjectType,
        _ body: @Sendable (SyncSession) async throws -> Void
    ) async throws {
        var connection: AccountingConnection?
        // The job's billing object is pending while it runs (sync migration 016), written
        // beside the connection and mappings loads, on three pooled connections: every job
        // waits for them before its first provider request, and that wait is part of the
        // time the account's concurrency slot is held. The pending row is in place before
        // `body` can mark the object synced or failed.
        async let started: Void = recordStarted(context)
        do {
            async let loadedConnection = connections.get(args.connectionID)
            async let loadedMappings = mappings.mappingSet(connection: args.connectionID)
            let loaded = try await loadedConnection
            connection = loaded
            let wanted = loaded.settings.objectsToSync
            if !wanted.isEmpty && !wanted.contains(objectType.rawValue) {
                // The connection was told not to sync these; the job has nothing to do.
                context.logger.info(
                    "connection does not sync this object type; skipped",
                    metadata: ["connection": "\(args.connectionID)", "object_type": "\(objectType.rawValue)"])
                await started
                return
            }
            let target = SyncTarget(
                connectionID: args.connectionID, connection: loaded,
                mappings: try await loadedMappings)
            let session = SyncSession(
                sync: self, context: context, args: args, target: target,
                provider: PacedProvider(try await providers.provider(for: loaded, context: providerContext), context: context))
            await started
            try await body(session)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            // A load failed before `started` was awaited: the pending row first, so it
            // cannot land after the failed or waiting one written below.
            await started
            if let stillRunning = (error as? SyncError)?.providerMayStillRunFor {
                await holdLimitSlot(context, for: stillRunning)
            }
            // The worker's cap on rate-limited snoozing first: a job that has waited out
            // rate limits for too long fails for good here, so it gets its webhook.
            var jobError = context.applyingRateLimitCap(to: jobError(for: error, job: context.job))
            if let refusal = error as? SyncError, refusal.errorClass == .rateLimited, case .snooze(let hint) = jobError.action {
                jobError = await exhaustRateWindows(context, refusal, hint: hint, jobError: jobError)
            }
            if isFinal(jobError, job: context.job) {
                do {
                    try await emitProviderError(jobError, context: context, args: args, connection: connection)
                } catch let error as StoreError where error.code == .secretsUnreadable {
                    // The endpoints' signing secrets cannot be opened with this key (sealed
                    // with another one): no webhook could be signed, and retrying changes
                    // nothing. The job's own error is the one to store, not the endpoint's.
                    context.logger.error(
                        "sync job failed for good; its provider-error webhook cannot be enqueued",
                        metadata: ["error": "\(error)"])
                }
                await recordFailed(context, jobError, cause: error)
            } else {
                await recordWaiting(context, jobError)
            }
            throw jobError
        }
    }

    /// A provider's rate-limit refusal says its window is spent, whatever the queue counted:
    /// the limit key's windows (of at most the refusal's length) are emptied for every worker
    /// process, and this job snoozes until they turn (or the provider's own hint, if later).
    /// A key without windows (a provider that counts none) changes nothing. Failing to write
    /// is logged: the snooze alone still holds this job back.
    func exhaustRateWindows(_ context: JobContext, _ refusal: SyncError, hint: Duration, jobError: JobError) async -> JobError {
        do {
            guard
                let turn = try await context.exhaustRateWindows(upTo: refusal.exhaustsWindowsUpTo ?? SyncError.defaultExhaustedWindow),
                turn > hint
            else { return jobError }
            return JobError(
                action: .snooze(min(turn, SyncError.maxRateLimitDelay)), errorClass: jobError.errorClass, message: jobError.message,
                code: jobError.code)
        } catch {
            context.logger.warning("could not empty the rate windows after a rate-limit refusal", metadata: ["error": "\(error)"])
            return jobError
        }
    }

    /// The provider may still be processing the request this run gave up on: its slot of
    /// the connection's concurrency limit stays taken for `duration` (in every worker
    /// process), so the account never sees more requests at once than its limit. A hold
    /// that cannot be written (the database is away) is logged; the job's error is what
    /// the worker acts on either way.
    func holdLimitSlot(_ context: JobContext, for duration: Duration) async {
        do {
            if let until = try await context.holdLimitSlot(for: duration) {
                context.logger.info(
                    "request given up on; its concurrency-limit slot stays held until the provider must have stopped",
                    metadata: ["held_until": "\(until)", "limit_key": "\(context.job.limitKey ?? "")"])
            }
        } catch {
            context.logger.warning(
                "could not hold the concurrency-limit slot of a timed-out request; the account may briefly see more than its limit",
                metadata: ["error": "\(error)"])
        }
    }

    /// The worker's view of an error: what to do next, with a class and a one-line message.
    func jobError(for error: any Error, job: Job) -> JobError {
        switch error {
        case let error as SyncError:
            if error.errorClass == .dependency, Date().timeIntervalSince(job.createdAt) > options.dependencyTimeout.seconds {
                return JobError(
                    action: .fail, errorClass: SyncError.ErrorClass.dependency.rawValue,
                    message: "\(error.message); gave up after waiting \(Int(options.dependencyTimeout.seconds)) s", code: error.providerCode
                )
            }
            return error.jobError
        case let error as DocumentError:
            return error.jobError
        case let error as StoreError:
            return error.jobError
        case let error as JobError:
            if case .wait = error.action, error.errorClass == SyncError.ErrorClass.dependency.rawValue,
                Date().timeIntervalSince(job.createdAt) >= options.dependencyTimeout.seconds
            {
                return JobError(
                    action: .fail, errorClass: error.errorClass,
                    message: "\(error.message); gave up after waiting \(Int(options.dependencyTimeout.seconds)) s", code: error.code)
            }
            return error
        default:
            // Database trouble and the like: retry with the kind's backoff.
            return JobError(action: .retry, errorClass: "internal", message: "\(error)")
        }
    }

    func isFinal(_ error: JobError, job: Job) -> Bool {
        switch error.action {
        case .fail: true
        case .retry, .retryAfter: job.isLastAttempt
        case .snooze, .wait: false
        }
    }

    func emitProviderError(_ error: JobError, context: JobContext, args: SyncJobArgs, connection: AccountingConnection?) async throws {
        let event = ProviderErrorEvent(
            id: "evt_job\(context.job.id)_attempt\(context.job.attempt)", createdAt: Date(),
            connectionID: args.connectionID, connectionName: connection?.name,
            provider: connection?.provider ?? "unknown",
            jobID: context.job.id, jobKind: context.job.kind,
            subject: ProviderErrorEvent.Subject(kind: context.job.kind, args: context.job.args.text, customerID: args.customerID),
            message: error.message, errorCode: error.code ?? error.errorClass)
        let ids = try await WebhookDelivery.enqueue(
            eventID: event.id, eventType: event.type, body: try event.body(), endpoints: endpoints, queue: queue)
        context.logger.info(
            "sync job failed for good; provider error webhook enqueued",
            metadata: ["event": "\(event.id)", "type": "\(event.type)", "deliveries": "\(ids.count)"])
    }
}

extension ProviderErrorEvent.Subject {
    /// Who a job is about, read leniently from its raw args: the document may be the very
    /// thing that failed to decode, and the webhook should still name what it can. The one
    /// place that names a job's billing object: webhooks, the API's job views, the
    /// dashboard and `ledgersync jobs list/show` all read it from here. Nil fields for a
    /// kind that is not a sync kind.
    public init(kind: String, args: String, customerID: String? = nil) {
        self.init()
        guard let root = (try? JSONSerialization.jsonObject(with: Data(args.utf8))) as? [String: Any] else { return }
        // The kind's description says which envelopes its document may sit in (sync kinds
        // only: another kind names nothing).
        let definition = SyncJobKind(rawValue: kind)?.definition
        let envelope = definition.map { $0.envelope(in: root) ?? $0.envelope }
        let document = root["lago_id"] != nil ? root : (envelope.flatMap { root[$0] as? [String: Any] } ?? [:])
        objectType = envelope
        objectID = document["lago_id"] as? String
        objectNumber = document["number"] as? String
        let customer = definition?.objectType == .customer ? document : document["customer"] as? [String: Any]
        self.customerID = customerID ?? (customer?["lago_id"] as? String) ?? (document["lago_customer_id"] as? String)
        externalCustomerID =
            (customer?["external_id"] as? String) ?? (customer?["external_customer_id"] as? String)
            ?? (document["external_customer_id"] as? String)
    }
}

extension ProviderErrorEvent.Subject {
    /// "invoice inv_123 (INV-2026-0042)", "customer cus_9", nil when the args name nothing.
    public var billingObjectDescription: String? {
        guard let objectType else { return nil }
        var text = objectType
        if let objectID { text += " \(objectID)" }
        if let objectNumber { text += " (\(objectNumber))" }
        return text
    }
}

extension JobRecord {
    /// "invoice inv_1 (INV-2026-0001)" for a sync job, read from its args in the one place
    /// that names billing objects (`ProviderErrorEvent.Subject`); nil for other kinds. For
    /// `ledgersync jobs list/show` and the dashboard.
    public var billingObjectDescription: String? {
        ProviderErrorEvent.Subject(kind: kind, args: argsText).billingObjectDescription
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
