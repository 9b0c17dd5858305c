import ArgumentParser
import Foundation
import JobQueue
import Postgres
import Sync

/// `ledgersync status list|show`: the sync status of billing objects (sync migration 016,
/// docs/sync-status.md), as `GET /v1/sync-status` answers it.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the sync status of billing objects: pending, synced, failed or needs_action, with the provider id and link.",
        subcommands: [List.self, Show.self])
}

/// A status as `--json` prints it (the API's field names).
private struct StatusJSON: Encodable {
    let status: SyncStatus
    var document: String?
    var jobs: [JobRecord]?

    enum CodingKeys: String, CodingKey {
        case connectionID = "connection_id"
        case connectionName = "connection_name"
        case provider
        case objectType = "object_type"
        case billingID = "billing_id"
        case documentNumber = "document_number"
        case customerBillingID = "customer_billing_id"
        case state
        case providerID = "provider_id"
        case providerLink = "provider_link"
        case lastJobID = "last_job_id"
        case lastJobKind = "last_job_kind"
        case lastError = "last_error"
        case lastErrorCode = "last_error_code"
        case documentDigest = "document_digest"
        case syncedAt = "synced_at"
        case updatedAt = "updated_at"
        case document, jobs
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(status.connectionID.uuidString.lowercased(), forKey: .connectionID)
        try c.encode(status.connectionName, forKey: .connectionName)
        try c.encode(status.provider, forKey: .provider)
        try c.encode(status.objectType, forKey: .objectType)
        try c.encode(status.billingID, forKey: .billingID)
        try c.encode(status.documentNumber, forKey: .documentNumber)
        try c.encode(status.customerBillingID, forKey: .customerBillingID)
        try c.encode(status.state.rawValue, forKey: .state)
        try c.encode(status.providerID, forKey: .providerID)
        try c.encode(status.providerLink, forKey: .providerLink)
        try c.encode(status.lastJobID, forKey: .lastJobID)
        try c.encode(status.lastJobKind, forKey: .lastJobKind)
        try c.encode(status.lastError, forKey: .lastError)
        try c.encode(status.lastErrorCode, forKey: .lastErrorCode)
        try c.encode(status.documentDigest, forKey: .documentDigest)
        try c.encode(status.syncedAt.map(format), forKey: .syncedAt)
        try c.encode(format(status.updatedAt), forKey: .updatedAt)
        if let document { try c.encode(document, forKey: .document) }
        if let jobs { try c.encode(jobs, forKey: .jobs) }
    }
}

