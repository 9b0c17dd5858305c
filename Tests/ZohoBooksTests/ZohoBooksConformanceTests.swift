import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import SyncTesting
import Testing

@testable import ZohoBooks

/// The provider conformance suite (SyncTesting) against Zoho Books: the provider as
/// `ZohoBooksDriver` builds it for a worker, over real HTTP, through a proxy that fails the
/// next write the way each check asks (`ZohoFaultProxy`), in front of the simulator. Access
/// tokens live two minutes (so they are renewed during the run) in an `InMemoryTokenStore`; the
/// token check makes the simulator forget every token it issued.
@Suite("Provider conformance: Zoho Books against the simulator", .timeLimit(.minutes(5)))
struct ZohoBooksConformanceTests {
    @Test("every check passes for Zoho Books: idempotency under each fault, error classes, expiring tokens, existing ids")
    func zohoBooksPasses() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.accessTokenLifetime = .seconds(120)
        configuration.requestsPerWindow = 100_000
        configuration.dailyQuota = 100_000
        let tokens = InMemoryTokenStore()
        let (report, refusals) = try await ZohoTestBed.run(configuration) { bed in
            let http = bed.http
            let proxy = ZohoFaultProxy(upstream: bed.simulator.baseURL, holdBack: .seconds(12)) { method, url, headers, body in
                let answer = try await http.execute(
                    HTTPRequest(method: method, url: url, headers: headers.map { ($0.0, $0.1) }, body: body, timeout: .seconds(30)))
                return (answer.status, answer.headers.map { ($0.name, $0.value) }, answer.body)
            }
            try await proxy.start()
            let harness = ZohoConformanceHarness(bed: bed, proxy: proxy, tokens: tokens)
            let report = await ProviderConformance.run(harness, prefix: "zb")
            await proxy.stop()
            return (report, bed.simulator.tokenRequests.compactMap(\.error))
        }
        #expect(report.failures.isEmpty, "\(report)")
        #expect(report.skipped.isEmpty, "\(report)")
        #expect(report.results.count == 27, "\(report)")
        #expect(report.outcome("tokens.expiry") == .passed, "\(report)")
        // The token check renewed the token once after the 401; the refused credentials were
        // refused at the accounts server (a refresh token it never issued).
        #expect(await tokens.invalidated == 1)
        #expect(refusals.count == 1, "\(refusals)")
    }
}

/// Zoho Books' conformance harness: writes go through the fault proxy; records are read from
/// the simulator.
struct ZohoConformanceHarness: ConformanceHarness {
    let bed: ZohoTestBed
    let proxy: ZohoFaultProxy
    let tokens: InMemoryTokenStore
    /// Longer than a request to the simulator on a loaded machine (2 s was not: CI runs the
    /// suites side by side on 2 cores, and the token endpoint answered after 2 s), shorter than
    /// the proxy's held-back answer (12 s): the client gives up on a write that happened.
    static let requestTimeout: Duration = .seconds(5)

    func connection(secrets: ConnectionSecrets? = nil) -> AccountingConnection {
        var connection = bed.connection(secrets: secrets)
        connection.settings.baseURL = proxy.baseURL
        return connection
    }

    func provider() async throws -> any AccountingProvider {
        try ZohoBooksDriver().makeProvider(
            for: connection(), context: bed.context(tokens: tokens, requestTimeout: Self.requestTimeout))
    }

    /// A refresh token the accounts server never issued, with a token store of its own.
    func providerWithRejectedCredentials() async throws -> (any AccountingProvider)? {
        let wrong = ConnectionSecrets([
            "client_id": ZohoTestBed.selfClient.clientID, "client_secret": ZohoTestBed.selfClient.clientSecret,
            "refresh_token": "1000.0123456789abcdef0123456789abcdef.0123456789abcdef0123456789abcdef",
        ])
        return try ZohoBooksDriver().makeProvider(
            for: connection(secrets: wrong), context: bed.context(tokens: InMemoryTokenStore(), requestTimeout: Self.requestTimeout))
    }

    func target() -> SyncTarget {
        SyncTarget(
            connectionID: ZohoTestBed.connectionID, connection: connection(),
            mappings: MappingSet(connectionID: ZohoTestBed.connectionID, mappings: ZohoTestBed.mappings()))
    }

    func inject(_ fault: ConformanceFault) async throws {
        switch fault {
        case .serverErrorBeforeWrite: proxy.arm(.serverError)
        case .answerLost: proxy.arm(.answerLost)
        case .connectionDropped: proxy.arm(.dropConnection)
        case .rateLimited: proxy.arm(.rateLimited)
        case .tokenExpired: bed.simulator.expireAccessTokens()
        }
    }

