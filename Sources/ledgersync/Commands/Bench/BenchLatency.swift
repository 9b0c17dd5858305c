import ArgumentParser
import Foundation
import Histogram
import JobQueue
import Logging
import Postgres
import ServiceLifecycle
import Synchronization

struct BenchLatency: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "latency",
        abstract: "Pickup latency on an idle queue: enqueue → handler start, one job at a time.",
        discussion: """
            As qbench.py: one process runs a worker (a WorkerPool listening for NOTIFY, the same engine as `ledgersync worker`) and an enqueuer on its own connection. Each job is enqueued after the previous one has started and a --gap-ms idle gap; latency is the handler's start minus the moment just before the enqueue call, both on this process's monotonic clock. The first --warmup jobs are dropped. Percentiles from HdrHistogram (microsecond resolution).
            """)

    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option var jobs = 200
    @Option var warmup = 10
    @Option var gapMs = 20.0
    @Option(help: "Slots of the worker.") var slots = 10

    func validate() throws {
        guard jobs > 0, warmup >= 0, gapMs >= 0, slots > 0 else { throw ValidationError("--jobs, --slots must be positive") }
    }

    /// The handler: reports the instant it starts, nothing else.
    struct Probe: JobHandler {
        struct Args: Decodable, Sendable {}
        static let kind = "bench.latency"
        let started: AsyncStream<ContinuousClock.Instant>.Continuation
        func run(_ args: Args, context: JobContext) async throws {
            started.yield(ContinuousClock.now)
        }
    }

    func run() async throws {
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: 8)
        try await Bench.reset(pool)
        let (starts, started) = AsyncStream.makeStream(of: ContinuousClock.Instant.self)
        var registry = JobRegistry()
        registry.register(Probe(started: started))
        let logger = Logger(label: "ledgersync.bench.latency")
        let worker = WorkerPool(
            pool: pool, registry: registry,
            options: WorkerOptions(queues: ["default"], concurrency: slots),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        let running = Task { try await group.run() }
        try await Task.sleep(for: .seconds(1)) // let the worker reach its idle LISTEN state

        let enqueuer = try await Connection.connect(url: url, applicationName: "ledgersync-bench-enqueuer")
        let queue = JobQueue(pool: pool)
        var latencies = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var enqueueCalls = Histogram<UInt64>(highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: .three)
        var iterator = starts.makeAsyncIterator()
        let watchdog = Task {
            try await Task.sleep(for: .seconds(60 + Double(jobs + warmup) * (gapMs / 1000 + 1)))
            FileHandle.standardError.write(Data("ledgersync bench latency: a job did not start in time\n".utf8))
            Foundation.exit(1)
        }
        func micros(_ duration: Duration) -> UInt64 { UInt64(max(0, duration.seconds * 1_000_000).rounded()) }
        for index in 0..<(jobs + warmup) {
            try await Task.sleep(for: .milliseconds(gapMs))
            let before = ContinuousClock.now
            try await queue.enqueue(EnqueueRequest(kind: Probe.kind), on: enqueuer)
            let after = ContinuousClock.now
            guard let start = await iterator.next() else { break }
            if index >= warmup {
                _ = latencies.record(micros(start - before))
                _ = enqueueCalls.record(micros(after - before))
            }
        }
        watchdog.cancel()
        enqueuer.close()
        await group.triggerGracefulShutdown()
        _ = try? await running.value
        func ms(_ micros: UInt64) -> Double { Bench.round(Double(micros) / 1000, 3) }
        Bench.emit([
            "cmd": "latency", "jobs": jobs,
            "p50_ms": ms(latencies.valueAtPercentile(50)), "p90_ms": ms(latencies.valueAtPercentile(90)),
            "p99_ms": ms(latencies.valueAtPercentile(99)), "max_ms": ms(latencies.max),
            "enqueue_call_p50_ms": ms(enqueueCalls.valueAtPercentile(50)),
        ])
        try await Bench.reset(pool)
        await pool.close()
    }
}
