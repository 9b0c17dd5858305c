import API
import ExactJSON
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import NetSuite
import Postgres
import Simulators
import Sync
import SyncTesting
import Testing
import ZohoBooks

/// Issue 15, must-show 2 and 3, against each simulator over real HTTP: a month synced by four
/// in-process worker pools (its 300 payments pushed by Ledgersync), then a person at the
/// provider. A payment entered by hand on a synced invoice reaches the billing system's
/// receiver as one `invoice.paid_in_provider` naming the billing invoice within one polling
/// interval, and the 300 produce none; a customer and an invoice created and then updated by
/// hand are change events once each, in order; the cursors survive a restart of the workers.
@Suite(.timeLimit(.minutes(3)))
struct ChangePollSimulatorTests {
    static let pollInterval = 1.0
    static let scenario = BillingScenario.generate(customers: 60, invoicesPerCustomer: 5, creditNoteEvery: 0, payments: 300, seed: 15)

    /// What a person does at one provider.
    protocol Person: Sendable {
        /// Records a payment of 10.00 on the synced invoice `invoice` (provider ids); returns its id.
        func pay(invoice: String, customer: String) async throws -> String
        func createCustomer(_ name: String) async throws -> String
        func renameCustomer(_ id: String, _ name: String) async throws
        func createInvoice(customer: String, amount: String) async throws -> String
        func changeInvoice(_ id: String, customer: String, amount: String) async throws
        /// Lets the provider's clock pass a second (its times are whole seconds).
        func tick()
    }

    struct NetSuitePerson: Person {
        let simulator: NetSuiteSimulator

        func add(_ type: NetSuiteSimulator.RecordType, _ externalID: String, _ json: String) throws -> String {
            try simulator.addRecord(type, externalID: externalID, body: try ExactJSON.parse(json)).internalID
        }

        func pay(invoice: String, customer: String) async throws -> String {
            try add(
                .customerPayment, "HAND-PMT-1",
                #"{"externalId": "HAND-PMT-1", "customer": {"id": "\#(customer)"}, "payment": 10.00, "tranDate": "2026-11-20", "apply": {"items": [{"doc": {"id": "\#(invoice)"}, "apply": true, "amount": 10.00}]}}"#
            )
        }

        static func customerBody(_ name: String) -> String {
            #"{"externalId": "HAND-CUS-1", "entityId": "HAND-CUS-1", "isPerson": false, "companyName": "\#(name)", "subsidiary": {"id": "1"}}"#
        }

        func createCustomer(_ name: String) async throws -> String { try add(.customer, "HAND-CUS-1", Self.customerBody(name)) }
        func renameCustomer(_ id: String, _ name: String) async throws { _ = try add(.customer, "HAND-CUS-1", Self.customerBody(name)) }

        static func invoiceBody(customer: String, amount: String) -> String {
            #"{"externalId": "HAND-INV-1", "tranId": "HAND-1", "entity": {"id": "\#(customer)"}, "tranDate": "2026-11-20", "item": {"items": [{"item": {"id": "510"}, "quantity": 1, "rate": \#(amount), "amount": \#(amount)}]}}"#
        }

        func createInvoice(customer: String, amount: String) async throws -> String {
            try add(.invoice, "HAND-INV-1", Self.invoiceBody(customer: customer, amount: amount))
        }

        func changeInvoice(_ id: String, customer: String, amount: String) async throws {
            _ = try add(.invoice, "HAND-INV-1", Self.invoiceBody(customer: customer, amount: amount))
        }

        func tick() { simulator.advanceClock(by: 2) }
    }

    /// Zoho's own API, without the unique custom field: a person's tool.
    struct ZohoPerson: Person {
        let simulator: ZohoBooksSimulator
        let client: ZohoBooksClient

        func pay(invoice: String, customer: String) async throws -> String {
            let answer = try await client.send(
                "POST", "customerpayments",
                body: .object([
                    ("customer_id", .string(customer)), ("payment_mode", .string("cash")), ("amount", .number("10.00")),
                    ("date", .string("2026-11-20")),
                    ("invoices", .array([.object([("invoice_id", .string(invoice)), ("amount_applied", .number("10.00"))])])),
                ]))
            return answer["payment"]?["payment_id"]?.stringValue ?? ""
        }

        func createCustomer(_ name: String) async throws -> String {
            let answer = try await client.send("POST", "contacts", body: .object([("contact_name", .string(name))]))
            return answer["contact"]?["contact_id"]?.stringValue ?? ""
        }

        func renameCustomer(_ id: String, _ name: String) async throws {
            _ = try await client.send("PUT", "contacts/\(id)", body: .object([("contact_name", .string(name))]))
        }

        static func lines(_ amount: String) -> ExactJSON {
            .array([.object([("name", .string("Consulting")), ("rate", .number(amount)), ("quantity", .number("1"))])])
        }

