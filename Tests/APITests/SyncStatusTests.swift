import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import NetSuite
import Postgres
import ServiceLifecycle
import Simulators
import Sync
import Testing

/// Issue 15, must-show 1: a month synced to the NetSuite simulator with failures on purpose
/// (an invoice with an item nothing maps and no fallback: `needs_action`; an invoice NetSuite
/// rejects: `failed`). `GET /v1/sync-status` answers for every billing object with its state,
/// provider id and link; the mapping added and the job retried over the API move the
/// `needs_action` invoice to `synced`; every success produced exactly one signed success
/// webhook. The worker runs in process (`WorkerPool` over a `SyncEnvironment`).
@Suite(.timeLimit(.minutes(3)))
struct SyncStatusTests {
    static let credentials = NetSuiteCredentials(
        consumerKey: "status-consumer-key-1a2b", consumerSecret: "STATUS-CONSUMER-SECRET-3c4d",
        tokenID: "status-token-id-5e6f", tokenSecret: "STATUS-TOKEN-SECRET-7a8b")
    static let webhookSecret = "whsec_cmVjZWl2ZXItc2lnbmluZy1zZWNyZXQtMzJieXRlcyE="
    static let scenario = BillingScenario.generate(customers: 5, invoicesPerCustomer: 2, creditNoteEvery: 5, payments: 3, seed: 15)

    /// The scenario's mappings without the fallback item: `storage_gb` on an item of its own,
    /// and `setup_legacy` on an item NetSuite knows as not taxable (a taxed line on it is
    /// rejected: USER_ERROR).
    static func mappings(_ connection: UUID) -> [Mapping] {
        BillingScenario.mappings(connection: connection).filter { $0.kind != .fallbackItem } + [
            .item(connectionID: connection, code: "storage_gb", providerID: "604"),
            .item(connectionID: connection, code: "setup_legacy", providerID: "603"),
        ]
    }

