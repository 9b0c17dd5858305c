import Foundation
import JobQueue
import Logging
import Postgres

/// Tunables of the change polls (docs/changes.md).
public struct ChangePollOptions: Sendable {
    /// A poll job lives as long as its connection opts in; a run that fails for an unknown
    /// reason (the database away) retries with this backoff.
    public var jobOptions = JobKindOptions(maxAttempts: 20, timeout: .seconds(300), backoff: Backoff(base: 5, cap: 300))
    /// The echo rule's window around a change's modification time (the provider's clock): a
    /// write Ledgersync recorded of the record, or of an object of its customer, from
    /// `ownWriteBefore` before to `ownWriteAfter` after it makes the change Ledgersync's own.
    /// After: the provider stamps the record before Ledgersync records its id, and a
    /// provider may give times in whole minutes (NetSuite). Before: clocks differ.
    public var ownWriteBefore: Duration = .seconds(5)
    public var ownWriteAfter: Duration = .seconds(65)
    /// A connection's first poll of a record type reads from this long before it ran (the
    /// provider's clock may lag ours).
    public var firstPollLookback: Duration = .seconds(60)
    /// Pages one run reads before it lets other jobs of the connection go first (it runs
    /// again at once).
    public var maxPagesPerRun = 20
    /// The wait after a poll failed for a reason retrying soon cannot fix (credentials, a
    /// provider that cannot list changes); at least the connection's poll interval.
    public var permanentErrorDelay: Duration = .seconds(300)
    /// How often each worker process makes sure every opted-in connection has its poll jobs.
    public var scheduleInterval: Duration = .seconds(30)
    /// Change events stored longer ago than this are deleted by a poll that has caught up
    /// (the oldest `pruneBatch` of the connection at a time): a webhook was sent for each,
    /// and the API and the dashboard list them for this long.
    public var eventRetention: Duration = .seconds(90 * 86_400)
    public var pruneBatch = 1_000

    public init() {}
}

/// `changes.poll` (args `{"connection_id", "object_type"}`): reads what the provider changed
/// since the cursor of (connection, record type), writes one change event per change of
/// someone else's (`ChangeEvent`) and the webhooks (`<type>.changed_in_provider`,
/// `invoice.paid_in_provider`), and advances the cursor, in one transaction per page; then
/// snoozes for the connection's poll interval. One job per (connection, record type), by
/// its unique key `changes:<connection>:<object type>`; every worker process re-creates the
/// missing ones (`ChangePollScheduler`). It runs under the connection's limit key, like the
/// sync jobs: the provider's concurrency limit and rate windows count its requests.
///
/// It ends (completes) when its connection is gone or no longer reads that record type;
/// it never fails for good on a provider's answer: the error is kept on the cursor
/// (`change_cursors.last_error`) and the poll tries again later.
public struct ChangePollJob: JobHandler {
    public struct Args: Codable, Sendable {
        public let connectionID: UUID
        public let objectType: ExternalRef.ObjectType

        enum CodingKeys: String, CodingKey {
            case connectionID = "connection_id"
            case objectType = "object_type"
        }

        public init(connectionID: UUID, objectType: ExternalRef.ObjectType) {
            self.connectionID = connectionID
            self.objectType = objectType
        }
    }

    public static let kind = "changes.poll"
    let sync: SyncEnvironment
    public var options: JobKindOptions { sync.options.changes.jobOptions }

    /// The poll's unique key.
    public static func uniqueKey(connection: UUID, objectType: ExternalRef.ObjectType) -> String {
        "changes:\(connection.uuidString.lowercased()):\(objectType.rawValue)"
    }

