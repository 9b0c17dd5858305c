import Foundation
import HTTPClient
import NetSuite
import NetSuiteTesting
import Simulators
import Sync
import SyncTesting
import Testing

/// The provider conformance suite (SyncTesting) against NetSuite: the real client over real
/// HTTP, signed with TBA, against the simulator, whose forced faults stand for the failures
/// (`NetSuiteSimulator.failNextWrites`). Every check passes; the token check is skipped (TBA
/// tokens do not expire, PROVIDERS 2.1).
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

    @Test("the suite catches a NetSuite client that merges sublists on re-push (replace off): the record is not the latest document")
    func mergingClientFails() async throws {
        let report = try await SimulatorHarness.run { sim in
            await ProviderConformance.run(NetSuiteConformanceHarness(sim: sim, replacesSublists: false), only: ["idempotency.server_error_before_write.invoice"])
        }
        guard case .failed(let why)? = report.outcome("idempotency.server_error_before_write.invoice") else {
            Issue.record("the check did not fail:\n\(report)")
            return
        }
        #expect(why.contains("does not hold the latest document"), "\(why)")
    }
}

/// NetSuite's conformance harness: `NetSuiteProvider` with the simulator's TBA credentials.
struct NetSuiteConformanceHarness: ConformanceHarness {
    static let connectionID = UUID(uuidString: "6c3f1e0a-9b7d-4f25-8a61-0c2e4d6f8a10")!
    /// Longer than a request to the simulator on a loaded machine, much shorter than the
    /// simulator's late answer (`timeoutDelay`, 30 s): the client gives up on a write that
    /// happened. Each `answer_lost` check waits this long once (six of them), so the suite runs
    /// with the timing tests (scripts/test.sh, part 2), not beside the busy part 1.
    static let requestTimeout: Duration = .seconds(5)

    let sim: SimulatorHarness
    var replacesSublists = true

    func client(_ credentials: NetSuiteCredentials) -> NetSuiteClient {
        var client = NetSuiteClient(account: sim.account, credentials: credentials, http: sim.http, requestTimeout: Self.requestTimeout)
        client.replacesSublists = replacesSublists
        return client
    }

    func provider() async throws -> any AccountingProvider {
        NetSuiteProvider(client: client(SimulatorHarness.credentials))
    }

    func providerWithRejectedCredentials() async throws -> (any AccountingProvider)? {
        var wrong = SimulatorHarness.credentials
        wrong.tokenSecret = "not-the-token-secret"
        return NetSuiteProvider(client: client(wrong))
    }

    func target() -> SyncTarget {
        target(mappings: BillingScenario.mappings(connection: Self.connectionID))
    }

    func target(mappings: [Mapping]) -> SyncTarget {
        let connection = AccountingConnection(
            provider: "netsuite", name: "conformance", accountID: sim.account.accountID,
            settings: .init(defaultSubsidiary: "1", baseURL: sim.simulator.baseURL, concurrencyLimit: 5),
            secrets: SimulatorHarness.credentials.connectionSecrets)
        return SyncTarget(connectionID: Self.connectionID, connection: connection, mappings: MappingSet(connectionID: Self.connectionID, mappings: mappings))
    }

    func inject(_ fault: ConformanceFault) async throws {
        switch fault {
        case .serverErrorBeforeWrite: sim.simulator.failNextWrites([.fault(.serverError)])
        case .answerLost: sim.simulator.failNextWrites([.fault(.timeout)])
        case .connectionDropped: sim.simulator.failNextWrites([.fault(.dropConnection)])
        case .rateLimited: sim.simulator.failNextWrites([.accountConcurrencyLimit])
        case .tokenExpired: throw HarnessError("TBA tokens do not expire")
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
        var mappings = BillingScenario.mappings(connection: Self.connectionID).filter { !($0.kind == .defaultItem && $0.billingKey == "subscription") }
        mappings.append(.defaultItem(connectionID: Self.connectionID, for: .subscription, providerID: "999"))
        let invoice = try ConformanceDocuments.invoice(billingID, customerID: "\(billingID)-cus")
        return ConformanceRefusal(
            write: .invoice(invoice, customerRef: customerRef), target: target(mappings: mappings),
            providerMessage: "Invalid Field Value 999 for the following field: item")
    }

    var rateLimitRetryHint: Duration? { nil }

    var tokenExpiry: ConformanceTokenExpiry {
        .never(reason: "NetSuite TBA tokens do not expire (PROVIDERS 2.1); OAuth 2.0 connections get this check with their harness")
    }
}
