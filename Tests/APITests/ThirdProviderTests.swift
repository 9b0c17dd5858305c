import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import Logging
import NetSuite
import ServiceLifecycle
import Sync
import SyncTesting
import Testing

/// Issue 13, must-show 4: a third provider, defined in this test only, plugs in with one
/// registration (`ProviderRegistry([NetSuiteDriver(), LabDriver(…)])`) and nothing changed in
/// `Sync`, the API or the CLI: its connection is created over HTTP (settings, secrets and
/// mappings checked by its driver, its hints shown), its jobs enqueued over HTTP and run by a
/// worker over a `SyncEnvironment` with the same registry (its access tokens in the
/// PostgreSQL token store), its checks answer `POST /v1/connections/{id}/test`, and its own
/// inbound event becomes an `invoice.paid_in_provider` webhook job.
@Suite("A third provider in one registration", .timeLimit(.minutes(3)))
struct ThirdProviderTests {
    static let clientSecret = "LAB-CLIENT-SECRET-never-returned"

    static func connectionBody(region: String = "eu", secret: String = clientSecret, extraSetting: String = "") -> String {
        """
        {"provider": "ledger_lab", "name": "Lab books", "account_id": " lab-4711 ",
         "settings": {"lab_region": "\(region)", "concurrency_limit": 2\(extraSetting)},
         "secrets": {"client_id": "lab-client-0042", "client_secret": "\(secret)"}}
        """
    }

