import Foundation
import Hummingbird
import Sync

extension DashboardController {
    /// `/dashboard/reconciliation`: the last reconciliation of every connection (the
    /// `reconcile.run` job's or `ledgersync reconcile --store`'s): its counts and its first
    /// drift rows with what to do about each (docs/reconciliation.md).
    func reconciliationPage(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let shown = 50
        let runs = try await ReconcileStore(pool: queue.pool).lastRuns(limit: shown)
        var html = "<section><h2>Reconciliation</h2>"
        if runs.isEmpty { html += "<p>No connections.</p>" }
        for entry in runs {
            html +=
                "<h3>\(Self.escape(entry.name)) <small>\(Self.escape(entry.provider)) \(entry.connectionID.uuidString.lowercased())</small></h3>"
            guard let run = entry.run else {
                html +=
                    "<p>Never reconciled. Enqueue a <code>reconcile.run</code> job or run <code>ledgersync reconcile --store</code>.</p>"
                continue
            }
            let s = run.summary
            html += "<table class=facts>"
            let facts: [(String, String)] = [
                ("Finished", Self.time(s.finishedAt)), ("Result", s.hasDrift ? "drift" : "clean"),
                ("Checked", "\(s.checked) (\(s.matched) matched)"), ("Missing", "\(s.missing)"),
                ("Changed", "\(s.changed) objects, \(s.changedFields) fields"), ("Extra", "\(s.extra)"), ("Unlinked", "\(s.unlinked)"),
                ("In flight", "\(s.inFlight)"),
            ]
            for (name, value) in facts { html += "<tr><th>\(name)</th><td>\(Self.escape(value))</td></tr>" }
            if let job = run.jobID { html += "<tr><th>Job</th><td><a href=\"/dashboard/jobs/\(job)\">job \(job)</a></td></tr>" }
            html += "</table>"
            if !run.findings.isEmpty {
                html += "<table><tr><th>Kind</th><th>Object</th><th>Billing id</th><th>Provider id</th><th>Field</th><th>Expected</th>"
                html += "<th>Actual</th><th>What to do</th></tr>"
                for f in run.findings {
                    let cells = [
                        f.kind.rawValue, f.objectType, f.billingID ?? "", f.providerID ?? "", f.field ?? "", f.expected ?? "",
                        f.actual ?? "",
                        f.action,
                    ]
                    html += "<tr>" + cells.map { "<td>\(Self.escape($0))</td>" }.joined() + "</tr>"
                }
                html += "</table>"
                let total = s.missing + s.changedFields + s.extra + s.unlinked
                if total > run.findings.count {
                    html +=
                        "<p>\(run.findings.count) of \(total) shown; <code>GET /v1/connections/{id}/reconciliation</code> has up to 1000.</p>"
                }
            }
        }
        html += "</section>"
        return Self.page(title: "Reconciliation", body: html)
    }
}
