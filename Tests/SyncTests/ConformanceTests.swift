import Foundation
import HTTPClient
import Sync
import SyncTesting
import Testing

/// The conformance suite (SyncTesting) against the in-process fake provider: it passes for the
/// fake, with and without expiring tokens, and it FAILS for fakes with the two bugs it claims
/// to catch (a retry that creates a second record; a 500 classified as permanent), so a
/// passing run means something.
@Suite("Provider conformance: the fake provider", .timeLimit(.minutes(2)))
struct ConformanceTests {
    /// A connection of the fake's account.
    static func connection(apiKey: String, account: String = "fake-account") -> AccountingConnection {
        AccountingConnection(provider: "fake", name: "fake", accountID: account, secrets: ConnectionSecrets(["api_key": apiKey]))
    }

    static func harness(_ ledger: FakeLedger, flaws: FakeProvider.Flaws = [], tokens: (any AccessTokenStore)? = nil, http: HTTPClient)
        -> FakeHarness
    {
        FakeHarness(
            driver: FakeDriver(ledger: ledger, flaws: flaws), connection: connection(apiKey: "fake-api-key"),
            rejectedConnection: connection(apiKey: "wrong-api-key"), context: ProviderContext(http: http, tokens: tokens))
    }

    static func run(_ ledger: FakeLedger, flaws: FakeProvider.Flaws = [], tokens: (any AccessTokenStore)? = nil) async -> ConformanceReport
    {
        let http = HTTPClient()
        defer { http.shutdown() }
        return await ProviderConformance.run(harness(ledger, flaws: flaws, tokens: tokens, http: http))
    }

    @Test("every check passes for the fake provider; the token check is skipped with its reason")
    func fakePasses() async {
        let ledger = FakeLedger()
        let report = await Self.run(ledger)
        #expect(report.failures.isEmpty, "\(report)")
        #expect(report.results.count == 27, "\(report)")
        #expect(report.skipped.map(\.check) == ["tokens.expiry"], "\(report)")
        if case .skipped(let reason)? = report.outcome("tokens.expiry") { #expect(reason.contains("no access token")) }
        // The faults were really injected and consumed: 15 idempotency checks, 3 error classes, 1 rate limit.
        #expect(ledger.stats.faultsInjected == 19)
    }

    @Test("with expiring tokens every check passes, the token check included: one new token after expiry, no failed write")
    func fakeWithTokensPasses() async throws {
        let ledger = FakeLedger(tokenLifetime: .seconds(3600))
        let tokens = InMemoryTokenStore()
        let report = await Self.run(ledger, tokens: tokens)
        #expect(report.failures.isEmpty, "\(report)")
        #expect(report.skipped.isEmpty, "\(report)")
        #expect(report.outcome("tokens.expiry") == .passed)
        // One token for the whole run, one more after the ledger expired them all.
        #expect(ledger.stats.tokensIssued == 2)
        #expect(await tokens.invalidated == 1)
        #expect(ledger.stats.invalidTokens == 1)
    }

    @Test("a fake that creates a second record on retry fails every idempotency and existing-id check")
    func duplicatingFakeFails() async {
        let report = await Self.run(FakeLedger(), flaws: .duplicatesOnRetry)
        for fault in ConformanceFault.idempotencyFaults {
            for type in ProviderConformance.objectTypes {
                let outcome = report.outcome("idempotency.\(fault).\(type.rawValue)")
                guard case .failed(let why)? = outcome else {
                    Issue.record("idempotency.\(fault).\(type.rawValue) did not fail: \(String(describing: outcome))")
                    continue
                }
                #expect(why.contains("records for") || why.contains("answered provider id"), "\(why)")
            }
        }
        for type in ProviderConformance.objectTypes {
            #expect(report.outcome("existing_id.\(type.rawValue)") != .passed, "\(report)")
        }
        // What the flaw does not touch still passes.
        #expect(report.outcome("errors.server_error") == .passed)
        #expect(report.outcome("errors.refused_document") == .passed)
    }

    @Test("a fake that classifies a 500 as permanent fails the 5xx checks, and only those")
    func permanent500FakeFails() async {
        let report = await Self.run(FakeLedger(), flaws: .serverErrorIsPermanent)
        guard case .failed(let why)? = report.outcome("errors.server_error") else {
            Issue.record("errors.server_error did not fail:\n\(report)")
            return
        }
        #expect(why.contains("permanent"))
        for type in ProviderConformance.objectTypes {
            #expect(report.outcome("idempotency.server_error_before_write.\(type.rawValue)") != .passed, "\(report)")
        }
        let failed = Set(report.failures.map(\.check))
        let expected = Set(
            ["errors.server_error"] + ProviderConformance.objectTypes.map { "idempotency.server_error_before_write.\($0.rawValue)" })
        #expect(failed == expected, "\(report)")
    }

    @Test("the fake's tokens: one issued for many concurrent writes, not renewed on every request when short-lived")
    func fakeTokensSingleFlight() async throws {
        let ledger = FakeLedger(tokenLifetime: .seconds(20))
        let tokens = InMemoryTokenStore()
        let http = HTTPClient()
        defer { http.shutdown() }
        let harness = Self.harness(ledger, tokens: tokens, http: http)
        let provider = try await harness.provider()
        let target = harness.target()
        try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<20 {
                group.addTask { try await provider.upsertCustomer(try ConformanceDocuments.customer("tok-\(index)"), target: target) }
            }
            for try await _ in group {}
        }
        // One more, after every other finished: a 20 s token is still good for it.
        _ = try await provider.upsertCustomer(try ConformanceDocuments.customer("tok-last"), target: target)
        #expect(ledger.records(of: .customer).count == 21)
        #expect(ledger.stats.tokensIssued == 1)
        #expect(await tokens.issued == 1)
    }