    public func run(_ args: Args, context: JobContext) async throws {
        let connection: AccountingConnection
        do {
            connection = try await sync.connections.get(args.connectionID)
        } catch let error as StoreError where error.code == .notFound {
            context.logger.info("connection deleted; its change poll ends", metadata: ["connection": "\(args.connectionID)"])
            return
        }
        guard ChangeReadSettings.polledTypes(connection.settings).contains(args.objectType) else {
            context.logger.info(
                "connection no longer reads these changes back; its poll ends",
                metadata: ["connection": "\(args.connectionID)", "object_type": "\(args.objectType.rawValue)"])
            return
        }
        let interval = ChangeReadSettings.pollInterval(connection.settings)
        let poll = ChangePoll(sync: sync, context: context, connection: connection, objectType: args.objectType)
        let outcome: ChangePoll.Outcome
        do {
            try await poll.startCursor()
            outcome = try await poll.run()
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            throw await poll.failed(error, interval: interval)
        }
        switch outcome {
        case .caughtUp:
            await poll.pruneOldEvents()
            throw JobError.snooze(interval, reason: "caught up; next poll in \(interval)")
        case .morePages:
            throw JobError.snooze(.milliseconds(1), reason: "more changes to read; continues at once")
        case .cursorMoved:
            throw JobError.snooze(interval, reason: "another run moved the cursor; next poll in \(interval)")
        }
    }
}

/// One run of a change poll.
struct ChangePoll: Sendable {
    enum Outcome { case caughtUp, morePages, cursorMoved }

    let sync: SyncEnvironment
    let context: JobContext
    let connection: AccountingConnection
    let objectType: ExternalRef.ObjectType

    var connectionID: UUID { connection.id ?? UUID() }
    var options: ChangePollOptions { sync.options.changes }

    struct Cursor: Equatable {
        var since: Int64
        var seen: Set<String>
    }

    func startCursor() async throws {
        try await context.pool.query(
            SyncSQL.startChangeCursor, [connectionID.uuidString, objectType.rawValue, options.firstPollLookback.seconds])
    }

    func readCursor(on connection: Connection? = nil) async throws -> Cursor {
        let binds: [any PostgresEncodable] = [connectionID.uuidString, objectType.rawValue]
        let rows: [Row]
        if let connection {
            rows = try await connection.query(SyncSQL.changeCursor, binds).rows
        } else {
            rows = try await context.pool.query(SyncSQL.changeCursor, binds).rows
        }
        guard let row = rows.first else { throw JobError.transient("the change cursor of this poll is missing") }
        let seen = try JSONDecoder().decode([String].self, from: Data(try row.decode("seen_ids", as: String.self).utf8))
        return Cursor(since: Self.micros(try row.decode("modified_since", as: Date.self)), seen: Set(seen))
    }

    func run() async throws -> Outcome {
        let provider = try await sync.providers.provider(for: connection, context: sync.providerContext)
        guard let reader = provider as? any ChangeReading else {
            throw SyncError(.permanent, "the \(connection.provider) provider cannot list the records changed at the provider")
        }
        var cursor = try await readCursor()
        let since = Self.date(cursor.since)
        var page: String? = nil
        for index in 0..<max(1, options.maxPagesPerRun) {
            // The job's start paid for its first request; each later one spends a start of
            // the connection's rate windows.
            if index > 0 { try await context.takeRateWindowStart() }
            // Requests after the first inside one call spend a start too (Zoho's pages).
            let context = context
            let objectType = objectType
            let pacing: @Sendable () async throws -> Void = { try await context.takeRateWindowStart() }
            let answer = try await ProviderReadPacing.$beforeFurtherRequest.withValue(pacing) {
                try await reader.changes(of: objectType, since: since, page: page)
            }
            guard let advanced = try await write(answer.changes, after: cursor, pollSince: since) else { return .cursorMoved }
            cursor = advanced
            guard let next = answer.next else { return .caughtUp }
            page = next
        }
        return .morePages
    }

