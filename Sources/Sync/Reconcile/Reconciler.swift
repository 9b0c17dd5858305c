import Foundation
import JobQueue
import Postgres

/// Compares every billing object synced to one connection with the provider's record of it,
/// to the minor unit (`ledgersync reconcile`, the `reconcile.run` job; docs/reconciliation.md).
///
/// It streams: the connection's sync status rows are read in keyset pages (`pageSize`), each
/// page's records are read from the provider with at most `concurrency` requests in flight,
/// and its findings are handed to the caller before the next page is read; the extras are
/// read page by page from the provider and checked against the database one query per page.
/// Memory is a page, whatever the number of objects.
public struct Reconciler: Sendable {
    public struct Options: Sendable {
        /// Only objects synced at or after this time.
        public var since: Date?
        /// Only these object types; nil for all.
        public var objectTypes: [ExternalRef.ObjectType]?
        /// Sync status rows per page.
        public var pageSize = 200
        /// Provider requests in flight at once; nil: the connection's concurrency limit.
        public var concurrency: Int?
        /// Whether to look for records at the provider that no billing object here is.
        public var checkExtras = true
        /// Enqueue a re-push of the last document synced for every repairable finding
        /// (missing and changed records whose document is stored), one per object.
        public var repair = false

        public init(since: Date? = nil, objectTypes: [ExternalRef.ObjectType]? = nil) {
            self.since = since
            self.objectTypes = objectTypes
        }
    }

    public let pool: ConnectionPool
    public let connection: AccountingConnection
    public let connectionID: UUID
    public let mappings: MappingSet
    public let provider: any RecordReconciling
    let queue: JobQueue
    /// The first wait before a failed read is tried again (doubling each time; see
    /// `withRetries`). Tests shorten it.
    public var readRetryBase: Duration = .milliseconds(500)

    /// Refuses (naming the provider) a provider that cannot read its records back.
    public init(pool: ConnectionPool, connection: AccountingConnection, mappings: MappingSet, provider: any AccountingProvider) throws {
        guard let id = connection.id else {
            throw StoreError(.invalidField, field: "connection", "has no id: reconcile a stored connection")
        }
        guard let reconciling = provider as? any RecordReconciling else {
            throw SyncError(
                .permanent, "\(connection.provider) connections cannot read their records back: reconciliation is not available for them")
        }
        self.pool = pool
        self.connection = connection
        connectionID = id
        self.mappings = mappings
        self.provider = reconciling
        queue = JobQueue(pool: pool)
    }

    /// The limit key the connection's jobs share (its rate windows are spent per request).
    public var limitKey: String { SyncEnvironment.limitKey(provider: connection.provider, connection: connectionID) }

    /// Runs one reconciliation, handing every finding to `emit` as it is found (in the order
    /// of object type and billing id, then the extras), and returns the counts.
    public func run(
        _ options: Options = Options(), emit: @Sendable (ReconcileFinding) async throws -> Void
    ) async throws -> ReconcileSummary {
        var summary = ReconcileSummary(connectionID: connectionID, startedAt: Date())
        let concurrency = max(1, options.concurrency ?? connection.settings.concurrencyLimit)
        let windowed = try await queue.rateWindows().contains { $0.limitKey == limitKey }
        // No types named means every type (an empty list would compare nothing).
        let scope = options.objectTypes.flatMap { $0.isEmpty ? nil : $0 }
        let types = scope?.map(\.rawValue)
        var after = ("", "")
        while true {
            try Task.checkCancellation()
            let rows = try await pool.query(
                SyncSQL.reconcilePage,
                [connectionID.uuidString, options.since, types, after.0, after.1, options.pageSize], prepare: true
            ).rows.map(StatusRow.init)
            guard let last = rows.last else { break }
            after = (last.objectType.rawValue, last.billingID)
            let outcomes = try await compare(rows, concurrency: concurrency, windowed: windowed)
            for (row, outcome) in zip(rows, outcomes) {
                switch outcome {
                case .inFlight: summary.inFlight += 1
                case .findings(var findings, let checked, let notCompared):
                    if options.repair, findings.contains(where: \.repairable), let document = row.document {
                        let job = try await enqueueRepair(row, document: document, missing: findings.first?.kind == .missing)
                        findings = findings.map { $0.repaired(by: job) }
                        summary.repairsEnqueued += 1
                    }
                    if checked { summary.checked += 1 }
                    if notCompared { summary.notCompared += 1 }
                    if checked && findings.isEmpty { summary.matched += 1 }
                    if let first = findings.first {
                        switch first.kind {
                        case .missing: summary.missing += 1
                        case .unlinked: summary.unlinked += 1
                        case .changed:
                            summary.changed += 1
                            summary.changedFields += findings.count
                        case .extra: summary.extra += 1
                        }
                    }
                    for finding in findings { try await emit(finding) }
                }
            }
            if rows.count < options.pageSize { break }
        }
        if options.checkExtras {
            for type in scope ?? ExternalRef.ObjectType.allCases {
                summary.extra += try await extras(of: type, windowed: windowed, emit: emit)
            }
        }
        summary.finishedAt = Date()
        return summary
    }

