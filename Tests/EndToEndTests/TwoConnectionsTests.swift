import Foundation
import JobQueueTesting
import NetSuite
import Simulators
import Sync
import Testing

/// Two NetSuite accounts behind two connections of one database, synced by the same workers at
/// once: each account must get only its own connection's records, written with its own
/// mappings, and never see more requests at once than its own limit.
@Suite("Two connections side by side", .serialized, .timeLimit(.minutes(5)))
struct TwoConnectionsTests {
    /// The second account's token set: a request signed with the first one's is refused there.
    static let secondCredentials = NetSuiteCredentials(
        consumerKey: "e2e-second-consumer-key", consumerSecret: "SECOND-CONSUMER-SECRET-77aa",
        tokenID: "e2e-second-token-id", tokenSecret: "SECOND-TOKEN-SECRET-88bb")

    /// The second account's items carry other internal ids ("7" + the first account's), so a
    /// line written with the wrong connection's mappings is refused by the account it reaches.
    static func secondMappings(connection: UUID) -> [Mapping] {
        BillingScenario.mappings(connection: connection).map { mapping in
            var mapping = mapping
            if [.fallbackItem, .defaultItem, .item].contains(mapping.kind) {
                mapping.providerID = "7" + mapping.providerID
            }
            return mapping
        }
    }

    @Test(
        "two accounts with different mappings and limits: nothing of one appears at the other; each limit holds"
    )
    func sideBySide() async throws {
        let first = BillingScenario.generate(
            customers: 30, invoicesPerCustomer: 3, creditNoteEvery: 5, payments: 30, seed: 101)
        let second = BillingScenario.generate(
            customers: 20, invoicesPerCustomer: 3, creditNoteEvery: 0, payments: 20, seed: 202)
        // The first account at limit 5, the second at 2; both answer slowly enough (20–60 ms)
        // that the workers' 16 slots would overrun either limit if it were not held.
        let firstConfiguration = SyncHarness.simulatorConfiguration(latency: 20...60)
        var secondConfiguration = SyncHarness.simulatorConfiguration(latency: 20...60)
        secondConfiguration.accountID = "7654321"
        secondConfiguration.credentials = [Self.secondCredentials]
        secondConfiguration.concurrencyLimit = 2
        secondConfiguration.items = BillingScenario.itemIDs.map {
            NetSuiteSimulator.Item(id: "7" + $0, name: "Item 7\($0)", taxable: true)
        }
        let secondSimulator = NetSuiteSimulator(configuration: secondConfiguration)
        _ = try await secondSimulator.start()
        do {
            try await sync(first, second, firstConfiguration, secondConfiguration, secondSimulator)
        } catch {
            await secondSimulator.stop()
            throw error
        }
        await secondSimulator.stop()
    }

    func sync(
        _ first: BillingScenario, _ second: BillingScenario,
        _ firstConfiguration: NetSuiteSimulator.Configuration,
        _ secondConfiguration: NetSuiteSimulator.Configuration, _ secondSimulator: NetSuiteSimulator
    ) async throws {
        try await SyncHarness.with(simulator: firstConfiguration, concurrencyLimit: 5) { harness in
            let secondID = try await harness.addConnection(
                name: "NetSuite second account", accountID: secondConfiguration.accountID,
                baseURL: secondSimulator.baseURL,
                credentials: Self.secondCredentials, concurrencyLimit: 2,
                mappings: Self.secondMappings(connection:))

            // Interleaved, as a billing system with two entities would produce them.
            for i in 0..<max(first.invoices.count, second.invoices.count) {
                if i < first.invoices.count {
                    try await harness.enqueue(.invoicePush, first.invoices[i].json)
                }
                if i < second.invoices.count {
                    try await harness.enqueue(.invoicePush, second.invoices[i].json, connection: secondID)
                }
            }
            for note in first.creditNotes { try await harness.enqueue(.creditMemoPush, note.json) }
            for payment in first.payments {
                try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID)
            }
            for payment in second.payments {
                try await harness.enqueue(
                    .paymentApply, payment.json, customerID: payment.customerID, connection: secondID)
            }

            let workers = try harness.startWorkers(2, concurrency: 8)
            try await harness.waitUntilIdle(timeout: .seconds(180), workers: workers)
            await stop(workers)
            let states = try await harness.jobStates()
            #expect(states.keys.allSatisfy { $0.hasSuffix("/completed") }, "no job may fail: \(states)")

            // Each account holds exactly its own connection's documents.
            let firstSim = harness.simulator
            #expect(
                Set(firstSim.records(.invoice).map(\.externalID)) == Set(first.invoices.map(\.lagoID)))
            #expect(
                Set(secondSimulator.records(.invoice).map(\.externalID))
                    == Set(second.invoices.map(\.lagoID)))
            #expect(
                Set(firstSim.records(.customer).map(\.externalID)) == Set(first.customers.map(\.lagoID)))
            #expect(
                Set(secondSimulator.records(.customer).map(\.externalID))
                    == Set(second.customers.map(\.lagoID)))
            #expect(firstSim.records(.creditMemo).count == first.creditNotes.count)
            #expect(secondSimulator.records(.creditMemo).isEmpty)
            #expect(
                Set(firstSim.records(.customerPayment).map(\.externalID))
                    == Set(first.payments.map(\.lagoID)))
            #expect(
                Set(secondSimulator.records(.customerPayment).map(\.externalID))
                    == Set(second.payments.map(\.lagoID)))

            // Written with each connection's own mappings: every line's item is one of that
            // account's items (the accounts' item ids do not overlap).
            let firstItems = Set(BillingScenario.itemIDs)
            let secondItems = Set(BillingScenario.itemIDs.map { "7" + $0 })
            for record in firstSim.records(.invoice) {
                let items = Set(record.sublist("item").compactMap { $0["item"]?.referenceID })
                #expect(!items.isEmpty && items.isSubset(of: firstItems), "\(record.externalID): \(items)")
            }
            for record in secondSimulator.records(.invoice) {
                let items = Set(record.sublist("item").compactMap { $0["item"]?.referenceID })
                #expect(!items.isEmpty && items.isSubset(of: secondItems), "\(record.externalID): \(items)")
            }

            // The refs of each connection name that account's internal ids.
            let secondRefs = try await harness.count(
                "SELECT count(*) FROM ledgersync.external_refs WHERE connection_id = $1 AND object_type = 'invoice'",
                [secondID.uuidString])
            #expect(secondRefs == second.invoices.count)
            for record in secondSimulator.records(.invoice) {
                let ref = try await harness.refs.lookup(
                    connection: secondID, objectType: .invoice, billingID: record.externalID)
                #expect(ref?.providerID == record.internalID)
            }

            // Each limit held, with no request refused for going over it.
            #expect(
                firstSim.stats.maxInFlight <= 5, "first account saw \(firstSim.stats.maxInFlight) at once")
            #expect(
                secondSimulator.stats.maxInFlight <= 2,
                "second account saw \(secondSimulator.stats.maxInFlight) at once")
            #expect(firstSim.stats.rejectedOverLimit == 0 && secondSimulator.stats.rejectedOverLimit == 0)
            // Both limits were in use at the same time: the workers did not sync one account
            // after the other (a limit of 2 was reached, so it was exercised).
            #expect(secondSimulator.stats.maxInFlight == 2)
            #expect(firstSim.stats.maxInFlight >= 3)
        }
    }
}