    static var simulatorConfiguration: NetSuiteSimulator.Configuration {
        var configuration = NetSuiteSimulator.Configuration()
        configuration.credentials = [credentials]
        configuration.concurrencyLimit = 5
        configuration.seed = 20_261_203
        configuration.items =
            BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) } + [
                NetSuiteSimulator.Item(id: "604", name: "Storage", taxable: true),
                NetSuiteSimulator.Item(id: "603", name: "Setup (not taxable)", taxable: false),
            ]
        return configuration
    }

    /// Runs the sync kinds and webhook deliveries in process until `done` holds.
    static func runWorker(
        _ api: APIHarness, http: HTTPClient, until done: @escaping @Sendable () async throws -> Bool
    ) async throws -> Bool {
        let providers = ProviderRegistry([NetSuiteDriver()])
        var options = SyncOptions()
        options.jobOptions = JobKindOptions(maxAttempts: 3, timeout: .seconds(20), backoff: Backoff(base: 0.1, cap: 0.2))
        options.webhookOptions = JobKindOptions(maxAttempts: 3, timeout: .seconds(10), backoff: Backoff(base: 0.1, cap: 0.2))
        let sync = SyncEnvironment(
            pool: api.pool, secretBox: api.secretBox, http: http, options: options, providers: providers,
            providerContext: ProviderContext(
                http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: api.pool, secretBox: api.secretBox)))
        var registry = JobRegistry()
        sync.register(in: &registry)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let worker = WorkerPool(
            pool: api.pool, registry: registry,
            options: WorkerOptions(concurrency: 4, pollInterval: .milliseconds(50), lease: .seconds(10)),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let reached = try await eventually(timeout: .seconds(60)) { try await done() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return reached
        }
    }

    static func unfinishedJobs(_ api: APIHarness) async throws -> Int {
        try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE state IN ('available', 'running', 'retryable')")
    }

    /// `https://<account>.app.netsuite.com/app/…?id=<id>` for an object type.
    static func netSuiteLink(_ objectType: String, _ id: String) -> String {
        let page =
            [
                "customer": "common/entity/custjob.nl", "invoice": "accounting/transactions/custinvc.nl",
                "credit_memo": "accounting/transactions/custcred.nl", "payment": "accounting/transactions/custpymt.nl",
                "sales_order": "accounting/transactions/salesord.nl",
            ][objectType] ?? "?"
        return "https://1234567-sb1.app.netsuite.com/app/\(page)?id=\(id)"
    }

    @Test(
        "a month with failures on purpose: every object's status, link and one signed success webhook each; a fixed mapping and a retry make the needs_action invoice synced"
    )
    func monthWithFailures() async throws {
        let scenario = Self.scenario
        #expect(scenario.customers.count == 5 && scenario.invoices.count == 10)
        #expect(scenario.creditNotes.count == 2 && scenario.payments.count == 3, "\(scenario.creditNotes.count) \(scenario.payments.count)")
        // The invoices that fail must not be paid or credited (those would fail with them).
        let used = Set(scenario.payments.map(\.invoiceID) + scenario.creditNotes.map(\.invoiceID))
        let candidates = scenario.invoices.filter { !used.contains($0.lagoID) }
        let unmapped = try #require(candidates.first { $0.json.contains("\"storage_gb\"") })
        let rejected = try #require(candidates.first { $0.lagoID != unmapped.lagoID && $0.json.contains("\"api_calls\"") })
        let unmappedJSON = unmapped.json.replacingOccurrences(of: "\"storage_gb\"", with: "\"mystery_metric\"")
        let rejectedJSON = rejected.json.replacingOccurrences(of: "\"api_calls\"", with: "\"setup_legacy\"")

        let simulator = NetSuiteSimulator(configuration: Self.simulatorConfiguration)
        _ = try await simulator.start()
        let http = HTTPClient(maxConcurrentRequests: 8, allowPrivateNetworks: true)
        let receiver = InboundTests.Receiver(secret: Self.webhookSecret)
        let (receiverURL, receiverTask) = try await receiver.serve()
        defer {
            receiverTask.cancel()
            http.shutdown()
        }
        try await APIHarness.with { api in
            let connection = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).create(
                AccountingConnection(
                    provider: "netsuite", name: "NetSuite status", accountID: Self.simulatorConfiguration.accountID,
                    settings: .init(defaultSubsidiary: "1", objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: 5),
                    secrets: Self.credentials.connectionSecrets))
            let connectionID = try #require(connection.id)
            let id = connectionID.uuidString.lowercased()
            try await SyncEnvironment.applyLimits(of: connection, queue: api.queue, providers: ProviderRegistry([NetSuiteDriver()]))
            for mapping in Self.mappings(connectionID) { try await MappingStore(pool: api.pool).upsert(mapping) }
            // A billing UI's endpoint for the success events.
            _ = try await WebhookEndpointStore(pool: api.pool, secretBox: api.secretBox, allowPrivateNetworks: true).create(
                url: receiverURL, secret: Self.webhookSecret, eventTypes: AccountingSyncedEvent.types)

            let queue = SyncQueue(pool: api.pool)
            var invoiceJobs: [String: Int64] = [:]
            for customer in scenario.customers {
                try await queue.enqueue(connection: connectionID, kind: .customerSync, document: JSONText(customer.json))
            }
            for invoice in scenario.invoices {
                let json =
                    invoice.lagoID == unmapped.lagoID ? unmappedJSON : invoice.lagoID == rejected.lagoID ? rejectedJSON : invoice.json
                invoiceJobs[invoice.lagoID] = try await queue.enqueue(
                    connection: connectionID, kind: .invoicePush, document: JSONText(json))
            }
            for note in scenario.creditNotes {
                try await queue.enqueue(connection: connectionID, kind: .creditMemoPush, document: JSONText(note.json))
            }
            for payment in scenario.payments {
                try await queue.enqueue(
                    connection: connectionID, kind: .paymentApply, document: JSONText(payment.json), customerID: payment.customerID)
            }
            // Enqueued through enqueue_sync: every object is pending before any job ran.
            let pending = try await api.get("/v1/sync-status?connection_id=\(id)&state=pending&limit=500")
            #expect((pending.object["sync_status"] as? [Any])?.count == 20, "\(pending)")

            // 5 customers created, 8 invoices, 2 credit notes and 3 payments synced.
            let successes = 18
            let settled = try await Self.runWorker(api, http: http) {
                try await Self.unfinishedJobs(api) == 0 && receiver.deliveries.count >= successes
            }
            #expect(settled, "deliveries: \(receiver.deliveries.count)")

            // Every billing object answers, with the right state, provider id and link.
            let listed = try await api.get("/v1/sync-status?connection_id=\(id)&limit=500")
            #expect(listed.status == 200, "\(listed)")
            let rows = try #require(listed.object["sync_status"] as? [[String: Any]])
            #expect(rows.count == 20, "\(rows.count)")
            var refs: [String: String] = [:]
            for row in try await api.pool.query(
                "SELECT object_type || ':' || billing_id AS key, provider_id FROM ledgersync.external_refs WHERE connection_id = $1::uuid",
                [id]
            ).rows {
                refs[try row.decode("key")] = try row.decode("provider_id")
            }
            for row in rows {
                let type = try #require(row["object_type"] as? String)
                let billingID = try #require(row["billing_id"] as? String)
                #expect(row["connection_name"] as? String == "NetSuite status" && row["provider"] as? String == "netsuite")
                if billingID == unmapped.lagoID {
                    #expect(row["state"] as? String == "needs_action", "\(row)")
                    #expect(row["last_error_code"] as? String == "invalid_mapping", "\(row)")
                    #expect((row["last_error"] as? String)?.contains("mystery_metric") == true, "\(row)")
                    #expect(row["provider_id"] is NSNull && row["provider_link"] is NSNull)
                } else if billingID == rejected.lagoID {
                    #expect(row["state"] as? String == "failed", "\(row)")
                    #expect(row["last_error_code"] as? String == "USER_ERROR", "\(row)")
                    #expect(row["provider_id"] is NSNull)
                } else {
                    let providerID = try #require(refs["\(type):\(billingID)"], "\(type) \(billingID) has no ref")
                    #expect(row["state"] as? String == "synced", "\(row)")
                    #expect(row["provider_id"] as? String == providerID, "\(row)")
                    #expect(row["provider_link"] as? String == Self.netSuiteLink(type, providerID), "\(row)")
                    #expect(row["last_error"] is NSNull && row["synced_at"] is String && (row["document_digest"] as? String)?.count == 64)
                }
            }
            #expect(
                Dictionary(grouping: rows) { $0["object_type"] as? String ?? "" }.mapValues(\.count) == [
                    "customer": 5, "invoice": 10, "credit_memo": 2, "payment": 3,
                ])

            // The filters: number, billing id, customer, state; and paging.
            let byNumber = try await api.get("/v1/sync-status?document_number=\(try #require(Self.number(of: unmapped.json)))")
            #expect(
                (byNumber.object["sync_status"] as? [[String: Any]])?.map { $0["billing_id"] as? String } == [unmapped.lagoID],
                "\(byNumber)")
            let byState = try await api.get("/v1/sync-status?state=needs_action,failed")
            #expect(
                Set((byState.object["sync_status"] as? [[String: Any]] ?? []).compactMap { $0["billing_id"] as? String }) == [
                    unmapped.lagoID, rejected.lagoID,
                ])
            let byCustomer = try await api.get("/v1/sync-status?customer=\(unmapped.customerID)&object_type=invoice")
            #expect((byCustomer.object["sync_status"] as? [[String: Any]])?.count == 2, "\(byCustomer)")
            var seen: [String] = []
            var cursor: String?
            repeat {
                let page = try await api.get("/v1/sync-status?limit=7" + (cursor.map { "&cursor=\(Self.query($0))" } ?? ""))
                seen += (page.object["sync_status"] as? [[String: Any]] ?? []).compactMap { $0["billing_id"] as? String }
                cursor = page.object["next_cursor"] as? String
            } while cursor != nil && seen.count < 100
            #expect(seen.count == 20 && Set(seen).count == 20)
            let badState = try await api.get("/v1/sync-status?state=done")
            #expect(badState.status == 422 && badState.error["field"] as? String == "state", "\(badState)")

            // The digest is the SHA-256 of the stored document's text.
            let documents = try await api.pool.query(
                "SELECT document::text AS document, document_digest FROM ledgersync.sync_status WHERE document IS NOT NULL"
            ).rows
            #expect(documents.count == 18)
            for row in documents {
                #expect(SHA256.hex(try row.decode("document", as: String.self)) == (try row.decode("document_digest", as: String.self)))
            }

            // One signed success webhook per success, each naming its object, id and link.
            var deliveries = receiver.deliveries
            #expect(deliveries.count == successes, "\(deliveries.map(\.eventType))")
            #expect(deliveries.allSatisfy { $0.signatureValid })
            #expect(Set(deliveries.compactMap { $0.headers[StandardWebhooks.idHeader] }).count == successes)
            #expect(
                Dictionary(grouping: deliveries) { $0.eventType ?? "" }.mapValues(\.count) == [
                    "customer.accounting_provider_created": 5, "invoice.accounting_provider_synced": 8,
                    "credit_note.accounting_provider_synced": 2, "payment.accounting_provider_synced": 3,
                ])
            for delivery in deliveries {
                let body = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body.utf8)) as? [String: Any])
                let object = try #require(body["object"] as? [String: Any])
                let type = (object["type"] as? String) == "credit_note" ? "credit_memo" : object["type"] as? String ?? ""
                let providerID = try #require(refs["\(type):\(object["lago_id"] as? String ?? "")"], "\(body)")
                #expect(
                    object["provider_id"] as? String == providerID
                        && object["provider_link"] as? String == Self.netSuiteLink(type, providerID))
                #expect(body["connection_id"] as? String == id && body["provider"] as? String == "netsuite")
                #expect(body["id"] as? String == delivery.headers[StandardWebhooks.idHeader] && body["job_id"] is Int)
                #expect((body["id"] as? String)?.hasPrefix("evt_synced_job") == true)
                #expect(type == "customer" || object["lago_customer_id"] is String, "\(body)")
            }

            // The needs_action invoice's page, with its job.
            let jobID = try #require(invoiceJobs[unmapped.lagoID])
            let path = "/v1/sync-status/\(id)/invoice/\(unmapped.lagoID)"
            let before = try await api.get(path)
            let detail = try #require(before.object["sync_status"] as? [String: Any], "\(before)")
            #expect(detail["state"] as? String == "needs_action" && detail["last_job_id"] as? Int == Int(jobID))
            #expect((detail["jobs"] as? [[String: Any]])?.map { $0["id"] as? Int } == [Int(jobID)], "\(detail)")
            #expect(try await api.get("/v1/sync-status/\(id)/invoice/no_such_invoice").status == 404)

            // The mapping is added and the job retried, over the API.
            let mapping = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings", body: #"{"kind": "item", "billing_key": "mystery_metric", "provider_id": "604"}"#)
            #expect(mapping.status == 200, "\(mapping)")
            let retried = try await api.post("/v1/jobs/\(jobID)/retry")
            #expect(retried.status == 200, "\(retried)")
            let fixed = try await Self.runWorker(api, http: http) {
                try await Self.unfinishedJobs(api) == 0 && receiver.deliveries.count >= successes + 1
            }
            #expect(fixed)
            let after = try #require(try await api.get(path).object["sync_status"] as? [String: Any])
            let refRow = try #require(
                try await api.pool.query(
                    "SELECT provider_id FROM ledgersync.external_refs WHERE connection_id = $1::uuid AND object_type = 'invoice' AND billing_id = $2",
                    [id, unmapped.lagoID]
                ).rows.first)
            let providerID: String = try refRow.decode("provider_id")
            #expect(after["state"] as? String == "synced" && after["provider_id"] as? String == providerID, "\(after)")
            #expect(after["provider_link"] as? String == Self.netSuiteLink("invoice", providerID) && after["last_error"] is NSNull)
            #expect((after["document"] as? [String: Any])?["lago_id"] as? String == unmapped.lagoID)
            deliveries = receiver.deliveries
            #expect(deliveries.count == successes + 1)
            let last = try #require(deliveries.last)
            #expect(last.eventType == "invoice.accounting_provider_synced" && last.signatureValid && last.body.contains(unmapped.lagoID))
            // The rejected invoice is still failed.
            let stillFailed = try #require(
                try await api.get("/v1/sync-status/\(id)/invoice/\(rejected.lagoID)").object["sync_status"] as? [String: Any])
            #expect(stillFailed["state"] as? String == "failed")

            // A job run again after a crash (its success already recorded) sends no second webhook.
            let repeated: Bool = try await api.pool.query(
                "SELECT repeated FROM ledgersync.sync_status_synced($1::bigint, 'invoice', $2, NULL, $3, NULL, NULL)",
                [jobID, unmapped.lagoID, providerID]
            ).rows[0].decode("repeated")
            #expect(repeated)
        }
        await simulator.stop()
    }

    static func number(of json: String) -> String? {
        guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return nil }
        return (object["invoice"] as? [String: Any])?["number"] as? String
    }

    static func query(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }
}
