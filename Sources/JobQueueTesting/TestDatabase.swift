import Foundation
import JobQueue
import Postgres

/// A database of its own for one test, cloned from a migrated template in the throwaway
/// cluster that `scripts/test.sh` starts. Cloning takes a few hundred milliseconds, so
/// every test gets a clean schema and tests can run in parallel.
///
/// The cluster comes from `LEDGERSYNC_TEST_DATABASE_URL` (a superuser URL); without it,
/// creating a test database fails with a message saying how to run the tests.
public struct TestDatabase: Sendable {
    /// The test database's URL.
    public let url: String
    public let name: String
    /// A pool on the test database.
    public let pool: ConnectionPool

    /// Creates a fresh database with every migration in `migrations` applied.
    public static func create(migrations: [Migration] = JobQueue.migrations) async throws -> TestDatabase {
        let admin = try adminURL()
        let template = try await Template.shared.name(for: migrations, adminURL: admin)
        let name = "test_\(UInt64.random(in: 0...UInt64.max) % 1_000_000_000_000)"
        let connection = try await Connection.connect(url: admin)
        defer { connection.close() }
        // CREATE DATABASE cannot take parameters; the names are ours, made of [a-z0-9_].
        try await connection.execute("CREATE DATABASE \(name) TEMPLATE \(template)")
        let url = replacingDatabase(in: admin, with: name)
        return TestDatabase(url: url, name: name, pool: ConnectionPool(url: url, maxConnections: 8))
    }

    /// Runs `body` with a fresh database and drops it afterwards, also when `body` throws.
    public static func with(
        migrations: [Migration] = JobQueue.migrations, _ body: (TestDatabase) async throws -> Void
    ) async throws {
        let database = try await create(migrations: migrations)
        do {
            try await body(database)
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    /// Closes the pool and drops the database (terminating anything still connected).
    public func drop() async {
        await pool.close()
        guard let admin = try? Self.adminURL(), let connection = try? await Connection.connect(url: admin) else { return }
        defer { connection.close() }
        _ = try? await connection.execute("DROP DATABASE IF EXISTS \(name) WITH (FORCE)")
    }

    public static func adminURL() throws -> String {
        guard let url = ProcessInfo.processInfo.environment["LEDGERSYNC_TEST_DATABASE_URL"], !url.isEmpty else {
            throw PostgresError(
                .usage,
                "LEDGERSYNC_TEST_DATABASE_URL is not set: run the tests with scripts/test.sh, which starts a throwaway PostgreSQL")
        }
        return url
    }

    /// Runs `body` with the name of a role that has the grants docs/operations.md lists for a
    /// billing system that only enqueues, less USAGE on the jobs' sequence unless
    /// `sequenceUsage` (what a deployment set up before that grant was listed has), and drops
    /// the role afterwards. `SET ROLE` to it on a connection of the test's own.
    public func withEnqueueOnlyRole<T>(sequenceUsage: Bool = false, _ body: (String) async throws -> T) async throws -> T {
        let role = "billing_\(name)"
        try await pool.query("CREATE ROLE \(role)")
        try await pool.query("GRANT USAGE ON SCHEMA ledgersync TO \(role)")
        try await pool.query("GRANT SELECT, INSERT ON ledgersync.jobs TO \(role)")
        try await pool.query("GRANT SELECT ON ledgersync.job_kinds TO \(role)")
        if sequenceUsage { try await pool.query("GRANT USAGE ON SEQUENCE ledgersync.jobs_id_seq TO \(role)") }
        let result: Result<T, any Error>
        do { result = .success(try await body(role)) } catch { result = .failure(error) }
        try await pool.query("DROP OWNED BY \(role)")
        try await pool.query("DROP ROLE \(role)")
        return try result.get()
    }

    /// `postgresql://u@h:p/db?x` with `db` replaced.
    public static func replacingDatabase(in url: String, with name: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        let query = rest.firstIndex(of: "?").map { String(rest[$0...]) } ?? ""
        let beforeQuery = rest.firstIndex(of: "?").map { rest[..<$0] } ?? rest
        let authority = beforeQuery.firstIndex(of: "/").map { beforeQuery[..<$0] } ?? beforeQuery
        return url[..<schemeEnd.upperBound] + authority + "/" + name + query
    }
}

/// Builds each distinct template once per test process.
private actor Template {
    static let shared = Template()
    private var built: [String: Task<String, any Error>] = [:]

    func name(for migrations: [Migration], adminURL: String) async throws -> String {
        let key = migrations.map { "\($0.line)/\($0.version)" }.joined(separator: ",")
        if let task = built[key] { return try await task.value }
        let task = Task { try await Self.build(migrations: migrations, adminURL: adminURL) }
        built[key] = task
        return try await task.value
    }

    private static func build(migrations: [Migration], adminURL: String) async throws -> String {
        let name = "template_\(ProcessInfo.processInfo.processIdentifier)_\(UInt32.random(in: 0...UInt32.max))"
        let admin = try await Connection.connect(url: adminURL)
        defer { admin.close() }
        try await admin.execute("CREATE DATABASE \(name)")
        let connection = try await Connection.connect(url: TestDatabase.replacingDatabase(in: adminURL, with: name))
        try await Migrator(migrations: migrations).migrate(connection)
        connection.close()
        return name
    }
}