    // MARK: - One page

    enum Outcome: Sendable {
        case inFlight
        case findings([ReconcileFinding], checked: Bool, notCompared: Bool)
    }

    /// Compares a page's rows, at most `concurrency` provider reads at once; outcomes in row order.
    func compare(_ rows: [StatusRow], concurrency: Int, windowed: Bool) async throws -> [Outcome] {
        var outcomes = [Outcome?](repeating: nil, count: rows.count)
        try await withThrowingTaskGroup(of: (Int, Outcome).self) { group in
            var next = 0
            func start() {
                let index = next
                let row = rows[index]
                next += 1
                group.addTask { (index, try await compare(row, windowed: windowed)) }
            }
            while next < rows.count && next < concurrency { start() }
            while let (index, outcome) = try await group.next() {
                outcomes[index] = outcome
                if next < rows.count { start() }
            }
        }
        return outcomes.map { $0 ?? .inFlight }
    }

    func compare(_ row: StatusRow, windowed: Bool) async throws -> Outcome {
        guard let providerID = row.providerID else {
            if row.state == "pending" { return .inFlight }
            return .findings(
                [
                    finding(
                        .unlinked, row, providerID: nil, repairable: false,
                        action: row.state == "needs_action"
                            ? "needs a person: fix what its last error says (a mapping, a closed period, a locked record), then retry its job"
                            : "its last job failed for good: read the error (ledgersync jobs show), fix the cause, then retry the job")
                ], checked: false, notCompared: false)
        }
        let actual = try await withRetries(windowed: windowed) {
            try await provider.snapshot(of: row.objectType, providerID: providerID)
        }
        guard let actual else {
            return .findings(
                [
                    finding(
                        .missing, row, providerID: providerID, repairable: row.document != nil,
                        action: row.document != nil
                            ? "deleted at the provider: --repair pushes the last document synced again"
                            : "deleted at the provider and no document is stored here: push it again from the billing system")
                ], checked: true, notCompared: false)
        }
        guard let expected = try expectedSnapshot(row) else {
            return .findings([], checked: true, notCompared: row.document != nil)
        }
        return .findings(differences(row, providerID: providerID, expected: expected, actual: actual), checked: true, notCompared: false)
    }

    /// The longest a read is tried: a provider's bad moment (a 500, a dropped connection, a 429
    /// on the account's concurrency) must not end a reconcile of 100,000 records, and a
    /// provider that stays down must end it with its error rather than hang.
    public static let readAttempts = 6