    static let customer = #"""
        {"lago_id": "cus_lab_1", "external_id": "EXT-LAB-1", "name": "Lab Customer Ltd", "customer_type": "company",
         "email": "billing@lab.example", "currency": "USD", "address_line1": "1 Lab Street", "city": "Springfield", "zipcode": "12345", "country": "US"}
        """#

    static let invoice = #"""
        {"lago_id": "inv_lab_1", "number": "INV-LAB-1", "issuing_date": "2026-10-01", "payment_due_date": "2026-11-01",
         "invoice_type": "subscription", "status": "finalized", "currency": "USD", "customer": \#(customer),
         "fees": [{"lago_id": "inv_lab_1-fee0", "item": {"type": "subscription", "code": "lab_plan", "name": "Lab plan"},
                   "units": "1", "amount_cents": 6145, "amount_currency": "USD", "taxes_amount_cents": 0, "total_amount_cents": 6145}],
         "credits": [], "fees_amount_cents": 6145, "coupons_amount_cents": 0, "credit_notes_amount_cents": 0,
         "prepaid_credit_amount_cents": 0, "sub_total_excluding_taxes_amount_cents": 6145, "taxes_amount_cents": 0,
         "sub_total_including_taxes_amount_cents": 6145, "total_amount_cents": 6145}
        """#

    @Test(
        "a provider defined in a test: its connection, mappings, jobs, refs, checks and inbound event, through the unchanged API and Sync")
    func thirdProviderEndToEnd() async throws {
        // The ledger's access tokens expire: the lab provider's tokens go through the same
        // PostgreSQL token store as NetSuite's.
        let ledger = FakeLedger(accountID: "LAB-4711", apiKeys: ["lab-client-0042:\(Self.clientSecret)"], tokenLifetime: .seconds(3600))
        // The one registration.
        let providers = ProviderRegistry([NetSuiteDriver(), LabDriver(ledger: ledger, region: "eu")])

        try await APIHarness.with(providers: providers) { api in
            // Settings and secrets are the lab driver's: a bad one is a 422 naming it, and
            // nothing is stored.
            let before = try await api.snapshot()
            let refusals: [(String, String)] = [
                (Self.connectionBody(region: "mars"), "settings.lab_region"),
                (Self.connectionBody(extraSetting: #", "default_subsidiary": "1""#), "settings.default_subsidiary"),
                (Self.connectionBody(secret: "short"), "secrets.client_secret"),
                (Self.connectionBody().replacingOccurrences(of: " lab-4711 ", with: "4711"), "account_id"),
            ]
            for (body, field) in refusals {
                let refused = try await api.post("/v1/connections", body)
                #expect(refused.status == 422 && refused.error["field"] as? String == field, "\(field): \(refused)")
                #expect(!refused.text.contains("short"), "a refusal echoes a secret: \(refused)")
            }
            #expect(try await api.snapshot() == before)

            let created = try await api.post("/v1/connections", Self.connectionBody())
            #expect(created.status == 201, "\(created)")
            let connection = try #require(created.object["connection"] as? [String: Any])
            let id = try #require(connection["id"] as? String)
            #expect(connection["account_id"] as? String == "LAB-4711")
            #expect(connection["limit_key"] as? String == "ledger_lab:\(id)")
            #expect(connection["secret_hints"] as? [String: String] == ["auth": "client_secret", "client_id": "lab-cl…"], "\(connection)")
            #expect(!created.text.contains(Self.clientSecret))

            // Mappings: its validateMapping runs (a tax mapping needs its rate code).
            let badTax = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings",
                body: #"{"kind": "tax", "billing_key": "vat", "provider_id": "7", "details": {"nexus": "GB"}}"#)
            #expect(badTax.status == 422 && badTax.error["field"] as? String == "details.nexus", "\(badTax)")
            let tax = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings",
                body: #"{"kind": "tax", "billing_key": "vat", "provider_id": "7", "details": {"lab_rate_code": "STD"}}"#)
            #expect(tax.status == 200, "\(tax)")
            let item = try await api.request(
                "PUT", "/v1/connections/\(id)/mappings",
                body: #"{"kind": "default_item", "billing_key": "subscription", "provider_id": "510"}"#)
            #expect(item.status == 200, "\(item)")

            // Its checks.
            let test = try await api.post("/v1/connections/\(id)/test")
            #expect(test.status == 200 && test.object["ok"] as? Bool == true, "\(test)")
            let checks = try #require(test.object["checks"] as? [[String: Any]])
            #expect(checks.map { $0["name"] as? String } == ["reachability", "credentials", "region"], "\(test)")
            let wrong = try await api.post("/v1/connections", Self.connectionBody(region: "us", secret: "WRONG-SECRET-of-lab"))
            let wrongID = try #require((wrong.object["connection"] as? [String: Any])?["id"] as? String)
            let failing = try await api.post("/v1/connections/\(wrongID)/test")
            #expect(failing.status == 200 && failing.object["ok"] as? Bool == false, "\(failing)")
            let failed = (failing.object["checks"] as? [[String: Any]] ?? []).filter { $0["outcome"] as? String == "failed" }.compactMap {
                $0["name"] as? String
            }
            #expect(failed == ["credentials", "region"], "\(failing)")
            #expect(!failing.text.contains("WRONG-SECRET-of-lab"))

            // Jobs through POST /v1/jobs, run by a worker whose SyncEnvironment has the same registry.
            for (kind, envelope, document) in [("customer.sync", "customer", Self.customer), ("invoice.push", "invoice", Self.invoice)] {
                let enqueued = try await api.post(
                    "/v1/jobs", #"{"kind": "\#(kind)", "args": {"connection_id": "\#(id)", "\#(envelope)": \#(document)}}"#)
                #expect(enqueued.status == 201, "\(kind): \(enqueued)")
            }
            let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
            defer { http.shutdown() }
            let sync = SyncEnvironment(
                pool: api.pool, secretBox: api.secretBox, http: http, providers: providers,
                providerContext: ProviderContext(
                    http: http, requestTimeout: .seconds(10), tokens: PostgresTokenStore(pool: api.pool, secretBox: api.secretBox)))
            var registry = JobRegistry()
            sync.register(in: &registry)
            var logger = Logger(label: "test.worker")
            logger.logLevel = .warning
            let worker = WorkerPool(
                pool: api.pool, registry: registry,
                options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10)),
                logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let done = try await eventually(timeout: .seconds(30)) {
                    try await api.database.count(
                        "SELECT count(*) FROM ledgersync.jobs WHERE kind IN ('customer.sync', 'invoice.push') AND state = 'completed'") == 2
                }
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
                let states: String = try await api.pool.query(
                    "SELECT string_agg(kind || ':' || state::text || ':' || errors::text, ', ' ORDER BY id) AS s FROM ledgersync.jobs"
                ).rows[0].decode("s")
                #expect(done, "\(states)")
            }

            // Its records, and the external refs the workers recorded.
            let customers = ledger.records(of: .customer)
            let invoices = ledger.records(of: .invoice)
            #expect(customers.map(\.billingID) == ["cus_lab_1"] && invoices.map(\.billingID) == ["inv_lab_1"], "\(customers) \(invoices)")
            let customerRef = try #require(customers.first?.providerID)
            let invoiceRef = try #require(invoices.first?.providerID)
            guard case .invoice(let pushed, let pushedCustomer)? = invoices.first?.content else {
                Issue.record("the lab holds no invoice document: \(invoices)")
                return
            }
            #expect(pushed.lagoID == "inv_lab_1" && pushed.totalAmountCents == 6145 && pushedCustomer == customerRef)
            let refs = try await api.get("/v1/external-refs?connection_id=\(id)")
            let refList = try #require(refs.object["external_refs"] as? [[String: Any]])
            let byType = Dictionary(
                uniqueKeysWithValues: refList.compactMap { ref in
                    (ref["object_type"] as? String).map { ($0, ref["provider_id"] as? String) }
                })
            #expect(byType == ["customer": customerRef, "invoice": invoiceRef], "\(refs)")
            // One token for both jobs, issued through the PostgreSQL token store.
            #expect(ledger.stats.tokensIssued == 1)
            #expect(try await api.database.count("SELECT issued_count FROM ledgersync.provider_tokens WHERE connection_id = '\(id)'") == 1)

            // Its inbound event, at /v1/inbound/ledger_lab/<id>/settlement.
            let endpoint = try await api.post(
                "/v1/webhook-endpoints", #"{"url": "http://127.0.0.1:9/hooks", "secret": "x", "event_types": ["invoice.paid_in_provider"]}"#
            )
            #expect(endpoint.status == 201, "\(endpoint)")
            let rotated = try await api.post("/v1/connections/\(id)/inbound-secret")
            let inboundSecret = try #require(rotated.object["secret"] as? String)
            let path = "/v1/inbound/ledger_lab/\(id)/settlement"
            let bad = #"{"lab_settlement_ref": "S-1"}"#
            let refused = try await api.request("POST", path, body: bad, token: "", headers: InboundTests.signed(bad, inboundSecret))
            #expect(refused.status == 422 && refused.error["field"] as? String == "lab_invoice_ref", "\(refused)")
            let event = #"{"lab_invoice_ref": "\#(invoiceRef)", "lab_settlement_ref": "S-1", "amount": "61.45", "currency": "USD"}"#
            let asNetSuite = try await api.request(
                "POST", "/v1/inbound/netsuite/\(id)/payments", body: event, token: "", headers: InboundTests.signed(event, inboundSecret))
            #expect(asNetSuite.status == 404 && asNetSuite.error["field"] as? String == "provider", "\(asNetSuite)")
            let accepted = try await api.request("POST", path, body: event, token: "", headers: InboundTests.signed(event, inboundSecret))
            #expect(accepted.status == 202 && accepted.object["invoice_id"] as? String == "inv_lab_1", "\(accepted)")
            let jobIDs = try #require(accepted.object["job_ids"] as? [Int])
            #expect(jobIDs.count == 1)
            let jobID = try #require(jobIDs.first)
            let job = try #require(try await api.queue.job(id: Int64(jobID)))
            #expect(job.kind == WebhookDelivery.kind)
            guard case .object(let args) = job.args else {
                Issue.record("webhook job args are not an object: \(job.args)")
                return
            }
            #expect(args["event_type"] == .string("invoice.paid_in_provider"), "\(args)")
            guard case .string(let bodyText)? = args["body"],
                let sent = (try? JSONSerialization.jsonObject(with: Data(bodyText.utf8))) as? [String: Any]
            else {
                Issue.record("the webhook job carries no JSON body: \(args)")
                return
            }
            #expect(sent["provider"] as? String == "ledger_lab", "\(bodyText)")
            #expect((sent["invoice"] as? [String: Any])?["lago_id"] as? String == "inv_lab_1", "\(bodyText)")
            #expect((sent["invoice"] as? [String: Any])?["provider_id"] as? String == invoiceRef, "\(bodyText)")
            let payment = sent["payment"] as? [String: Any]
            #expect(payment?["provider_id"] as? String == "S-1" && payment?["amount"] as? String == "61.45", "\(bodyText)")
        }
    }
}

/// A third accounting provider, defined here only: "Ledger Lab", an in-memory account
/// (`FakeLedger` stands for its remote side) with credentials, a setting, mapping rules, checks
/// and an inbound event of its own. Nothing in `Sync`, the API or the CLI knows it.
struct LabDriver: ProviderDriver {
    let ledger: FakeLedger
    /// The region the lab account lives in (`settings.lab_region` must say it).
    let region: String

    static let regions = ["eu", "us"]

    var name: String { "ledger_lab" }
    var displayName: String { "Ledger Lab" }

    var credentialFields: [CredentialField] {
        [
            CredentialField(name: "client_id", environment: "LEDGER_LAB_CLIENT_ID", help: "the lab app's client id"),
            CredentialField(name: "client_secret", environment: "LEDGER_LAB_CLIENT_SECRET", help: "the lab app's client secret"),
        ]
    }

    /// `LAB-<digits>`, upper-cased.
    func canonicalAccountID(_ text: String) throws -> String {
        let upper = text.trimmingCharacters(in: .whitespaces).uppercased()
        guard upper.hasPrefix("LAB-"), upper.count <= 20, upper.dropFirst(4).allSatisfy(\.isNumber), upper.count > 4 else {
            throw StoreError.invalid("account_id", "a Ledger Lab account id is LAB- and digits, e.g. LAB-4711")
        }
        return upper
    }

    func validateSettings(_ settings: AccountingConnection.Settings) throws {
        if let unknown = settings.extra.keys.sorted().first(where: { $0 != "lab_region" }) {
            throw StoreError.invalid("settings.\(unknown)", "is not a Ledger Lab setting (it has lab_region)")
        }
        guard let region = settings["lab_region"], Self.regions.contains(region) else {
            throw StoreError.invalid("settings.lab_region", "is required: one of \(Self.regions.joined(separator: ", "))")
        }
    }

    func validateSecrets(_ secrets: ConnectionSecrets) throws {
        if let unknown = secrets.fields.keys.sorted().first(where: { !["client_id", "client_secret"].contains($0) }) {
            throw StoreError.invalid("secrets.\(unknown.prefix(40))", "is not a Ledger Lab credential (client_id, client_secret)")
        }
        _ = try secrets.require("client_id")
        guard try secrets.require("client_secret").count >= 16 else {
            throw StoreError.invalid("secrets.client_secret", "must be at least 16 characters")
        }
    }

    func secretHints(_ secrets: ConnectionSecrets) -> [(name: String, value: String)] {
        [("auth", "client_secret"), ("client_id", ConnectionSecrets.hint(secrets["client_id"] ?? ""))]
    }

    /// A tax mapping names the lab's rate code, and nothing else.
    func validateMapping(_ mapping: Mapping) throws {
        guard mapping.kind == .tax else { return }
        if let unknown = mapping.details.keys.sorted().first(where: { $0 != "lab_rate_code" }) {
            throw StoreError.invalid("details.\(unknown)", "is not a Ledger Lab tax detail (it takes lab_rate_code)")
        }
        guard mapping.details["lab_rate_code"]?.isEmpty == false else {
            throw StoreError.invalid("details.lab_rate_code", "is required for a Ledger Lab tax mapping")
        }
    }

    static func apiKey(_ connection: AccountingConnection) -> String {
        "\(connection.secrets["client_id"] ?? ""):\(connection.secrets["client_secret"] ?? "")"
    }

    func makeProvider(for connection: AccountingConnection, context: ProviderContext) throws -> any AccountingProvider {
        try validateSecrets(connection.secrets)
        return FakeProvider(ledger: ledger, connection: connection, apiKey: Self.apiKey(connection), tokens: context.tokens)
    }

    func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck] {
        let hint = ConnectionSecrets.hint(connection.secrets["client_id"] ?? "")
        let given = connection.settings["lab_region"] ?? ""
        return [
            ConnectionCheck("reachability", .passed, "in process"),
            ledger.accepts(apiKey: Self.apiKey(connection))
                ? ConnectionCheck("credentials", .passed, "client \(hint) opens the account")
                : ConnectionCheck("credentials", .failed, "the lab refuses client \(hint); check secrets.client_secret"),
            given == region
                ? ConnectionCheck("region", .passed, "the account is in \(region)")
                : ConnectionCheck("region", .failed, "the account is in \(region), settings.lab_region says \(given.prefix(10))"),
        ]
    }

    /// `settlement`: `{"lab_invoice_ref", "lab_settlement_ref", "amount", "currency"}`.
    func inboundEvent(_ event: String, body: Data) throws -> InboundEvent {
        guard event == "settlement" else { throw StoreError.invalid("event", "Ledger Lab sends settlement events only") }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw StoreError.invalid("body", "must be a JSON object")
        }
        func required(_ key: String) throws -> String {
            guard let value = object[key] as? String, !value.isEmpty else { throw StoreError.invalid(key, "is required") }
            return value
        }
        return .paymentRecorded(
            InboundPayment(
                providerInvoiceID: try required("lab_invoice_ref"), providerPaymentID: try required("lab_settlement_ref"),
                amount: object["amount"] as? String, currency: object["currency"] as? String))
    }
}
