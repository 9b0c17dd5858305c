import ArgumentParser
import ExactJSON
import Foundation
import JobQueue
import Postgres
import Sync

/// `ledgersync records create|get|update|upsert|delete|query`: generic record actions at a
/// connection's provider, as `record.action` jobs (docs/record-actions.md).
struct Records: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create, read, update, upsert or delete a record of any type at the provider, or run a query (SuiteQL).",
        discussion: """
            Each command enqueues a record.action job under the connection's limit key (a worker runs it, sharing the account's limits with the sync jobs), waits up to --wait seconds for its result and prints it as JSON. --wait 0 prints the job id and returns at once.

            Record ids: an internal id (digits) or eid:<external id>. Bodies are JSON objects, passed on exactly as written (--body '{"firstName": "Ada"}' or --body @file.json).

            Environment: DATABASE_URL (or --database-url).
            """,
        subcommands: [Create.self, Get.self, Update.self, Upsert.self, Delete.self, Query.self])

    struct Common: ParsableArguments {
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Option(help: "Seconds to wait for the result (0: print the job id and return).") var wait = 30
    }

    /// A `--body` value: JSON text, or @path of a file holding it.
    static func body(_ text: String) throws -> ExactJSON {
        var data = Data(text.utf8)
        if text.hasPrefix("@") {
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: String(text.dropFirst())))
            } catch {
                throw CLIError.usage("--body: cannot read \(text.dropFirst()): \(error.localizedDescription)")
            }
        }
        do {
            return try ExactJSON.parse(data)
        } catch {
            throw CLIError.usage("--body is not JSON: \(error)")
        }
    }

    /// `<record-id>`: digits, or eid:<external id>.
    static func split(_ recordID: String) -> (id: String?, externalID: String?) {
        recordID.hasPrefix("eid:") ? (nil, String(recordID.dropFirst(4))) : (recordID, nil)
    }

    static func run(_ common: Common, _ args: RecordActionArgs, body: ExactJSON?) async throws {
        guard (0...600).contains(common.wait) else { throw CLIError.usage("--wait must be 0 to 600 seconds") }
        do {
            _ = try args.action(body: body)
        } catch let error as StoreError {
            throw CLIError.usage(error.description)
        }
        let pool = try await common.database.openPool(maxConnections: 2)
        do {
            let provider = try await withStoreErrors { try await RecordActionJob.provider(of: args.connectionID, pool: pool) }
            let jobID = try await withStoreErrors {
                try await RecordActionJob.enqueue(args, body: body, provider: provider, queue: JobQueue(pool: pool))
            }
            guard common.wait > 0 else {
                print(#"{"job_id": \#(jobID)}"#)
                await pool.close()
                return
            }
            guard let outcome = try await RecordActionJob.outcome(jobID: jobID, pool: pool, timeout: .seconds(common.wait)) else {
                await pool.close()
                throw CLIError.failed(
                    "job \(jobID) has no result after \(common.wait) s (is a worker running?); see `ledgersync jobs show \(jobID)`")
            }
            await pool.close()
            if let result = outcome.result { print(result) }
            guard outcome.succeeded else { throw CLIError.failed("job \(jobID): \(outcome.error ?? "failed")") }
        } catch {
            await pool.close()
            throw error
        }
    }

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a record (POST); prints its id.")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The record type (contact, customrecord_project).", valueName: "record-type")) var recordType: String
        @Option(help: "The record as a JSON object, or @file.") var body: String

        func run() async throws {
            try await Records.run(
                common, RecordActionArgs(connectionID: common.connection.uuid, action: "create", recordType: recordType),
                body: try Records.body(body))
        }
    }

    struct Get: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Read a record; prints it (found: false when there is none).")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The record type.", valueName: "record-type")) var recordType: String
        @Argument(help: ArgumentHelp("An internal id, or eid:<external id>.", valueName: "record-id")) var recordID: String

        func run() async throws {
            let (id, externalID) = Records.split(recordID)
            try await Records.run(
                common,
                RecordActionArgs(
                    connectionID: common.connection.uuid, action: "get", recordType: recordType, id: id, externalID: externalID),
                body: nil)
        }
    }

    struct Update: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Update fields of a record (PATCH); omitted fields are kept.")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The record type.", valueName: "record-type")) var recordType: String
        @Argument(help: ArgumentHelp("An internal id, or eid:<external id>.", valueName: "record-id")) var recordID: String
        @Option(help: "The fields as a JSON object, or @file.") var body: String

        func run() async throws {
            let (id, externalID) = Records.split(recordID)
            try await Records.run(
                common,
                RecordActionArgs(
                    connectionID: common.connection.uuid, action: "update", recordType: recordType, id: id, externalID: externalID),
                body: try Records.body(body))
        }
    }

    struct Upsert: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create or update the record with an external id (PUT …/eid:<id>).")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The record type.", valueName: "record-type")) var recordType: String
        @Argument(help: ArgumentHelp("The external id.", valueName: "external-id")) var externalID: String
        @Option(help: "The record as a JSON object, or @file.") var body: String

        func run() async throws {
            let externalID = externalID.hasPrefix("eid:") ? String(externalID.dropFirst(4)) : externalID
            try await Records.run(
                common,
                RecordActionArgs(connectionID: common.connection.uuid, action: "upsert", recordType: recordType, externalID: externalID),
                body: try Records.body(body))
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Delete a record.")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The record type.", valueName: "record-type")) var recordType: String
        @Argument(help: ArgumentHelp("An internal id, or eid:<external id>.", valueName: "record-id")) var recordID: String

        func run() async throws {
            let (id, externalID) = Records.split(recordID)
            try await Records.run(
                common,
                RecordActionArgs(
                    connectionID: common.connection.uuid, action: "delete", recordType: recordType, id: id, externalID: externalID),
                body: nil)
        }
    }

    struct Query: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a query in the provider's language (SuiteQL for NetSuite); prints one page.")
        @OptionGroup var common: Common
        @Argument(help: ArgumentHelp("The query, e.g. \"SELECT id, firstname FROM contact WHERE lastname = 'King'\".", valueName: "query"))
        var query: String
        @Option(help: "Rows per page (1…1000).") var limit = 1000
        @Option(help: "Rows to skip.") var offset = 0

        func run() async throws {
            try await Records.run(
                common, RecordActionArgs(connectionID: common.connection.uuid, action: "query", query: query, limit: limit, offset: offset),
                body: nil)
        }
    }
}
