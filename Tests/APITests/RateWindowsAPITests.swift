import API
import Foundation
import JobQueue
import JobQueueTesting
import Testing

/// Rate windows (queue migration 010) where operators look: `GET /v1/rate-windows`,
/// `/metrics` and the dashboard show the starts used and left in each current window.
@Suite(.timeLimit(.minutes(3)))
struct RateWindowsAPITests {
    @Test("/v1/rate-windows, /metrics and the dashboard show used and left per window")
    func usedAndLeft() async throws {
        try await APIHarness.with { api in
            try await api.queue.setRateWindows(
                "zoho:org_1", [RateWindow(maxStarts: 5, seconds: 365 * 86_400), RateWindow(maxStarts: 100, seconds: 366 * 86_400)])
            try await api.queue.enqueueMany((0..<3).map { _ in EnqueueRequest(kind: "k", limitKey: "zoho:org_1") })
            let claimed = try await api.pool.query("SELECT id FROM ledgersync.fetch_jobs('w', 'default', 2, 30) WHERE id IS NOT NULL")
                .rows.count
            #expect(claimed == 2)

            let answer = try await api.get("/v1/rate-windows")
            #expect(answer.status == 200, "\(answer)")
            let windows = try #require(answer.object["rate_windows"] as? [[String: Any]], "\(answer)")
            #expect(windows.map { $0["window"] as? String } == ["5/365d", "100/366d"], "\(answer)")
            #expect(windows.map { $0["used"] as? Int } == [2, 2] && windows.map { $0["left"] as? Int } == [3, 98], "\(answer)")
            #expect(windows.allSatisfy { $0["limit_key"] as? String == "zoho:org_1" })

            let samples = try PrometheusText.parse(try await api.get("/metrics").text)
            func gauge(_ name: String, _ seconds: Int) -> Double? {
                samples.first { $0.name == name && $0.labels["limit_key"] == "zoho:org_1" && $0.labels["window_seconds"] == "\(seconds)" }?
                    .value
            }
            #expect(gauge("ledgersync_rate_window_starts_used", 365 * 86_400) == 2)
            #expect(gauge("ledgersync_rate_window_starts_left", 365 * 86_400) == 3)
            #expect(gauge("ledgersync_rate_window_starts_left", 366 * 86_400) == 98)

            let cookie = try await DashboardTests.signIn(api)
            let page = try await DashboardTests.page(api, "/dashboard", cookie: cookie)
            #expect(page.status == 200)
            #expect(page.text.contains("Rate windows") && page.text.contains("zoho:org_1") && page.text.contains("5/365d"), "\(page)")
        }
    }
}
