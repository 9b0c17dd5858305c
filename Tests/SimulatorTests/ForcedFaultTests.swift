import Foundation
import Simulators
import Sync
import Testing

/// `NetSuiteSimulator.failNextWrites`: one particular fault on one particular write, ahead of
/// the seeded draws, for the provider conformance suite.
@Suite("NetSuiteSimulator forced faults", .timeLimit(.minutes(1)))
struct ForcedFaultTests {
    @Test("forced faults hit the next writes in order, one each: a 429 of the account's limit and a 500 write nothing; then writes pass")
    func forcedInOrder() async throws {
        try await SimulatorHarness.run { sim in
            sim.simulator.failNextWrites([.accountConcurrencyLimit, .fault(.serverError)])
            let limited = try await sim.upsert("customer", "FF-1", Bodies.customer("FF-1"))
            #expect(limited.status == 429)
            #expect(limited.netSuiteError.code == "CONCURRENCY_LIMIT_EXCEEDED")
            #expect(limited.errorClass == .rateLimited)
            #expect(limited.header("Retry-After") == nil)
            #expect(sim.simulator.record(.customer, externalID: "FF-1") == nil)

            let failed = try await sim.upsert("customer", "FF-1", Bodies.customer("FF-1"))
            #expect(failed.status == 500)
            #expect(sim.simulator.record(.customer, externalID: "FF-1") == nil)
            #expect(sim.simulator.stats.faultsInjected[.serverError] == 1)

            let written = try await sim.upsert("customer", "FF-1", Bodies.customer("FF-1"))
            #expect(written.status == 204)
            #expect(sim.simulator.records(.customer).count == 1)
        }
    }

    @Test("reset() and clearForcedFaults() forget forced faults not yet used")
    func forgotten() async throws {
        try await SimulatorHarness.run { sim in
            sim.simulator.failNextWrites([.fault(.serverError)])
            sim.simulator.clearForcedFaults()
            let afterClear = try await sim.upsert("customer", "FF-2", Bodies.customer("FF-2"))
            #expect(afterClear.status == 204)
            sim.simulator.failNextWrites([.fault(.serverError)])
            sim.simulator.reset()
            let afterReset = try await sim.upsert("customer", "FF-3", Bodies.customer("FF-3"))
            #expect(afterReset.status == 204)
            #expect(sim.simulator.stats.faultsInjected[.serverError] == nil)
        }
    }
}
