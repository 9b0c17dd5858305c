import API
import ExactJSON
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Simulators
import Sync
import Testing
import ZohoBooks

/// One Zoho Books end-to-end setup: a throwaway database, the Zoho Books simulator over real
/// HTTP, a connection made the way `connections add --grant-code` makes it (the simulator's
/// grant code exchanged by the driver), and `ledgersync worker` processes.
struct ZohoHarness: Sendable {
    static let secretKey = SecretBox.generateKey()
    static let providers = ProviderRegistry([ZohoBooksDriver()])

    let database: TestDatabase
    let simulator: ZohoBooksSimulator
    let connectionID: UUID

    var pool: ConnectionPool { database.pool }

    /// Runs `body` with a fresh database, simulator and connection (`settings`: the Zoho
    /// settings, e.g. `request_window`); tears them down after.
    static func with(
        simulator configuration: ZohoBooksSimulator.Configuration, concurrencyLimit: Int, settings: [String: String],
        _ body: (ZohoHarness) async throws -> Void
    ) async throws {
        let simulator = ZohoBooksSimulator(configuration: configuration)
        _ = try await simulator.start()
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        let http = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true)
        do {
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": secretKey])
            let client = ZohoBooksSimulator.SelfClient.demo
            var secrets = ConnectionSecrets()
            secrets["client_id"] = client.clientID
            secrets["client_secret"] = client.clientSecret
            secrets["grant_code"] = try simulator.issueGrantCode(clientID: client.clientID)
            var connectionSettings = AccountingConnection.Settings(
                objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: concurrencyLimit)
            connectionSettings.extra = settings
            let prepared = try await providers.prepared(
                AccountingConnection(
                    provider: "zoho_books", name: "Zoho Books e2e", accountID: ZohoBooksSimulator.Organization.demo.id,
                    settings: connectionSettings, secrets: secrets),
                context: ProviderContext(http: http))
            let connection = try await ConnectionStore(pool: database.pool, secretBox: box).create(prepared)
            let id = try #require(connection.id)
            try await SyncEnvironment.applyLimits(of: connection, queue: JobQueue(pool: database.pool), providers: providers)
            let store = MappingStore(pool: database.pool)
            for mapping in BillingScenario.zohoMappings(connection: id) { try await store.upsert(mapping) }
            http.shutdown()
            try await body(ZohoHarness(database: database, simulator: simulator, connectionID: id))
        } catch {
            http.shutdown()
            await simulator.stop()
            await database.drop()
            throw error
        }
        await simulator.stop()
        await database.drop()
    }

    func startWorker(concurrency: Int = 8, requestTimeout: String = "3s") throws -> LedgersyncProcess {
        try LedgersyncProcess(
            [
                "worker", "--concurrency", "\(concurrency)", "--poll-interval", "100ms", "--lease", "3s",
                "--rescue-interval", "500ms", "--retry-base-delay", "200ms", "--request-timeout", requestTimeout,
                "--server-timeout", "2s",
            ],
            databaseURL: database.url, environment: ["LEDGERSYNC_SECRET_KEY": Self.secretKey, "LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "1"])
    }

    @discardableResult
    func enqueue(_ kind: SyncJobKind, _ json: String, customerID: String? = nil) async throws -> Int64 {
        try await SyncQueue(pool: pool).enqueue(connection: connectionID, kind: kind, document: JSONText(json), customerID: customerID)
    }

    func count(_ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int { try await countRows(pool, sql, binds) }

    func jobStates() async throws -> [String: Int] { try await jobStatesByKind(pool) }

    /// The last error of up to five failed jobs, for a failing expectation's message.
    func failedErrors() async throws -> String {
        try await pool.query(
            "SELECT kind || ': ' || coalesce(errors -> -1 ->> 'message', '') AS e FROM ledgersync.jobs WHERE state = 'failed' ORDER BY id LIMIT 5"
        ).rows.map { try $0.decode("e", as: String.self) }.joined(separator: "\n")
    }

    func waitUntilIdle(timeout: Duration, workers: [LedgersyncProcess]) async throws {
        let idle = try await eventually(timeout: timeout, every: .milliseconds(250)) {
            try await count("SELECT count(*) FROM ledgersync.jobs WHERE state IN ('available', 'running', 'retryable')") == 0
        }
        let pending = try await jobStates()
        let errors = try await pool.query(
            "SELECT kind, state::text AS state, errors::text AS errors FROM ledgersync.jobs WHERE jsonb_array_length(errors) > 0 LIMIT 5"
        ).rows.map {
            "\((try? $0.decode("kind", as: String.self)) ?? "")/\((try? $0.decode("state", as: String.self)) ?? ""): \((try? $0.decode("errors", as: String.self)) ?? "")"
        }
        #expect(
            idle,
            "jobs still pending: \(pending)\nerrors: \(errors)\n\(workers.map { String($0.output.suffix(2000)) }.joined(separator: "\n---\n"))"
        )
    }

    // MARK: - Reading the simulator's records

    /// The simulator's records of `module`, by the unique custom field's value (the billing id).
    /// Fails the test when two records hold one value.
    func records(_ module: String, field: String = "cf_ledgersync_id") -> [String: ExactJSON] {
        var byID: [String: ExactJSON] = [:]
        for record in simulator.records(module) {
            let value = record["custom_fields"]?.arrayValue?.first { $0["api_name"]?.stringValue == field }?["value"]?.stringValue
            guard let value else {
                Issue.record("a \(module) record without \(field): \(record)")
                continue
            }
            #expect(byID[value] == nil, "two \(module) records hold \(field) = \(value)")
            byID[value] = record
        }
        return byID
    }
}

/// Minor units of a Zoho amount (`"12.34"`, `12.3`, `5`) in a currency with `exponent`
/// decimals, exactly; nil when it has more decimals than the currency.
func minorUnits(_ json: ExactJSON?, exponent: Int) -> Int64? {
    guard let text = json?.numberText ?? json?.stringValue, let value = ExactDecimal(text), value.scale <= exponent else { return nil }
    var units = value.units
    for _ in value.scale..<exponent { units *= 10 }
    return Int64(exactly: units)
}

/// Issue 14's month at Zoho Books, end to end: must-shows 2, 3 and 4.
@Suite(.serialized, .timeLimit(.minutes(6)))
struct ZohoBooksSyncTests {
    /// The month of must-show 2: 150 customers, 600 invoices, 60 credit notes (applied to their
    /// invoices), 300 payments (40 of them over two invoices), 30 sales orders.
    struct Month {
        let scenario: BillingScenario
        var payments: [(json: String, lagoID: String, customerID: String, applied: [String: Int64])] = []
        var salesOrders: [(json: String, lagoID: String, invoice: BillingScenario.Invoice)] = []

        /// `customers` 150 is must-show 2's month; smaller ones keep the same shape (4 invoices a
        /// customer, a credit note every 10th invoice, payments of the first 26/15 × customers
        /// invoices, a payment over two invoices for 4/15 of the customers, sales orders for 1/5).
        init(customers: Int = 150) throws {
            scenario = BillingScenario.generate(
                customers: customers, invoicesPerCustomer: 4, creditNoteEvery: 10, payments: customers * 26 / 15, seed: 14)
            let credited = Dictionary(scenario.creditNotes.map { ($0.invoiceID, $0.creditCents) }, uniquingKeysWith: +)
            for payment in scenario.payments {
                payments.append((payment.json, payment.lagoID, payment.customerID, [payment.invoiceID: payment.amountCents]))
            }
            // Payments over two invoices each (for 150 customers: 40, over invoices 300…339 and
            // 450…489, which nothing else pays), an amount per invoice: what is due after its
            // credit note.
            for c in 0..<(customers * 4 / 15) {
                let paid = [scenario.invoices[2 * customers + c], scenario.invoices[3 * customers + c]].map {
                    ($0, $0.totalCents - (credited[$0.lagoID] ?? 0))
                }
                .filter { $0.1 > 0 }
                guard paid.count == 2 else { continue }
                let customer = paid[0].0.customerID
                let lagoID = "pay-multi-\(c)"
                let json = try jsonText([
                    "payment": [
                        "lago_id": lagoID, "invoice_ids": paid.map(\.0.lagoID), "amount_cents": paid[0].1 + paid[1].1,
                        "amount_currency": paid[0].0.currency.code, "paid_at": "2026-11-20", "reference": "wire \(c)",
                        "invoice_amounts": paid.map { ["invoice_id": $0.0.lagoID, "amount_cents": $0.1] as [String: Any] },
                    ] as [String: Any]
                ])
                payments.append((json, lagoID, customer, Dictionary(uniqueKeysWithValues: paid.map { ($0.0.lagoID, $0.1) })))
            }
            for invoice in scenario.invoices.suffix(customers / 5) {
                var document = try #require(try jsonObject(invoice.json)["invoice"] as? [String: Any])
                let lagoID = "so-" + invoice.lagoID
                document["lago_id"] = lagoID
                document["number"] = "SO-" + (document["number"] as? String ?? "")
                salesOrders.append((try jsonText(["sales_order": document]), lagoID, invoice))
            }
        }

        /// In the order a billing system produces them, each customer's documents in its lane.
        func enqueue(on harness: ZohoHarness) async throws {
            for (c, customer) in scenario.customers.enumerated() where c % 2 == 0 {
                try await harness.enqueue(.customerSync, customer.json)
            }
            for invoice in scenario.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            for note in scenario.creditNotes { try await harness.enqueue(.creditMemoPush, note.json, customerID: note.customerID) }
            for payment in payments { try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID) }
            for order in salesOrders { try await harness.enqueue(.salesOrderPush, order.json) }
        }

        var jobCount: Int {
            (scenario.customers.count + 1) / 2 + scenario.invoices.count + scenario.creditNotes.count + payments.count + salesOrders.count
        }
    }

    /// Every record once, every amount equal to its document in minor units, every payment
    /// and credit on the right invoices.
    static func checkRecords(_ month: Month, _ harness: ZohoHarness) throws {
        let scenario = month.scenario
        let contacts = harness.records("contacts")
        #expect(contacts.count == scenario.customers.count, "one contact per customer")
        #expect(Set(contacts.keys) == Set(scenario.customers.map(\.lagoID)))
        let contactIDs = Dictionary(uniqueKeysWithValues: contacts.map { ($0.key, $0.value["contact_id"]?.stringValue ?? "") })

        let invoices = harness.records("invoices")
        #expect(invoices.count == scenario.invoices.count, "one invoice per billing invoice")
        let invoiceIDs = Dictionary(uniqueKeysWithValues: invoices.map { ($0.value["invoice_id"]?.stringValue ?? "", $0.key) })
        var credited: [String: Int64] = [:]
        for note in scenario.creditNotes { credited[note.invoiceID, default: 0] += note.creditCents }
        var paid: [String: Int64] = [:]
        for payment in month.payments { for (invoice, amount) in payment.applied { paid[invoice, default: 0] += amount } }
        for invoice in scenario.invoices {
            guard let record = invoices[invoice.lagoID] else { continue }
            let exponent = invoice.currency.minorUnits
            #expect(minorUnits(record["total"], exponent: exponent) == invoice.totalCents, "total of \(invoice.lagoID)")
            let due = invoice.totalCents - (credited[invoice.lagoID] ?? 0) - (paid[invoice.lagoID] ?? 0)
            #expect(
                minorUnits(record["balance"], exponent: exponent) == due,
                "balance of \(invoice.lagoID): \(record["balance"].map { "\($0)" } ?? "none")")
            #expect(record["customer_id"]?.stringValue == contactIDs[invoice.customerID], "customer of \(invoice.lagoID)")
        }

        let notes = harness.records("creditnotes")
        #expect(notes.count == scenario.creditNotes.count, "one credit note per billing credit note")
        for note in scenario.creditNotes {
            guard let record = notes[note.lagoID] else { continue }
            let exponent = note.currency.minorUnits
            #expect(minorUnits(record["total"], exponent: exponent) == note.totalCents, "total of \(note.lagoID)")
            // What it credits went to its invoice (checked through the invoice's balance above);
            // what is left on it is what it refunds.
            #expect(
                minorUnits(record["balance"], exponent: exponent) == note.totalCents - note.creditCents - note.refundCents,
                "balance of \(note.lagoID)")
        }

        let payments = harness.records("customerpayments")
        #expect(payments.count == month.payments.count, "one customer payment per billing payment")
        for payment in month.payments {
            guard let record = payments[payment.lagoID] else { continue }
            var applied: [String: Int64] = [:]
            for line in record["invoices"]?.arrayValue ?? [] {
                let invoice = invoiceIDs[line["invoice_id"]?.stringValue ?? ""] ?? "?"
                let exponent = scenario.invoices.first { $0.lagoID == invoice }?.currency.minorUnits ?? 2
                applied[invoice, default: 0] += minorUnits(line["amount_applied"], exponent: exponent) ?? -1
            }
            #expect(applied == payment.applied, "applications of \(payment.lagoID)")
        }

        let orders = harness.records("salesorders")
        #expect(orders.count == month.salesOrders.count, "one sales order per billing sales order")
        for order in month.salesOrders {
            guard let record = orders[order.lagoID] else { continue }
            #expect(
                minorUnits(record["total"], exponent: order.invoice.currency.minorUnits) == order.invoice.totalCents,
                "total of \(order.lagoID)")
        }
    }

    /// Must-show 2: 3 worker processes, 10% faults, a window of 100 requests per 3 s and a
    /// daily quota; the simulator never answered 429 for the window, never saw more concurrent
    /// calls than allowed, and its token endpoint was never called by two processes at once.
    @Test func monthAtTheWindow() async throws {
        let month = try Month()
        var configuration = ZohoBooksSimulator.Configuration(
            accessTokenLifetime: .seconds(30), requestsPerWindow: 100, minuteWindow: .seconds(3), dailyQuota: 100_000,
            dayLength: .seconds(86_400), concurrencyLimit: 10, faultRate: 0.1, seed: 20_261_203, timeoutDelay: .milliseconds(1500))
        configuration.uniqueCustomFields = Self.uniqueFields
        try await ZohoHarness.with(
            simulator: configuration, concurrencyLimit: 10,
            settings: ["data_center": "com", "request_window": "100/3s", "daily_quota": "100000/1d"]
        ) { harness in
            try await month.enqueue(on: harness)
            let workers = try (0..<3).map { _ in try harness.startWorker(requestTimeout: "1s") }
            try await harness.waitUntilIdle(timeout: .seconds(240), workers: workers)
            await stop(workers)
            let states = try await harness.jobStates()
            let failed = try await harness.failedErrors()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "every job completes: \(states)\n\(failed)")
            try Self.checkRecords(month, harness)
            let stats = harness.simulator.stats
            #expect(stats.rejectedMinuteWindow == 0, "no 429 for the window")
            #expect(stats.rejectedConcurrent == 0 && stats.maxInFlight <= 10, "max in flight \(stats.maxInFlight)")
            #expect(stats.tokenMaxInFlight <= 1, "the token endpoint was called by two at once")
            #expect(stats.faultsInjected.values.reduce(0, +) > 50, "faults were injected: \(stats.faultsInjected)")
        }
    }

    /// Must-show 3: workers SIGKILLed while the simulator answers their upserts, several times:
    /// no duplicate, nothing lost.
    @Test func killedDuringUpserts() async throws {
        // A smaller month of the same shape: the kills are the point, and CI time is shared.
        let month = try Month(customers: 60)
        var configuration = ZohoBooksSimulator.Configuration(
            requestsPerWindow: 100, minuteWindow: .seconds(2), dailyQuota: 100_000, concurrencyLimit: 10, seed: 7,
            latency: .milliseconds(20))
        configuration.uniqueCustomFields = Self.uniqueFields
        try await ZohoHarness.with(
            simulator: configuration, concurrencyLimit: 10,
            settings: ["request_window": "100/2s", "daily_quota": "100000/1d"]
        ) { harness in
            try await month.enqueue(on: harness)
            var workers = try (0..<2).map { _ in try harness.startWorker() }
            var kills = 0
            for _ in 0..<4 {
                // Kill while a write of that worker's is in processing at the simulator.
                let inFlight = await eventually(timeout: .seconds(30), every: .milliseconds(2)) { harness.simulator.stats.inFlight > 0 }
                guard inFlight else { break }
                let victim = workers.removeFirst()
                victim.signal(SIGKILL)
                _ = await victim.waitForExit(timeout: .seconds(5))
                kills += 1
                workers.append(try harness.startWorker())
                try await Task.sleep(for: .seconds(2))
            }
            #expect(kills >= 3)
            try await harness.waitUntilIdle(timeout: .seconds(240), workers: workers)
            await stop(workers)
            let states = try await harness.jobStates()
            let failed = try await harness.failedErrors()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "every job completes: \(states)\n\(failed)")
            try Self.checkRecords(month, harness)
        }
    }

    /// Must-show 4: the daily quota runs out mid-run (the organization's, which the queue
    /// believed larger): the remaining jobs wait — not failed, no attempt burned — and
    /// complete after the quota resets; `limits list` shows the window spent meanwhile.
    @Test func dailyQuotaRunsOut() async throws {
        let scenario = BillingScenario.generate(customers: 40, invoicesPerCustomer: 3, creditNoteEvery: 0, payments: 0, seed: 15)
        var configuration = ZohoBooksSimulator.Configuration(
            requestsPerWindow: 1000, minuteWindow: .seconds(5), dailyQuota: 90, dayLength: .seconds(15), concurrencyLimit: 10)
        configuration.uniqueCustomFields = Self.uniqueFields
        try await ZohoHarness.with(
            simulator: configuration, concurrencyLimit: 10,
            // The queue is told a larger quota than the simulator's: Zoho's 429 must stop it.
            settings: ["request_window": "1000/5s", "daily_quota": "500/15s"]
        ) { harness in
            for invoice in scenario.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            let workers = try (0..<2).map { _ in try harness.startWorker() }
            let refused = await eventually(timeout: .seconds(60), every: .milliseconds(50)) {
                harness.simulator.stats.rejectedDailyQuota > 0
            }
            #expect(refused, "the simulator's daily quota ran out")
            // While the quota is out: jobs wait, none failed, and limits list shows 0 left.
            let listed = try await LedgersyncProcess.run(["limits", "list"], databaseURL: harness.database.url)
            #expect(listed.status == 0, "\(listed.stderr)")
            // LIMIT KEY, WINDOW, USED, LEFT, TURNS IN: the 500/15s window with nothing left.
            let columns = listed.stdout.split(separator: "\n").first { $0.contains(" 500/15s ") }?.split(separator: " ")
            #expect(columns.map { $0.count >= 4 && $0[3] == "0" } == true, "limits list shows the quota spent:\n\(listed.stdout)")
            let failedNow = try await harness.failedErrors()
            #expect(failedNow.isEmpty, "no job failed: \(failedNow)")
            try await harness.waitUntilIdle(timeout: .seconds(120), workers: workers)
            await stop(workers)
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") == scenario.invoices.count)
            // No attempt burned: a rate-limited snooze gives its attempt back.
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE attempt > 1") == 0, "attempts were burned")
            #expect(harness.records("invoices").count == scenario.invoices.count)
        }
    }

    /// Every module the sync writes refuses duplicates of the field holding the billing id.
    static let uniqueFields: [String: Set<String>] = [
        "contacts": ["cf_ledgersync_id"], "invoices": ["cf_ledgersync_id"], "creditnotes": ["cf_ledgersync_id"],
        "salesorders": ["cf_ledgersync_id"], "customerpayments": ["cf_ledgersync_id"],
    ]
}