    /// Writes one page: its changes of someone else's as events and webhooks, the cursor
    /// moved past them, in one transaction. Nil when another run moved the cursor first.
    func write(_ changes: [ProviderChange], after cursor: Cursor, pollSince: Date) async throws -> Cursor? {
        // New to the cursor, in order; a record answered twice in one page is read once.
        var next = cursor
        var fresh: [ProviderChange] = []
        for change in changes {
            let at = Self.micros(change.modifiedAt)
            if at < next.since || (at == next.since && next.seen.contains(change.providerID)) { continue }
            if at > next.since { next = Cursor(since: at, seen: []) }
            next.seen.insert(change.providerID)
            fresh.append(change)
        }
        let connectionID = connectionID
        let objectType = objectType
        let limitKey = SyncEnvironment.limitKey(provider: connection.provider, connection: connectionID)
        let emitsEvents = ChangeReadSettings.emitsEvents(connection.settings, for: objectType)
        let emitsPaid = objectType == .payment && ChangeReadSettings.emitsPaidInvoices(connection.settings)
        let sync = sync
        let options = options
        let provider = connection.provider
        var webhooks = 0
        let written: Bool = try await context.pool.withTransaction { db in
            guard try await readCursor(on: db) == cursor else { return false }
            if !fresh.isEmpty {
                let classified = try await db.query(
                    SyncSQL.classifyChanges,
                    [
                        connectionID.uuidString, objectType.rawValue, fresh.map(\.providerID), fresh.map(\.externalID),
                        fresh.map { Self.date(Self.micros($0.modifiedAt)) }, limitKey, options.ownWriteBefore.seconds,
                        options.ownWriteAfter.seconds,
                    ]
                ).rows
                var invoices: [String: (billingID: String, customerID: String?)] = [:]
                if emitsPaid {
                    let ids = Array(Set(fresh.flatMap { $0.applications.map(\.providerInvoiceID) })).sorted()
                    if !ids.isEmpty {
                        for row in try await db.query(SyncSQL.invoiceRefsByProviderIds, [connectionID.uuidString, ids]).rows {
                            invoices[try row.decode("provider_id")] = (
                                try row.decode("billing_id"), try row.decodeIfPresent("customer_billing_id")
                            )
                        }
                    }
                }
                for (change, row) in zip(fresh, classified) {
                    if try row.decode("own", as: Bool.self) { continue }
                    let billingID: String? = try row.decodeIfPresent("billing_id")
                    let modifiedAt = Self.date(Self.micros(change.modifiedAt))
                    if emitsEvents {
                        let applications = change.applications.map {
                            ChangeEvent.Application(
                                providerID: $0.providerInvoiceID, billingID: invoices[$0.providerInvoiceID]?.billingID, amount: $0.amount)
                        }
                        let record = change.record.map(\.description)
                        let inserted = try await db.query(
                            SyncSQL.insertChangeEvent,
                            [
                                connectionID.uuidString, objectType.rawValue, change.providerID, change.externalID, billingID, modifiedAt,
                                change.number, change.amount, change.currency, record, try JSONText(encoding: applications),
                                change.createdAt.map { Self.date(Self.micros($0)) }, pollSince,
                            ]
                        ).rows.first
                        if let inserted {
                            let event = ChangeEvent(
                                id: try inserted.decode("id"), connectionID: connectionID, objectType: objectType,
                                change: try inserted.decode("change", as: ChangeEvent.Change.self), providerID: change.providerID,
                                externalID: change.externalID, billingID: billingID, modifiedAt: modifiedAt, number: change.number,
                                amount: change.amount, currency: change.currency, record: record, applications: applications,
                                createdAt: try inserted.decode("created_at"))
                            webhooks += try await WebhookDelivery.enqueue(
                                eventID: event.webhookID, eventType: event.eventType, body: try event.body(provider: provider),
                                endpoints: sync.endpoints, queue: sync.queue, on: db
                            ).count
                        }
                    }
                    if emitsPaid {
                        for application in change.applications {
                            guard let invoice = invoices[application.providerInvoiceID] else { continue }
                            // The amount applied as the provider wrote it; a payment applied to
                            // one invoice without a per-invoice amount paid its whole amount.
                            let amount = application.amount ?? (change.applications.count == 1 ? change.amount : nil)
                            let notice = try await db.query(
                                SyncSQL.insertPaidNotice,
                                [connectionID.uuidString, change.providerID, application.providerInvoiceID, invoice.billingID, amount]
                            ).rows
                            guard !notice.isEmpty else { continue }
                            let event = InvoicePaidEvent(
                                connectionID: connectionID, provider: provider, invoiceID: invoice.billingID,
                                providerInvoiceID: application.providerInvoiceID, customerID: invoice.customerID,
                                providerPaymentID: change.providerID, amount: amount, currency: change.currency,
                                paidAt: change.createdAt ?? change.modifiedAt)
                            webhooks += try await WebhookDelivery.enqueue(
                                eventID: event.id, eventType: InvoicePaidEvent.type, body: try event.body(), endpoints: sync.endpoints,
                                queue: sync.queue, on: db
                            ).count
                        }
                    }
                }
            }
            try await db.query(
                SyncSQL.advanceChangeCursor,
                [connectionID.uuidString, objectType.rawValue, Self.date(next.since), next.seen.sorted()])
            return true
        }
        if written && (!fresh.isEmpty || webhooks > 0) {
            context.logger.debug(
                "changes read back",
                metadata: ["object_type": "\(objectType.rawValue)", "changes": "\(fresh.count)", "webhooks": "\(webhooks)"])
        }
        return written ? next : nil
    }

