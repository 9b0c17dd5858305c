import Foundation
import HTTPClient
import NetSuite
import Simulators
import Testing

@Suite("simulator latency distributions and request log", .timeLimit(.minutes(2)))
struct LatencyDistributionTests {
    /// The sorted draws of `count` latencies from one seed.
    func draws(_ distribution: LatencyDistribution, range: ClosedRange<Double> = 0...0, seed: UInt64, count: Int) -> [Double] {
        var random = SplitMix64(seed: seed)
        return (0..<count).map { _ in distribution.draw(range: range, &random) }.sorted()
    }

    @Test("log-normal draws have the median and p99 asked (month-end: 400 ms and 2 s), whatever the seed")
    func logNormalPercentiles() {
        for seed: UInt64 in [1, 2026, 0xDEAD_BEEF] {
            let values = draws(.logNormal(medianMs: 400, p99Ms: 2000), seed: seed, count: 50_000)
            let median = values[values.count / 2]
            let p99 = values[values.count * 99 / 100]
            // 50,000 draws: the sample median's error is about 0.5%, the p99's about 2%.
            #expect(abs(median - 400) / 400 < 0.03, "median \(median) (seed \(seed))")
            #expect(abs(p99 - 2000) / 2000 < 0.08, "p99 \(p99) (seed \(seed))")
            #expect(values.first! > 0)
            // Skewed: the mean is above the median (exp(sigma² / 2) ≈ 1.27 times it).
            let mean = values.reduce(0, +) / Double(values.count)
            #expect(mean > 1.15 * median && mean < 1.4 * median, "mean \(mean)")
        }
    }

    @Test("the same seed gives the same latencies; another seed others")
    func seeded() {
        let a = draws(.logNormal(medianMs: 400, p99Ms: 2000), seed: 7, count: 100)
        #expect(a == draws(.logNormal(medianMs: 400, p99Ms: 2000), seed: 7, count: 100))
        #expect(a != draws(.logNormal(medianMs: 400, p99Ms: 2000), seed: 8, count: 100))
    }

    @Test("uniform stays the range's: every draw inside it, spread over it")
    func uniformRange() {
        let values = draws(.uniform, range: 10...30, seed: 3, count: 10_000)
        #expect(values.first! >= 10 && values.last! <= 30)
        #expect(values.first! < 11 && values.last! > 29)
        #expect(abs(values[values.count / 2] - 20) < 0.5)
    }

    @Test("per-second busy time sums to the spans' total; starts are counted in their second")
    func perSecondSeries() {
        let spans = [
            RequestSpan(start: 100.5, end: 101.5), RequestSpan(start: 100.0, end: 103.0), RequestSpan(start: 102.25, end: 102.75),
        ]
        let busy = RequestSpan.busyPerSecond(spans, origin: 100, count: 4)
        #expect(busy == [1.5, 1.5, 1.5, 0])
        #expect(busy.reduce(0, +) == spans.reduce(0) { $0 + $1.end - $1.start })
        #expect(RequestSpan.startsPerSecond(spans, origin: 100, count: 4) == [2, 0, 1, 0])
    }

    @Test("the simulator logs each admitted request's span, with its seeded log-normal time; a refused one not")
    func requestLog() async throws {
        var configuration = NetSuiteSimulator.Configuration(credentials: [SimulatorHarness.credentials], concurrencyLimit: 1)
        configuration.latencyDistribution = .logNormal(medianMs: 30, p99Ms: 60)
        try await SimulatorHarness.run(configuration) { sim in
            for index in 0..<5 {
                let response = try await sim.upsert("customer", "cus_\(index)", Bodies.customer("cus_\(index)"))
                #expect(response.status == 204)
            }
            let log = sim.simulator.requestLog
            #expect(log.count == 5)
            for span in log {
                // At least the drawn time (log-normal: above a tenth of the median nearly always).
                #expect(span.end - span.start > 0.003 && span.end - span.start < 2, "\(span)")
            }
            #expect(zip(log, log.dropFirst()).allSatisfy { $0.end <= $1.start }, "one at a time under limit 1")
        }
    }
}
