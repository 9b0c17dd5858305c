import Foundation
import HTTPClient
import JobQueueTesting
import Simulators
import Sync
import Testing

/// A request that times out at the client is still being processed by NetSuite, and still
/// counts against the account's concurrency limit there. These tests run real worker
/// processes against a simulator whose every answer takes longer than the workers' request
/// timeout, and read how many requests it had in processing at once from its inspection
/// endpoint (the simulator keeps processing a request whose caller went away, as NetSuite
/// does, and counts it until its latency has passed).
@Suite("Limit slots of timed-out requests end to end", .serialized, .timeLimit(.minutes(5)))
struct LimitHoldTests {
    /// Every answer takes this long; the workers give up after `requestTimeout`.
    static let latencyMilliseconds = 1500.0
    static let requestTimeout = "200ms"
    static let limit = 5

    @Test("simulator slower than the client's timeout, limit 5, 4 workers: it never sees more than 5 requests at once")
    func timedOutRequestsKeepTheirSlot() async throws {
        // The hold outlasts the simulator's processing (1.5 s from arrival, the hold starts
        // 0.2 s after sending) with a margin for a loaded machine delivering a request late.
        let stats = try await Self.run(netsuiteServerTimeout: "4s", requests: 15)
        #expect(stats.maxInFlight <= Self.limit, "the simulator saw \(stats.maxInFlight) requests at once; the limit is \(Self.limit)")
        #expect(stats.rejectedOverLimit == 0, "\(stats.rejectedOverLimit) requests were refused with 429 for being over the limit")
        #expect(stats.requests >= 15)
    }

    @Test("the same with a hold shorter than the provider's processing: the account sees more than its limit")
    func holdShorterThanProcessingOverrunsTheLimit() async throws {
        // The control: shows the test above can fail, i.e. that the simulator does go on
        // counting requests whose caller gave up, and that only the hold kept it at 5.
        let stats = try await Self.run(netsuiteServerTimeout: "100ms", requests: 15)
        #expect(stats.maxInFlight > Self.limit, "the simulator saw at most \(stats.maxInFlight) requests at once")
    }

    struct Stats {
        var requests = 0
        var maxInFlight = 0
        var rejectedOverLimit = 0
    }

    /// Enqueues customer pushes, starts 4 worker processes, waits until the simulator has
    /// received `requests` requests, and returns its counters.
    static func run(netsuiteServerTimeout: String, requests: Int) async throws -> Stats {
        let configuration = SyncHarness.simulatorConfiguration(latency: latencyMilliseconds...latencyMilliseconds)
        var result = Stats()
        try await SyncHarness.with(simulator: configuration, concurrencyLimit: limit) { harness in
            let customers = BillingScenario.generate(customers: 40, invoicesPerCustomer: 0, creditNoteEvery: 0, payments: 0).customers
            for customer in customers { try await harness.enqueue(.customerSync, customer.json) }

            let workers = try harness.startWorkers(
                4, concurrency: 4, requestTimeout: requestTimeout, netsuiteServerTimeout: netsuiteServerTimeout)
            defer { for worker in workers { worker.stop() } }
            let http = HTTPClient()
            defer { http.shutdown() }

            let reached = try await eventually(timeout: .seconds(120), every: .milliseconds(100)) {
                result = try await stats(of: harness, http: http)
                return result.requests >= requests
            }
            #expect(
                reached,
                "the simulator got \(result.requests) requests\n\(workers.map { String($0.output.suffix(1500)) }.joined(separator: "\n---\n"))"
            )
            // The requests did time out at the client: the jobs were retried with that error.
            let timedOut = try await harness.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE errors::text LIKE '%(curl 28)%'")
            #expect(timedOut > 0, "no job shows a client-side timeout")
            // Every worker is still running: a hold is no reason to exit.
            for worker in workers { #expect(worker.process.isRunning) }
        }
        return result
    }

    /// The simulator's counters, read over HTTP from its inspection endpoint.
    static func stats(of harness: SyncHarness, http: HTTPClient) async throws -> Stats {
        let response = try await http.execute(HTTPRequest(method: "GET", url: harness.simulator.baseURL + "/_simulator/stats"))
        let object = try #require(try JSONSerialization.jsonObject(with: response.body) as? [String: Any])
        return Stats(
            requests: (object["requests"] as? NSNumber)?.intValue ?? -1,
            maxInFlight: (object["maxInFlight"] as? NSNumber)?.intValue ?? -1,
            rejectedOverLimit: (object["rejectedOverLimit"] as? NSNumber)?.intValue ?? -1)
    }
}
