import Foundation
import HTTPClient
import NetSuite
import NetSuiteTesting
import Simulators
import Sync
import SyncTesting
import Testing

/// The provider conformance suite (SyncTesting) against NetSuite: the real client over real
/// HTTP against the simulator, whose forced faults stand for the failures
/// (`NetSuiteSimulator.failNextWrites`). With TBA every check passes and the token check is
/// skipped (TBA tokens do not expire, PROVIDERS 2.1); with OAuth 2.0 client credentials (the
/// simulator's demo M2M integration, tokens in a token store) every check passes, the token
/// check included (`forgetTokens()`: NetSuite stops taking the tokens it issued).
@Suite("Provider conformance: NetSuite against the simulator", .timeLimit(.minutes(3)))
struct NetSuiteConformanceTests {
    @Test("every check passes for NetSuite (TBA): idempotency under each fault, error classes, existing ids")
    func netSuitePasses() async throws {
        let report = try await SimulatorHarness.run { sim in
            await ProviderConformance.run(NetSuiteConformanceHarness(sim: sim))
        }
        #expect(report.failures.isEmpty, "\(report)")
        #expect(report.results.count == 27, "\(report)")
        #expect(report.skipped.map(\.check) == ["tokens.expiry"], "\(report)")
    }

    @Test(
        "every check passes for NetSuite over OAuth 2.0 client credentials, the token check included: one token for the run, one more after NetSuite forgot them"
    )
    func netSuiteOAuth2Passes() async throws {
        let tokens = InMemoryTokenStore()
        let (report, stats, refusals) = try await SimulatorHarness.run { sim in
            let report = await ProviderConformance.run(NetSuiteConformanceHarness(sim: sim, auth: .oauth2(tokens)), prefix: "m2m")
            return (report, sim.simulator.tokenStats, sim.simulator.tokenRequests.compactMap(\.refusal))
        }
        #expect(report.failures.isEmpty, "\(report)")
        #expect(report.results.count == 27, "\(report)")
        #expect(report.skipped.isEmpty, "\(report)")
        #expect(report.outcome("tokens.expiry") == .passed, "\(report)")
        // Every check's provider shares the store's token: one for the whole run, one more
        // after forgetTokens(), renewed once on the 401 invalid_token it caused.
        #expect(stats.issued == 2, "\(stats)")
        #expect(await tokens.issued == 2)
        #expect(await tokens.invalidated == 1)
        #expect(stats.invalidTokenRefusals == 1, "\(stats)")
        // The rejected-credentials check: an assertion signed with another key, refused at
        // the token endpoint (no record request was sent with it).
        #expect(stats.refused == 1, "\(stats)")
        #expect(refusals == [.badSignature], "\(refusals)")
    }

    @Test("the suite catches a NetSuite client that merges sublists on re-push (replace off): the record is not the latest document")
    func mergingClientFails() async throws {
        let report = try await SimulatorHarness.run { sim in
            await ProviderConformance.run(
                NetSuiteConformanceHarness(sim: sim, replacesSublists: false), only: ["idempotency.server_error_before_write.invoice"])
        }
        guard case .failed(let why)? = report.outcome("idempotency.server_error_before_write.invoice") else {
            Issue.record("the check did not fail:\n\(report)")
            return
        }
        #expect(why.contains("does not hold the latest document"), "\(why)")
    }
}

/// NetSuite's conformance harness: `NetSuiteProvider` against the simulator, with its TBA
/// credentials, or (`.oauth2`) built by `NetSuiteDriver` as a worker builds it, for a
/// connection with the simulator's demo OAuth 2.0 M2M credentials and the given token store.
struct NetSuiteConformanceHarness: ConformanceHarness {
    /// How the harness's connection authenticates.
    enum Auth: Sendable {
        /// Token-based authentication (`SimulatorHarness.credentials`).
        case tba
        /// OAuth 2.0 client credentials (`Configuration.demoM2MCredentials`), access tokens
        /// kept in `tokens`.
        case oauth2(InMemoryTokenStore)
    }

