import API
import ArgumentParser
import Foundation
import JobQueue
import Logging
import Postgres
import Sync

/// `--database-url`, defaulting to $DATABASE_URL, shared by every command.
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq URI of the database (default: $DATABASE_URL).")
    var databaseURL: String?

    func url() throws -> String {
        guard let url = databaseURL ?? ProcessInfo.processInfo.environment["DATABASE_URL"], !url.isEmpty else {
            throw CLIError.config("DATABASE_URL is not set: set it or pass --database-url (e.g. postgresql://user@localhost:5432/db)")
        }
        return url
    }

    /// A pool after checking that the database answers and its schema is current. `make`
    /// builds a pool with settings of its own (the API's timeouts).
    func openPool(
        maxConnections: Int = 4, requireCurrentSchema: Bool = true,
        make: (String, Int) -> ConnectionPool = { ConnectionPool(url: $0, maxConnections: $1) }
    ) async throws -> ConnectionPool {
        let url = try url()
        let pool = make(url, maxConnections)
        do {
            try await pool.withConnection { connection in
                if requireCurrentSchema { try await Migrator(migrations: Schema.migrations).requireCurrent(connection) }
            }
        } catch let error as PostgresError where error.code == .connectionFailed {
            throw CLIError.unavailable(error.message)
        } catch let error as PostgresError where error.code == .usage {
            throw CLIError.config(error.message)
        }
        return pool
    }
}

/// Every migration line this binary knows.
enum Schema {
    static var migrations: [Migration] { JobQueue.migrations + SyncSchema.migrations + APISchema.migrations }
}

/// A duration on the command line: `30s`, `500ms`, `2m`, `1h`, `7d`, or plain seconds.
struct DurationArgument: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let duration: Duration

    /// How --help shows a default: `30s`, `500ms`.
    var description: String {
        let milliseconds = Int64((duration.seconds * 1000).rounded())
        for (unit, size) in [("d", Int64(86_400_000)), ("h", 3_600_000), ("m", 60_000), ("s", 1000)]
        where milliseconds >= size && milliseconds % size == 0 {
            return "\(milliseconds / size)\(unit)"
        }
        return "\(milliseconds)ms"
    }

    init(_ duration: Duration) { self.duration = duration }

    init?(argument: String) {
        let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)]
        var text = argument.trimmingCharacters(in: .whitespaces)
        var scale = 1.0
        for (suffix, factor) in units where text.hasSuffix(suffix) {
            let number = String(text.dropLast(suffix.count))
            if Double(number) != nil {
                text = number
                scale = factor
                break
            }
        }
        guard let value = Double(text), value >= 0, value.isFinite else { return nil }
        duration = .milliseconds(Int64((value * scale * 1000).rounded()))
    }

    static var defaultCompletionKind: CompletionKind { .default }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