        func createInvoice(customer: String, amount: String) async throws -> String {
            let answer = try await client.send(
                "POST", "invoices", body: .object([("customer_id", .string(customer)), ("line_items", Self.lines(amount))]))
            return answer["invoice"]?["invoice_id"]?.stringValue ?? ""
        }

        func changeInvoice(_ id: String, customer: String, amount: String) async throws {
            _ = try await client.send(
                "PUT", "invoices/\(id)", body: .object([("customer_id", .string(customer)), ("line_items", Self.lines(amount))]))
        }

        func tick() { simulator.advanceClock(by: 2) }
    }

    /// Where a poll stands: (time, ids seen at it, last poll).
    static func cursor(_ api: APIHarness, _ connection: UUID, _ type: String) async throws -> (String, Int, Date?)? {
        let rows = try await api.pool.query(
            "SELECT modified_since::text AS s, cardinality(seen_ids)::bigint AS n, polled_at FROM ledgersync.change_cursors WHERE connection_id = $1::uuid AND object_type = $2",
            [connection.uuidString, type]
        ).rows
        guard let row = rows.first else { return nil }
        return (try row.decode("s"), Int(try row.decode("n", as: Int64.self)), try row.decodeIfPresent("polled_at"))
    }

    /// Whether the poll of `type` has read everything: a poll ran and found its cursor where
    /// the poll before left it.
    static func caughtUp(_ api: APIHarness, _ connection: UUID, _ type: String) async throws -> Bool {
        var last: (String, Int, Date?)? = nil
        return try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
            guard let now = try await cursor(api, connection, type), let polled = now.2 else { return false }
            defer { last = now }
            guard let last, let before = last.2 else { return false }
            return now.0 == last.0 && now.1 == last.1 && polled > before
        }
    }

    /// The month, the person, the restart: `connect` stores the connection to a running
    /// simulator (with `read_changes`) and its mappings, and gives the person at the provider.
    /// `providers` makes each worker process's registry (a registry keeps the providers it
    /// built, with their process's HTTP client).
    func run(
        _ providers: () -> ProviderRegistry, connect: (APIHarness) async throws -> (UUID, any Person)
    ) async throws {
        try await APIHarness.with(providers: providers()) { api in
            let receiver = InboundTests.Receiver(secret: ChangePollTests.webhookSecret)
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            let endpoint = try await api.post(
                "/v1/webhook-endpoints", #"{"url": "\#(url)", "secret": "\#(ChangePollTests.webhookSecret)"}"#)
            #expect(endpoint.status == 201, "\(endpoint)")
            let (connection, person) = try await connect(api)

            let queue = SyncQueue(pool: api.pool)
            for customer in Self.scenario.customers {
                try await queue.enqueue(connection: connection, kind: .customerSync, document: JSONText(customer.json))
            }
            for invoice in Self.scenario.invoices {
                try await queue.enqueue(connection: connection, kind: .invoicePush, document: JSONText(invoice.json))
            }
            for payment in Self.scenario.payments {
                try await queue.enqueue(connection: connection, kind: .paymentApply, document: JSONText(payment.json))
            }
            let jobs = Self.scenario.customers.count + Self.scenario.invoices.count + Self.scenario.payments.count
            #expect(Self.scenario.payments.count == 300)
            var workers = ChangePollTests.Workers(count: 4, api: api, providers: providers())
            let synced = try await eventually(timeout: .seconds(90)) {
                try await api.database.count(
                    "SELECT count(*) FROM ledgersync.jobs WHERE kind IN ('customer.sync', 'invoice.push', 'payment.apply') AND state = 'completed'"
                ) == jobs
            }
            let states = try await api.pool.query(
                "SELECT string_agg(kind || ':' || state::text, ', ') AS s FROM (SELECT kind, state FROM ledgersync.jobs WHERE state <> 'completed' LIMIT 5) j"
            ).rows.first?.decodeIfPresent("s", as: String.self)
            #expect(synced, "\(states ?? "")")
            for type in ["payment", "customer", "invoice"] {
                #expect(try await Self.caughtUp(api, connection, type), "the \(type) poll never caught up with the month")
            }
            // The 300 payments and the rest of the month were read back and said nothing.
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.change_events") == 0)
            #expect(receiver.deliveries.isEmpty, "\(receiver.deliveries.map(\.body))")

            // Must-show 2: a payment entered by hand on a synced invoice.
            let invoice = Self.scenario.invoices[7]
            let refs = ExternalRefStore(pool: api.pool)
            let invoiceRef = try #require(try await refs.lookup(connection: connection, objectType: .invoice, billingID: invoice.lagoID))
            let customerRef = try #require(
                try await refs.lookup(connection: connection, objectType: .customer, billingID: invoice.customerID))
            let entered = ContinuousClock.now
            let handPayment = try await person.pay(invoice: invoiceRef.providerID, customer: customerRef.providerID)
            let paid = await eventually(timeout: .seconds(10)) {
                receiver.deliveries.contains { $0.eventType == InvoicePaidEvent.type }
            }
            let took = ContinuousClock.now - entered
            #expect(paid)
            // One polling interval, and the delivery job's own start on a loaded machine.
            #expect(took < .seconds(Self.pollInterval + 3), "\(took)")
            let paidBodies = ChangePollTests.bodies(receiver, InvoicePaidEvent.type)
            #expect(paidBodies.count == 1)
            let paidInvoice = paidBodies.first?["invoice"] as? [String: Any]
            #expect(paidInvoice?["lago_id"] as? String == invoice.lagoID, "\(paidBodies)")
            #expect(paidInvoice?["lago_customer_id"] as? String == invoice.customerID)
            let paidPayment = paidBodies.first?["payment"] as? [String: Any]
            #expect(paidPayment?["provider_id"] as? String == handPayment)
            let amount = (paidPayment?["amount"] as? String).flatMap { ExactDecimal($0) }
            #expect(amount.map { ($0 - ExactDecimal(10)).isZero } == true, "\(String(describing: paidPayment))")

            // Must-show 3: a customer and an invoice created, then updated, by hand.
            person.tick()
            let handCustomer = try await person.createCustomer("Walk-in Ltd")
            let handInvoice = try await person.createInvoice(customer: handCustomer, amount: "99.00")
            // Zoho changes an invoice when a payment applies to it: the hand payment is a
            // change of invoice 7 too (reported unless Ledgersync wrote that customer's objects
            // within the echo window). Counted apart from the hand invoice's.
            func handInvoiceEvents() -> [[String: Any]] {
                ChangePollTests.bodies(receiver, ChangeEvent.eventType(.invoice)).map(ChangePollTests.change).filter {
                    $0["provider_id"] as? String == handInvoice
                }
            }
            let created = await eventually(timeout: .seconds(10)) {
                ChangePollTests.bodies(receiver, ChangeEvent.eventType(.customer)).count == 1 && handInvoiceEvents().count == 1
            }
            #expect(created)
            person.tick()
            try await person.renameCustomer(handCustomer, "Walk-in Limited")
            try await person.changeInvoice(handInvoice, customer: handCustomer, amount: "101.00")
            let updated = await eventually(timeout: .seconds(10)) {
                ChangePollTests.bodies(receiver, ChangeEvent.eventType(.customer)).count == 2 && handInvoiceEvents().count == 2
            }
            #expect(updated)
            try await workers.stop()

            // A restart: new pools, the stored cursors. One more edit, one more event; nothing
            // read twice.
            workers = ChangePollTests.Workers(count: 4, api: api, providers: providers())
            person.tick()
            try await person.renameCustomer(handCustomer, "Walk-in Group")
            let again = await eventually(timeout: .seconds(20)) {
                ChangePollTests.bodies(receiver, ChangeEvent.eventType(.customer)).count == 3
            }
            let polls = try await api.pool.query(
                "SELECT string_agg(args->>'object_type' || ':' || state::text || ':' || run_at::text || ':' || errors::text, ' | ') AS s FROM ledgersync.jobs WHERE kind = 'changes.poll'"
            ).rows.first?.decodeIfPresent("s", as: String.self)
            #expect(again, "\(polls ?? "")")
            for type in ["payment", "customer", "invoice"] {
                #expect(try await Self.caughtUp(api, connection, type), "the \(type) poll never caught up after the restart")
            }
            try await workers.stop()

            // Exactly: one paid invoice; customer created, updated, updated; invoice created,
            // updated; each change of the person's own records only.
            #expect(ChangePollTests.bodies(receiver, InvoicePaidEvent.type).count == 1)
            let customers = ChangePollTests.bodies(receiver, ChangeEvent.eventType(.customer)).map(ChangePollTests.change)
            #expect(customers.map { $0["change"] as? String } == ["created", "updated", "updated"], "\(customers)")
            #expect(customers.allSatisfy { $0["provider_id"] as? String == handCustomer })
            let invoices = handInvoiceEvents()
            #expect(invoices.map { $0["change"] as? String } == ["created", "updated"], "\(invoices)")
            // Besides: at most the paid invoice's own change (updated, naming its billing id).
            let others = ChangePollTests.bodies(receiver, ChangeEvent.eventType(.invoice)).map(ChangePollTests.change).filter {
                $0["provider_id"] as? String != handInvoice
            }
            #expect(others.count <= 1 && others.allSatisfy { $0["billing_id"] as? String == invoice.lagoID }, "\(others)")
            #expect(receiver.deliveries.count == 6 + others.count, "\(receiver.deliveries.map { $0.eventType ?? "?" })")
            let allSigned = receiver.deliveries.allSatisfy { $0.signatureValid }
            #expect(allSigned)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.change_events") == 5 + others.count)
        }
    }

    static let readChanges = ["paid_invoices", "customer", "invoice"]
    static func netSuiteProviders() -> ProviderRegistry { ProviderRegistry([NetSuiteDriver()]) }
    static func zohoProviders() -> ProviderRegistry { ProviderRegistry([ZohoBooksDriver()]) }

    @Test("NetSuite simulator: a payment by hand is one invoice.paid_in_provider, the month's 300 none; records by hand once each")
    func netSuite() async throws {
        var configuration = NetSuiteSimulator.Configuration()
        let credentials = NetSuiteCredentials(
            consumerKey: "chg-consumer-key", consumerSecret: "chg-consumer-secret", tokenID: "chg-token-id", tokenSecret: "chg-token-secret"
        )
        configuration.credentials = [credentials]
        configuration.concurrencyLimit = 10
        configuration.items = BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) }
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()
        let providers = ProviderRegistry([NetSuiteDriver()])
        do {
            try await netSuiteMonth(simulator, configuration: configuration, credentials: credentials, providers: providers)
        } catch {
            await simulator.stop()
            throw error
        }
        await simulator.stop()
    }

    func netSuiteMonth(
        _ simulator: NetSuiteSimulator, configuration: NetSuiteSimulator.Configuration, credentials: NetSuiteCredentials,
        providers: ProviderRegistry
    ) async throws {
        try await run(Self.netSuiteProviders) { api in
            var settings = AccountingConnection.Settings(
                defaultSubsidiary: "1", objectsToSync: [], baseURL: simulator.baseURL, concurrencyLimit: 10)
            settings.readChanges = Self.readChanges
            settings.pollInterval = Self.pollInterval
            let connection = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).create(
                AccountingConnection(
                    provider: "netsuite", name: "NetSuite changes", accountID: configuration.accountID, settings: settings,
                    secrets: credentials.connectionSecrets))
            let id = try #require(connection.id)
            try await SyncEnvironment.applyLimits(of: connection, queue: api.queue, providers: providers)
            let mappings = MappingStore(pool: api.pool)
            for mapping in BillingScenario.mappings(connection: id) { try await mappings.upsert(mapping) }
            return (id, NetSuitePerson(simulator: simulator))
        }
    }

    @Test("Zoho Books simulator: a payment by hand is one invoice.paid_in_provider, the month's 300 none; records by hand once each")
    func zohoBooks() async throws {
        let simulator = ZohoBooksSimulator(
            configuration: .init(requestsPerWindow: 100_000, dailyQuota: 100_000, concurrencyLimit: 10))
        _ = try await simulator.start()
        let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
        do {
            try await zohoMonth(simulator, http: http)
        } catch {
            http.shutdown()
            await simulator.stop()
            throw error
        }
        http.shutdown()
        await simulator.stop()
    }

    func zohoMonth(_ simulator: ZohoBooksSimulator, http: HTTPClient) async throws {
        let providers = ProviderRegistry([ZohoBooksDriver()])
        try await run(Self.zohoProviders) { api in
            let client = ZohoBooksSimulator.SelfClient.demo
            let code = try simulator.issueGrantCode(clientID: client.clientID)
            let answer = try await ZohoAccounts.exchange(
                grantCode: code, clientID: client.clientID, clientSecret: client.clientSecret, accountsURL: simulator.accountsURL(),
                http: http)
            let refresh = try #require(answer.refreshToken)
            var settings = AccountingConnection.Settings(
                baseURL: simulator.baseURL, concurrencyLimit: 10,
                extra: ["data_center": "com", "request_window": "100000/60s", "daily_quota": "100000/1d"])
            settings.readChanges = Self.readChanges
            settings.pollInterval = Self.pollInterval
            let connection = try await ConnectionStore(pool: api.pool, secretBox: api.secretBox).create(
                AccountingConnection(
                    provider: "zoho_books", name: "Zoho changes", accountID: ZohoBooksSimulator.Organization.demo.id,
                    settings: settings,
                    secrets: ConnectionSecrets([
                        "client_id": client.clientID, "client_secret": client.clientSecret, "refresh_token": refresh,
                    ])))
            let id = try #require(connection.id)
            try await SyncEnvironment.applyLimits(of: connection, queue: api.queue, providers: providers)
            let mappings = MappingStore(pool: api.pool)
            for mapping in BillingScenario.zohoMappings(connection: id) { try await mappings.upsert(mapping) }
            let zoho = try ZohoBooksClient(
                connection: connection,
                context: ProviderContext(
                    http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: api.pool, secretBox: api.secretBox)))
            return (id, ZohoPerson(simulator: simulator, client: zoho))
        }
    }
}
