import API
import ExactJSON
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync
import Testing

/// Issue 15, must-show 5 on NetSuite: a small month synced to the simulator by an in-process
/// worker (which fills the sync status), then drift made by hand at the simulator: an amount
/// edited, a record deleted, a record created with an external id unknown here, an invoice
/// paid by hand. Each is reported and nothing else; `--repair` re-pushes what is ours, the
/// workers run it, and the second run reports only what a person must decide; after that
/// (the stranger deleted, the hand payment removed) the books match.
@Suite(.timeLimit(.minutes(3)))
struct ReconcileNetSuiteTests {
    static let scenario = BillingScenario.generate(customers: 4, invoicesPerCustomer: 2, creditNoteEvery: 3, payments: 2, seed: 15)

    static func replacing(_ json: ExactJSON, _ key: String, _ change: (ExactJSON) -> ExactJSON) -> ExactJSON {
        .object(json.objectMembers.map { $0.key == key ? (key: $0.key, value: change($0.value)) : $0 })
    }

    func reconcile(_ api: APIHarness, _ connection: AccountingConnection, _ http: HTTPClient, repair: Bool = false) async throws -> (
        ReconcileSummary, [ReconcileFinding]
    ) {
        let id = try #require(connection.id)
        let provider = try await ProviderRegistry([NetSuiteDriver()]).provider(
            for: connection,
            context: ProviderContext(
                http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: api.pool, secretBox: api.secretBox)))
        let reconciler = try Reconciler(
            pool: api.pool, connection: connection, mappings: try await MappingStore(pool: api.pool).mappingSet(connection: id),
            provider: provider)
        var options = Reconciler.Options()
        options.pageSize = 5
        options.repair = repair
        let recorder = ReconcileStore.Recorder()
        let summary = try await reconciler.run(options) { recorder.record($0) }
        return (summary, recorder.findings)
    }

    @Test("a synced month with drift made at the NetSuite simulator: each reported, --repair fixes ours, then clean")
    func netSuiteDrift() async throws {
        let scenario = Self.scenario
        let simulator = NetSuiteSimulator(configuration: SyncStatusTests.simulatorConfiguration)
        _ = try await simulator.start()
        let http = HTTPClient(maxConcurrentRequests: 8, allowPrivateNetworks: true)
        defer { http.shutdown() }
        try await APIHarness.with { api in
            let stored = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).create(
                AccountingConnection(
                    provider: "netsuite", name: "NetSuite reconcile", accountID: SyncStatusTests.simulatorConfiguration.accountID,
                    settings: .init(defaultSubsidiary: "1", objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: 5),
                    secrets: SyncStatusTests.credentials.connectionSecrets))
            let connectionID = try #require(stored.id)
            try await SyncEnvironment.applyLimits(of: stored, queue: api.queue, providers: ProviderRegistry([NetSuiteDriver()]))
            for mapping in BillingScenario.mappings(connection: connectionID) { try await MappingStore(pool: api.pool).upsert(mapping) }
            let connection = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).get(connectionID)
            let queue = SyncQueue(pool: api.pool)
            for customer in scenario.customers {
                try await queue.enqueue(connection: connectionID, kind: .customerSync, document: JSONText(customer.json))
            }
            for invoice in scenario.invoices {
                try await queue.enqueue(connection: connectionID, kind: .invoicePush, document: JSONText(invoice.json))
            }
            for note in scenario.creditNotes {
                try await queue.enqueue(connection: connectionID, kind: .creditMemoPush, document: JSONText(note.json))
            }
            for payment in scenario.payments {
                try await queue.enqueue(
                    connection: connectionID, kind: .paymentApply, document: JSONText(payment.json), customerID: payment.customerID)
            }
            #expect(try await SyncStatusTests.runWorker(api, http: http) { try await SyncStatusTests.unfinishedJobs(api) == 0 })

            let (clean, none) = try await reconcile(api, connection, http)
            #expect(
                none.isEmpty,
                "\(none.map { "\($0.kind) \($0.objectType) \($0.billingID ?? "") \($0.field ?? "") \($0.expected ?? "") \($0.actual ?? "")" })"
            )
            let objects = scenario.customers.count + scenario.invoices.count + scenario.creditNotes.count + scenario.payments.count
            #expect(clean.checked == objects && clean.matched == objects && !clean.hasDrift, "\(clean)")

            // Drift by hand. Invoices nobody paid or credited: one edited, one deleted, one paid by hand.
            let used = Set(scenario.payments.map(\.invoiceID) + scenario.creditNotes.map(\.invoiceID))
            let free = scenario.invoices.filter { !used.contains($0.lagoID) }
            try #require(free.count >= 4)
            let (edited, deleted, paid) = (free[0], free[1], free[2])
            let editedRecord = try #require(simulator.record(.invoice, externalID: edited.lagoID))
            let body = Self.replacing(editedRecord.body, "item") { sublist in
                Self.replacing(sublist, "items") { items in
                    var lines = items.arrayValue ?? []
                    lines[0] = Self.replacing(lines[0], "amount") { _ in .number("1.00") }
                    return .array(lines)
                }
            }
            _ = try simulator.addRecord(.invoice, externalID: edited.lagoID, body: body)
            #expect(try simulator.deleteRecord(.invoice, externalID: deleted.lagoID))
            // A line deleted: the last item line of an invoice with more than one, with its
            // tax detail rows (NetSuite's total follows the lines).
            let shortened = try #require(
                free.dropFirst(3).first {
                    (simulator.record(.invoice, externalID: $0.lagoID)?.body["item"]?["items"]?.arrayValue?.count ?? 0) > 1
                })
            let shortRecord = try #require(simulator.record(.invoice, externalID: shortened.lagoID))
            let droppedLine = shortRecord.body["item"]?["items"]?.arrayValue?.last
            let droppedReference = droppedLine?["taxDetailsReference"]?.stringValue
            var shortBody = Self.replacing(shortRecord.body, "item") { sublist in
                Self.replacing(sublist, "items") { .array(Array(($0.arrayValue ?? []).dropLast())) }
            }
            if let droppedReference {
                shortBody = Self.replacing(shortBody, "taxDetails") { sublist in
                    Self.replacing(sublist, "items") { rows in
                        .array((rows.arrayValue ?? []).filter { $0["taxDetailsReference"]?.stringValue != droppedReference })
                    }
                }
            }
            _ = try simulator.addRecord(.invoice, externalID: shortened.lagoID, body: shortBody)
            _ = try simulator.addRecord(
                .invoice, externalID: "inv-created-by-hand",
                body: Self.replacing(editedRecord.body, "externalId") { _ in .string("inv-created-by-hand") })
            let paidRecord = try #require(simulator.record(.invoice, externalID: paid.lagoID))
            let paidTotal = try #require(paidRecord.total)
            _ = try simulator.addRecord(
                .customerPayment, externalID: "",
                body: try ExactJSON.parse(
                    #"{"customer": {"id": "\#(paidRecord.reference("entity") ?? "")"}, "payment": \#(paidTotal), "tranDate": "2026-11-20", "currency": {"id": "\#(paidRecord.reference("currency") ?? "1")"}, "apply": {"items": [{"doc": {"id": "\#(paidRecord.internalID)"}, "apply": true, "amount": \#(paidTotal)}]}}"#
                ))

            let (drift, findings) = try await reconcile(api, connection, http)
            let seen = Set(findings.map { "\($0.kind.rawValue) \($0.billingID ?? "")" })
            #expect(
                seen == [
                    "changed \(edited.lagoID)", "missing \(deleted.lagoID)", "extra inv-created-by-hand", "changed \(paid.lagoID)",
                    "changed \(shortened.lagoID)",
                ], "\(findings.map { "\($0.kind) \($0.billingID ?? "") \($0.field ?? "") \($0.expected ?? "") \($0.actual ?? "")" })")
            let paidFields = findings.filter { $0.billingID == paid.lagoID }.compactMap(\.field)
            #expect(paidFields == ["amount_due", "status"], "\(paidFields)")
            #expect(findings.filter { $0.billingID == edited.lagoID }.compactMap(\.field).contains("lines[0].amount"))
            let shortenedFields = Set(findings.filter { $0.billingID == shortened.lagoID }.compactMap(\.field))
            #expect(shortenedFields.contains("lines") && shortenedFields.contains("total"), "\(shortenedFields)")
            #expect(drift.missing == 1 && drift.changed == 3 && drift.extra == 1 && drift.unlinked == 0)

            // --repair, and the workers run what it enqueued.
            let (repairing, _) = try await reconcile(api, connection, http, repair: true)
            #expect(repairing.repairsEnqueued == 3, "\(repairing)")
            #expect(try await SyncStatusTests.runWorker(api, http: http) { try await SyncStatusTests.unfinishedJobs(api) == 0 })
            let (_, rest) = try await reconcile(api, connection, http)
            #expect(
                Set(rest.map { "\($0.kind.rawValue) \($0.billingID ?? "")" }) == ["extra inv-created-by-hand", "changed \(paid.lagoID)"],
                "\(rest.map { "\($0.kind) \($0.billingID ?? "") \($0.field ?? "")" })")
            #expect(rest.allSatisfy { !$0.repairable })

            // A person deletes the stranger and the payment entered by hand: the books match.
            #expect(try simulator.deleteRecord(.invoice, externalID: "inv-created-by-hand"))
            #expect(try simulator.deleteRecord(.customerPayment, externalID: ""))
            let (final, nothing) = try await reconcile(api, connection, http)
            #expect(nothing.isEmpty && !final.hasDrift, "\(nothing)")
        }
        await simulator.stop()
    }
}
