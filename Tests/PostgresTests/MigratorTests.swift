import Foundation
import JobQueueTesting
import Logging
import Testing

@testable import Postgres

/// True when `text` (nil counts as false) has no line breaks.
private func migratorTestIsOneLine(_ text: String?) -> Bool {
    guard let text else { return false }
    return !text.contains { $0.isNewline }
}

// Tests of Migrator against a real PostgreSQL, on databases cloned from an empty template
// (only ledgersync.schema_migrations exists) with small migrations of the tests' own.

/// A fresh, empty database and a connection to it; closes and drops both afterwards, also
/// when `body` throws.
private func withEmptyDatabase(_ body: (Connection, TestDatabase) async throws -> Void) async throws {
    let database = try await TestDatabase.create(migrations: [])
    var connection: Connection?
    do {
        connection = try await Connection.connect(url: database.url)
        try await body(connection!, database)
    } catch {
        connection?.close()
        await database.drop()
        throw error
    }
    connection?.close()
    await database.drop()
}

/// A migrator that does not log "applying migration" into the test output.
private func quietMigrator(_ migrations: [Migration]) -> Migrator {
    var logger = Logger(label: "ledgersync.tests.migrate")
    logger.logLevel = .critical
    return Migrator(migrations: migrations, logger: logger)
}

/// Three migrations of line "demo"; each needs the one before it.
private let demoMigrations = [
    Migration(line: "demo", version: 1, name: "create widgets", sql: "CREATE TABLE demo_widgets (id int PRIMARY KEY, name text NOT NULL)"),
    Migration(line: "demo", version: 2, name: "add size", sql: "ALTER TABLE demo_widgets ADD COLUMN size int NOT NULL DEFAULT 0"),
    Migration(
        line: "demo", version: 3, name: "seed widgets",
        sql:
            "INSERT INTO demo_widgets (id, name, size) VALUES (1, 'sprocket', 3); INSERT INTO demo_widgets (id, name, size) VALUES (2, 'gear', 5)"
    ),
]

/// A second line, numbered from 1 on its own.
private let otherMigrations = [
    Migration(line: "other", version: 1, name: "create gadgets", sql: "CREATE TABLE other_gadgets (id int)"),
    Migration(line: "other", version: 2, name: "seed gadgets", sql: "INSERT INTO other_gadgets VALUES (1)"),
]

