import Foundation
import Hummingbird
import JobQueue
import Sync

/// `/dashboard/sync-status`: a search box for a billing id or document number, and a page per
/// billing object with its status, its link at the provider and its jobs (sync migration 016,
/// docs/sync-status.md).
extension DashboardController {
    static let syncStatusPageSize = 100

    func registerSyncStatus(on pages: RouterGroup<APIRequestContext>) {
        pages.get("sync-status") { request, _ -> Response in try await syncStatusSearch(request) }
        pages.get("sync-status/:connection_id/:object_type/:billing_id") { request, context -> Response in
            try await syncStatusPage(request, context)
        }
    }

    static func syncStatusForm(_ query: String?) -> String {
        "<form class=filters method=get action=\"/dashboard/sync-status\"><label>Billing id or number <input name=q size=40 value=\"\(escape(query ?? ""))\"></label> <button>Search</button></form>"
    }

    /// The objects whose billing id or document number is `q` exactly, on every connection;
    /// without `q`, those that need a person (needs_action, failed).
    func syncStatusSearch(_ request: Request) async throws -> Response {
        let store = SyncStatusStore(pool: queue.pool)
        let q = request.uri.queryParameters.get("q").map { String($0.prefix(255)).trimmingCharacters(in: .whitespaces) }.flatMap {
            $0.isEmpty ? nil : $0
        }
        var rows: [SyncStatus]
        var title: String
        if let q {
            rows = try await store.list(SyncStatusFilter(billingID: q, limit: Self.syncStatusPageSize))
            for row in try await store.list(SyncStatusFilter(documentNumber: q, limit: Self.syncStatusPageSize))
            where !rows.contains(where: {
                $0.connectionID == row.connectionID && $0.objectType == row.objectType && $0.billingID == row.billingID
            }) {
                rows.append(row)
            }
            title = "Sync status of “\(Self.escape(q))”"
        } else {
            rows = try await store.list(SyncStatusFilter(states: [.needsAction, .failed], limit: Self.syncStatusPageSize))
            title = "Not synced: needs action or failed"
        }
        var html = "<section><h2>\(title)</h2>" + Self.syncStatusForm(q)
        if rows.isEmpty {
            html += "<p>No billing object matches.</p>"
        } else {
            html +=
                "<table class=sync-status><tr><th>Object</th><th>Number</th><th>Connection</th><th>State</th><th>Provider id</th><th>Last error</th><th>Updated</th></tr>"
            for row in rows {
                html +=
                    "<tr><td><a href=\"\(Self.statusPath(row))\">\(Self.escape(row.objectType)) \(Self.escape(row.billingID))</a></td>"
                    + "<td>\(Self.escape(row.documentNumber ?? ""))</td><td>\(Self.escape(row.connectionName)) <span class=meta>(\(Self.escape(row.provider)))</span></td>"
                    + "<td><span class=\"state \(Self.stateClass(row.state))\">\(row.state.rawValue)</span></td>"
                    + "<td>\(Self.providerLink(row))</td><td class=message>\(Self.escape(String((row.lastError ?? "").prefix(160))))</td>"
                    + "<td>\(Self.time(row.updatedAt))</td></tr>"
            }
            html += "</table>"
        }
        html += "</section>"
        return Self.page(title: "Sync status", body: html)
    }

    func syncStatusPage(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let store = SyncStatusStore(pool: queue.pool)
        guard let connection = UUID(uuidString: context.parameters.get("connection_id") ?? ""),
            let objectType = context.parameters.get("object_type"), SyncStatusStore.objectTypes.contains(objectType),
            let billingID = (context.parameters.get("billing_id") ?? "").removingPercentEncoding, !billingID.isEmpty,
            let status = try await store.get(connection: connection, objectType: objectType, billingID: String(billingID.prefix(255)))
        else {
            return Self.page(title: "No such billing object", body: "<p>No sync status for this billing object.</p>", status: .notFound)
        }
        var html = "<section><h2>\(Self.escape(status.objectType)) \(Self.escape(status.billingID))"
        html += " <span class=\"state \(Self.stateClass(status.state))\">\(status.state.rawValue)</span></h2>"
        html += Self.syncStatusForm(nil) + "<table class=facts>"
        let facts: [(String, String?)] = [
            ("Number", status.documentNumber), ("Customer", status.objectType == "customer" ? nil : status.customerBillingID),
            ("Connection", "\(status.connectionName) (\(status.provider))"), ("Provider id", status.providerID),
            ("Last synced", status.syncedAt.map(Self.time)), ("Document SHA-256", status.documentDigest),
            ("Last error", status.lastError.map { (status.lastErrorCode.map { "[\($0)] " } ?? "") + $0 }),
            ("Updated", Self.time(status.updatedAt)),
        ]
        for (name, value) in facts {
            if let value { html += "<tr><th>\(name)</th><td>\(Self.escape(value))</td></tr>" }
        }
        if status.providerLink != nil { html += "<tr><th>At the provider</th><td>\(Self.providerLink(status))</td></tr>" }
        html += "</table><h3>Jobs</h3>"
        var jobs: [JobRecord] = []
        for id in try await store.jobIDs(connection: connection, objectType: objectType, billingID: status.billingID) {
            if let job = try await queue.job(id: id) { jobs.append(job) }
        }
        html += jobs.isEmpty ? "<p>None kept.</p>" : jobTable(jobs, request: request, back: Self.statusPath(status), context: context)
        if let document = status.document { html += "<h3>Last document written</h3><pre>\(Self.escape(document))</pre>" }
        html += "</section>"
        return Self.page(title: "\(status.objectType) \(status.billingID)", body: html)
    }

    static func statusPath(_ status: SyncStatus) -> String {
        "/dashboard/sync-status/\(status.connectionID.uuidString.lowercased())/\(url(status.objectType))/\(url(status.billingID))"
    }

    static func stateClass(_ state: SyncStatus.State) -> String {
        switch state {
        case .synced: "completed"
        case .pending: "retryable"
        case .failed, .needsAction: "failed"
        }
    }

    /// The provider id, linked to the record in the provider's web UI when the link is https.
    static func providerLink(_ status: SyncStatus) -> String {
        let id = escape(status.providerID ?? "")
        guard let link = status.providerLink, link.hasPrefix("https://") else { return id }
        return "<a href=\"\(escape(link))\" rel=\"noopener noreferrer\" target=_blank>\(id.isEmpty ? "open" : id)</a>"
    }
}
