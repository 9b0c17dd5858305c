import ExactJSON
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import Postgres
import ServiceLifecycle
import Simulators
import Sync
import SyncTesting
import Testing

@testable import ZohoBooks

/// Issue 15, must-show 5 at the Zoho Books simulator: a month synced by the real jobs (so the
/// sync status holds the documents), drift made by hand through Zoho's API, a reconcile that
/// reports each drift exactly, `--repair`, a second run with only what is not ours left, and,
/// once a person deletes the stranger and the payment entered by hand, a third that is clean.
@Suite(.timeLimit(.minutes(3)))
struct ZohoReconcileRunTests {
    static let scenario = BillingScenario.generate(customers: 4, invoicesPerCustomer: 2, creditNoteEvery: 3, payments: 2, seed: 15)

    /// Runs an in-process worker pool until `done`.
    static func runWorker(
        _ database: TestDatabase, box: SecretBox, http: HTTPClient, until done: @escaping @Sendable () async throws -> Bool
    ) async throws -> Bool {
        var options = SyncOptions()
        options.jobOptions = JobKindOptions(maxAttempts: 3, timeout: .seconds(20), backoff: Backoff(base: 0.1, cap: 0.2))
        let sync = SyncEnvironment(
            pool: database.pool, secretBox: box, http: http, options: options, providers: ProviderRegistry([ZohoBooksDriver()]),
            providerContext: ProviderContext(
                http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: database.pool, secretBox: box)))
        var registry = JobRegistry()
        sync.register(in: &registry)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let worker = WorkerPool(
            pool: database.pool, registry: registry,
            options: WorkerOptions(concurrency: 4, pollInterval: .milliseconds(50), lease: .seconds(10)), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let reached = try await eventually(timeout: .seconds(60)) { try await done() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return reached
        }
    }

    static func unfinished(_ database: TestDatabase) async throws -> Int64 {
        try await database.pool.query(
            "SELECT count(*) AS n FROM ledgersync.jobs WHERE state IN ('available', 'running', 'retryable')"
        ).rows[0].decode("n", as: Int64.self)
    }

