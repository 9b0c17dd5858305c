import ArgumentParser
import JobQueue
import Logging
import Postgres

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply the schema migrations in sql/ that the database does not have yet.",
        discussion: "Safe to run from several processes at once; refuses a database whose schema is newer than this binary.")

    @OptionGroup var database: DatabaseOptions
    @Flag(help: "Only report each migration line's applied and known version.") var status = false

    func run() async throws {
        let url = try database.url()
        let connection: Connection
        do {
            connection = try await Connection.connect(url: url, applicationName: "ledgersync-migrate")
        } catch let error as PostgresError {
            throw CLIError.unavailable(error.message)
        }
        defer { connection.close() }
        let migrator = Migrator(migrations: Schema.migrations, logger: Logger(label: "ledgersync.migrate"))
        do {
            if status {
                for line in try await migrator.status(connection) {
                    print("\(line.line): version \(line.applied) of \(line.known)\(line.isCurrent ? "" : " (run `ledgersync migrate`)")")
                }
                return
            }
            let applied = try await migrator.migrate(connection)
            print(applied.isEmpty ? "schema is current" : "applied: " + applied.map { "\($0.line)/\($0.name)" }.joined(separator: ", "))
        } catch let error as PostgresError where error.code == .usage {
            throw CLIError.config(error.message)
        }
    }
}
