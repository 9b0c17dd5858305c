import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import SyncTesting
import Testing

@testable import Sync

/// Reconciliation (issue 15) on the fake provider: a small synced month in `sync_status`,
/// drift made at the fake ledger the way people make it at a provider, every drift reported
/// exactly and nothing else, streamed across pages; `--repair` re-pushes what is ours, the
/// sync jobs run them, and a second run reports only what is not ours.
@Suite("Reconciliation", .timeLimit(.minutes(3)))
struct ReconcileTests {
    private static let key = try! SecretBox(key: Array(0..<32))

    /// A connection of the fake provider with its ledger, stores and a sync environment.
    struct Month {
        let db: TestDatabase
        let ledger: FakeLedger
        let connection: AccountingConnection
        let id: UUID
        let provider: FakeProvider
        let registry: ProviderRegistry
        let http: HTTPClient

        static func with(_ body: (Month) async throws -> Void) async throws {
            try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
                let ledger = FakeLedger()
                let stored = try await ConnectionStore(pool: db.pool, secretBox: ReconcileTests.key).create(
                    AccountingConnection(
                        provider: "fake", name: "books", accountID: ledger.accountID, settings: .init(concurrencyLimit: 3),
                        secrets: ConnectionSecrets(["api_key": "fake-api-key"])))
                let id = try #require(stored.id)
                let registry = ProviderRegistry([FakeDriver(ledger: ledger)])
                let http = HTTPClient(maxConcurrentRequests: 2)
                defer { http.shutdown() }
                let provider = try #require(
                    try await registry.provider(for: stored, context: ProviderContext(http: http, requestTimeout: .seconds(5)))
                        as? FakeProvider)
                try await body(
                    Month(db: db, ledger: ledger, connection: stored, id: id, provider: provider, registry: registry, http: http))
            }
        }

        var target: SyncTarget {
            SyncTarget(connectionID: id, connection: connection, mappings: MappingSet(connectionID: id, mappings: []))
        }

        /// Writes `json` to the fake as a sync job would and records it as synced (the ref and
        /// the status row with its document); returns the provider's id.
        @discardableResult
        func sync(
            _ type: ExternalRef.ObjectType, _ billingID: String, _ json: String, customer: String, kind: SyncJobKind? = nil
        ) async throws -> String {
            let refs = ExternalRefStore(pool: db.pool)
            func ref(_ type: ExternalRef.ObjectType, _ billingID: String) async throws -> String {
                try #require(try await refs.lookup(connection: id, objectType: type, billingID: billingID)).providerID
            }
            let write: ProviderWrite
            switch try Reconciler.document(type, json) {
            case .customer(let c): write = .customer(c)
            case .invoice(let i): write = .invoice(i, customerRef: try await ref(.customer, customer))
            case .salesOrder(let o): write = .salesOrder(o, customerRef: try await ref(.customer, customer))
            case .creditMemo(let m):
                write = .creditMemo(
                    m, customerRef: try await ref(.customer, customer), invoiceRef: try await ref(.invoice, m.lagoInvoiceID))
            case .payment(let p):
                write = .payment(
                    p, customerRef: try await ref(.customer, customer), invoiceRefs: [p.invoiceID: try await ref(.invoice, p.invoiceID)])
            }
            let providerID = try await write.send(to: provider, target: target)
            try await refs.record(
                connection: id, objectType: type, billingID: billingID, providerID: providerID,
                customerBillingID: type == .customer ? nil : customer)
            try await status(
                type, billingID, json, customer: customer, state: "synced", providerID: providerID,
                kind: kind ?? SyncJobKind.creator(of: type))
            return providerID
        }

        /// A sync status row as the sync jobs keep it.
        func status(
            _ type: ExternalRef.ObjectType, _ billingID: String, _ json: String?, customer: String, state: String, providerID: String?,
            kind: SyncJobKind?
        ) async throws {
            try await db.pool.query(
                """
                INSERT INTO ledgersync.sync_status
                    (connection_id, object_type, billing_id, document_number, customer_billing_id, state, provider_id,
                     last_job_kind, document, synced_at)
                VALUES ($1::uuid, $2, $3, $4, $5, $6, $7::text, $8, $9::jsonb, CASE WHEN $7::text IS NULL THEN NULL ELSE now() END)
                ON CONFLICT (connection_id, object_type, billing_id) DO UPDATE
                SET state = EXCLUDED.state, provider_id = EXCLUDED.provider_id, last_job_kind = EXCLUDED.last_job_kind,
                    document = EXCLUDED.document, synced_at = EXCLUDED.synced_at
                """,
                [
                    id.uuidString, type.rawValue, billingID, "N-\(billingID)", customer, state, providerID, kind?.rawValue,
                    json.map { JSONText($0) },
                ])
        }

        func reconcile(pageSize: Int = 4, repair: Bool = false) async throws -> (ReconcileSummary, [ReconcileFinding]) {
            var reconciler = try Reconciler(
                pool: db.pool, connection: connection, mappings: MappingSet(connectionID: id, mappings: []), provider: provider)
            reconciler.readRetryBase = .milliseconds(5)
            var options = Reconciler.Options()
            options.pageSize = pageSize
            options.repair = repair
            let recorder = ReconcileStore.Recorder()
            let summary = try await reconciler.run(options) { recorder.record($0) }
            return (summary, recorder.findings)
        }

        /// Sets up: 3 customers, 10 invoices (one credited, one paid, one part paid, one
        /// voided), the credit memo and two payments, all synced.
        func seed() async throws {
            for c in 1...3 { try await sync(.customer, "cus_\(c)", try ReconcileFixtures.customer("cus_\(c)"), customer: "cus_\(c)") }
            for i in 1...8 {
                let customer = "cus_\((i - 1) % 3 + 1)"
                try await sync(.invoice, "inv_\(i)", try ReconcileFixtures.invoice("inv_\(i)", customerID: customer), customer: customer)
            }
            let total = ConformanceDocuments.invoiceTotalCents(version: 1)
            try await sync(
                .creditMemo, "cn_1", try ReconcileFixtures.creditNote("cn_1", invoiceID: "inv_1", customerID: "cus_1", cents: 1000),
                customer: "cus_1")
            try await sync(.payment, "pay_1", try ReconcileFixtures.payment("pay_1", invoiceID: "inv_2", cents: total), customer: "cus_2")
            try await sync(.payment, "pay_2", try ReconcileFixtures.payment("pay_2", invoiceID: "inv_3", cents: 500), customer: "cus_3")
            // inv_6 voided: its last job is the void.
            let voided = try #require(
                try await ExternalRefStore(pool: db.pool).lookup(connection: id, objectType: .invoice, billingID: "inv_6"))
            ledger.edit(providerID: voided.providerID) { $0.voided = true }
            try await status(
                .invoice, "inv_6", try ReconcileFixtures.invoice("inv_6", customerID: "cus_3"), customer: "cus_3", state: "synced",
                providerID: voided.providerID, kind: .invoiceVoid)
            // One on its way: pending, nothing at the provider yet.
            try await status(
                .invoice, "inv_10", try ReconcileFixtures.invoice("inv_10", customerID: "cus_1"), customer: "cus_1", state: "pending",
                providerID: nil, kind: .invoicePush)
        }

        func providerID(_ type: ExternalRef.ObjectType, _ billingID: String) async throws -> String {
            try #require(try await ExternalRefStore(pool: db.pool).lookup(connection: id, objectType: type, billingID: billingID))
                .providerID
        }
    }

    @Test("a provider's bad moments are read again; a provider that stays down ends the run with its error")
    func transientReadsRetried() async throws {
        try await Month.with { month in
            try await month.seed()
            month.ledger.failNextReads(Reconciler.readAttempts - 1)
            let (summary, findings) = try await month.reconcile()
            #expect(findings.isEmpty, "\(findings)")
            #expect(summary.checked == 14 && summary.matched == 14 && !summary.hasDrift, "\(summary)")

            month.ledger.failNextReads(1_000)
            await #expect(throws: SyncError.self) { _ = try await month.reconcile() }
        }
    }

    @Test("every drift reported exactly, across pages; --repair re-pushes what is ours and a second run reports only the rest")
    func driftAndRepair() async throws {
        try await Month.with { month in
            try await month.seed()
            let (clean, none) = try await month.reconcile()
            #expect(none.isEmpty, "\(none)")
            #expect(clean.checked == 14 && clean.matched == 14 && clean.inFlight == 1 && !clean.hasDrift, "\(clean)")

            // Drift, as people make it at the provider.
            let ledger = month.ledger
            let total = ConformanceDocuments.invoiceTotalCents(version: 1)
            // An amount edited: inv_4's lines and total.
            let edited = try DocumentDecoder.decode(
                BillingInvoice.self, from: try ReconcileFixtures.invoice("inv_4", customerID: "cus_1", version: 2))
            ledger.edit(providerID: try await month.providerID(.invoice, "inv_4")) {
                if case .invoice(_, let customerRef)? = $0.content { $0.content = .invoice(edited, customerRef: customerRef) }
            }
            // A line deleted: inv_5 keeps its first fee, its total follows.
            var object = try #require(
                try JSONSerialization.jsonObject(with: Data(try ReconcileFixtures.invoice("inv_5", customerID: "cus_2").utf8))
                    as? [String: Any])
            let fees = try #require(object["fees"] as? [[String: Any]])
            let first = try #require(fees[0]["amount_cents"] as? Int)
            object["fees"] = [fees[0]]
            for key in [
                "fees_amount_cents", "sub_total_excluding_taxes_amount_cents", "sub_total_including_taxes_amount_cents",
                "total_amount_cents",
            ] {
                object[key] = first
            }
            let shortened = try DocumentDecoder.decode(
                BillingInvoice.self, from: String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self))
            ledger.edit(providerID: try await month.providerID(.invoice, "inv_5")) {
                if case .invoice(_, let customerRef)? = $0.content { $0.content = .invoice(shortened, customerRef: customerRef) }
            }
            // A record deleted.
            let deleted = try await month.providerID(.invoice, "inv_7")
            #expect(ledger.delete(providerID: deleted))
            // A record created with an external id no billing object here has.
            let stranger = try DocumentDecoder.decode(
                BillingInvoice.self, from: try ReconcileFixtures.invoice("inv_stranger", customerID: "cus_1"))
            let extraID = ledger.create(
                .invoice(stranger, customerRef: try await month.providerID(.customer, "cus_1")), externalID: "inv_stranger")
            // An invoice paid by hand (a payment with no external id).
            let byHand = try DocumentDecoder.decode(
                BillingPayment.self, from: try ReconcileFixtures.payment("manual", invoiceID: "inv_8", cents: total))
            let manualID = ledger.create(
                .payment(
                    byHand, customerRef: try await month.providerID(.customer, "cus_2"),
                    invoiceRefs: ["inv_8": try await month.providerID(.invoice, "inv_8")]), externalID: "")
            // An invoice whose push needs a person.
            try await month.status(
                .invoice, "inv_9", try ReconcileFixtures.invoice("inv_9", customerID: "cus_3"), customer: "cus_3", state: "needs_action",
                providerID: nil, kind: .invoicePush)

            let (drift, findings) = try await month.reconcile()
            let seen = findings.map { "\($0.kind.rawValue) \($0.objectType) \($0.billingID ?? "") \($0.field ?? "")" }
            let (v1a, v1b) = ReconcileFixtures.feeAmounts(version: 1)
            let (v2a, v2b) = ReconcileFixtures.feeAmounts(version: 2)
            #expect(
                seen == [
                    "changed invoice inv_4 total", "changed invoice inv_4 lines[0].amount", "changed invoice inv_4 lines[1].amount",
                    "changed invoice inv_4 amount_due",
                    "changed invoice inv_5 total", "changed invoice inv_5 lines", "changed invoice inv_5 amount_due",
                    "missing invoice inv_7 ", "changed invoice inv_8 amount_due", "changed invoice inv_8 status", "unlinked invoice inv_9 ",
                    "extra invoice inv_stranger ",
                ], "\(seen)")
            let byField = Dictionary(findings.map { ("\($0.billingID ?? "") \($0.field ?? "")", $0) }, uniquingKeysWith: { a, _ in a })
            #expect(byField["inv_4 total"]?.expectedMinor == v1a + v1b && byField["inv_4 total"]?.actualMinor == v2a + v2b)
            #expect(byField["inv_4 total"]?.expected == Money(amountCents: v1a + v1b, currency: .usd).description)
            #expect(byField["inv_4 lines[1].amount"]?.actualMinor == v2b)
            #expect(byField["inv_5 lines"]?.expected == "2 lines, \(Money(amountCents: total, currency: .usd))")
            #expect(byField["inv_5 lines"]?.actual == "1 lines, \(Money(amountCents: v1a, currency: .usd))")
            #expect(byField["inv_8 amount_due"]?.expectedMinor == total && byField["inv_8 amount_due"]?.actualMinor == 0)
            #expect(byField["inv_8 status"]?.expected == "open" && byField["inv_8 status"]?.actual == "paid")
            #expect(byField["inv_stranger "]?.providerID == extraID)
            #expect(
                findings.filter(\.repairable).compactMap(\.billingID).sorted() == Array(repeating: "inv_4", count: 4)
                    + Array(repeating: "inv_5", count: 3) + ["inv_7"])
            #expect(
                drift.checked == 14 && drift.matched == 10 && drift.missing == 1 && drift.changed == 3 && drift.changedFields == 9
                    && drift.extra == 1 && drift.unlinked == 1 && drift.inFlight == 1 && drift.hasDrift, "\(drift)")

            // --repair: one invoice.push per object that is ours, through enqueue_sync.
            let (repairing, repaired) = try await month.reconcile(repair: true)
            #expect(repairing.repairsEnqueued == 3, "\(repairing)")
            let jobs = try await month.db.pool.query(
                "SELECT id, kind, args::text AS args, serial_key, limit_key FROM ledgersync.jobs ORDER BY id"
            ).rows
            #expect(jobs.count == 3)
            #expect(Set(repaired.compactMap(\.repairJobID)).count == 3)
            var enqueued: [String] = []
            for row in jobs {
                let kind: String = try row.decode("kind")
                let args: String = try row.decode("args")
                let serial: String? = try row.decodeIfPresent("serial_key")
                let limit: String? = try row.decodeIfPresent("limit_key")
                #expect(kind == "invoice.push")
                #expect(serial?.hasPrefix("sync:\(month.id.uuidString.lowercased()):customer:cus_") == true, "\(serial ?? "nil")")
                #expect(limit == "fake:\(month.id.uuidString.lowercased())")
                enqueued.append(try DocumentDecoder.decode(BillingInvoice.self, from: args).lagoID)
            }
            #expect(enqueued.sorted() == ["inv_4", "inv_5", "inv_7"])
            // The same run again enqueues nothing new (unique per object until the job runs).
            let (again, _) = try await month.reconcile(repair: true)
            #expect(again.repairsEnqueued == 3)
            #expect(try await month.db.pool.query("SELECT count(*)::int AS n FROM ledgersync.jobs").rows[0].decode("n", as: Int.self) == 3)

            // The workers run them.
            let sync = SyncEnvironment(pool: month.db.pool, secretBox: Self.key, http: month.http, providers: month.registry)
            let worker = TestWorker(pool: month.db.pool)
            for row in jobs {
                let result = try await worker.work(InvoicePushJob(sync: sync), jobID: try row.decode("id"))
                #expect(result.job.state == .completed, "\(result.job)")
            }

            // Second run: only what is not ours, each with what a person does.
            let (second, rest) = try await month.reconcile()
            #expect(
                rest.map { "\($0.kind.rawValue) \($0.billingID ?? "") \($0.field ?? "")" } == [
                    "changed inv_8 amount_due", "changed inv_8 status", "unlinked inv_9 ", "extra inv_stranger ",
                ], "\(rest)")
            #expect(rest.allSatisfy { !$0.repairable })
            #expect(rest[0].action.contains("paid or credited at the provider by hand"), "\(rest[0].action)")
            #expect(rest[2].action.contains("needs a person"), "\(rest[2].action)")
            #expect(rest[3].action.contains("delete it there, or link it"), "\(rest[3].action)")
            #expect(second.missing == 0 && second.changed == 1 && second.extra == 1 && second.unlinked == 1)

            // What a person does: removes the stranger and the payment entered by hand, fixes
            // inv_9 and retries its push. Then the books match.
            #expect(ledger.delete(providerID: extraID) && ledger.delete(providerID: manualID))
            let inv9 = try await SyncQueue(pool: month.db.pool).enqueue(
                connection: month.id, kind: .invoicePush, document: JSONText(try ReconcileFixtures.invoice("inv_9", customerID: "cus_3")))
            #expect(try await worker.work(InvoicePushJob(sync: sync), jobID: inv9).job.state == .completed)
            try await month.status(
                .invoice, "inv_9", try ReconcileFixtures.invoice("inv_9", customerID: "cus_3"), customer: "cus_3", state: "synced",
                providerID: try await month.providerID(.invoice, "inv_9"), kind: .invoicePush)
            let (third, nothing) = try await month.reconcile()
            #expect(nothing.isEmpty, "\(nothing)")
            #expect(!third.hasDrift && third.checked == 15 && third.matched == 15, "\(third)")
        }
    }

    @Test("the report is stored bounded (last 10 runs), the reconcile.run job stores it; JSON lines and CSV keep their shape")
    func storedReportsAndFormats() async throws {
        try await Month.with { month in
            try await month.seed()
            let ledger = month.ledger
            #expect(ledger.delete(providerID: try await month.providerID(.invoice, "inv_7")))

            // The job: one run stored with its drift row.
            let sync = SyncEnvironment(pool: month.db.pool, secretBox: Self.key, http: month.http, providers: month.registry)
            let result = try await TestWorker(pool: month.db.pool).work(
                ReconcileRunJob(sync: sync),
                request: EnqueueRequest(kind: ReconcileRunJob.kind, args: JSONText(#"{"connection_id": "\#(month.id.uuidString)"}"#)))
            #expect(result.job.state == .completed, "\(result.job)")
            let store = ReconcileStore(pool: month.db.pool)
            let last = try #require(try await store.lastRun(connection: month.id))
            #expect(last.jobID == result.job.id)
            #expect(last.summary.missing == 1 && last.summary.checked == 14 && last.summary.matched == 13, "\(last.summary)")
            #expect(last.findings.map { "\($0.kind.rawValue) \($0.billingID ?? "")" } == ["missing inv_7"])
            #expect(last.findings.first?.repairable == true)

            // Bad args: a clear error naming the field, the job fails for good.
            let bad = try await TestWorker(pool: month.db.pool).work(
                ReconcileRunJob(sync: sync),
                request: EnqueueRequest(
                    kind: ReconcileRunJob.kind, args: JSONText(#"{"connection_id": "\#(month.id.uuidString)", "since": "yesterday"}"#)))
            #expect(bad.job.state != .completed)
            #expect(bad.error?.message.contains("since") == true, "\(String(describing: bad.error))")

            // Bounded: the newest 10 runs per connection.
            for _ in 0..<11 {
                let (summary, findings) = try await month.reconcile()
                let recorder = ReconcileStore.Recorder()
                for finding in findings { recorder.record(finding) }
                try await store.store(summary, findings: recorder)
            }
            let runs: Int = try await month.db.pool.query(
                "SELECT count(*)::int AS n FROM ledgersync.reconcile_runs WHERE connection_id = $1::uuid", [month.id.uuidString]
            ).rows[0].decode("n")
            #expect(runs == 10)

            // JSON lines: one object per finding, then the summary; CSV quotes what needs it.
            let finding = try #require(last.findings.first)
            let line = try ReconcileFormat.json.line(finding)
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
            #expect(object["kind"] as? String == "missing" && object["object_type"] as? String == "invoice")
            #expect(object["billing_id"] as? String == "inv_7" && object["repairable"] as? Bool == true)
            let footer = try #require(try ReconcileFormat.json.footer(last.summary).first)
            let summary = try #require(
                (try JSONSerialization.jsonObject(with: Data(footer.utf8)) as? [String: Any])?["summary"] as? [String: Any])
            #expect(summary["missing"] as? Int == 1 && summary["checked"] as? Int == 14)
            #expect(ReconcileFormat.csv.header == [ReconcileFinding.csvHeader])
            let row = try ReconcileFormat.csv.line(finding)
            #expect(row.hasPrefix("missing,invoice,inv_7,N-inv_7,"), "\(row)")
            #expect(row.contains("\"deleted at the provider: --repair pushes the last document synced again\"") == false)
            let quoted = ReconcileFinding(
                kind: .changed, objectType: "customer", billingID: "cus_1", documentNumber: nil, providerID: "7", field: "name",
                expected: "Acme, \"Inc\"", actual: "Acme", repairable: true, action: "x")
            #expect(quoted.csvRow == #"changed,customer,cus_1,,7,name,"Acme, ""Inc""",Acme,,,true,x,"#)
            #expect(ReconcileFormat.driftExitCode == 3)
        }
    }
}
