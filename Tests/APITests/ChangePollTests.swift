import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import Postgres
import ServiceLifecycle
import Sync
import SyncTesting
import Testing

/// Changes read back (docs/changes.md) against the fake provider: in-process worker pools as
/// `ledgersync worker` runs them (the sync kinds, `changes.poll`, the poll scheduler), a
/// webhook receiver, and a person at the provider (`FakeLedger.enterByHand`).
@Suite(.timeLimit(.minutes(3)))
struct ChangePollTests {
    static let webhookSecret = "whsec_cmVjZWl2ZXItc2lnbmluZy1zZWNyZXQtMzJieXRlcyE="

    /// `count` worker pools, each with its own poll scheduler, over `api`'s database, until
    /// `stop` is called.
    final class Workers: Sendable {
        let groups: [ServiceGroup]
        let tasks: [Task<Void, any Error>]
        let http: HTTPClient

        init(count: Int, api: APIHarness, providers: ProviderRegistry, pollScheduleEvery: Duration = .milliseconds(200)) {
            http = HTTPClient(maxConcurrentRequests: 8, allowPrivateNetworks: true)
            var options = SyncOptions()
            options.jobOptions.backoff = Backoff(base: 0.05, cap: 0.2)
            options.webhookOptions.backoff = Backoff(base: 0.05, cap: 0.2)
            options.changes.scheduleInterval = pollScheduleEvery
            let sync = SyncEnvironment(
                pool: api.pool, secretBox: api.secretBox, http: http, options: options, providers: providers,
                providerContext: ProviderContext(
                    http: http, requestTimeout: .seconds(10), serverTimeLimit: .seconds(3),
                    tokens: PostgresTokenStore(pool: api.pool, secretBox: api.secretBox)))
            var registry = JobRegistry()
            sync.register(in: &registry)
            var logger = Logger(label: "test.worker")
            logger.logLevel = .error
            var groups: [ServiceGroup] = []
            for _ in 0..<count {
                let pool = WorkerPool(
                    pool: api.pool, registry: registry,
                    options: WorkerOptions(
                        concurrency: 4, pollInterval: .milliseconds(50), lease: .seconds(5), rescueInterval: .milliseconds(500)),
                    logger: logger)
                let scheduler = ChangePollScheduler(pool: api.pool, interval: pollScheduleEvery, logger: logger)
                groups.append(ServiceGroup(configuration: .init(services: [pool, SchedulerService(scheduler: scheduler)], logger: logger)))
            }
            self.groups = groups
            tasks = groups.map { group in Task { try await group.run() } }
        }

        func stop() async throws {
            for group in groups { await group.triggerGracefulShutdown() }
            for task in tasks { try await task.value }
            http.shutdown()
        }
    }

    struct SchedulerService: Service {
        let scheduler: ChangePollScheduler
        func run() async throws { await cancelWhenGracefulShutdown { await scheduler.run() } }
    }

