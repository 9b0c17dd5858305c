import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import NetSuiteTesting
import Simulators
import Sync
import Testing

/// Proves that `RecordChecker` (what the end-to-end tests use to say "every record equals its
/// latest document") catches the bug of issue 12: the real client, pushing an invoice and then
/// a changed version of it (lines removed and added, amounts changed, pushed twice as a retry
/// would), leaves doubled and stale lines when its `replace` is turned off (the test-only
/// `NetSuiteClient.replacesSublists`), and a record equal to the latest document when it is on.
@Suite("RecordChecker against the client with and without replace", .timeLimit(.minutes(3)))
struct ReplaceCheckTests {
    static let connectionID = UUID(uuidString: "0d7f3c2e-5b8a-4e61-9c1d-2a4b6c8e0f13")!
    static let scenario = BillingScenario.generate(customers: 1, invoicesPerCustomer: 3, creditNoteEvery: 1000, payments: 0)

    static func target(customFields: [CustomFieldValue] = []) -> SyncTarget {
        let connection = AccountingConnection(
            provider: "netsuite", name: "test", accountID: "1234567_SB1",
            settings: .init(defaultSubsidiary: "1", concurrencyLimit: 5),
            secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"]))
        var mappings = BillingScenario.mappings(connection: connectionID)
        mappings.append(
            Mapping(
                connectionID: connectionID, kind: .customField, billingKey: "metadata.region", recordType: "invoice",
                providerID: "custbody_region"))
        return SyncTarget(
            connectionID: connectionID, connection: connection, mappings: MappingSet(connectionID: connectionID, mappings: mappings),
            customFields: customFields)
    }

    /// What each run leaves: the checker's differences for the customer and the invoice.
    struct Outcome {
        let customer: [String]
        let invoice: [String]
        let itemLines: Int
    }

    static func run(replace: Bool) async throws -> Outcome {
        try await SimulatorHarness.run { sim in
            var client = NetSuiteClient(account: sim.account, credentials: SimulatorHarness.credentials, http: sim.http)
            client.replacesSublists = replace
            let provider = NetSuiteProvider(client: client)

            let customerDocument = try DocumentDecoder.decode(BillingCustomer.self, from: scenario.customers[0].json)
            var customerRef = ""
            for _ in 0..<2 { customerRef = try await provider.upsertCustomer(customerDocument, target: target()) }

            // The first version, with a custom field; the latest, another invoice's fees under
            // the first one's id (other fee ids: lines removed and added, other amounts), no
            // custom field any more, pushed twice (a retry after a lost answer).
            let first = scenario.invoices[0]
            let second = scenario.invoices[1]
            #expect(first.feeAmounts != second.feeAmounts)
            let original = try DocumentDecoder.decode(BillingInvoice.self, from: first.json)
            _ = try await provider.upsertInvoice(
                original, customerRef: customerRef, target: target(customFields: [.init(fieldID: "custbody_region", value: "EMEA")]))
            let latestJSON = second.json.replacingOccurrences(of: second.lagoID, with: first.lagoID)
            let latest = try DocumentDecoder.decode(BillingInvoice.self, from: latestJSON)
            for _ in 0..<2 { _ = try await provider.upsertInvoice(latest, customerRef: customerRef, target: target()) }

            let invoiceRecord = sim.simulator.record(.invoice, externalID: first.lagoID)
            return Outcome(
                customer: RecordChecker.customer(
                    customerDocument, record: sim.simulator.record(.customer, externalID: customerDocument.lagoID), target: target()),
                invoice: RecordChecker.invoice(latest, record: invoiceRecord, customerRef: customerRef, target: target()),
                itemLines: invoiceRecord?.sublist("item").count ?? 0)
        }
    }

    @Test("replace off: the checker reports the doubled and stale lines, the wrong total and the doubled address")
    func withoutReplace() async throws {
        let outcome = try await Self.run(replace: false)
        #expect(outcome.invoice.contains { $0.contains("item has") })
        #expect(outcome.invoice.contains { $0.contains("total is") })
        #expect(outcome.invoice.contains { $0.contains("more than once") })
        #expect(outcome.customer.contains { $0.contains("addressBook has 2 lines") })
    }

    @Test("replace on: the record equals the latest document exactly, the dropped custom field cleared")
    func withReplace() async throws {
        let outcome = try await Self.run(replace: true)
        #expect(outcome.invoice == [])
        #expect(outcome.customer == [])
        let latest = try DocumentDecoder.decode(BillingInvoice.self, from: Self.scenario.invoices[1].json)
        #expect(
            outcome.itemLines == latest.fees.filter { $0.amountCents != 0 }.count + latest.credits.filter { $0.amountCents != 0 }.count
                + (latest.prepaidCreditAmountCents != 0 ? 1 : 0))
    }
}
