import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

@Suite("NetSuiteSimulator concurrency limit", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorConcurrencyTests {
    @Test("requests beyond the limit get 429 CONCURRENCY_LIMIT_EXCEEDED while the others are processed")
    func overTheLimit() async throws {
        let limit = 3
        let extra = 5
        // Long enough that all requests overlap even on a loaded machine.
        let configuration = NetSuiteSimulator.Configuration(
            credentials: [SimulatorHarness.credentials], concurrencyLimit: limit, latency: 700...700)
        try await SimulatorHarness.run(configuration) { sim in
            let statuses = try await withThrowingTaskGroup(of: HTTPResponse.self) { group in
                for index in 0..<(limit + extra) {
                    group.addTask { try await sim.upsert("customer", "cus_\(index)", Bodies.customer("cus_\(index)")) }
                }
                return try await group.reduce(into: [HTTPResponse]()) { $0.append($1) }
            }
            let rejected = statuses.filter { $0.status == 429 }
            let written = statuses.filter { $0.status == 204 }
            #expect(written.count == limit)
            #expect(rejected.count == extra)
            let first = try #require(rejected.first)
            #expect(first.netSuiteError.code == "CONCURRENCY_LIMIT_EXCEEDED")
            #expect(first.netSuiteError.detail == "Concurrent request limit exceeded. Request blocked.")
            #expect(first.exactJSON?["status"] == .number("429"))
            #expect(first.errorClass == .rateLimited)

            let stats = sim.simulator.stats
            #expect(stats.requests == limit + extra)
            #expect(stats.rejectedOverLimit == extra)
            // Each refused request was counted at arrival, on top of the `limit` in processing.
            #expect(stats.maxInFlight == limit + 1)
            #expect(stats.inFlight == 0)
            #expect(sim.simulator.records(.customer).count == limit)
        }
    }

    @Test("requests one after the other never overlap")
    func sequentialRequests() async throws {
        try await SimulatorHarness.run { sim in
            for index in 0..<4 { _ = try await sim.createCustomer("cus_\(index)") }
            #expect(sim.simulator.stats.maxInFlight == 1)
            #expect(sim.simulator.stats.rejectedOverLimit == 0)
        }
    }
}

@Suite("NetSuiteSimulator faults", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorFaultTests {
    /// The statuses of `count` customer upserts sent one after the other (nil: no answer).
    func statuses(_ sim: SimulatorHarness, count: Int, prefix: String) async throws -> [Int?] {
        var result: [Int?] = []
        for index in 0..<count {
            // A fresh client per request: curl quietly resends a request whose reused
            // connection closed without an answer, which would draw a second fault.
            let client = HTTPClient()
            defer { client.shutdown() }
            do {
                result.append(
                    try await sim.upsert(
                        "customer", "\(prefix)\(index)", Bodies.customer("\(prefix)\(index)"), timeout: .seconds(5), client: client
                    ).status)
            } catch is HTTPClientError {
                result.append(nil)
            }
        }
        return result
    }

    @Test("the same seed gives the same faults, also after reset()")
    func seededFaults() async throws {
        let configuration = NetSuiteSimulator.Configuration(
            credentials: [SimulatorHarness.credentials], faultRate: 0.5, faults: [.serverError, .dropConnection], seed: 7)
        let (first, again) = try await SimulatorHarness.run(configuration) { sim in
            let first = try await statuses(sim, count: 16, prefix: "a")
            sim.simulator.reset()
            #expect(sim.simulator.records(.customer).isEmpty)
            #expect(sim.simulator.stats.requests == 0)
            return (first, try await statuses(sim, count: 16, prefix: "b"))
        }
        let other = try await SimulatorHarness.run(configuration) { sim in try await statuses(sim, count: 16, prefix: "a") }
        #expect(first == again)
        #expect(first == other)
        #expect(first.contains(500))
        #expect(first.contains(nil))
        #expect(first.contains(204))
        #expect(Set(first) == [500, nil, 204])
    }

    @Test("a server error comes before the write; the fault rate can be changed while running")
    func serverError() async throws {
        let configuration = NetSuiteSimulator.Configuration(
            credentials: [SimulatorHarness.credentials], faultRate: 1, faults: [.serverError])
        try await SimulatorHarness.run(configuration) { sim in
            let response = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"))
            #expect(response.status == 500)
            #expect(response.netSuiteError.code == "UNEXPECTED_ERROR")
            #expect(response.errorClass == .transient)
            #expect(sim.simulator.records(.customer).isEmpty)
            #expect(sim.simulator.stats.faultsInjected[.serverError] == 1)

            sim.simulator.setFaultRate(0)
            #expect(try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1")).status == 204)
        }
    }

    @Test("a timeout writes, frees its slot, and answers only after the delay")
    func timeout() async throws {
        let configuration = NetSuiteSimulator.Configuration(
            credentials: [SimulatorHarness.credentials], concurrencyLimit: 1, faultRate: 1, faults: [.timeout], timeoutDelay: .seconds(1))
        try await SimulatorHarness.run(configuration) { sim in
            let gaveUp = await #expect(throws: HTTPClientError.self) {
                try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"), timeout: .milliseconds(300))
            }
            #expect(gaveUp?.code == .timedOut)
            // The write happened although the client saw no answer … (waited for, not assumed:
            // on a busy machine the client's 300 ms can run out before the request is handled)
            let deadline = ContinuousClock.now + .seconds(20)
            while sim.simulator.record(.customer, externalID: "cus_1") == nil || sim.simulator.stats.inFlight > 0,
                ContinuousClock.now < deadline
            {
                try await Task.sleep(for: .milliseconds(10))
            }
            #expect(sim.simulator.record(.customer, externalID: "cus_1")?.writeCount == 1)
            // … and the delayed answer holds no slot: with a limit of 1 a read still gets in.
            #expect(sim.simulator.stats.inFlight == 0)
            #expect(try await sim.send("GET", sim.url("customer", "eid:cus_1")).status == 200)

            let started = ContinuousClock.now
            let patient = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"), timeout: .seconds(5))
            #expect(patient.status == 204)
            #expect(ContinuousClock.now - started >= .seconds(1))
            #expect(sim.simulator.record(.customer, externalID: "cus_1")?.writeCount == 2)
            #expect(sim.simulator.stats.faultsInjected[.timeout] == 2)
        }
    }

    @Test("a dropped connection gives the client a transport error, while the record was written")
    func dropConnection() async throws {
        let configuration = NetSuiteSimulator.Configuration(
            credentials: [SimulatorHarness.credentials], faultRate: 1, faults: [.dropConnection])
        try await SimulatorHarness.run(configuration) { sim in
            let dropped = await #expect(throws: HTTPClientError.self) {
                try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"))
            }
            #expect(dropped?.code == .connectionDropped)
            #expect(dropped.map { SyncError(from: $0).errorClass } == .transient)
            #expect(sim.simulator.record(.customer, externalID: "cus_1") != nil)
            #expect(sim.simulator.stats.faultsInjected[.dropConnection] == 1)
            #expect(sim.simulator.stats.writes == 1)
        }
    }
}

