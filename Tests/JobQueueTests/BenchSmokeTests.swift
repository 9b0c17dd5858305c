import Foundation
import JobQueueTesting
import Testing

/// `ledgersync bench` runs end to end with tiny sizes and prints RESULT lines a summarizer can
/// parse. Structure only: a debug build on a shared CI machine says nothing about speed, and
/// no speed is asserted (figures come from scripts/bench.sh on a release build).
@Suite("bench smoke", .serialized, .timeLimit(.minutes(5)))
struct BenchSmokeTests {
    func results(_ stdout: String) throws -> [[String: Any]] {
        try stdout.split(separator: "\n").filter { $0.hasPrefix("RESULT ") }.map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any])
        }
    }

    @Test("bench drain: every job run once, rate and memory reported")
    func drain() async throws {
        try await withTestDatabase { database in
            let run = try await LedgersyncProcess.run(
                ["bench", "drain", "--n", "300", "--procs", "2", "--slots", "10", "--database-url", database.url],
                databaseURL: nil, timeout: .seconds(120))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let lines = try results(run.stdout)
            #expect(lines.count == 1)
            let result = try #require(lines.first)
            #expect(result["lib"] as? String == "ledgersync")
            #expect(result["cmd"] as? String == "drain")
            #expect(result["n"] as? Int == 300)
            #expect(result["processed"] as? Int == 300)
            #expect(result["completed_in_table"] as? Int == 300)
            #expect((result["per_proc"] as? [Int])?.count == 2)
            for field in ["rate", "handler_rate", "drain_s", "rss_idle_mb", "rss_peak_mb"] {
                #expect((result[field] as? Double ?? 0) > 0, "\(field) in \(result)")
            }
        }
    }

    @Test("bench drain --hold-xmin: held_xmin reported, every job run once, the holding session ended after")
    func drainHoldingXmin() async throws {
        try await withTestDatabase { database in
            let run = try await LedgersyncProcess.run(
                ["bench", "drain", "--n", "300", "--procs", "2", "--slots", "10", "--hold-xmin", "--database-url", database.url],
                databaseURL: nil, timeout: .seconds(120))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let result = try #require(try results(run.stdout).first)
            #expect(result["held_xmin"] as? Bool == true)
            #expect(result["processed"] as? Int == 300)
            #expect(result["completed_in_table"] as? Int == 300)
            #expect(
                try await database.count(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ledgersync-bench-hold'",
                    [database.name]) == 0)
        }
    }

    @Test("bench latency: percentiles in order")
    func latency() async throws {
        try await withTestDatabase { database in
            let run = try await LedgersyncProcess.run(
                ["bench", "latency", "--jobs", "20", "--warmup", "2", "--database-url", database.url],
                databaseURL: nil, timeout: .seconds(120))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let result = try #require(try results(run.stdout).first)
            #expect(result["cmd"] as? String == "latency")
            #expect(result["jobs"] as? Int == 20)
            let p50 = try #require(result["p50_ms"] as? Double)
            let p99 = try #require(result["p99_ms"] as? Double)
            let max = try #require(result["max_ms"] as? Double)
            #expect(p50 > 0 && p50 <= p99 && p99 <= max)
        }
    }

    @Test("bench monthend: a small month in customer lanes at limit 2, no refusal, the series sums to the request time")
    func monthend() async throws {
        try await withTestDatabase { database in
            // scripts/bench.sh runs `bench sync` before it on the same database: its workers
            // sealed a key check row, and the month-end's must be under the same key.
            let sync = try await LedgersyncProcess.run(
                ["bench", "sync", "--n", "10", "--procs", "1", "--limit", "2", "--latency-ms", "5", "--database-url", database.url],
                databaseURL: nil, timeout: .seconds(120))
            #expect(sync.status == 0, "stderr: \(sync.stderr)")
            // Where the slots' idle time went: 10 requests at limit 2 make 8 hand-overs.
            let syncResult = try #require(try results(sync.stdout).first)
            let slow = try #require(syncResult["slow_handovers"] as? Int)
            #expect((0...8).contains(slow), "\(syncResult)")
            let p50 = try #require(syncResult["handover_ms_p50"] as? Double)
            #expect(p50 >= 0 && p50 <= (syncResult["handover_ms_p90"] as? Double ?? -1), "\(syncResult)")
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("monthend-\(UUID().uuidString)").path
            defer { try? FileManager.default.removeItem(atPath: directory) }
            let run = try await LedgersyncProcess.run(
                [
                    "bench", "monthend", "netsuite", "--n", "30", "--limit", "2", "--median-ms", "20", "--p99-ms", "80", "--procs", "2",
                    "--slots", "4", "--plot-dir", directory, "--no-png", "--database-url", database.url,
                ],
                databaseURL: nil, timeout: .seconds(120))
            #expect(run.status == 0, "stderr: \(run.stderr)")
            let result = try #require(try results(run.stdout).first)
            #expect(result["cmd"] as? String == "monthend")
            #expect(result["provider"] as? String == "netsuite")
            #expect(result["documents"] as? Int == 30)
            #expect(result["completed"] as? Int == 30)
            #expect(result["jobs"] as? [String: Int] == ["completed": 30], "every job succeeded: \(result)")
            #expect(result["refused_429"] as? Int == 0)
            #expect((result["max_in_flight"] as? Int ?? 99) <= 2)
            // The heavy customer's lane is far longer than the 10 documents an even share would give.
            #expect((result["heavy_lane"] as? Int ?? 0) > 10)
            let requests = try #require(result["requests"] as? Int)
            #expect(requests >= 30)
            let requestSeconds = try #require(result["request_s"] as? Double)
            let seriesSeconds = try #require(result["series_request_s"] as? Double)
            // 30 requests of ≥ 1 ms each (log-normal around 20 ms).
            #expect(requestSeconds > 0.03)
            #expect(abs(seriesSeconds - requestSeconds) < 0.002, "series \(seriesSeconds) vs requests \(requestSeconds)")
            let ideal = try #require(result["ideal_s"] as? Double)
            #expect(abs(ideal - requestSeconds / 2) < 0.002)
            #expect((result["ratio"] as? Double ?? 0) > 0)
            #expect(result["png"] is NSNull)
            // The file holds the same series: its in-flight column sums to the request time too.
            let tsv = try String(contentsOfFile: try #require(result["tsv"] as? String), encoding: .utf8)
            let rows = tsv.split(separator: "\n").filter { !$0.hasPrefix("#") }.map { $0.split(separator: "\t").compactMap { Double($0) } }
            #expect(!rows.isEmpty && rows.allSatisfy { $0.count == 3 })
            #expect(abs(rows.map { $0[1] }.reduce(0, +) - requestSeconds) < 0.01)
            #expect(rows.allSatisfy { $0[2] <= 1.0001 && abs($0[2] - $0[1] / 2) < 0.001 }, "share = in flight / limit, never above 1")
        }
    }
}