    /// Runs one provider read (after taking a rate-window start when the key has windows),
    /// trying again after a transient or rate-limited error: waits of 0.5, 1, 2, 4 and 8 s
    /// (`readRetryBase` doubling), or the provider's Retry-After hint when it is longer (at
    /// most a minute). Other errors
    /// (permanent: credentials, a refused query) end the run at once.
    func withRetries<T: Sendable>(windowed: Bool, _ read: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            if windowed { try await takeRateWindowStart() }
            do {
                return try await read()
            } catch let error as SyncError where error.errorClass == .transient || error.errorClass == .rateLimited {
                guard attempt < Self.readAttempts else { throw error }
                let backoff = readRetryBase * (1 << (attempt - 1))
                try await Task.sleep(for: min(max(backoff, error.retryAfter ?? .zero), .seconds(60)))
                attempt += 1
            }
        }
    }

    /// Waits for a start of every rate window of the connection's limit key.
    func takeRateWindowStart() async throws {
        while let wait = try await queue.takeRateWindowStart(key: limitKey) {
            // Another worker spent the window: wait until it turns (a real wait for the
            // provider's budget, bounded by the window's length).
            try await Task.sleep(for: min(wait, .seconds(60)))
        }
    }

    /// What the provider's record should be: the provider's own expected snapshot of the
    /// stored document, with the customer, the amount due and the status filled from the
    /// refs and the other documents. Nil when no document is stored or it cannot be read.
    func expectedSnapshot(_ row: StatusRow) throws -> RecordSnapshot? {
        guard let text = row.document, let document = try? Self.document(row.objectType, text) else { return nil }
        let target = SyncTarget(connectionID: connectionID, connection: connection, mappings: mappings)
        let base = try provider.expectedSnapshot(of: document, target: target)
        let voided = row.lastJobKind == SyncJobKind.invoiceVoid.rawValue || row.lastJobKind == SyncJobKind.creditMemoVoid.rawValue
        if voided {
            // A voided record's amounts are the provider's business (NetSuite zeroes them):
            // its status and customer are what is compared.
            return RecordSnapshot(
                objectType: base.objectType, providerID: base.providerID, externalID: base.externalID,
                customerProviderID: row.customerProviderID ?? base.customerProviderID, currency: base.currency, status: .void)
        }
        var amountDue = base.amountDueCents
        var status = base.status
        var applied = base.appliedCents
        switch document {
        case .invoice(let invoice):
            let total = base.totalCents ?? invoice.totalAmountCents
            let credited = try Self.minor(row.creditedCents, "credited_cents")
            let paid = try Self.minor(row.paidCents, "paid_cents")
            let (afterCredits, overflow1) = total.subtractingReportingOverflow(credited)
            let (due, overflow2) = afterCredits.subtractingReportingOverflow(paid)
            guard !overflow1 && !overflow2 else {
                throw SyncError(.permanent, "invoice \(row.billingID): the amount due overflows 64 bits")
            }
            amountDue = max(0, due)
            status = due <= 0 ? .paid : .open
        case .creditMemo(let memo):
            applied = applied ?? memo.appliedToInvoiceCents
        case .payment(let payment):
            applied = applied ?? payment.amountCents
        case .customer, .salesOrder:
            break
        }
        return RecordSnapshot(
            objectType: base.objectType, providerID: base.providerID, externalID: base.externalID,
            customerProviderID: row.objectType == .customer ? base.customerProviderID : (row.customerProviderID ?? base.customerProviderID),
            name: base.name, currency: base.currency, totalCents: base.totalCents, taxCents: base.taxCents, lines: base.lines,
            appliedCents: applied, amountDueCents: amountDue, status: status)
    }

    static func minor(_ text: String?, _ what: String) throws -> Int64 {
        guard let text else { return 0 }
        guard let value = Int64(text) else {
            throw SyncError(.permanent, "\(what) \(text.prefix(30)) is not a whole number of minor units that fits 64 bits")
        }
        return value
    }

    /// The stored document of a row as the provider is given it.
    public static func document(_ type: ExternalRef.ObjectType, _ text: String) throws -> SyncedDocument {
        switch type {
        case .customer: .customer(try DocumentDecoder.decode(BillingCustomer.self, from: text))
        case .invoice: .invoice(try DocumentDecoder.decode(BillingInvoice.self, from: text))
        case .salesOrder: .salesOrder(try DocumentDecoder.decode(BillingSalesOrder.self, from: text))
        case .creditMemo: .creditMemo(try DocumentDecoder.decode(BillingCreditMemo.self, from: text))
        case .payment: .payment(try DocumentDecoder.decode(BillingPayment.self, from: text))
        }
    }

    // MARK: - Comparing

    /// The fields that differ, one finding each. A field is compared when both sides have
    /// it (a provider that does not read a field back leaves it nil).
    func differences(_ row: StatusRow, providerID: String, expected: RecordSnapshot, actual: RecordSnapshot) -> [ReconcileFinding] {
        let currency = (expected.currency ?? actual.currency).flatMap(Currency.named)
        var found: [(field: String, expected: String, actual: String, expectedMinor: Int64?, actualMinor: Int64?)] = []
        func money(_ field: String, _ e: Int64?, _ a: Int64?) {
            guard let e, let a, e != a else { return }
            found.append((field, Self.format(e, currency), Self.format(a, currency), e, a))
        }
        func text(_ field: String, _ e: String?, _ a: String?) {
            guard let e, let a, e != a else { return }
            found.append((field, e, a, nil, nil))
        }
        text("currency", expected.currency, actual.currency)
        text("customer", expected.customerProviderID, actual.customerProviderID)
        text("name", expected.name, actual.name)
        money("total", expected.totalCents, actual.totalCents)
        money("tax", expected.taxCents, actual.taxCents)
        if let e = expected.lines, let a = actual.lines {
            if e.count != a.count {
                let eSum = e.reduce(Int64(0)) { $0.addingReportingOverflow($1.amountCents).partialValue }
                let aSum = a.reduce(Int64(0)) { $0.addingReportingOverflow($1.amountCents).partialValue }
                found.append(
                    (
                        "lines", "\(e.count) lines, \(Self.format(eSum, currency))", "\(a.count) lines, \(Self.format(aSum, currency))",
                        eSum, aSum
                    ))
            } else {
                for (index, (el, al)) in zip(e, a).enumerated() {
                    money("lines[\(index)].amount", el.amountCents, al.amountCents)
                    text("lines[\(index)].item", el.itemID, al.itemID)
                }
            }
        }
        money("applied", expected.appliedCents, actual.appliedCents)
        money("amount_due", expected.amountDueCents, actual.amountDueCents)
        text("status", expected.status?.rawValue, actual.status?.rawValue)
        // Paid, credited or voided at the provider by hand, everything else as synced: a
        // re-push would not undo it (the provider's payment stays), a person decides.
        let settledByHand = !found.isEmpty && found.allSatisfy { ["amount_due", "status"].contains($0.field) }
        let repairable = row.document != nil && !settledByHand
        let action: String
        if settledByHand {
            action =
                expected.status == .void || actual.status == .void
                ? "voided or un-voided at the provider by hand: void it in the billing system too, or reverse it at the provider"
                : "paid or credited at the provider by hand: record the payment in the billing system, or remove it at the provider"
        } else if repairable {
            action = "edited at the provider: --repair pushes the last document synced again"
        } else {
            action = "edited at the provider and no document is stored here: push it again from the billing system"
        }
        return found.map {
            finding(
                .changed, row, providerID: providerID, field: $0.field, expected: $0.expected, actual: $0.actual,
                expectedMinor: $0.expectedMinor, actualMinor: $0.actualMinor, repairable: repairable, action: action)
        }
    }

    /// `12.30 USD`, or the bare minor units when the currency is unknown.
    static func format(_ minor: Int64, _ currency: Currency?) -> String {
        guard let currency else { return "\(minor) (minor units)" }
        return Money(amountCents: minor, currency: currency).description
    }

    func finding(
        _ kind: ReconcileFinding.Kind, _ row: StatusRow, providerID: String?, field: String? = nil, expected: String? = nil,
        actual: String? = nil, expectedMinor: Int64? = nil, actualMinor: Int64? = nil, repairable: Bool, action: String
    ) -> ReconcileFinding {
        ReconcileFinding(
            kind: kind, objectType: row.objectType.rawValue, billingID: row.billingID, documentNumber: row.documentNumber,
            providerID: providerID, field: field, expected: expected, actual: actual, expectedMinor: expectedMinor,
            actualMinor: actualMinor, repairable: repairable, action: action)
    }

    // MARK: - Repair

    /// Enqueues the re-push of a row's stored document through `enqueue_sync` (the serial
    /// and limit keys of any sync job of that object): the kind of its last job when that
    /// one writes this object type (a void stays a void), the kind that creates the object
    /// when the record is missing. Unique per object: two runs before the workers get to it
    /// enqueue it once.
    func enqueueRepair(_ row: StatusRow, document: String, missing: Bool) async throws -> Int64 {
        var kind = SyncJobKind.creator(of: row.objectType)
        if let last = row.lastJobKind.flatMap(SyncJobKind.init(rawValue:)), last.definition.objectType == row.objectType,
            !missing || last.definition.creates
        {
            kind = last
        }
        guard let kind else { throw SyncError(.permanent, "no job kind writes \(row.objectType.rawValue) records") }
        let options = SyncQueue.Options(
            uniqueKey: "reconcile-repair:\(connectionID.uuidString.lowercased()):\(row.objectType.rawValue):\(row.billingID)")
        return try await pool.withTransaction { db in
            // A record found deleted: its ref names a record that is gone, and a push that
            // finds a ref updates that record by its id. Forgotten with the enqueue, so the
            // push creates the record again (upsert by external id) and records the new id.
            if missing, let providerID = row.providerID {
                try await db.query(
                    SyncSQL.reconcileForgetRef, [connectionID.uuidString, row.objectType.rawValue, row.billingID, providerID], prepare: true
                )
            }
            return try await SyncQueue(pool: pool).enqueue(
                connection: connectionID, kind: kind, document: JSONText(document), customerID: row.customerBillingID, options: options,
                on: db)
        }
    }

    // MARK: - Extras

    /// Reads the provider's records of `type` that carry an external id, page by page, and
    /// reports those no billing object here is; returns how many.
    func extras(
        of type: ExternalRef.ObjectType, windowed: Bool, emit: @Sendable (ReconcileFinding) async throws -> Void
    ) async throws -> Int {
        var page: String?
        var count = 0
        repeat {
            try Task.checkCancellation()
            let answer = try await withRetries(windowed: windowed) { try await provider.recordsWithExternalIDs(of: type, page: page) }
            if !answer.records.isEmpty {
                let rows = try await pool.query(
                    SyncSQL.reconcileUnknownExternalIds,
                    [connectionID.uuidString, type.rawValue, answer.records.map(\.providerID), answer.records.map(\.externalID)],
                    prepare: true
                ).rows
                for row in rows {
                    let externalID: String = try row.decode("external_id")
                    let known: Bool = try row.decode("known_billing_id")
                    count += 1
                    try await emit(
                        ReconcileFinding(
                            kind: .extra, objectType: type.rawValue, billingID: externalID, documentNumber: nil,
                            providerID: try row.decode("provider_id"), repairable: false,
                            action: known
                                ? "a second record with the external id of a billing object synced here (a duplicate): delete it at the provider"
                                : "created at the provider with an external id no billing object here has: delete it there, or link it (ledgersync refs link) if it is a billing object's record"
                        ))
                }
            }
            page = answer.next
        } while page != nil
        return count
    }
}