    /// Deletes the connection's events older than the retention; a failure only costs a
    /// warning in the log (the next caught-up poll tries again).
    func pruneOldEvents() async {
        do {
            try await context.pool.query(
                SyncSQL.pruneChangeEvents,
                [connectionID.uuidString, options.eventRetention.seconds, options.pruneBatch])
        } catch {
            context.logger.warning("could not prune old change events", metadata: ["error": "\(error)"])
        }
    }

    /// What a failed run does next. A poll never fails for good on a provider's answer: it
    /// keeps the error on its cursor and tries again after the interval (a rate limit: when
    /// the provider says; a permanent error: after `permanentErrorDelay` at least).
    func failed(_ error: any Error, interval: Duration) async -> JobError {
        if let stillRunning = (error as? SyncError)?.providerMayStillRunFor {
            await sync.holdLimitSlot(context, for: stillRunning)
        }
        let delay: Duration
        let message: String
        switch error {
        case let error as SyncError:
            message = error.message
            switch error.errorClass {
            case .rateLimited:
                var wait = error.retryAfter ?? SyncError.defaultRateLimitDelay
                if let turn = try? await context.exhaustRateWindows(upTo: error.exhaustsWindowsUpTo ?? SyncError.defaultExhaustedWindow) {
                    wait = max(wait, turn)
                }
                delay = max(interval, min(wait, SyncError.maxRateLimitDelay))
            case .transient, .dependency: delay = interval
            case .permanent: delay = max(interval, options.permanentErrorDelay)
            }
        case let error as StoreError:
            message = error.description
            delay = max(interval, options.permanentErrorDelay)
        case let error as JobError:
            return error
        default:
            // The database away: the kind's backoff.
            return JobError(action: .retry, errorClass: "internal", message: "\(error)")
        }
        do {
            try await context.pool.query(SyncSQL.changeCursorError, [connectionID.uuidString, objectType.rawValue, message])
        } catch {
            context.logger.warning("could not record the change poll's error", metadata: ["error": "\(error)"])
        }
        context.logger.warning(
            "change poll failed; tries again later",
            metadata: ["object_type": "\(objectType.rawValue)", "error": "\(message)", "next_in": "\(delay)"])
        return JobError.snooze(delay, reason: "change poll failed: \(message)")
    }

    /// Microseconds since 1970: PostgreSQL's precision, so a time read back compares equal.
    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }
    static func date(_ micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
}

/// Makes sure every connection that reads changes back has its `changes.poll` jobs: on start
/// and every `ChangePollOptions.scheduleInterval`. Run by every worker process (leaderless:
/// the jobs' unique keys make the enqueue of an existing poll a no-op).
public struct ChangePollScheduler: Sendable {
    let pool: ConnectionPool
    let interval: Duration
    let logger: Logger

    public init(pool: ConnectionPool, interval: Duration, logger: Logger) {
        self.pool = pool
        self.interval = interval
        self.logger = logger
    }

    /// Enqueues the missing polls once; returns how many (connection, record type) pairs read
    /// changes back.
    @discardableResult
    public static func ensurePolls(pool: ConnectionPool) async throws -> Int {
        let rows = try await pool.query(SyncSQL.ensureChangePolls).rows
        return Int(try rows.first?.decode("polls", as: Int64.self) ?? 0)
    }

    /// Until the task is cancelled: ensure, wait, again. Errors are logged (the next turn
    /// tries again).
    public func run() async {
        while !Task.isCancelled {
            do {
                try await Self.ensurePolls(pool: pool)
            } catch {
                logger.warning("could not enqueue the change polls", metadata: ["error": "\(error)"])
            }
            try? await Task.sleep(for: interval)
        }
    }
}
