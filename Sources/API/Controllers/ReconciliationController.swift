import Foundation
import Hummingbird
import Sync

/// `GET /v1/connections/{id}/reconciliation`: the connection's last stored reconciliation
/// (the `reconcile.run` job's, or `ledgersync reconcile --store`): its counts and its drift
/// rows (at most 1000; `drift_truncated` says when more were found). 404 when the connection
/// does not exist; `reconciliation: null` when it was never reconciled.
struct ReconciliationController {
    let store: ReconcileStore
    let connections: ConnectionStore

    func register(on group: RouterGroup<APIRequestContext>) {
        group.get("connections/:id/reconciliation") { _, context -> Response in
            let id = try pathUUID(context)
            _ = try await connections.get(id)
            guard let run = try await store.lastRun(connection: id) else {
                return .json(.object([("reconciliation", .null)]))
            }
            return .json(.object([("reconciliation", Self.view(run))]))
        }
    }

    static func view(_ run: ReconcileRun) -> JSON {
        let s = run.summary
        return .object([
            ("id", .int(run.id)), ("job_id", .optional(run.jobID)), ("since", .optional(run.since)),
            ("started_at", .date(s.startedAt)), ("finished_at", .date(s.finishedAt)), ("drift", .bool(s.hasDrift)),
            (
                "counts",
                .object([
                    ("checked", .int(s.checked)), ("matched", .int(s.matched)), ("missing", .int(s.missing)), ("changed", .int(s.changed)),
                    ("changed_fields", .int(s.changedFields)), ("extra", .int(s.extra)), ("unlinked", .int(s.unlinked)),
                    ("in_flight", .int(s.inFlight)),
                ])
            ),
            ("drift_truncated", .bool(run.driftTruncated)),
            (
                "findings",
                .array(
                    run.findings.map { f in
                        .object([
                            ("kind", .string(f.kind.rawValue)), ("object_type", .string(f.objectType)),
                            ("billing_id", .optional(f.billingID)),
                            ("document_number", .optional(f.documentNumber)), ("provider_id", .optional(f.providerID)),
                            ("field", .optional(f.field)), ("expected", .optional(f.expected)), ("actual", .optional(f.actual)),
                            ("expected_minor", .optional(f.expectedMinor)), ("actual_minor", .optional(f.actualMinor)),
                            ("repairable", .bool(f.repairable)), ("action", .string(f.action)),
                        ])
                    })
            ),
        ])
    }
}
