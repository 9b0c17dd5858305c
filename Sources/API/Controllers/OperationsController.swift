import Foundation
import Hummingbird
import JobQueue
import Postgres
import Prometheus
import Sync

/// `/healthz`, `/readyz`, `/metrics` and `/openapi.json`: what load balancers, Prometheus
/// and client generators read. Only `/metrics` needs a token (it names kinds and queues).
struct OperationsController {
    let queue: JobQueue
    /// Every migration line this binary knows; ready means the database has exactly them.
    let migrations: [Migration]
    /// What this process measures of itself (HTTP requests), bootstrapped by the command.
    let processMetrics: PrometheusCollectorRegistry?

    func registerPublic(on router: Router<APIRequestContext>) {
        router.get("healthz") { _, _ -> Response in .json(.object([("status", .string("ok"))])) }
        router.get("readyz") { _, _ -> Response in try await ready() }
        router.get("openapi.json") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "application/json; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.json)))
        }
    }

    func registerProtected(on router: RouterGroup<APIRequestContext>) {
        router.get("metrics") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(string: try await metricsText())))
        }
    }

    /// A gauge of the per-scrape registry. The name is complete (unit included), so the
    /// descriptor's unit is left empty.
    private func gauge(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String, _ labels: [(String, String)] = []) -> Gauge
    {
        registry.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
    }

    func ready() async throws -> Response {
        let lines: [Migrator.LineStatus]
        do {
            lines = try await queue.pool.withConnection { try await Migrator(migrations: migrations).status($0) }
        } catch {
            return .json(
                .object([
                    ("status", .string("not_ready")), ("reason", .string("the database cannot be reached")), ("migrations", .array([])),
                ]),
                status: .serviceUnavailable)
        }
        let current = lines.allSatisfy(\.isCurrent)
        let view = JSON.array(
            lines.map { line in
                .object([
                    ("line", .string(line.line)), ("applied", .int(line.applied)), ("known", .int(line.known)),
                    ("current", .bool(line.isCurrent)),
                ])
            })
        return .json(
            .object([
                ("status", .string(current ? "ready" : "not_ready")),
                ("reason", current ? .null : .string("the database schema is not the one this binary knows: run `ledgersync migrate`")),
                ("migrations", view),
            ]),
            status: current ? .ok : .serviceUnavailable)
    }

    /// The Prometheus text: the database's view, read now (a fresh registry per scrape, so
    /// a kind or queue that has no jobs any more disappears instead of keeping its last
    /// value), then this process's own metrics.
    func metricsText() async throws -> String {
        let registry = PrometheusCollectorRegistry()
        let stats = try await queue.stats()
        for row in stats {
            gauge(
                registry, "ledgersync_jobs", "Jobs in the database, by state, kind and queue (read at scrape time).",
                [("state", row.state.rawValue), ("kind", row.kind), ("queue", row.queue)]
            ).set(Double(row.jobs))
        }
        var oldestByQueue: [String: Double] = [:]
        for row in stats { if let age = row.oldestRunnableSeconds { oldestByQueue[row.queue] = max(oldestByQueue[row.queue] ?? 0, age) } }
        for queueName in Set(stats.map(\.queue)).sorted() {
            gauge(
                registry, "ledgersync_oldest_runnable_job_age_seconds",
                "Age of the oldest job of the queue that could run now (0 when none waits).", [("queue", queueName)]
            ).set(oldestByQueue[queueName] ?? 0)
        }
        let throughput = try await queue.throughput()
        gauge(registry, "ledgersync_jobs_completed_last_minute", "Jobs completed in the last minute.")
            .set(Double(throughput.completedLastMinute))
        gauge(registry, "ledgersync_jobs_completed_last_hour", "Jobs completed in the last hour.")
            .set(Double(throughput.completedLastHour))
        for durations in try await queue.runDurations() {
            for (quantile, value) in [("0.5", durations.p50), ("0.95", durations.p95), ("0.99", durations.p99)] {
                gauge(
                    registry, "ledgersync_job_run_seconds",
                    "Run time of the jobs completed in the last hour (attempted_at to finalized_at), by kind.",
                    [("kind", durations.kind), ("quantile", quantile)]
                ).set(value)
            }
            gauge(
                registry, "ledgersync_job_run_seconds_sum_last_hour", "Total run time of the jobs completed in the last hour, by kind.",
                [("kind", durations.kind)]
            ).set(durations.secondsSum)
        }
        for errors in try await queue.recentErrors() {
            gauge(
                registry, "ledgersync_job_errors_last_hour",
                "Errors recorded in the last hour, by kind and class: provider failures (transient, rate_limited, dependency, permanent, …) and webhook deliveries (kind webhook.deliver).",
                [("kind", errors.kind), ("class", errors.errorClass)]
            ).set(Double(errors.errors))
        }
        // Rate windows (sliding, queue migration 011): starts used in the last window length
        // and left, per key and window, so an alert can watch a daily quota run down.
        for window in try await queue.rateWindows() {
            let labels = [("limit_key", window.limitKey), ("window_seconds", "\(window.seconds)")]
            gauge(
                registry, "ledgersync_rate_window_starts_used",
                "Starts of the limit key's jobs in the last window_seconds (a sliding rate window; a provider's 429 counts as all of them).",
                labels
            ).set(Double(window.used))
            gauge(
                registry, "ledgersync_rate_window_starts_left", "Starts of the limit key's jobs left in its sliding rate window now.",
                labels
            ).set(Double(window.left))
        }
        // Jobs kept with a warning (sync migration 012), e.g. lines put on a connection's
        // fallback item; a later write of the same object replaces or removes its warning.
        // The kinds that can warn are always there, 0 when none did, so an alert on `> 0`
        // has a series to watch from the start.
        var warningCounts: [String: [String: Int64]] = [JobWarning.fallbackItem: [:]]
        for kind in JobWarning.fallbackItemKinds { warningCounts[JobWarning.fallbackItem, default: [:]][kind] = 0 }
        for row in try await JobWarnings.counts(pool: queue.pool) { warningCounts[row.code, default: [:]][row.kind] = row.jobs }
        for (code, byKind) in warningCounts.sorted(by: { $0.key < $1.key }) {
            for (kind, jobs) in byKind.sorted(by: { $0.key < $1.key }) {
                gauge(
                    registry, "ledgersync_job_warnings",
                    "Jobs kept with a warning, by code and kind: fallback_item, lines put on the connection's fallback item; a later write of the same object replaces or removes it (read at scrape time).",
                    [("code", code), ("kind", kind)]
                ).set(Double(jobs))
            }
        }
        var text = registry.emitToString()
        if let processMetrics { text += processMetrics.emitToString() }
        return text
    }
}
