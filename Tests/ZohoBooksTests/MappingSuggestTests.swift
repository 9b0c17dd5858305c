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
import ZohoBooks

/// `mappings suggest`'s engine (`MappingSuggestions`) over a real queue and the Zoho Books
/// simulator: the codes of queued and mapping-failed documents, matched by exact code or name,
/// written only when applied; the failed job then syncs after a retry.
@Suite("mappings suggest against Zoho Books", .timeLimit(.minutes(3)))
struct MappingSuggestTests {
    /// The demo's currencies and taxes; items: one with the SKU "SEATS", one named like the
    /// billing item "Platform fee", two named "Usage" (ambiguous), one inactive named "Seats".
    static let reference = ZohoBooksSimulator.ReferenceData(
        currencies: ZohoBooksSimulator.ReferenceData.demo.currencies, taxes: ZohoBooksSimulator.ReferenceData.demo.taxes,
        items: [
            .init(id: "460000000020001", name: "Platform fee", rate: "100", accountID: "460000000000388"),
            .init(id: "460000000020003", name: "Usage", rate: "0.01", accountID: "460000000000388"),
            .init(id: "460000000020005", name: "Usage", rate: "0.02", accountID: "460000000000388"),
            .init(id: "460000000020007", name: "Seat licences", rate: "10", accountID: "460000000000388", sku: "SEATS"),
            .init(id: "460000000020009", name: "SEATS", rate: "10", accountID: "460000000000388", inactive: true),
        ],
        accounts: ZohoBooksSimulator.ReferenceData.demo.accounts)

    static func fee(_ id: String, type: String, code: String, name: String, cents: Int64) -> [String: Any] {
        [
            "lago_id": id, "item": ["type": type, "code": code, "name": name], "units": "1", "amount_cents": cents,
            "amount_currency": "USD", "taxes_amount_cents": 0, "total_amount_cents": cents,
        ]
    }

    static func customer(_ id: String) -> [String: Any] {
        ["lago_id": id, "external_id": "EXT-\(id)", "name": "Suggest \(id) Ltd", "customer_type": "company", "currency": "USD"]
    }

    /// An invoice of `fees` in `currency`, with one invoice-level tax when `tax` is given.
    static func invoice(
        _ id: String, customerID: String, currency: String = "USD", fees: [[String: Any]], tax: (code: String, name: String)? = nil
    ) throws -> String {
        let fees = fees.map { fee -> [String: Any] in
            var fee = fee
            fee["amount_currency"] = currency
            return fee
        }
        let sum = fees.reduce(Int64(0)) { $0 + ($1["amount_cents"] as? Int64 ?? 0) }
        let taxCents: Int64 = tax == nil ? 0 : sum / 5
        var invoice: [String: Any] = [
            "lago_id": id, "number": "INV-\(id)", "issuing_date": "2026-10-01", "invoice_type": "subscription",
            "status": "finalized", "currency": currency, "customer": customer(customerID), "fees": fees, "credits": [],
            "fees_amount_cents": sum, "coupons_amount_cents": 0, "credit_notes_amount_cents": 0, "prepaid_credit_amount_cents": 0,
            "sub_total_excluding_taxes_amount_cents": sum, "taxes_amount_cents": taxCents,
            "sub_total_including_taxes_amount_cents": sum + taxCents, "total_amount_cents": sum + taxCents,
        ]
        if let tax {
            invoice["applied_taxes"] = [
                ["tax_code": tax.code, "tax_name": tax.name, "tax_rate": "20", "amount_cents": taxCents, "amount_currency": currency]
            ]
        }
        let text = String(decoding: try JSONSerialization.data(withJSONObject: ["invoice": invoice], options: [.sortedKeys]), as: UTF8.self)
        // The engine skips what does not decode: make sure the test's documents do.
        _ = try DocumentDecoder.decode(BillingInvoice.self, from: text)
        return text
    }

