import ArgumentParser
import Foundation
import HTTPClient
import Postgres
import Sync

/// `ledgersync reconcile`: reads every synced record of a connection back from the provider
/// and compares it with its billing document (docs/reconciliation.md).
struct ReconcileCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Compare every record synced to a connection with its billing document, to the minor unit.",
        discussion: """
            Reports missing (synced here, gone at the provider), changed (field, expected, actual), extra (at the provider with an external id no billing object here has) and unlinked (never written: the last job failed or needs a person) records. Streams: a table by default, --json (one JSON object per finding per line, then {"summary": …}), or --csv (header + rows; the counts on stderr).

            --repair enqueues a re-push of the last document synced for each missing or changed record (one job per object, through the normal sync queue); extra, unlinked and paid-by-hand records are reported with what a person should do.

            Exit codes: 0 clean, 3 drift found, 1 failed, 2 connection not found, 64 bad arguments, 69 database unreachable, 78 configuration problem.

            Environment: DATABASE_URL (or --database-url), LEDGERSYNC_SECRET_KEY (the connection's credentials).
            """)

    @OptionGroup var database: DatabaseOptions
    @Option(help: "The connection's id or name.") var connection: String
    @Option(help: "Only objects synced at or after this date (2026-11-01) or time (2026-11-01T12:00:00Z).") var since: String?
    @Option(
        name: .customLong("object-type"), parsing: .singleValue,
        help: "Only this object type (repeatable): customer, invoice, sales_order, credit_memo, payment.")
    var objectTypes: [String] = []
    @Flag(help: "One JSON object per line.") var json = false
    @Flag(help: "CSV.") var csv = false
    @Flag(help: "Enqueue re-pushes for missing and changed records whose document is stored.") var repair = false
    @Flag(help: "Store the report as the connection's last one (the dashboard and GET /v1/connections/{id}/reconciliation).")
    var store = false
    @Option(help: "Sync status rows read per page.") var pageSize = 200

    func validate() throws {
        if json && csv { throw ValidationError("--json and --csv exclude each other") }
        if let since, ProviderTime.parseDateOrTime(since) == nil {
            throw ValidationError(
                "--since must be a date (2026-11-01) or an ISO 8601 time (2026-11-01T12:00:00Z); got \"\(since.prefix(40))\"")
        }
        for type in objectTypes { _ = try Refs.objectType(type) }
        guard (1...5000).contains(pageSize) else { throw ValidationError("--page-size must be 1 to 5000") }
    }

    func run() async throws {
        let pool = try await database.openPool(maxConnections: 4)
        let summary: ReconcileSummary
        do {
            summary = try await reconcile(pool)
            await pool.close()
        } catch {
            await pool.close()
            throw error
        }
        if summary.hasDrift {
            throw CLIError(message: "drift found (exit \(ReconcileFormat.driftExitCode))", exitCode: ReconcileFormat.driftExitCode)
        }
    }

    func reconcile(_ pool: ConnectionPool) async throws -> ReconcileSummary {
        let box = try secretBoxFromEnvironment()
        try await checkSecretKey(box, pool: pool)
        let store = ConnectionStore(pool: pool, secretBox: box)
        let found: AccountingConnection
        if let id = UUID(uuidString: connection.trimmingCharacters(in: .whitespaces)) {
            found = try await withStoreErrors { try await store.get(id) }
        } else {
            let named = try await withStoreErrors { try await store.list() }.filter { $0.name == connection }
            guard let first = named.first else { throw CLIError.notFound("no connection is named \"\(connection.prefix(80))\"") }
            guard named.count == 1 else {
                throw CLIError.usage("\(named.count) connections are named \"\(connection.prefix(80))\": give its id")
            }
            found = try await withStoreErrors { try await store.get(first.id ?? UUID()) }
        }
        guard let connectionID = found.id else { throw CLIError.failed("the connection has no id") }
        let http = HTTPClient(maxConcurrentRequests: max(2, found.settings.concurrencyLimit))
        defer { http.shutdown() }
        let provider = try await withStoreErrors {
            try await Providers.registry.provider(
                for: found,
                context: ProviderContext(http: http, requestTimeout: .seconds(60), tokens: PostgresTokenStore(pool: pool, secretBox: box)))
        }
        let reconciler: Reconciler
        do {
            reconciler = try Reconciler(
                pool: pool, connection: found, mappings: try await MappingStore(pool: pool).mappingSet(connection: connectionID),
                provider: provider)
        } catch let error as SyncError {
            throw CLIError.usage(error.message)
        }
        var options = Reconciler.Options(
            since: since.flatMap(ProviderTime.parseDateOrTime),
            objectTypes: objectTypes.isEmpty ? nil : try objectTypes.map(Refs.objectType))
        options.repair = repair
        options.pageSize = pageSize
        let format: ReconcileFormat = json ? .json : csv ? .csv : .table
        let recorder = ReconcileStore.Recorder()
        let keep = self.store
        for line in format.header { Bench.writeLine(line) }
        let summary: ReconcileSummary
        do {
            summary = try await reconciler.run(options) { finding in
                if keep { recorder.record(finding) }
                Bench.writeLine(try format.line(finding))
            }
        } catch let error as SyncError {
            throw CLIError.failed("reconciliation stopped: \(error.message)")
        }
        for line in try format.footer(summary) { Bench.writeLine(line) }
        if format == .csv { FileHandle.standardError.write(Data((ReconcileFormat.sentence(summary) + "\n").utf8)) }
        if keep {
            let id = try await ReconcileStore(pool: pool).store(
                summary, findings: recorder, since: options.since, objectTypes: options.objectTypes)
            FileHandle.standardError.write(Data("stored as reconciliation run \(id)\n".utf8))
        }
        return summary
    }
}