/// One row of the reconciliation page query (sql/sync/queries/reconcile_page.sql).
struct StatusRow: Sendable {
    let objectType: ExternalRef.ObjectType
    let billingID: String
    let documentNumber: String?
    let customerBillingID: String?
    let state: String
    let providerID: String?
    let lastJobKind: String?
    let document: String?
    let customerProviderID: String?
    let creditedCents: String?
    let paidCents: String?

    init(_ row: Row) throws {
        let type: String = try row.decode("object_type")
        guard let objectType = ExternalRef.ObjectType(rawValue: type) else {
            throw SyncError(.permanent, "sync_status has an unknown object type \"\(type.prefix(40))\"")
        }
        self.objectType = objectType
        billingID = try row.decode("billing_id")
        documentNumber = try row.decodeIfPresent("document_number")
        customerBillingID = try row.decodeIfPresent("customer_billing_id")
        state = try row.decode("state")
        providerID = try row.decodeIfPresent("provider_id")
        lastJobKind = try row.decodeIfPresent("last_job_kind")
        document = try row.decodeIfPresent("document")
        customerProviderID = try row.decodeIfPresent("customer_provider_id")
        creditedCents = try row.decodeIfPresent("credited_cents")
        paidCents = try row.decodeIfPresent("paid_cents")
    }
}
