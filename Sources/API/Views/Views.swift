import Foundation
import JobQueue
import Sync

/// The JSON shapes of the API's answers, one function per resource, so each shape is
/// written once and matches its schema in docs/openapi.json.
enum Views {
    static func job(_ job: JobRecord) -> JSON { self.job(job, waitingFor: nil, showsWait: false, warnings: nil) }

    /// A job as GET /v1/jobs/{id} shows it: with `waiting_for`, what a waiting sync job
    /// waits for (null when it waits for nothing), and `warnings`, what a sync job that
    /// succeeded left for a person to look at (sync migration 012; empty when nothing).
    static func job(_ job: JobRecord, waitingFor wait: DependencyWaits.Wait?, warnings: [JobWarning] = []) -> JSON {
        self.job(job, waitingFor: wait, showsWait: true, warnings: warnings)
    }

    private static func job(_ job: JobRecord, waitingFor wait: DependencyWaits.Wait?, showsWait: Bool, warnings: [JobWarning]?) -> JSON {
        var fields: [(String, JSON)] = [
            ("id", .int(job.id)),
            ("state", .string(job.state.rawValue)),
            ("kind", .string(job.kind)),
            ("queue", .string(job.queue)),
            ("priority", .int(job.priority)),
            ("attempt", .int(job.attempt)),
            ("max_attempts", .int(job.maxAttempts)),
            ("run_at", .date(job.runAt)),
            ("created_at", .date(job.createdAt)),
            ("attempted_at", .optional(job.attemptedAt)),
            ("finalized_at", .optional(job.finalizedAt)),
            ("locked_by", .optional(job.lockedBy)),
            ("unique_key", .optional(job.uniqueKey)),
            ("serial_key", .optional(job.serialKey)),
            ("limit_key", .optional(job.limitKey)),
            // Parsed from the stored text, not from `args`, so numbers keep every digit.
            ("args", (try? JSONParser.parse(Array(job.argsText.utf8))) ?? JSON(job.args)),
            ("billing_object", billingObject(of: job)),
            ("errors", .array(job.errors.map(jobError))),
            // A completed job has no current error: the errors of its earlier attempts stay
            // in `errors`, but showing one as "last error" read as if it had failed.
            ("last_error", job.state == .completed ? .null : job.errors.last.map(jobError) ?? .null),
        ]
        if showsWait { fields.append(("waiting_for", wait.map(waitingFor) ?? .null)) }
        if let warnings { fields.append(("warnings", .array(warnings.map(jobWarning)))) }
        return .object(fields)
    }

    static func jobWarning(_ warning: JobWarning) -> JSON {
        .object([
            ("code", .string(warning.code)),
            ("message", .string(warning.message)),
            ("count", .int(Int64(warning.count))),
            ("created_at", .optional(warning.createdAt)),
            ("updated_at", .optional(warning.updatedAt)),
        ])
    }

    static func waitingFor(_ wait: DependencyWaits.Wait) -> JSON {
        .object([
            ("object_type", .string(wait.objectType)),
            ("billing_id", .string(wait.billingID)),
            ("job_id", .optional(wait.awaitedJobID)),
            ("job_kind", .optional(wait.awaitedKind)),
            ("since", .date(wait.since)),
            ("parked", .bool(wait.parked)),
        ])
    }

    /// The billing document a sync job is about, from its args (`ProviderErrorEvent.Subject`,
    /// the one place that reads it); null for other kinds.
    static func billingObject(of job: JobRecord) -> JSON {
        let subject = ProviderErrorEvent.Subject(kind: job.kind, args: job.argsText)
        guard let document = subject.objectType else { return .null }
        return .object([
            ("document", .string(document)),
            ("billing_id", .optional(subject.objectID)),
            ("number", .optional(subject.objectNumber)),
            ("customer_id", .optional(subject.customerID)),
        ])
    }

    static func jobError(_ entry: JobOutcome.ErrorEntry) -> JSON {
        .object([
            ("at", .date(entry.at)),
            ("attempt", .int(entry.attempt)),
            ("class", .string(entry.class)),
            ("message", .string(entry.message)),
            ("code", .optional(entry.code)),
            ("worker", .optional(entry.worker)),
            ("retry_in", entry.retryIn.map(JSON.double) ?? .null),
        ])
    }

    /// A connection without its secrets: its driver's hints (the auth kind, the first
    /// characters of ids), enough to tell connections apart (as `ledgersync connections list`).
    static func connection(_ connection: AccountingConnection, hints: [(name: String, value: String)]) -> JSON {
        let id = connection.id?.uuidString.lowercased() ?? ""
        let settings = connection.settings
        return .object([
            ("id", .string(id)),
            ("provider", .string(connection.provider)),
            ("name", .string(connection.name)),
            ("account_id", .string(connection.accountID)),
            (
                "settings",
                .object(
                    [
                        ("objects_to_sync", .array(settings.objectsToSync.map(JSON.string))),
                        ("base_url", .optional(settings.baseURL)),
                        ("concurrency_limit", .int(settings.concurrencyLimit)),
                    ] + Views.changeReadingSettings(settings)
                        + settings.extra.sorted { $0.key < $1.key }.map { ($0.key, JSON.string($0.value)) })
            ),
            ("limit_key", .string(connection.id.map { SyncEnvironment.limitKey(provider: connection.provider, connection: $0) } ?? "")),
            ("secret_hints", .object(hints.map { ($0.name, JSON.string($0.value)) })),
            ("created_at", .optional(connection.createdAt)),
            ("updated_at", .optional(connection.updatedAt)),
        ])
    }

    static func mapping(_ mapping: Mapping) -> JSON {
        .object([
            ("connection_id", .string(mapping.connectionID.uuidString.lowercased())),
            ("kind", .string(mapping.kind.rawValue)),
            ("billing_key", .string(mapping.billingKey)),
            ("record_type", .optional(mapping.recordType)),
            ("provider_id", .string(mapping.providerID)),
            ("provider_name", .optional(mapping.providerName)),
            ("account_code", .optional(mapping.accountCode)),
            ("details", .object(mapping.details.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSON.string($0.value)) })),
        ])
    }

    /// An endpoint without its signing secret.
    static func webhookEndpoint(_ endpoint: WebhookEndpoint) -> JSON {
        .object([
            ("id", .string(endpoint.id.uuidString.lowercased())),
            ("url", .string(endpoint.url)),
            ("event_types", endpoint.eventTypes.map { .array($0.map(JSON.string)) } ?? .null),
            ("disabled", .bool(endpoint.disabled)),
            ("created_at", .date(endpoint.createdAt)),
        ])
    }

    static func externalRef(_ ref: ExternalRef) -> JSON {
        .object([
            ("connection_id", .string(ref.connectionID.uuidString.lowercased())),
            ("object_type", .string(ref.objectType.rawValue)),
            ("billing_id", .string(ref.billingID)),
            ("provider_id", .string(ref.providerID)),
            ("customer_billing_id", .optional(ref.customerBillingID)),
            ("synced_at", .date(ref.syncedAt)),
            ("linked_at", ref.linkedAt.map(JSON.date) ?? .null),
        ])
    }
}