    @Test(
        "codes of queued and mapping-failed jobs are matched by code, name or billing name; nothing is written without apply; applied, the failed job syncs after a retry"
    )
    func suggestAndApply() async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations) { db in
            try await ZohoTestBed.run(.init(referenceData: Self.reference)) { bed in
                let box = try SecretBox(key: Array(0..<32))
                let connection = try await ConnectionStore(pool: db.pool, secretBox: box).create(bed.connection())
                let id = try #require(connection.id)
                let mappings = MappingStore(pool: db.pool)
                // USD is mapped already (with the accounts a Zoho payment needs): not proposed.
                _ = try await mappings.upsert(
                    Mapping(connectionID: id, kind: .currency, billingKey: "USD", providerID: "460000000000097"))
                let queue = SyncQueue(pool: db.pool)
                // Job A: runs now and fails on its unmapped items (no default or fallback item).
                let customerJob = try await queue.enqueue(
                    connection: id, kind: .customerSync, document: JSONText(try Self.json(["customer": Self.customer("cus_1")])))
                let failing = try await queue.enqueue(
                    connection: id, kind: .invoicePush,
                    document: JSONText(
                        try Self.invoice(
                            "inv_1", customerID: "cus_1",
                            fees: [
                                Self.fee("f1", type: "subscription", code: "platform", name: "Platform fee", cents: 10_000),
                                Self.fee("f2", type: "add_on", code: "SEATS", name: "Seats", cents: 2_000),
                            ])))
                // Job B: scheduled for tomorrow (never run here); an ambiguous item, an
                // unmatched one, a tax matched by its name, EUR matched by its code.
                _ = try await queue.enqueue(
                    connection: id, kind: .invoicePush,
                    document: JSONText(
                        try Self.invoice(
                            "inv_2", customerID: "cus_1", currency: "EUR",
                            fees: [
                                Self.fee("f3", type: "charge", code: "usage", name: "Usage", cents: 1_000),
                                Self.fee("f4", type: "charge", code: "mystery", name: "Mystery", cents: 500),
                            ], tax: ("vat_20", "Standard Rate"))),
                    options: .init(runAt: Date().addingTimeInterval(86_400)))

                let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
                defer { http.shutdown() }
                let providers = ProviderRegistry([ZohoBooksDriver()])
                let tokens = PostgresTokenStore(pool: db.pool, secretBox: box)
                let sync = SyncEnvironment(
                    pool: db.pool, secretBox: box, http: http, providers: providers,
                    providerContext: ProviderContext(http: http, requestTimeout: .seconds(10), tokens: tokens))
                let states = {
                    try await db.pool.query("SELECT id, state::text AS state FROM ledgersync.jobs ORDER BY id").rows.map {
                        "\(try $0.decode("id", as: Int64.self)):\(try $0.decode("state", as: String.self))"
                    }
                }
                try await Self.runWorker(sync: sync, pool: db.pool) {
                    try await states() == ["\(customerJob):completed", "\(failing):failed", "\(failing + 1):available"]
                }
                let failedClass: String? = try await db.pool.query(
                    "SELECT errors -> -1 ->> 'class' AS class FROM ledgersync.jobs WHERE id = $1", [failing]
                ).rows[0].decodeIfPresent("class")
                #expect(failedClass == "invalid_mapping")

                // The codes: customer currency USD (job 1), A's two items, B's items, tax and EUR.
                let codes = try await MappingSuggestions.billingCodes(connection: connection, pool: db.pool, pageSize: 1)
                #expect(
                    codes.map { "\($0.kind.rawValue):\($0.key)" } == [
                        "item:SEATS", "item:mystery", "item:platform", "item:usage", "tax:vat_20", "currency:EUR", "currency:USD",
                    ])
                #expect(codes.first { $0.key == "platform" }?.jobIDs == [failing])
                #expect(codes.first { $0.key == "USD" }?.jobCount == 1)

                // The stored connection (with its id): its tokens are kept under it.
                let provider = try #require(
                    try ZohoBooksDriver().makeProvider(for: connection, context: bed.context(tokens: tokens)) as? any ReferenceDataReading)
                var reference: [ReferenceDataKind: [ReferenceRecord]] = [:]
                for kind in [ReferenceDataKind.items, .taxes, .currencies] { reference[kind] = try await provider.referenceData(kind) }
                let existing = try await mappings.list(connection: id)
                let suggestions = MappingSuggestions.suggest(
                    codes: codes, existing: existing, connectionID: id, reference: reference,
                    validate: ZohoBooksDriver().validateMapping)
                let summary = suggestions.map {
                    "\($0.code.key) \($0.outcome.rawValue) \($0.matchedBy ?? "-") \($0.mapping?.providerID ?? $0.candidates.map(\.id).joined(separator: "+"))"
                }
                #expect(
                    summary == [
                        // The SKU of an active item, not the inactive item named SEATS.
                        "SEATS proposed code 460000000020007",
                        "mystery unmatched - ",
                        "platform proposed billing_name 460000000020001",
                        "usage ambiguous billing_name 460000000020003+460000000020005",
                        "vat_20 proposed billing_name 460000000017094",
                        "EUR proposed code 460000000000099",
                    ])
                // Suggesting wrote nothing.
                #expect(try await mappings.list(connection: id) == existing)

                // Applied: the proposed ones are written, and job A syncs after a retry.
                for suggestion in suggestions where suggestion.outcome == .proposed {
                    _ = try await mappings.upsert(try #require(suggestion.mapping))
                }
                let written = try await mappings.list(connection: id).map { "\($0.kind.rawValue):\($0.billingKey)=\($0.providerID)" }
                #expect(
                    Set(written) == [
                        "currency:USD=460000000000097", "currency:EUR=460000000000099", "item:SEATS=460000000020007",
                        "item:platform=460000000020001", "tax:vat_20=460000000017094",
                    ])
                #expect(try await JobQueue(pool: db.pool).retry(JobFilter(id: failing)) == [failing])
                try await Self.runWorker(sync: sync, pool: db.pool) {
                    try await states() == ["\(customerJob):completed", "\(failing):completed", "\(failing + 1):available"]
                }
                let invoices = bed.records("invoices")
                #expect(invoices.count == 1)
                #expect(
                    Set(invoices.first?["line_items"]?.arrayValue?.compactMap { $0["item_id"]?.stringValue } ?? [])
                        == ["460000000020001", "460000000020007"])
                // The ambiguous and unmatched codes are still proposed as such; the applied ones are gone.
                let again = MappingSuggestions.suggest(
                    codes: try await MappingSuggestions.billingCodes(connection: connection, pool: db.pool),
                    existing: try await mappings.list(connection: id),
                    connectionID: id, reference: reference, validate: ZohoBooksDriver().validateMapping)
                #expect(again.map { "\($0.code.key) \($0.outcome.rawValue)" } == ["mystery unmatched", "usage ambiguous"])
            }
        }
    }

    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    /// Runs an in-process worker pool over the sync handlers until `done`.
    static func runWorker(sync: SyncEnvironment, pool: ConnectionPool, until done: () async throws -> Bool) async throws {
        var registry = JobRegistry()
        sync.register(in: &registry)
        var logger = Logger(label: "test.worker")
        logger.logLevel = .warning
        let worker = WorkerPool(
            pool: pool, registry: registry, options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10)),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let finished = try await eventually(timeout: .seconds(30)) { try await done() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(finished)
        }
    }
}