private func int(_ connection: Connection, _ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int {
    let row = try #require(try await connection.query(sql, binds).rows.first)
    return try row.decode(row.columns[0], as: Int.self)
}

private func recorded(_ connection: Connection) async throws -> [String] {
    try await connection.query("SELECT line, version, name FROM ledgersync.schema_migrations ORDER BY line, version").rows.map {
        "\(try $0.decode("line", as: String.self))/\(try $0.decode("version", as: Int.self)) \(try $0.decode("name", as: String.self))"
    }
}

private func tableExists(_ connection: Connection, _ name: String) async throws -> Bool {
    try #require(try await connection.query("SELECT to_regclass($1) IS NOT NULL AS present", [name]).rows.first)
        .decode("present", as: Bool.self)
}

/// Whether another session could take the migration lock now (and releases it again).
private func migrationLockIsFree(_ database: TestDatabase) async throws -> Bool {
    let other = try await Connection.connect(url: database.url)
    defer { other.close() }
    let free = try #require(try await other.query("SELECT pg_try_advisory_lock($1::bigint) AS free", [Migrator.lockKey]).rows.first)
        .decode("free", as: Bool.self)
    if free { try await other.query("SELECT pg_advisory_unlock($1::bigint)", [Migrator.lockKey]) }
    return free
}

@Suite("Migrator against PostgreSQL", .timeLimit(.minutes(3)))
struct MigratorTests {
    @Test("applies migrations in order, records them, and reports them current")
    func appliesInOrder() async throws {
        try await withEmptyDatabase { connection, database in
            // Given out of order: the migrator sorts them (each needs the one before).
            let migrator = quietMigrator([demoMigrations[2], otherMigrations[1], demoMigrations[0], otherMigrations[0], demoMigrations[1]])
            #expect(
                try await migrator.status(connection) == [
                    Migrator.LineStatus(line: "demo", applied: 0, known: 3),
                    Migrator.LineStatus(line: "other", applied: 0, known: 2),
                ])
            await #expect(throws: PostgresError.self) { try await migrator.requireCurrent(connection) }

            let applied = try await migrator.migrate(connection)
            #expect(applied.map { "\($0.line)/\($0.version)" } == ["demo/1", "demo/2", "demo/3", "other/1", "other/2"])
            #expect(
                try await recorded(connection) == [
                    "demo/1 create widgets", "demo/2 add size", "demo/3 seed widgets", "other/1 create gadgets", "other/2 seed gadgets",
                ])
            #expect(try await int(connection, "SELECT sum(size)::int FROM demo_widgets") == 8)
            #expect(try await int(connection, "SELECT count(*)::int FROM other_gadgets") == 1)
            let status = try await migrator.status(connection)
            #expect(
                status == [
                    Migrator.LineStatus(line: "demo", applied: 3, known: 3),
                    Migrator.LineStatus(line: "other", applied: 2, known: 2),
                ])
            let allCurrent = status.allSatisfy { $0.isCurrent }
            #expect(allCurrent)
            try await migrator.requireCurrent(connection)
            #expect(connection.isReusable)
            #expect(try await migrationLockIsFree(database), "the advisory lock was not released")
        }
    }

    @Test("a second run applies nothing; a later migration is applied alone")
    func idempotent() async throws {
        try await withEmptyDatabase { (connection, _) async throws in // explicit: its only `try`s are inside #expect
            let firstTwo = quietMigrator(Array(demoMigrations.prefix(2)))
            #expect(try await firstTwo.migrate(connection).map(\.version) == [1, 2])
            #expect(try await firstTwo.migrate(connection).isEmpty)
            #expect(try await firstTwo.migrate(connection).isEmpty)

            let all = quietMigrator(demoMigrations)
            #expect(try await all.migrate(connection).map(\.version) == [3])
            #expect(try await all.migrate(connection).isEmpty)
            // The seeding migration ran once: a second run would have hit the primary key.
            #expect(try await int(connection, "SELECT count(*)::int FROM demo_widgets") == 2)
            #expect(try await int(connection, "SELECT count(*)::int FROM ledgersync.schema_migrations WHERE line = 'demo'") == 3)
        }
    }

    @Test("two migrators running at once apply each migration exactly once")
    func concurrentMigrators() async throws {
        try await withEmptyDatabase { holder, database in
            let counting = [
                Migration(line: "race", version: 1, name: "create runs", sql: "CREATE TABLE race_runs (version int NOT NULL)"),
                Migration(line: "race", version: 2, name: "run 2", sql: "INSERT INTO race_runs VALUES (2)"),
                Migration(line: "race", version: 3, name: "run 3", sql: "INSERT INTO race_runs VALUES (3)"),
                Migration(line: "race", version: 4, name: "run 4", sql: "INSERT INTO race_runs VALUES (4)"),
            ]
            let migrator = quietMigrator(counting)
            let first = try await Connection.connect(url: database.url)
            let second = try await Connection.connect(url: database.url)
            do {
                // Hold the migration lock so both migrators are waiting when it is released.
                try await holder.query("SELECT pg_advisory_lock($1::bigint)", [Migrator.lockKey])
                async let a = migrator.migrate(first)
                async let b = migrator.migrate(second)
                // Not throwing: whatever happens, the lock is released below so the migrators can finish.
                let bothWaiting = await eventually(timeout: .seconds(30), every: .milliseconds(10)) {
                    (try? await int(
                        holder,
                        "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                    )) == 2
                }
                try await holder.query("SELECT pg_advisory_unlock($1::bigint)", [Migrator.lockKey])
                let (appliedA, appliedB) = try await (a, b)
                #expect(bothWaiting, "the two migrators never waited on the lock together")
                let versions = (appliedA + appliedB).map(\.version).sorted()
                #expect(versions == [1, 2, 3, 4], "applied by first: \(appliedA.map(\.version)), by second: \(appliedB.map(\.version))")
                #expect(appliedA.isEmpty || appliedB.isEmpty, "one migrator applies everything while the other waits")
                #expect(try await int(holder, "SELECT count(*)::int FROM race_runs") == 3)
                #expect(try await int(holder, "SELECT count(DISTINCT version)::int FROM race_runs") == 3)
                #expect(try await int(holder, "SELECT count(*)::int FROM ledgersync.schema_migrations WHERE line = 'race'") == 4)
                first.close()
                second.close()
            } catch {
                first.close()
                second.close()
                throw error
            }
        }
    }

    @Test("a database newer than the code is refused, saying to upgrade")
    func newerDatabaseRefused() async throws {
        try await withEmptyDatabase { connection, database in
            try await quietMigrator(demoMigrations).migrate(connection)
            try await connection.query(
                "INSERT INTO ledgersync.schema_migrations (line, version, name) VALUES ($1, $2, $3)", ["demo", 7, "from the future"])
            let before = try await recorded(connection)
            let older = quietMigrator(
                demoMigrations + [
                    Migration(line: "demo", version: 4, name: "would corrupt", sql: "DROP TABLE demo_widgets")
                ])

            let migrateError = await #expect(throws: PostgresError.self) { try await older.migrate(connection) }
            let requireError = await #expect(throws: PostgresError.self) { try await older.requireCurrent(connection) }
            for error in [migrateError, requireError] {
                let error = try #require(error)
                #expect(error.code == .usage)
                #expect(error.message.contains("upgrade ledgersync"), "\(error)")
                #expect(error.message.contains("'demo'"), "\(error)")
                #expect(error.message.contains("version 7"), "\(error)")
                #expect(error.message.contains("newer than the 4"), "\(error)")
                #expect(migratorTestIsOneLine(error.description))
            }
            #expect(try await older.status(connection) == [Migrator.LineStatus(line: "demo", applied: 7, known: 4)])
            // Nothing was touched.
            #expect(try await tableExists(connection, "demo_widgets"))
            #expect(try await recorded(connection) == before)
            #expect(try await migrationLockIsFree(database), "the advisory lock was not released after refusing")
        }
    }

    @Test("requireCurrent on a database behind says to run ledgersync migrate")
    func behindDatabase() async throws {
        try await withEmptyDatabase { connection, _ in
            let migrator = quietMigrator(demoMigrations)
            let fresh = await #expect(throws: PostgresError.self) { try await migrator.requireCurrent(connection) }
            #expect(fresh?.code == .usage)
            #expect(fresh?.message.contains("run `ledgersync migrate`") == true, "\(String(describing: fresh))")
            #expect(fresh?.message.contains("version 0 of 3") == true, "\(String(describing: fresh))")

            try await quietMigrator([demoMigrations[0]]).migrate(connection)
            let behind = await #expect(throws: PostgresError.self) { try await migrator.requireCurrent(connection) }
            #expect(behind?.code == .usage)
            #expect(behind?.message.contains("'demo'") == true, "\(String(describing: behind))")
            #expect(behind?.message.contains("version 1 of 3") == true, "\(String(describing: behind))")
            #expect(behind?.message.contains("run `ledgersync migrate`") == true, "\(String(describing: behind))")
            #expect(behind?.message.contains("upgrade") == false, "\(String(describing: behind))")
            // requireCurrent only looks.
            #expect(try await recorded(connection) == ["demo/1 create widgets"])
        }
    }

    @Test("a failing migration leaves no record and no partial change, and stops the run")
    func failingMigrationIsTransactional() async throws {
        try await withEmptyDatabase { (connection, database) async throws in // explicit: its only `try`s are inside #expect
            let broken = [
                demoMigrations[0],
                Migration(
                    line: "demo", version: 2, name: "half done",
                    sql:
                        "CREATE TABLE demo_partial (id int); ALTER TABLE demo_widgets ADD COLUMN colour text; INSERT INTO nonexistent_table VALUES (1)"
                ),
                Migration(line: "demo", version: 3, name: "after the failure", sql: "CREATE TABLE demo_after (id int)"),
            ]
            let error = await #expect(throws: PostgresError.self) { try await quietMigrator(broken).migrate(connection) }
            #expect(error?.code == .server)
            #expect(error?.sqlState == "42P01")
            #expect(error?.message.contains("nonexistent_table") == true, "\(String(describing: error))")

            #expect(try await recorded(connection) == ["demo/1 create widgets"])
            #expect(try await tableExists(connection, "demo_widgets"), "migration 1 was committed before 2 failed")
            #expect(try await tableExists(connection, "demo_partial") == false, "part of the failed migration survived")
            #expect(
                try await int(
                    connection,
                    "SELECT count(*)::int FROM information_schema.columns WHERE table_name = 'demo_widgets' AND column_name = 'colour'")
                    == 0)
            #expect(try await tableExists(connection, "demo_after") == false, "a migration after the failed one ran")
            #expect(connection.isReusable, "left inside a transaction")
            #expect(try await migrationLockIsFree(database), "the advisory lock was not released after the failure")

            // Fixed, it applies from where it stopped.
            let fixed = quietMigrator([broken[0], demoMigrations[1], broken[2]])
            #expect(try await fixed.migrate(connection).map(\.version) == [2, 3])
            #expect(try await recorded(connection) == ["demo/1 create widgets", "demo/2 add size", "demo/3 after the failure"])
        }
    }
}
