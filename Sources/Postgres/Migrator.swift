import Logging

/// One numbered schema change. Migrations come in lines (`queue`, later `sync`), each
/// numbered from 1, so a user who takes only the queue gets only its tables.
public struct Migration: Sendable {
    public let line: String
    public let version: Int
    public let name: String
    public let sql: String

    public init(line: String, version: Int, name: String, sql: String) {
        self.line = line
        self.version = version
        self.name = name
        self.sql = sql
    }
}

/// Applies migrations in order and records them in `ledgersync.schema_migrations`.
///
/// Safe when several processes migrate at once (each deploy's one-shot `migrate`, or
/// workers started together): a session advisory lock lets one apply while the others
/// wait, and they then find nothing left to do. It refuses to touch a database whose
/// schema is newer than the migrations it knows, since older code could corrupt it.
public struct Migrator: Sendable {
    public let migrations: [Migration]
    private let logger: Logger

    /// Arbitrary but fixed: the advisory lock key that serialises `migrate` runs.
    static let lockKey: Int64 = 0x6c65_6467_6572_7379 // "ledgersy"

    public init(migrations: [Migration], logger: Logger = Logger(label: "ledgersync.migrate")) {
        self.migrations = migrations.sorted { ($0.line, $0.version) < ($1.line, $1.version) }
        self.logger = logger
    }

    /// What `status` reports for each line.
    public struct LineStatus: Sendable, Equatable {
        public let line: String
        public let applied: Int
        public let known: Int
        public var isCurrent: Bool { applied == known }
    }

    /// Applies every pending migration; returns the ones it applied.
    @discardableResult
    public func migrate(_ connection: Connection) async throws -> [Migration] {
        try await connection.query("SELECT pg_advisory_lock($1::bigint)", [Self.lockKey])
        do {
            let applied = try await migrateLocked(connection)
            try await connection.query("SELECT pg_advisory_unlock($1::bigint)", [Self.lockKey])
            return applied
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock($1::bigint)", [Self.lockKey])
            throw error
        }
    }

    /// The applied and known version of each line, without changing anything.
    public func status(_ connection: Connection) async throws -> [LineStatus] {
        let applied = try await appliedVersions(connection)
        return Dictionary(grouping: migrations, by: \.line).keys.sorted().map { line in
            LineStatus(
                line: line,
                applied: applied[line] ?? 0,
                known: migrations.filter { $0.line == line }.map(\.version).max() ?? 0)
        }
    }

    /// Throws unless every line is exactly at the version this code knows.
    public func requireCurrent(_ connection: Connection) async throws {
        for line in try await status(connection) where !line.isCurrent {
            if line.applied > line.known {
                throw PostgresError(.usage, Self.tooNew(line))
            }
            throw PostgresError(
                .usage,
                "the database schema '\(line.line)' is at version \(line.applied) of \(line.known): run `ledgersync migrate` first")
        }
    }

    private func migrateLocked(_ connection: Connection) async throws -> [Migration] {
        try await connection.execute(
            """
            CREATE SCHEMA IF NOT EXISTS ledgersync;
            CREATE TABLE IF NOT EXISTS ledgersync.schema_migrations (
                line       text NOT NULL,
                version    integer NOT NULL,
                name       text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (line, version)
            );
            """)
        for line in try await status(connection) where line.applied > line.known {
            throw PostgresError(.usage, Self.tooNew(line))
        }
        let applied = try await appliedVersions(connection)
        var done: [Migration] = []
        for migration in migrations where migration.version > applied[migration.line] ?? 0 {
            logger.info("applying migration", metadata: ["line": "\(migration.line)", "name": "\(migration.name)"])
            try await connection.transaction { connection in
                try await connection.execute(migration.sql)
                try await connection.query(
                    "INSERT INTO ledgersync.schema_migrations (line, version, name) VALUES ($1, $2, $3)",
                    [migration.line, migration.version, migration.name])
            }
            done.append(migration)
        }
        return done
    }

    private func appliedVersions(_ connection: Connection) async throws -> [String: Int] {
        let exists = try await connection.query("SELECT to_regclass('ledgersync.schema_migrations') IS NOT NULL AS present")
        guard try exists.rows.first?.decode("present", as: Bool.self) == true else { return [:] }
        let rows = try await connection.query("SELECT line, max(version) AS version FROM ledgersync.schema_migrations GROUP BY line").rows
        var versions: [String: Int] = [:]
        for row in rows { versions[try row.decode("line")] = try row.decode("version", as: Int.self) }
        return versions
    }

    private static func tooNew(_ line: LineStatus) -> String {
        "the database schema '\(line.line)' is at version \(line.applied), newer than the \(line.known) this ledgersync knows: "
            + "upgrade ledgersync before running it against this database"
    }
}