    static func connectionBody(readChanges: String, pollInterval: String = "0.3") -> String {
        #"""
        {"provider": "fake", "name": "Fake books", "account_id": "fake-account",
         "settings": {"read_changes": \#(readChanges), "poll_interval": \#(pollInterval), "concurrency_limit": 4},
         "secrets": {"api_key": "fake-api-key"}}
        """#
    }

    static func customer(_ id: String) -> String {
        #"{"customer": {"lago_id": "\#(id)", "external_id": "EXT-\#(id)", "name": "Customer \#(id)", "customer_type": "company", "currency": "USD", "email": "b@example.com", "country": "US"}}"#
    }

    static func invoice(_ id: String, customer: String, cents: Int) -> String {
        #"""
        {"invoice": {"lago_id": "\#(id)", "number": "INV-\#(id)", "issuing_date": "2026-11-01", "payment_due_date": "2026-11-30",
         "invoice_type": "subscription", "status": "finalized", "currency": "USD",
         "customer": {"lago_id": "\#(customer)", "external_id": "EXT-\#(customer)", "name": "Customer \#(customer)", "customer_type": "company", "currency": "USD", "email": "b@example.com", "country": "US"},
         "fees": [{"lago_id": "\#(id)-fee0", "item": {"type": "subscription", "code": "plan", "name": "Plan"},
                   "units": "1", "amount_cents": \#(cents), "amount_currency": "USD", "taxes_amount_cents": 0, "total_amount_cents": \#(cents)}],
         "credits": [], "fees_amount_cents": \#(cents), "coupons_amount_cents": 0, "credit_notes_amount_cents": 0,
         "prepaid_credit_amount_cents": 0, "sub_total_excluding_taxes_amount_cents": \#(cents), "taxes_amount_cents": 0,
         "sub_total_including_taxes_amount_cents": \#(cents), "total_amount_cents": \#(cents)}}
        """#
    }

    static func payment(_ id: String, invoice: String, cents: Int) -> String {
        #"{"payment": {"lago_id": "\#(id)", "invoice_ids": ["\#(invoice)"], "amount_cents": \#(cents), "amount_currency": "USD", "payment_status": "succeeded", "type": "manual", "paid_at": "2026-11-10"}}"#
    }

    /// The deliveries of one event type, bodies parsed.
    static func bodies(_ receiver: InboundTests.Receiver, _ type: String) -> [[String: Any]] {
        receiver.deliveries.filter { $0.eventType == type }.compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.body.utf8)) as? [String: Any]
        }
    }

    static func change(_ body: [String: Any]) -> [String: Any] { body["change"] as? [String: Any] ?? [:] }

    @Test(
        "payments and records entered by hand come back once each, in order, across four pools and a restart; Ledgersync's own writes never"
    )
    func changesReadBackOnce() async throws {
        let ledger = FakeLedger()
        let providers = ProviderRegistry([FakeDriver(ledger: ledger)])
        try await APIHarness.with(providers: providers) { api in
            let receiver = InboundTests.Receiver(secret: Self.webhookSecret)
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            // Every event type.
            let endpoint = try await api.post("/v1/webhook-endpoints", #"{"url": "\#(url)", "secret": "\#(Self.webhookSecret)"}"#)
            #expect(endpoint.status == 201, "\(endpoint)")
            let created = try await api.post(
                "/v1/connections", Self.connectionBody(readChanges: #"["paid_invoices", "customer", "invoice", "payment"]"#))
            #expect(created.status == 201, "\(created)")
            let connectionText = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let connection = try #require(UUID(uuidString: connectionText))
            let settings = (created.object["connection"] as? [String: Any])?["settings"] as? [String: Any]
            #expect(settings?["read_changes"] as? [String] == ["paid_invoices", "customer", "invoice", "payment"], "\(created)")

            // A small month: 3 customers, 6 invoices, 6 payments, all written by Ledgersync.
            let queue = SyncQueue(pool: api.pool)
            for c in 1...3 {
                try await queue.enqueue(connection: connection, kind: .customerSync, document: JSONText(Self.customer("cus_\(c)")))
            }
            for i in 1...6 {
                let customer = "cus_\((i - 1) % 3 + 1)"
                try await queue.enqueue(
                    connection: connection, kind: .invoicePush,
                    document: JSONText(Self.invoice("inv_\(i)", customer: customer, cents: 10_000 + i)))
                try await queue.enqueue(
                    connection: connection, kind: .paymentApply,
                    document: JSONText(Self.payment("pay_\(i)", invoice: "inv_\(i)", cents: 10_000 + i)))
            }
            // Three more runs of the payments' poll at once, besides its own job: what two
            // workers do when one lost its lease mid-poll. Still one event per change.
            for n in 1...3 {
                try await api.queue.enqueue(
                    EnqueueRequest(
                        kind: ChangePollJob.kind,
                        args: JSONText(#"{"connection_id": "\#(connectionText)", "object_type": "payment"}"#),
                        uniqueKey: "test-extra-poll-\(n)", limitKey: "fake:\(connectionText)"))
            }

            var workers = Workers(count: 4, api: api, providers: providers)
            let synced = try await eventually(timeout: .seconds(30)) {
                try await api.database.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE kind IN ('customer.sync', 'invoice.push', 'payment.apply') AND state = 'completed'"
                ) == 15
            }
            #expect(synced)
            #expect(ledger.records(of: .payment).count == 6)
            // The polls pass over the month (a cursor beyond its last write), and say nothing.
            let monthEnd = try #require(ledger.records(of: .payment).map(\.modifiedAt).max())
            let passed = try await eventually(timeout: .seconds(10)) {
                try await api.database.count(
                    "SELECT count(*) FROM ledgersync.change_cursors WHERE polled_at IS NOT NULL AND modified_since >= '\(Self.timestamp(monthEnd))'::timestamptz - interval '1 millisecond'"
                ) >= 1
            }
            #expect(passed)

            // A person records a payment at the provider on synced invoice inv_2.
            let invoice2 = try #require(ledger.records(of: .invoice).first { $0.billingID == "inv_2" }?.providerID)
            let handPayment = ledger.enterByHand(
                .payment,
                .init(
                    amount: "42.10", currency: "USD",
                    applications: [ProviderPaymentApplication(providerInvoiceID: invoice2, amount: "42.10")]))
            let paid = await eventually(timeout: .seconds(10)) { Self.bodies(receiver, "invoice.paid_in_provider").count >= 1 }
            #expect(paid)
            // A customer and an invoice, created, then updated.
            let handCustomer = ledger.enterByHand(.customer, .init(number: "Walk-in Ltd"))
            let handInvoice = ledger.enterByHand(.invoice, .init(number: "HAND-1", amount: "99.00", currency: "USD"))
            let createdSeen = await eventually(timeout: .seconds(10)) {
                Self.bodies(receiver, "customer.changed_in_provider").count == 1
                    && Self.bodies(receiver, "invoice.changed_in_provider").count == 1
            }
            #expect(createdSeen)
            ledger.editByHand(providerID: handCustomer) { $0.number = "Walk-in Limited" }
            ledger.editByHand(providerID: handInvoice) { $0.amount = "101.00" }
            let updatedSeen = await eventually(timeout: .seconds(10)) {
                Self.bodies(receiver, "customer.changed_in_provider").count == 2
                    && Self.bodies(receiver, "invoice.changed_in_provider").count == 2
            }
            #expect(updatedSeen)
            try await workers.stop()

            // Exactly these, once each: one paid invoice, one payment, two customer and two
            // invoice changes; nothing for the 15 writes of Ledgersync's own.
            let events = try await api.database.count("SELECT count(*) FROM ledgersync.change_events")
            #expect(events == 5)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver'") == 6)
            let paidBodies = Self.bodies(receiver, "invoice.paid_in_provider")
            #expect(paidBodies.count == 1)
            let paidInvoice = paidBodies.first?["invoice"] as? [String: Any]
            let paidPayment = paidBodies.first?["payment"] as? [String: Any]
            #expect(paidInvoice?["lago_id"] as? String == "inv_2" && paidInvoice?["provider_id"] as? String == invoice2)
            #expect(paidInvoice?["lago_customer_id"] as? String == "cus_2")
            #expect(paidPayment?["provider_id"] as? String == handPayment && paidPayment?["amount"] as? String == "42.10")
            let payments = Self.bodies(receiver, "payment.changed_in_provider").map(Self.change)
            #expect(payments.map { $0["provider_id"] as? String } == [handPayment], "\(payments)")
            let applications = payments.first?["applications"] as? [[String: Any]]
            #expect(applications?.first?["billing_id"] as? String == "inv_2")
            let customers = Self.bodies(receiver, "customer.changed_in_provider").map(Self.change)
            #expect(customers.map { $0["change"] as? String } == ["created", "updated"], "\(customers)")
            #expect(customers.map { $0["number"] as? String } == ["Walk-in Ltd", "Walk-in Limited"])
            #expect(customers.allSatisfy { $0["provider_id"] as? String == handCustomer && $0["billing_id"] is NSNull })
            let invoices = Self.bodies(receiver, "invoice.changed_in_provider").map(Self.change)
            #expect(invoices.map { $0["change"] as? String } == ["created", "updated"], "\(invoices)")
            #expect(invoices.map { $0["amount"] as? String } == ["99.00", "101.00"])
            let allSigned = receiver.deliveries.allSatisfy { $0.signatureValid }
            #expect(allSigned)

            // A restart: new pools start from the stored cursors. Nothing comes twice; a new
            // change arrives.
            workers = Workers(count: 4, api: api, providers: providers)
            ledger.editByHand(providerID: handCustomer) { $0.number = "Walk-in Group" }
            let afterRestart = await eventually(timeout: .seconds(10)) {
                Self.bodies(receiver, "customer.changed_in_provider").count == 3
            }
            #expect(afterRestart)
            // Every poll has run after the restart (past the edit): nothing else will come.
            let edited = try #require(ledger.record(providerID: handCustomer)?.modifiedAt)
            let allPolled = try await eventually(timeout: .seconds(10)) {
                try await api.database.count(
                    "SELECT count(*) FROM ledgersync.change_cursors WHERE polled_at > '\(Self.timestamp(edited))'") == 3
            }
            #expect(allPolled)
            try await workers.stop()
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.change_events") == 6)
            #expect(receiver.deliveries.count == 7, "\(receiver.deliveries.map(\.eventType))")
            #expect(Self.bodies(receiver, "customer.changed_in_provider").map(Self.change).last?["number"] as? String == "Walk-in Group")

            // The events through the API, in order, paged by id.
            let all = try await api.get("/v1/connections/\(connectionText)/changes")
            #expect(all.status == 200, "\(all)")
            let list = all.object["changes"] as? [[String: Any]] ?? []
            // In the order read, per record type (each type has its own poll).
            func changes(_ type: String) -> [String] {
                list.filter { $0["object_type"] as? String == type }.compactMap { $0["change"] as? String }
            }
            #expect(list.count == 6, "\(all)")
            #expect(changes("payment") == ["created"] && changes("invoice") == ["created", "updated"], "\(all)")
            #expect(changes("customer") == ["created", "updated", "updated"], "\(all)")
            let ids = list.compactMap { $0["id"] as? Int }
            #expect(ids == ids.sorted() && Set(ids).count == 6)
            let firstPage = try await api.get("/v1/connections/\(connectionText)/changes?limit=2&object_type=customer")
            let firstItems = firstPage.object["changes"] as? [[String: Any]] ?? []
            #expect(firstItems.count == 2 && firstItems.allSatisfy { $0["object_type"] as? String == "customer" })
            let nextSince = try #require(firstPage.object["next_since"] as? Int)
            let secondPage = try await api.get("/v1/connections/\(connectionText)/changes?since=\(nextSince)&object_type=customer")
            #expect((secondPage.object["changes"] as? [[String: Any]])?.map { $0["number"] as? String } == ["Walk-in Group"])
            let record = firstItems.first?["record"] as? [String: Any]
            #expect(record?["id"] as? String == handCustomer, "\(firstPage)")
        }
    }

    @Test("read_changes and poll_interval are checked naming the field; a connection without them polls nothing")
    func settingsAndDefault() async throws {
        let ledger = FakeLedger()
        let providers = ProviderRegistry([FakeDriver(ledger: ledger)])
        try await APIHarness.with(providers: providers) { api in
            let before = try await api.snapshot()
            for (body, field) in [
                (Self.connectionBody(readChanges: #"["invoices"]"#), "settings.read_changes[0]"),
                (Self.connectionBody(readChanges: #"["customer"]"#, pollInterval: "0"), "settings.poll_interval"),
                (Self.connectionBody(readChanges: #""customer""#), "settings.read_changes"),
                (Self.connectionBody(readChanges: #"["customer"]"#, pollInterval: #""60""#), "settings.poll_interval"),
            ] {
                let refused = try await api.post("/v1/connections", body)
                #expect(refused.status == 422 && refused.error["field"] as? String == field, "\(field): \(refused)")
            }
            #expect(try await api.snapshot() == before)

            // Without read_changes: no poll, no request to the provider.
            let plain = try await api.post(
                "/v1/connections",
                #"{"provider": "fake", "name": "Plain", "account_id": "fake-account", "secrets": {"api_key": "fake-api-key"}}"#)
            #expect(plain.status == 201, "\(plain)")
            let plainID = try #require((plain.object["connection"] as? [String: Any])?["id"] as? String)
            #expect(((plain.object["connection"] as? [String: Any])?["settings"] as? [String: Any])?["read_changes"] == nil)
            #expect(try await ChangePollScheduler.ensurePolls(pool: api.pool) == 0)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'changes.poll'") == 0)
            let empty = try await api.get("/v1/connections/\(plainID)/changes")
            #expect(empty.status == 200 && (empty.object["changes"] as? [Any])?.isEmpty == true && empty.object["next_since"] as? Int == 0)

            // Opting in later: one poll per record type (paid_invoices reads the payments),
            // however often every worker ensures it.
            let patched = try await api.request(
                "PATCH", "/v1/connections/\(plainID)", body: #"{"settings": {"read_changes": ["paid_invoices", "payment", "customer"]}}"#)
            #expect(patched.status == 200, "\(patched)")
            #expect(try await ChangePollScheduler.ensurePolls(pool: api.pool) == 2)
            #expect(try await ChangePollScheduler.ensurePolls(pool: api.pool) == 2)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'changes.poll'") == 2)
            #expect(ledger.stats.requests == 0)

            let badSince = try await api.get("/v1/connections/\(plainID)/changes?since=-1")
            #expect(badSince.status == 422 && badSince.error["field"] as? String == "since", "\(badSince)")
            let badType = try await api.get("/v1/connections/\(plainID)/changes?object_type=contact")
            #expect(badType.status == 422 && badType.error["field"] as? String == "object_type", "\(badType)")
            let unknown = try await api.get("/v1/connections/\(UUID().uuidString.lowercased())/changes")
            #expect(unknown.status == 404, "\(unknown)")
        }
    }

    @Test("a poll that has caught up deletes its connection's change events older than the retention, and keeps the rest")
    func oldEventsArePruned() async throws {
        let ledger = FakeLedger()
        let providers = ProviderRegistry([FakeDriver(ledger: ledger)])
        try await APIHarness.with(providers: providers) { api in
            let created = try await api.post("/v1/connections", Self.connectionBody(readChanges: #"["customer"]"#))
            #expect(created.status == 201, "\(created)")
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            let other = try await api.post(
                "/v1/connections",
                #"{"provider": "fake", "name": "Plain", "account_id": "fake-account", "secrets": {"api_key": "fake-api-key"}}"#)
            let otherConnection = try #require((other.object["connection"] as? [String: Any])?["id"] as? String)
            // Stored 100, 95 and 10 days ago, and one of another connection 100 days ago.
            for (owner, provider, days) in [
                (connection, "c-1", 100), (connection, "c-2", 95), (connection, "c-3", 10), (otherConnection, "c-4", 100),
            ] {
                try await api.pool.query(
                    """
                    INSERT INTO ledgersync.change_events (connection_id, object_type, provider_id, change, modified_at, created_at)
                    VALUES ($1::uuid, 'customer', $2, 'updated', now() - make_interval(days => $3::integer),
                            now() - make_interval(days => $3::integer))
                    """, [owner, provider, days])
            }
            let workers = Workers(count: 1, api: api, providers: providers)
            let pruned = try await eventually(timeout: .seconds(10)) {
                try await api.database.count("SELECT count(*) FROM ledgersync.change_events WHERE connection_id = '\(connection)'") == 1
            }
            try await workers.stop()
            #expect(pruned)
            let left = try await api.pool.query("SELECT provider_id FROM ledgersync.change_events ORDER BY id").rows.map {
                try $0.decode("provider_id") as String
            }
            #expect(left == ["c-3", "c-4"])
        }
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