    static let connectionID = UUID(uuidString: "6c3f1e0a-9b7d-4f25-8a61-0c2e4d6f8a10")!
    /// Longer than a request to the simulator on a loaded machine, much shorter than the
    /// simulator's late answer (`timeoutDelay`, 30 s): the client gives up on a write that
    /// happened. Each `answer_lost` check waits this long once (six of them), so the suite runs
    /// with the timing tests (scripts/test.sh, part 2), not beside the busy part 1.
    static let requestTimeout: Duration = .seconds(5)

    /// TEST ONLY, NOT A SECRET: an EC P-256 key made with `openssl genpkey -algorithm EC
    /// -pkeyopt ec_paramgen_curve:P-256` for this test, registered nowhere: an assertion it
    /// signs fails the simulator's signature check (the "wrong secret" of OAuth 2.0).
    static let unregisteredPrivateKeyPEM = [
        "-----BEGIN PRIVATE KEY-----",
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQguzcvFWZa730clFm5",
        "9gXsWTj6JN4y/diiYAdqPFEOZpyhRANCAARaHga/3ay568l+rT2idlTyNYNTXZUL",
        "hQCD4QrU7mcmi2wDCVZJ4UcqAlFEWJBatOTw9hgEDLpxyU2BQb8Lr0HG",
        "-----END PRIVATE KEY-----",
    ].joined(separator: "\n")

    let sim: SimulatorHarness
    var replacesSublists = true
    var auth: Auth = .tba

    func client(_ credentials: NetSuiteCredentials) -> NetSuiteClient {
        var client = NetSuiteClient(account: sim.account, credentials: credentials, http: sim.http, requestTimeout: Self.requestTimeout)
        client.replacesSublists = replacesSublists
        return client
    }

    /// The connection the harness writes with: the simulator's account and base URL, the
    /// auth kind's credentials (`secrets` replaces them).
    func connection(secrets: ConnectionSecrets? = nil) -> AccountingConnection {
        let own: ConnectionSecrets
        switch auth {
        case .tba: own = SimulatorHarness.credentials.connectionSecrets
        case .oauth2: own = Self.m2mSecrets(NetSuiteSimulator.Configuration.demoM2MCredentials)
        }
        return AccountingConnection(
            provider: "netsuite", name: "conformance", accountID: sim.account.accountID,
            settings: .init(defaultSubsidiary: "1", baseURL: sim.simulator.baseURL, concurrencyLimit: 5), secrets: secrets ?? own)
    }

    static func m2mSecrets(_ credentials: NetSuiteM2MCredentials) -> ConnectionSecrets {
        ConnectionSecrets([
            "client_id": credentials.clientID, "certificate_id": credentials.certificateID, "private_key": credentials.privateKeyPEM,
        ])
    }

    /// The OAuth 2.0 provider, as `NetSuiteDriver` builds it for a worker.
    func driverProvider(_ connection: AccountingConnection, tokens: any AccessTokenStore) throws -> any AccountingProvider {
        try NetSuiteDriver().makeProvider(
            for: connection, context: ProviderContext(http: sim.http, requestTimeout: Self.requestTimeout, tokens: tokens))
    }

    func provider() async throws -> any AccountingProvider {
        switch auth {
        case .tba: return NetSuiteProvider(client: client(SimulatorHarness.credentials))
        case .oauth2(let tokens): return try driverProvider(connection(), tokens: tokens)
        }
    }

    /// TBA: a wrong token secret. OAuth 2.0: the demo client id and certificate id with a key
    /// the mapping does not have, and a token store of its own (the good connection's token,
    /// keyed by the same unsaved connection, must not open the account for it).
    func providerWithRejectedCredentials() async throws -> (any AccountingProvider)? {
        switch auth {
        case .tba:
            var wrong = SimulatorHarness.credentials
            wrong.tokenSecret = "not-the-token-secret"
            return NetSuiteProvider(client: client(wrong))
        case .oauth2:
            let demo = NetSuiteSimulator.Configuration.demoM2MCredentials
            let wrong = NetSuiteM2MCredentials(
                clientID: demo.clientID, certificateID: demo.certificateID, privateKeyPEM: Self.unregisteredPrivateKeyPEM)
            return try driverProvider(connection(secrets: Self.m2mSecrets(wrong)), tokens: InMemoryTokenStore())
        }
    }