extension StatusCommand {
    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List billing objects' sync status, by connection, object type and billing id.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Only this billing id (Lago's lago_id).") var billingID: String?
        @Option(help: "Only this document number (INV-2026-0042; a customer's external id).") var number: String?
        @Option(help: "Only the objects of this billing customer (its lago_id).") var customer: String?
        @Option(help: "Only these states (comma-separated: pending,synced,failed,needs_action).") var state: String?
        @Option(help: "Only this connection (its id).") var connection: String?
        @Option(help: "Only this object type (customer, invoice, sales_order, credit_memo, payment).") var objectType: String?
        @Option(help: "At most this many.") var limit = 100
        @Flag(help: "Print JSON.") var json = false

        func states() throws -> [SyncStatus.State]? {
            try state.map { text in
                try text.split(separator: ",").map { name in
                    let trimmed = name.trimmingCharacters(in: .whitespaces)
                    guard let value = SyncStatus.State(rawValue: trimmed) else {
                        throw ValidationError(
                            "unknown state '\(trimmed)' (states: \(SyncStatus.State.allCases.map(\.rawValue).joined(separator: ", ")))")
                    }
                    return value
                }
            }
        }

        func validate() throws {
            _ = try states()
            guard (1...10_000).contains(limit) else { throw ValidationError("--limit must be from 1 to 10000, got \(limit)") }
            if let connection, UUID(uuidString: connection) == nil {
                throw ValidationError("--connection must be a connection id (a UUID)")
            }
            if let objectType, !SyncStatusStore.objectTypes.contains(objectType) {
                throw ValidationError("--object-type must be one of \(SyncStatusStore.objectTypes.joined(separator: ", "))")
            }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let rows = try await SyncStatusStore(pool: pool).list(
                SyncStatusFilter(
                    billingID: billingID, documentNumber: number, customerID: customer, states: try states(),
                    connectionID: connection.flatMap(UUID.init(uuidString:)), objectType: objectType, limit: limit))
            await pool.close()
            if json { return try printJSON(rows.map { StatusJSON(status: $0) }) }
            guard !rows.isEmpty else { return print("no sync status matches") }
            var table = [["CONNECTION", "OBJECT", "BILLING ID", "NUMBER", "STATE", "PROVIDER ID", "JOB", "LAST ERROR"]]
            for row in rows {
                table.append([
                    truncate(row.connectionName, 24), row.objectType, truncate(row.billingID, 32), truncate(row.documentNumber ?? "", 20),
                    row.state.rawValue, row.providerID ?? "", row.lastJobID.map(String.init) ?? "",
                    truncate(row.lastError.map { (row.lastErrorCode.map { "[\($0)] " } ?? "") + $0 } ?? "", 70),
                ])
            }
            printTable(table)
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Show one billing object's sync status, its link, last document written and jobs.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection (its id).") var connection: String
        @Argument(help: "The object type (customer, invoice, sales_order, credit_memo, payment).") var objectType: String
        @Argument(help: "The billing id (lago_id).") var billingID: String
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard UUID(uuidString: connection) != nil else { throw ValidationError("--connection must be a connection id (a UUID)") }
            guard SyncStatusStore.objectTypes.contains(objectType) else {
                throw ValidationError("the object type must be one of \(SyncStatusStore.objectTypes.joined(separator: ", "))")
            }
        }

        func run() async throws {
            guard let id = UUID(uuidString: connection) else { throw ValidationError("--connection must be a connection id (a UUID)") }
            let pool = try await database.openPool(maxConnections: 1)
            let store = SyncStatusStore(pool: pool)
            let status = try await store.get(connection: id, objectType: objectType, billingID: billingID)
            var jobs: [JobRecord] = []
            if status != nil {
                let queue = JobQueue(pool: pool)
                for jobID in try await store.jobIDs(connection: id, objectType: objectType, billingID: billingID) {
                    if let job = try await queue.job(id: jobID) { jobs.append(job) }
                }
            }
            await pool.close()
            guard let status else { throw CLIError.notFound("no sync status for \(objectType) \(billingID) on connection \(connection)") }
            if json { return try printJSON(StatusJSON(status: status, document: status.document, jobs: jobs)) }
            print(
                "\(status.objectType) \(status.billingID)" + (status.documentNumber.map { " (\($0))" } ?? "")
                    + "  [\(status.state.rawValue)]")
            print("  connection \(status.connectionName) (\(status.provider), \(status.connectionID.uuidString.lowercased()))")
            if let customer = status.customerBillingID, status.objectType != "customer" { print("  customer \(customer)") }
            if let providerID = status.providerID { print("  provider id \(providerID)") }
            if let link = status.providerLink { print("  link \(link)") }
            if let syncedAt = status.syncedAt {
                print("  last synced \(format(syncedAt))" + (status.documentDigest.map { ", document sha256 \($0)" } ?? ""))
            }
            if let error = status.lastError { print("  last error" + (status.lastErrorCode.map { " [\($0)]" } ?? "") + ": \(error)") }
            print("  updated \(format(status.updatedAt))")
            if jobs.isEmpty {
                print("  jobs: none kept")
            } else {
                print("  jobs (newest first):")
                for job in jobs {
                    let lastError = job.state == .completed ? "" : job.errors.last.map { " — \($0.class): \($0.message)" } ?? ""
                    print("    \(job.id)  \(job.kind)  [\(job.state.rawValue)]  \(format(job.createdAt))\(truncate(lastError, 90))")
                }
            }
        }
    }
}