    static func reconcile(
        _ database: TestDatabase, box: SecretBox, _ connection: AccountingConnection, _ http: HTTPClient, repair: Bool = false
    ) async throws -> (ReconcileSummary, [ReconcileFinding]) {
        let id = try #require(connection.id)
        let provider = try await ProviderRegistry([ZohoBooksDriver()]).provider(
            for: connection,
            context: ProviderContext(
                http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: database.pool, secretBox: box)))
        let reconciler = try Reconciler(
            pool: database.pool, connection: connection, mappings: try await MappingStore(pool: database.pool).mappingSet(connection: id),
            provider: provider)
        var options = Reconciler.Options()
        options.pageSize = 5
        options.repair = repair
        let recorder = ReconcileStore.Recorder()
        let summary = try await reconciler.run(options) { recorder.record($0) }
        return (summary, recorder.findings)
    }

    static func describe(_ findings: [ReconcileFinding]) -> String {
        "\(findings.map { "\($0.kind) \($0.billingID ?? "") \($0.field ?? "") \($0.expected ?? "") \($0.actual ?? "")" })"
    }

    /// A line as Zoho's update takes it back (its id, item, rate, quantity, tax).
    static func editable(_ line: ExactJSON) -> ExactJSON {
        .object(line.objectMembers.filter { ["line_item_id", "item_id", "rate", "quantity", "tax_id", "description"].contains($0.key) })
    }

    @Test(
        "a synced month with drift made through Zoho's API: each reported exactly, --repair fixes ours; once a person deletes the rest, the books match"
    )
    func zohoDrift() async throws {
        let scenario = Self.scenario
        try await ZohoTestBed.run(.init(requestsPerWindow: 100_000, dailyQuota: 100_000)) { bed in
            try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { database in
                let box = try SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
                let connection = try await ConnectionStore(pool: database.pool, secretBox: box).create(bed.connection())
                let id = try #require(connection.id)
                for mapping in BillingScenario.zohoMappings(connection: id) { try await MappingStore(pool: database.pool).upsert(mapping) }
                let queue = SyncQueue(pool: database.pool)
                for customer in scenario.customers {
                    try await queue.enqueue(connection: id, kind: .customerSync, document: JSONText(customer.json))
                }
                for invoice in scenario.invoices {
                    try await queue.enqueue(connection: id, kind: .invoicePush, document: JSONText(invoice.json))
                }
                for note in scenario.creditNotes {
                    try await queue.enqueue(connection: id, kind: .creditMemoPush, document: JSONText(note.json))
                }
                for payment in scenario.payments {
                    try await queue.enqueue(
                        connection: id, kind: .paymentApply, document: JSONText(payment.json), customerID: payment.customerID)
                }
                let http = HTTPClient(maxConcurrentRequests: 8, allowPrivateNetworks: true)
                defer { http.shutdown() }
                #expect(try await Self.runWorker(database, box: box, http: http) { try await Self.unfinished(database) == 0 })

                let (clean, none) = try await Self.reconcile(database, box: box, connection, http)
                #expect(none.isEmpty, "\(Self.describe(none))")
                let objects = scenario.customers.count + scenario.invoices.count + scenario.creditNotes.count + scenario.payments.count
                #expect(clean.checked == objects && clean.matched == objects && !clean.hasDrift, "\(clean)")

                // Drift by hand, through Zoho's API, on invoices nobody paid or credited.
                let client = try bed.client(tokens: InMemoryTokenStore())
                let refs = ExternalRefStore(pool: database.pool)
                func zohoID(_ invoice: BillingScenario.Invoice) async throws -> String {
                    try #require(try await refs.lookup(connection: id, objectType: .invoice, billingID: invoice.lagoID)).providerID
                }
                let used = Set(scenario.payments.map(\.invoiceID) + scenario.creditNotes.map(\.invoiceID))
                let free = scenario.invoices.filter { !used.contains($0.lagoID) }
                try #require(free.count >= 4)
                let (edited, deleted, paid) = (free[0], free[1], free[2])

                // 1. A rate edited (+1 minor unit on a one-unit line).
                let editedID = try await zohoID(edited)
                let editedRecord = try #require(try await client.send("GET", "invoices/\(editedID)")["invoice"])
                var lines = (editedRecord["line_items"]?.arrayValue ?? []).map(Self.editable)
                let at = try #require(lines.firstIndex { $0["quantity"]?.numberText.flatMap { ExactDecimal($0) } == ExactDecimal(1) })
                let currency = edited.currency
                let rate = try Money(parsing: try #require(lines[at]["rate"]?.numberText), currency: currency)
                let bumped = Money(amountCents: rate.amountCents + 1, currency: currency)
                lines[at] = .object(
                    lines[at].objectMembers.map { (key: $0.key, value: $0.key == "rate" ? .number(bumped.decimalString) : $0.value) })
                _ = try await client.send("PUT", "invoices/\(editedID)", body: .object([("line_items", .array(lines))]))

                // 2. A line deleted, on an invoice of more than one line.
                var shortened: BillingScenario.Invoice?
                for candidate in free.dropFirst(3) {
                    let candidateID = try await zohoID(candidate)
                    let record = try #require(try await client.send("GET", "invoices/\(candidateID)")["invoice"])
                    let all = record["line_items"]?.arrayValue ?? []
                    guard all.count > 1 else { continue }
                    _ = try await client.send(
                        "PUT", "invoices/\(candidateID)", body: .object([("line_items", .array(all.dropLast().map(Self.editable)))]))
                    shortened = candidate
                    break
                }
                let short = try #require(shortened, "no free invoice has more than one line")

                // 3. An invoice deleted.
                _ = try await client.send("DELETE", "invoices/\(try await zohoID(deleted))")

                // 4. An invoice paid by hand: a payment for its whole balance.
                let paidID = try await zohoID(paid)
                let paidRecord = try #require(try await client.send("GET", "invoices/\(paidID)")["invoice"])
                let balance = try #require(paidRecord["balance"]?.numberText)
                let handPayment = try await client.send(
                    "POST", "customerpayments",
                    body: .object([
                        ("customer_id", .string(try #require(paidRecord["customer_id"]?.stringValue))), ("payment_mode", .string("cash")),
                        ("amount", .number(balance)), ("date", .string("2026-11-20")),
                        ("invoices", .array([.object([("invoice_id", .string(paidID)), ("amount_applied", .number(balance))])])),
                    ]))

                // Zoho refuses to delete an invoice a payment is applied to ("Delete an invoice").
                await #expect(throws: SyncError.self) { _ = try await client.send("DELETE", "invoices/\(paidID)") }

                // 5. An invoice created with our unique field holding an id no billing object here has.
                var stranger: [(key: String, value: ExactJSON)] = [
                    ("customer_id", .string(try #require(editedRecord["customer_id"]?.stringValue))),
                    (
                        "line_items",
                        .array([
                            .object([("item_id", lines[at]["item_id"] ?? .null), ("rate", .number("5.00")), ("quantity", .number("1"))])
                        ])
                    ),
                ]
                stranger.append(("date", .string("2026-11-21")))
                let strangerAnswer = try await client.send(
                    "PUT", "invoices", body: .object(stranger),
                    headers: [
                        ("X-Unique-Identifier-Key", ZohoBooksDriver.defaultUniqueField),
                        ("X-Unique-Identifier-Value", "inv-created-by-hand"), ("X-Upsert", "true"),
                    ])

                let (drift, findings) = try await Self.reconcile(database, box: box, connection, http)
                let seen = Set(findings.map { "\($0.kind.rawValue) \($0.billingID ?? "")" })
                #expect(
                    seen == [
                        "changed \(edited.lagoID)", "changed \(short.lagoID)", "missing \(deleted.lagoID)", "changed \(paid.lagoID)",
                        "extra inv-created-by-hand",
                    ], "\(Self.describe(findings))")
                #expect(findings.filter { $0.billingID == paid.lagoID }.compactMap(\.field) == ["amount_due", "status"])
                #expect(findings.filter { $0.billingID == edited.lagoID }.compactMap(\.field).contains("lines[\(at)].amount"))
                let shortFields = Set(findings.filter { $0.billingID == short.lagoID }.compactMap(\.field))
                #expect(shortFields.contains("lines") && shortFields.contains("total"), "\(shortFields)")
                #expect(drift.missing == 1 && drift.changed == 3 && drift.extra == 1 && drift.unlinked == 0, "\(drift)")

                // --repair, and the workers run what it enqueued: ours back, the rest left.
                let (repairing, _) = try await Self.reconcile(database, box: box, connection, http, repair: true)
                #expect(repairing.repairsEnqueued == 3, "\(repairing)")
                #expect(try await Self.runWorker(database, box: box, http: http) { try await Self.unfinished(database) == 0 })
                let (_, rest) = try await Self.reconcile(database, box: box, connection, http)
                #expect(
                    Set(rest.map { "\($0.kind.rawValue) \($0.billingID ?? "")" }) == [
                        "extra inv-created-by-hand", "changed \(paid.lagoID)",
                    ],
                    "\(Self.describe(rest))")
                #expect(rest.allSatisfy { !$0.repairable })

                // A person deletes the payment entered by hand, then the stranger: the books match.
                let handPaymentID = try #require(handPayment["payment"]?["payment_id"]?.stringValue)
                let strangerID = try #require(strangerAnswer["invoice"]?["invoice_id"]?.stringValue)
                _ = try await client.send("DELETE", "customerpayments/\(handPaymentID)")
                _ = try await client.send("DELETE", "invoices/\(strangerID)")
                let reopened = try #require(try await client.send("GET", "invoices/\(paidID)")["invoice"])
                #expect(reopened["balance"]?.numberText == balance, "the deleted payment's amount is due again")
                let (final, nothing) = try await Self.reconcile(database, box: box, connection, http)
                #expect(nothing.isEmpty && !final.hasDrift, "\(Self.describe(nothing))")
            }
        }
    }
}