@Suite("NetSuiteSimulator lifecycle", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorLifecycleTests {
    @Test("stop() cuts off a delayed answer instead of waiting for it")
    func stopDuringDelayedAnswer() async throws {
        let simulator = NetSuiteSimulator(
            configuration: .init(
                credentials: [SimulatorHarness.credentials], faultRate: 1, faults: [.timeout], timeoutDelay: .seconds(30)))
        _ = try await simulator.start()
        let http = HTTPClient()
        defer { http.shutdown() }
        let sim = SimulatorHarness(
            simulator: simulator, account: try NetSuiteAccount(accountID: "1234567_SB1", baseURLOverride: simulator.baseURL), http: http)
        let pending = Task { try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1"), timeout: .seconds(60)) }
        // The record is stored before the delayed answer: its presence is the sign that the
        // request is in flight. Bounded, so a request that never arrives fails the test.
        let deadline = ContinuousClock.now + .seconds(30)
        while simulator.record(.customer, externalID: "cus_1") == nil {
            guard ContinuousClock.now < deadline else {
                pending.cancel()
                await simulator.stop()
                Issue.record("the upsert never reached the simulator")
                return
            }
            try await Task.sleep(for: .milliseconds(10))
        }

        let started = ContinuousClock.now
        await simulator.stop()
        #expect(ContinuousClock.now - started < .seconds(5))
        await #expect(throws: HTTPClientError.self) { try await pending.value }
    }

    @Test("a port in use is an error; the simulator can be started again after stop()")
    func portInUse() async throws {
        let first = NetSuiteSimulator(configuration: .init())
        let port = try await first.start()
        await #expect(throws: (any Error).self) { try await first.start() }

        let second = NetSuiteSimulator(configuration: .init())
        await #expect(throws: (any Error).self) { try await second.start(port: port) }
        await first.stop()
        #expect(try await second.start(port: port) == port)
        #expect(second.baseURL == "http://127.0.0.1:\(port)")
        await second.stop()
    }
}
