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
import Testing

@testable import ZohoBooks

/// Issue 15 (sync status) through the Zoho Books simulator: a customer and an invoice synced
/// by an in-process worker leave `synced` rows whose provider ids are the simulator's and
/// whose links are Zoho Books' web app addresses; the customer's first write is
/// `customer.accounting_provider_created`.
@Suite(.timeLimit(.minutes(3)))
struct ZohoSyncStatusTests {
    @Test("Zoho Books: synced rows with the provider's ids and books.zoho.<dc> links; the success webhooks are enqueued once")
    func syncedRowsAndLinks() async throws {
        let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 1, creditNoteEvery: 0, payments: 0, seed: 21)
        let customer = try #require(scenario.customers.first)
        let invoice = try #require(scenario.invoices.first)
        try await ZohoTestBed.run { bed in
            try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { database in
                let box = try SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
                var connection = bed.connection()
                connection.settings.extra["data_center"] = "eu"
                let stored = try await ConnectionStore(pool: database.pool, secretBox: box).create(connection)
                let id = try #require(stored.id)
                for mapping in BillingScenario.zohoMappings(connection: id) { try await MappingStore(pool: database.pool).upsert(mapping) }
                _ = try await WebhookEndpointStore(pool: database.pool, secretBox: box, allowPrivateNetworks: true).create(
                    url: "http://127.0.0.1:9/hooks", secret: "whsec_cmVjZWl2ZXItc2lnbmluZy1zZWNyZXQtMzJieXRlcyE=",
                    eventTypes: AccountingSyncedEvent.types)
                let queue = SyncQueue(pool: database.pool)
                try await queue.enqueue(connection: id, kind: .customerSync, document: JSONText(customer.json))
                try await queue.enqueue(connection: id, kind: .invoicePush, document: JSONText(invoice.json))

                let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
                defer { http.shutdown() }
                let providers = ProviderRegistry([ZohoBooksDriver()])
                let sync = SyncEnvironment(
                    pool: database.pool, secretBox: box, http: http, providers: providers,
                    providerContext: ProviderContext(
                        http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: database.pool, secretBox: box)))
                // Nobody listens at the endpoint: its deliveries stay in the queue, to be counted.
                var registry = JobRegistry()
                sync.register(in: &registry)
                var logger = Logger(label: "test.worker")
                logger.logLevel = .critical
                let worker = WorkerPool(
                    pool: database.pool, registry: registry,
                    options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10)), logger: logger)
                let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    let done = try await eventually(timeout: .seconds(60)) {
                        try await database.pool.query(
                            "SELECT count(*) AS n FROM ledgersync.jobs WHERE kind IN ('customer.sync', 'invoice.push') AND state = 'completed'"
                        ).rows[0].decode("n", as: Int64.self) == 2
                    }
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                    #expect(done)
                }

                let rows = try await SyncStatusStore(pool: database.pool).list(SyncStatusFilter(connectionID: id))
                #expect(rows.map(\.objectType) == ["customer", "invoice"], "\(rows)")
                let organization = ZohoTestBed.organization
                let zohoCustomer = try #require(bed.records("contacts").first { ZohoTestBed.billingID($0) == customer.lagoID })
                let zohoInvoice = try #require(bed.records("invoices").first { ZohoTestBed.billingID($0) == invoice.lagoID })
                let customerID = try #require(zohoCustomer["contact_id"]?.stringValue)
                let invoiceID = try #require(zohoInvoice["invoice_id"]?.stringValue)
                for row in rows {
                    #expect(row.state == .synced && row.provider == "zoho_books" && row.lastError == nil, "\(row)")
                }
                #expect(rows.first?.providerID == customerID && rows.last?.providerID == invoiceID)
                #expect(rows.first?.providerLink == "https://books.zoho.eu/app/\(organization)#/contacts/\(customerID)")
                #expect(rows.last?.providerLink == "https://books.zoho.eu/app/\(organization)#/invoices/\(invoiceID)")
                let document = try JSONSerialization.jsonObject(with: Data(invoice.json.utf8)) as? [String: Any]
                let number = (document?["invoice"] as? [String: Any])?["number"] as? String
                #expect(number != nil && rows.last?.documentNumber == number)
                // One delivery per success, queued with the event's type.
                let types = try await database.pool.query(
                    "SELECT args->>'event_type' AS type FROM ledgersync.jobs WHERE kind = 'webhook.deliver' ORDER BY id"
                ).rows.map { try $0.decode("type", as: String.self) }
                #expect(types == ["customer.accounting_provider_created", "invoice.accounting_provider_synced"], "\(types)")
            }
        }
    }

    @Test("Zoho Books links per data centre and object type; none for an id that is not one")
    func links() {
        let driver = ZohoBooksDriver()
        var connection = AccountingConnection(
            provider: "zoho_books", name: "z", accountID: "10234695", settings: .init(), secrets: ConnectionSecrets())
        #expect(driver.recordLink(connection, .payment, providerID: "4600") == "https://books.zoho.com/app/10234695#/paymentsreceived/4600")
        connection.settings.extra["data_center"] = "ca"
        #expect(driver.recordLink(connection, .creditMemo, providerID: "77") == "https://books.zohocloud.ca/app/10234695#/creditnotes/77")
        connection.settings.extra["data_center"] = "com.au"
        #expect(driver.recordLink(connection, .salesOrder, providerID: "9") == "https://books.zoho.com.au/app/10234695#/salesorders/9")
        #expect(driver.recordLink(connection, .invoice, providerID: "a/b") == "https://books.zoho.com.au/app/10234695#/invoices/a%2Fb")
        connection.settings.extra["data_center"] = "mars"
        #expect(driver.recordLink(connection, .invoice, providerID: "1") == nil)
    }

    @Test("Zoho Books: a transaction lock or locked record needs a person; another rejection does not")
    func zohoNeedsAction() {
        func parse(_ status: Int, _ message: String) -> SyncError {
            let body = #"{"code": 4000, "message": "\#(message)"}"#
            return ZohoErrorParser.error(
                HTTPResponse(status: status, headers: [], body: Data(body.utf8)), json: try? ExactJSON.parse(body), method: "PUT",
                path: "/invoices")
        }
        #expect(parse(400, "Transactions before 31 Oct 2026 are locked.").needsAction)
        #expect(parse(400, "This invoice is locked and cannot be edited.").needsAction)
        #expect(!parse(400, "Invalid value passed for customer_id").needsAction)
        #expect(!parse(500, "locked").needsAction)
    }
}