    static func module(_ type: ExternalRef.ObjectType) -> ZohoBooksProvider.Module {
        switch type {
        case .customer: .contacts
        case .invoice: .invoices
        case .salesOrder: .salesOrders
        case .creditMemo: .creditNotes
        case .payment: .payments
        }
    }

    func records(of type: ExternalRef.ObjectType) async throws -> [HeldRecord] {
        let module = Self.module(type)
        return bed.records(module.path).compactMap { record in
            guard let id = ZohoBooksProvider.idText(record[module.idKey]) else { return nil }
            return HeldRecord(providerID: id, billingID: ZohoTestBed.billingID(record))
        }
    }

    /// The held record against the body the provider sends for `write` (`ZohoPayloads`):
    /// every member of the body must be in the record with the same value (numbers by value).
    func differences(_ record: HeldRecord, from write: ProviderWrite, target: SyncTarget) async throws -> [String] {
        let module = Self.module(write.objectType)
        guard let held = bed.records(module.path).first(where: { ZohoBooksProvider.idText($0[module.idKey]) == record.providerID })
        else { return ["the simulator holds no \(module.label) \(record.providerID)"] }
        let field = ZohoBooksDriver.defaultUniqueField
        let expected: ExactJSON
        switch write {
        case .customer(let customer): expected = try ZohoPayloads.contact(customer, uniqueField: field, target: target)
        case .invoice(let invoice, let customerRef):
            expected = try ZohoPayloads.invoice(invoice, customerID: customerRef, uniqueField: field, target: target)
        case .salesOrder(let order, let customerRef):
            expected = try ZohoPayloads.salesOrder(order, customerID: customerRef, uniqueField: field, target: target)
        case .creditMemo(let memo, let customerRef, _):
            expected = try ZohoPayloads.creditNote(memo, customerID: customerRef, uniqueField: field, target: target)
        case .payment(let payment, let customerRef, let invoiceRefs):
            expected = try ZohoPayloads.payment(
                payment, customerID: customerRef, invoiceRefs: invoiceRefs, uniqueField: field, target: target)
        }
        var problems: [String] = []
        for (key, value) in expected.objectMembers {
            if !Self.contains(value, in: held[key]) {
                problems.append("\(key) is \(held[key]?.description ?? "missing"), the document says \(value)")
            }
        }
        if case .creditMemo(let memo, _, let invoiceRef) = write {
            let applied = try ZohoBooksProvider.appliedCents(held, invoiceID: invoiceRef, currency: memo.currency)
            if applied != memo.appliedToInvoiceCents {
                problems.append(
                    "\(applied) cents of it are applied to invoice \(invoiceRef), the document credits \(memo.appliedToInvoiceCents)")
            }
        }
        return problems
    }

    /// Whether `expected` is in `actual`: objects member by member (the record may hold more),
    /// arrays element by element, numbers by value (`12.5` = `12.50`).
    static func contains(_ expected: ExactJSON, in actual: ExactJSON?) -> Bool {
        guard let actual else { return false }
        switch (expected, actual) {
        case (.object(let members), .object):
            return members.allSatisfy { contains($0.value, in: actual[$0.key]) }
        case (.array(let wanted), .array(let held)):
            return wanted.count == held.count && zip(wanted, held).allSatisfy { contains($0, in: $1) }
        case (.number(let a), .number(let b)):
            return ExactDecimal(a).flatMap { x in ExactDecimal(b).map { x == $0 } } ?? (a == b)
        default:
            return expected == actual
        }
    }

    /// An invoice whose line names an item the organization does not have.
    func refusal(billingID: String, customerRef: String) async throws -> ConformanceRefusal {
        var mappings = ZohoTestBed.mappings().filter { !($0.kind == .defaultItem && $0.billingKey == "subscription") }
        mappings.append(.defaultItem(connectionID: ZohoTestBed.connectionID, for: .subscription, providerID: "460000000099999"))
        let target = SyncTarget(
            connectionID: ZohoTestBed.connectionID, connection: connection(),
            mappings: MappingSet(connectionID: ZohoTestBed.connectionID, mappings: mappings))
        let invoice = try ConformanceDocuments.invoice(billingID, customerID: "\(billingID)-cus")
        return ConformanceRefusal(
            write: .invoice(invoice, customerRef: customerRef), target: target, providerMessage: "Invalid value passed for")
    }

    var rateLimitRetryHint: Duration? { nil }
    var tokenExpiry: ConformanceTokenExpiry { .expires }
}
