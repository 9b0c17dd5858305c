import ArgumentParser
import Foundation
import Logging

/// The one executable. The subcommand list below is the map of the CLI.
struct Ledgersync: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledgersync",
        abstract: "A PostgreSQL-backed job queue and worker pool that keeps accounting systems in step with billing.",
        discussion: """
            Every command that talks to the database reads DATABASE_URL (a libpq URI such as postgresql://user@localhost:5432/billing), or takes --database-url.

            Exit codes: 0 done, 1 failed, 2 not found, 64 bad arguments, 69 database unreachable, 78 configuration problem (no DATABASE_URL, schema not migrated, wrong LEDGERSYNC_SECRET_KEY).
            """,
        subcommands: [
            Migrate.self, Worker.self, Enqueue.self, Jobs.self, Limits.self,
            Connections.self, Mappings.self, Refs.self, Records.self, Webhooks.self, Secrets.self, Simulate.self, Demo.self,
            APICommand.self, Tokens.self,
            DashboardCommand.self, BenchCommand.self,
            SyncCommand.self,
            StatusCommand.self, ReconcileCommand.self,
            ProviderCommand.self,
            Changes.self,
        ]
    )
}

/// Parses, runs, and turns every error into one line on stderr and a meaningful exit
/// code: no stack traces, no usage dumps for a typo.
@main
enum Main {
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        do {
            var command = try Ledgersync.parseAsRoot()
            if var command = command as? AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            exit(report(error))
        }
    }

    static func report(_ error: any Error) -> Int32 {
        if let failure = error as? CLIError {
            FileHandle.standardError.write(Data("ledgersync: \(failure.message)\n".utf8))
            return failure.exitCode
        }
        let code = Ledgersync.exitCode(for: error)
        if code == .success {
            // --help, --version: the full text is what was asked for.
            print(Ledgersync.fullMessage(for: error))
            return 0
        }
        let message =
            Ledgersync.message(for: error)
            .split(whereSeparator: \.isNewline).map(String.init).first ?? "\(error)"
        if code == .validationFailure {
            FileHandle.standardError.write(Data("ledgersync: \(message) (see --help)\n".utf8))
            return 64
        }
        FileHandle.standardError.write(Data("ledgersync: \(message)\n".utf8))
        return code.rawValue
    }
}

/// A failure the user can act on, with its exit code.
struct CLIError: Error {
    let message: String
    let exitCode: Int32

    static func notFound(_ message: String) -> CLIError { CLIError(message: message, exitCode: 2) }
    static func usage(_ message: String) -> CLIError { CLIError(message: message, exitCode: 64) }
    static func unavailable(_ message: String) -> CLIError { CLIError(message: message, exitCode: 69) }
    static func config(_ message: String) -> CLIError { CLIError(message: message, exitCode: 78) }
    static func failed(_ message: String) -> CLIError { CLIError(message: message, exitCode: 1) }
}
