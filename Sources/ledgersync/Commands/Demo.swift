import ArgumentParser
import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync

/// The parts of the demo (`scripts/demo.sh`) that need the library: a connection to the
/// simulator with its mappings, a webhook endpoint, and a billing month enqueued the way a
/// billing system would (`ledgersync.enqueue_sync`), with a few bad documents on purpose.
struct Demo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Set up and enqueue the demo's billing month (scripts/demo.sh runs the whole demo).",
        subcommands: [Seed.self])
}

extension Demo {
    struct Seed: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a NetSuite connection to a simulator, its mappings and a webhook endpoint; enqueue a billing month.",
            discussion: """
                The connection signs with the simulator's demo token set (see `ledgersync simulate netsuite --help`). The webhook endpoint's signing secret is read from LEDGERSYNC_WEBHOOK_SECRET. Prints one JSON object: the connection id and what was enqueued, with the bad documents and the error each is expected to end in.
                """)

        @OptionGroup var database: DatabaseOptions
        @Option(help: "The simulator's base URL, e.g. http://127.0.0.1:8089.") var netsuiteURL: String
        @Option(help: "The simulator's account id.") var account = "1234567_SB1"
        @Option(help: "Where provider-error webhooks go.") var webhookURL: String
        @Option(help: "Customers in the month; each gets --invoices-per-customer invoices.") var customers = 60
        @Option(help: "Invoices per customer.") var invoicesPerCustomer = 4
        @Option(help: "Requests the account takes at once (the simulator's limit).") var concurrencyLimit = 5
        @Option(help: "The Zoho Books simulator's base URL: the month goes to a Zoho Books connection too.") var zohoBooksURL: String?
        @Option(
            help:
                "A grant code of the Zoho Books simulator's self client (it prints one), exchanged as `connections add --grant-code` does.")
        var zohoGrantCode: String?
        @Option(help: "The Zoho Books organization's request window, as the simulator runs it (e.g. 100/10s).") var zohoRequestWindow =
            "100/60s"

        func validate() throws {
            guard (1...10_000).contains(customers) else { throw ValidationError("--customers must be from 1 to 10000, got \(customers)") }
            guard (1...50).contains(invoicesPerCustomer) else {
                throw ValidationError("--invoices-per-customer must be from 1 to 50, got \(invoicesPerCustomer)")
            }
            guard concurrencyLimit >= 1 else { throw ValidationError("--concurrency-limit must be at least 1, got \(concurrencyLimit)") }
            guard (zohoBooksURL == nil) == (zohoGrantCode == nil) else {
                throw ValidationError("--zoho-books-url and --zoho-grant-code go together")
            }
        }

        func run() async throws {
            guard let webhookSecret = ProcessInfo.processInfo.environment["LEDGERSYNC_WEBHOOK_SECRET"], !webhookSecret.isEmpty else {
                throw CLIError.config("LEDGERSYNC_WEBHOOK_SECRET is not set: the demo's webhook endpoint needs a signing secret")
            }
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 2)
            defer { Task { await pool.close() } }

            let connection = try await withStoreErrors {
                try await ConnectionStore(pool: pool, secretBox: box).create(
                    AccountingConnection(
                        provider: "netsuite", name: "NetSuite demo (simulator)", accountID: account,
                        settings: .init(
                            defaultSubsidiary: "1", objectsToSync: [], baseURL: netsuiteURL, concurrencyLimit: concurrencyLimit),
                        secrets: NetSuiteSimulator.Configuration.demoCredentials.connectionSecrets))
            }
            let id = connection.id!
            try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: Providers.registry)
            let mappings = MappingStore(pool: pool)
            for mapping in BillingScenario.mappings(connection: id) + [Self.retiredItemMapping(id)] {
                _ = try await withStoreErrors { try await mappings.upsert(mapping) }
            }
            let endpoint = try await withStoreErrors {
                try await WebhookEndpointStore(pool: pool, secretBox: box).create(url: webhookURL, secret: webhookSecret)
            }

            let month = BillingScenario.generate(
                customers: customers, invoicesPerCustomer: invoicesPerCustomer, creditNoteEvery: 10,
                payments: customers * invoicesPerCustomer * 3 / 4)
            let queue = SyncQueue(pool: pool)
            var enqueued: [String: Int] = [:]
            try await Self.enqueueMonth(month, connection: id, queue: queue) { enqueued[$0.rawValue, default: 0] += 1 }
            let bad = try Self.badDocuments(from: month.invoices[0].json)
            for document in bad {
                _ = try await queue.enqueue(connection: id, kind: .invoicePush, document: JSONText(document.json))
                enqueued[SyncJobKind.invoicePush.rawValue, default: 0] += 1
            }

            // The same month to a Zoho Books organization: a connection made as `connections
            // add --provider zoho-books --grant-code …` makes it (the code exchanged now).
            var zoho: SeedSummary.Zoho?
            if let zohoBooksURL, let zohoGrantCode {
                let zohoID = try await zohoConnection(url: zohoBooksURL, grantCode: zohoGrantCode, pool: pool, box: box)
                var zohoEnqueued: [String: Int] = [:]
                try await Self.enqueueMonth(month, connection: zohoID, queue: queue) { zohoEnqueued[$0.rawValue, default: 0] += 1 }
                zoho = SeedSummary.Zoho(
                    connectionId: zohoID.uuidString.lowercased(), enqueued: zohoEnqueued, jobs: zohoEnqueued.values.reduce(0, +))
            }

            let summary = SeedSummary(
                connectionId: id.uuidString.lowercased(), webhookEndpointId: endpoint.id.uuidString.lowercased(), enqueued: enqueued,
                jobs: enqueued.values.reduce(0, +),
                badDocuments: bad.map { SeedSummary.Bad(invoice: $0.invoiceID, problem: $0.problem, expected: $0.expected) }, zoho: zoho)
            try printJSON(summary)
        }

        /// The month in the order a billing system produces it: a customer, its invoices, then
        /// what refers to the invoices. Half the customers have no customer.sync job of their
        /// own: their first invoice carries them. A credit note or payment does not name its
        /// customer; the billing system knows it, and with it the job joins the customer's
        /// serial key, behind the invoice it refers to.
        static func enqueueMonth(
            _ month: BillingScenario, connection: UUID, queue: SyncQueue, counted: (SyncJobKind) -> Void
        ) async throws {
            func enqueue(_ kind: SyncJobKind, _ json: String, customerID: String? = nil) async throws {
                _ = try await queue.enqueue(connection: connection, kind: kind, document: JSONText(json), customerID: customerID)
                counted(kind)
            }
            for (c, customer) in month.customers.enumerated() {
                if c % 2 == 0 { try await enqueue(.customerSync, customer.json) }
                for invoice in month.invoices where invoice.customerID == customer.lagoID {
                    try await enqueue(.invoicePush, invoice.json)
                }
            }
            for note in month.creditNotes { try await enqueue(.creditMemoPush, note.json, customerID: note.customerID) }
            for payment in month.payments { try await enqueue(.paymentApply, payment.json, customerID: payment.customerID) }
        }

        /// A Zoho Books connection to the simulator (its demo self client and organization), its
        /// mappings and limits. The grant code is exchanged by the driver, as `connections add`
        /// does; only the refresh token is kept.
        func zohoConnection(url: String, grantCode: String, pool: ConnectionPool, box: SecretBox) async throws -> UUID {
            let client = ZohoBooksSimulator.SelfClient.demo
            var secrets = ConnectionSecrets()
            secrets["client_id"] = client.clientID
            secrets["client_secret"] = client.clientSecret
            secrets["grant_code"] = grantCode
            var settings = AccountingConnection.Settings(objectsToSync: [], baseURL: url, concurrencyLimit: 5)
            settings.extra = ["data_center": client.dataCenter, "request_window": zohoRequestWindow, "daily_quota": "10000/1d"]
            let http = HTTPClient(maxConcurrentRequests: 2)
            defer { http.shutdown() }
            let connection = try await withStoreErrors {
                let prepared = try await Providers.registry.prepared(
                    AccountingConnection(
                        provider: "zoho_books", name: "Zoho Books demo (simulator)", accountID: ZohoBooksSimulator.Organization.demo.id,
                        settings: settings, secrets: secrets),
                    context: ProviderContext(http: http, tokens: PostgresTokenStore(pool: pool, secretBox: box)))
                return try await ConnectionStore(pool: pool, secretBox: box).create(prepared)
            }
            guard let id = connection.id else { throw CLIError.failed("the Zoho Books connection was stored without an id") }
            try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: pool), providers: Providers.registry)
            let mappings = MappingStore(pool: pool)
            for mapping in BillingScenario.zohoMappings(connection: id) {
                _ = try await withStoreErrors { try await mappings.upsert(mapping) }
            }
            return id
        }

        /// A fee code mapped to an item that does not exist at NetSuite: NetSuite's own
        /// validation refuses it (INVALID_KEY_OR_REF), a permanent failure.
        static func retiredItemMapping(_ connection: UUID) -> Mapping {
            .item(connectionID: connection, code: "legacy_support", providerID: "699", accountCode: "4090")
        }

        struct BadDocument {
            let invoiceID: String
            let problem: String
            let expected: String
            let json: String
        }

        /// Copies of one good invoice, each broken in one way a real billing export can be.
        static func badDocuments(from template: String) throws -> [BadDocument] {
            func variant(_ suffix: String, _ problem: String, _ expected: String, _ edit: (inout [String: Any]) -> Void) throws
                -> BadDocument
            {
                guard var root = try JSONSerialization.jsonObject(with: Data(template.utf8)) as? [String: Any],
                    var invoice = root["invoice"] as? [String: Any], let lagoID = invoice["lago_id"] as? String
                else { throw CLIError.failed("the demo's invoice template is not an invoice envelope") }
                let id = "\(lagoID)-\(suffix)"
                invoice["lago_id"] = id
                invoice["number"] = "BAD-\(suffix.uppercased())"
                edit(&invoice)
                root["invoice"] = invoice
                let data = try JSONSerialization.data(withJSONObject: root, options: [.sortedKeys])
                return BadDocument(invoiceID: id, problem: problem, expected: expected, json: String(decoding: data, as: UTF8.self))
            }
            func editFirstFee(_ invoice: inout [String: Any], _ edit: (inout [String: Any]) -> Void) {
                var fees = invoice["fees"] as? [[String: Any]] ?? []
                if !fees.isEmpty { edit(&fees[0]) }
                invoice["fees"] = fees
            }
            return [
                try variant("negunits", "a fee with negative units", "invalid_document") { invoice in
                    editFirstFee(&invoice) { $0["units"] = "-3" }
                },
                try variant("nocurrency", "an unknown currency", "invalid_document") { $0["currency"] = "XYZ" },
                try variant("nonumber", "no invoice number", "invalid_document") { $0.removeValue(forKey: "number") },
                try variant("gst", "a tax code with no tax mapping", "invalid_mapping") { invoice in
                    editFirstFee(&invoice) { fee in
                        var taxes = fee["applied_taxes"] as? [[String: Any]] ?? []
                        if !taxes.isEmpty { taxes[0]["tax_code"] = "gst_au" }
                        fee["applied_taxes"] = taxes
                    }
                },
                try variant("retired", "a fee whose item no longer exists in NetSuite", "permanent (INVALID_KEY_OR_REF)") { invoice in
                    editFirstFee(&invoice) { fee in
                        fee["item"] = ["type": "add_on", "code": "legacy_support", "name": "Legacy support"]
                    }
                },
            ]
        }
    }

    struct SeedSummary: Encodable {
        struct Bad: Encodable {
            let invoice: String
            let problem: String
            let expected: String
        }
        /// The Zoho Books connection's part, when the month went there too.
        struct Zoho: Encodable {
            let connectionId: String
            let enqueued: [String: Int]
            let jobs: Int
        }
        let connectionId: String
        let webhookEndpointId: String
        let enqueued: [String: Int]
        let jobs: Int
        let badDocuments: [Bad]
        let zoho: Zoho?
    }
}