    func target() -> SyncTarget {
        target(mappings: BillingScenario.mappings(connection: Self.connectionID))
    }

    func target(mappings: [Mapping]) -> SyncTarget {
        SyncTarget(
            connectionID: Self.connectionID, connection: connection(),
            mappings: MappingSet(connectionID: Self.connectionID, mappings: mappings))
    }

    func inject(_ fault: ConformanceFault) async throws {
        switch fault {
        case .serverErrorBeforeWrite: sim.simulator.failNextWrites([.fault(.serverError)])
        case .answerLost: sim.simulator.failNextWrites([.fault(.timeout)])
        case .connectionDropped: sim.simulator.failNextWrites([.fault(.dropConnection)])
        case .rateLimited: sim.simulator.failNextWrites([.accountConcurrencyLimit])
        case .tokenExpired:
            guard case .oauth2 = auth else { throw HarnessError("TBA tokens do not expire") }
            // NetSuite stops taking every token it issued (revoked, or expired early): the next
            // request with one is a 401 invalid_token.
            sim.simulator.forgetTokens()
        }
    }

    static func recordType(_ type: ExternalRef.ObjectType) -> NetSuiteSimulator.RecordType {
        switch type {
        case .customer: .customer
        case .invoice: .invoice
        case .salesOrder: .salesOrder
        case .creditMemo: .creditMemo
        case .payment: .customerPayment
        }
    }

    func records(of type: ExternalRef.ObjectType) async throws -> [HeldRecord] {
        sim.simulator.records(Self.recordType(type)).map { HeldRecord(providerID: $0.internalID, billingID: $0.externalID) }
    }

    /// `RecordChecker`: the record against the document by the rules of docs/netsuite.md.
    func differences(_ record: HeldRecord, from write: ProviderWrite, target: SyncTarget) async throws -> [String] {
        let held = sim.simulator.record(Self.recordType(write.objectType), internalID: record.providerID)
        switch write {
        case .customer(let customer):
            return RecordChecker.customer(customer, record: held, target: target)
        case .invoice(let invoice, let customerRef):
            return RecordChecker.invoice(invoice, record: held, customerRef: customerRef, target: target)
        case .salesOrder(let order, let customerRef):
            return RecordChecker.invoice(order.invoice, record: held, customerRef: customerRef, target: target, recordType: "sales_order")
        case .creditMemo(let memo, let customerRef, let invoiceRef):
            return RecordChecker.creditMemo(memo, record: held, customerRef: customerRef, invoiceRef: invoiceRef, target: target)
        case .payment(let payment, let customerRef, let invoiceRefs):
            return RecordChecker.payment(payment, record: held, customerRef: customerRef, invoiceRefs: invoiceRefs, target: target)
        }
    }

    /// An invoice whose subscription item is mapped to an item the account does not have:
    /// NetSuite refuses the reference (the simulator's `INVALID_KEY_OR_REF`).
    func refusal(billingID: String, customerRef: String) async throws -> ConformanceRefusal {
        var mappings = BillingScenario.mappings(connection: Self.connectionID).filter {
            !($0.kind == .defaultItem && $0.billingKey == "subscription")
        }
        mappings.append(.defaultItem(connectionID: Self.connectionID, for: .subscription, providerID: "999"))
        let invoice = try ConformanceDocuments.invoice(billingID, customerID: "\(billingID)-cus")
        return ConformanceRefusal(
            write: .invoice(invoice, customerRef: customerRef), target: target(mappings: mappings),
            providerMessage: "Invalid Field Value 999 for the following field: item")
    }

    var rateLimitRetryHint: Duration? { nil }

    var tokenExpiry: ConformanceTokenExpiry {
        switch auth {
        case .tba:
            .never(reason: "NetSuite TBA tokens do not expire (PROVIDERS 2.1); OAuth 2.0 connections get this check with their harness")
        case .oauth2: .expires
        }
    }
}