    @Test("the fake classifies a write whose customer is not at the provider as dependency, and writes nothing")
    func fakeDependency() async throws {
        let ledger = FakeLedger()
        let http = HTTPClient()
        defer { http.shutdown() }
        let harness = Self.harness(ledger, http: http)
        let provider = try await harness.provider()
        let invoice = try ConformanceDocuments.invoice("dep-inv", customerID: "dep-cus")
        let error = await #expect(throws: SyncError.self) {
            _ = try await provider.upsertInvoice(invoice, customerRef: "424242", target: harness.target())
        }
        #expect(error?.errorClass == .dependency)
        #expect(ledger.records(of: .invoice).isEmpty)
    }

    @Test("a fake without a token store for an account with expiring tokens refuses to start, naming what is missing")
    func tokensNeedAStore() throws {
        let http = HTTPClient()
        defer { http.shutdown() }
        let driver = FakeDriver(ledger: FakeLedger(tokenLifetime: .seconds(60)))
        let error = #expect(throws: StoreError.self) {
            _ = try driver.makeProvider(for: Self.connection(apiKey: "fake-api-key"), context: ProviderContext(http: http))
        }
        #expect(error?.description.contains("token store") == true)
    }

    @Test("the fake driver names the field of bad secrets and events, never echoes a secret, and tests a connection")
    func driverFaces() async throws {
        let ledger = FakeLedger()
        let driver = FakeDriver(ledger: ledger)
        let short = #expect(throws: StoreError.self) { try driver.validateSecrets(ConnectionSecrets(["api_key": "s3cr3t"])) }
        #expect(short?.field == "secrets.api_key")
        #expect(short?.description.contains("s3cr3t") == false)
        let missing = #expect(throws: StoreError.self) { try driver.validateSecrets(ConnectionSecrets([:])) }
        #expect(missing?.field == "secrets.api_key")
        let hints = driver.secretHints(ConnectionSecrets(["api_key": "supersecretvalue"]))
        #expect(!hints.contains { $0.value.contains("supersecretvalue") })
        #expect(try driver.canonicalAccountID(" Fake-Account ") == "fake-account")
        #expect(throws: StoreError.self) { try driver.canonicalAccountID("a b") }

        let event = try driver.inboundEvent("payment", body: Data(#"{"invoice_id": "1001", "payment_id": "1002", "currency": "USD"}"#.utf8))
        #expect(event == .paymentRecorded(InboundPayment(providerInvoiceID: "1001", providerPaymentID: "1002", currency: "USD")))
        let noInvoice = #expect(throws: StoreError.self) { try driver.inboundEvent("payment", body: Data(#"{"payment_id": "1"}"#.utf8)) }
        #expect(noInvoice?.field == "invoice_id")
        let unknown = #expect(throws: StoreError.self) { try driver.inboundEvent("refund", body: Data("{}".utf8)) }
        #expect(unknown?.field == "event")

        let http = HTTPClient()
        defer { http.shutdown() }
        let good = await driver.test(Self.connection(apiKey: "fake-api-key"), context: ProviderContext(http: http))
        #expect(good.allSatisfy { $0.outcome == .passed }, "\(good)")
        let bad = await driver.test(Self.connection(apiKey: "wrong-api-key", account: "other"), context: ProviderContext(http: http))
        #expect(bad.filter { $0.outcome == .failed }.map(\.name) == ["credentials", "account_id"])
        #expect(!bad.contains { $0.detail.contains("wrong-api-key") })
    }
}
