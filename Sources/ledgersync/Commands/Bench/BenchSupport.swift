import Foundation
import JobQueue
import Logging
import Postgres
import Synchronization

/// What every `ledgersync bench` command shares: the RESULT line, the bench database, child
/// worker processes with the READY/GO handshake, and their memory.
///
/// The protocol is the peer harness's (`shared/bench/peers/qbench.py`), so that one summary
/// (`scripts/bench_summary.py`) reads Ledgersync's lines and the peers' side by side.
enum Bench {
    /// The secret key every bench command seals its connections under: $LEDGERSYNC_SECRET_KEY,
    /// else a fixed one (base64 of "ledgersync-bench-reconcile-key!!"; it seals nothing but the
    /// simulators' demo credentials in a bench database). One key for all of them: the first
    /// worker on a database seals a key check row (ledgersync.secret_key_check), and a bench
    /// under another key, as `scripts/bench.sh` runs `sync` then `monthend` on one database,
    /// would have its workers refused.
    static var secretKey: String {
        ProcessInfo.processInfo.environment["LEDGERSYNC_SECRET_KEY"] ?? Data("ledgersync-bench-reconcile-key!!".utf8).base64EncodedString()
    }

    /// Prints `RESULT {json}` on stdout, flushed: the one line a summarizer reads.
    static func emit(_ fields: [String: Any]) {
        var fields = fields
        fields["lib"] = fields["lib"] ?? "ledgersync"
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        writeLine("RESULT " + String(decoding: data, as: UTF8.self))
    }

    /// One line on stdout, unbuffered: the reader waits for it (READY) or parses it.
    static func writeLine(_ line: String) {
        FileHandle.standardOutput.write(Data((line + "\n").utf8))
    }

    static func round(_ value: Double, _ places: Int) -> Double {
        let scale = pow(10, Double(places))
        return (value * scale).rounded() / scale
    }

    /// A pool on the bench database after bringing its schema up to date.
    static func openDatabase(_ url: String, connections: Int = 4) async throws -> ConnectionPool {
        let connection: Connection
        do {
            connection = try await Connection.connect(url: url, applicationName: "ledgersync-bench")
        } catch let error as PostgresError {
            throw CLIError.unavailable(error.message)
        }
        _ = try await Migrator(migrations: Schema.migrations, logger: Logger(label: "ledgersync.bench")).migrate(connection)
        connection.close()
        return ConnectionPool(url: url, maxConnections: connections, applicationName: "ledgersync-bench")
    }

    /// Empties the queue, as the peers empty theirs before every run; with it the rows that
    /// belong to jobs (sync 012's job warnings reference them).
    static func reset(_ pool: ConnectionPool) async throws {
        try await pool.query("TRUNCATE ledgersync.jobs RESTART IDENTITY CASCADE")
    }

    /// A session holding the xmin horizon: `BEGIN; SELECT txid_current();`, left open (the
    /// caller ends it). Its application name keeps it out of the workers' CPU figures.
    static func holdXmin(_ url: String) async throws -> Connection {
        let connection = try await Connection.connect(url: url, applicationName: "ledgersync-bench-hold")
        try await connection.execute("BEGIN")
        try await connection.query("SELECT txid_current()")
        return connection
    }

    /// "Is any job unfinished (available, retryable or running)?", the sync bench's poll: the
    /// first entry of two partial indexes (jobs_fetch; jobs_lease, as exactly the running
    /// jobs have a lease). The ORDER BY … LIMIT 1 matching each index keeps the planner on
    /// it even with statistics from when every job was available: a plain `state IN (…)`
    /// was planned as a scan of the whole table, 4–5 ms per poll at 100k jobs, CPU taken
    /// from the workers being measured.
    static let unfinishedQuery = """
        SELECT EXISTS (SELECT 1 FROM (SELECT id FROM ledgersync.jobs WHERE state IN ('available', 'retryable')
                                      ORDER BY queue, priority, run_at, id LIMIT 1) AS waiting)
            OR EXISTS (SELECT 1 FROM (SELECT id FROM ledgersync.jobs WHERE lease_expires_at IS NOT NULL
                                      ORDER BY lease_expires_at LIMIT 1) AS running) AS left
        """

    /// The drain's poll (its jobs are all in queue `default`): as `unfinishedQuery`, but
    /// cheap also while a transaction holds the xmin horizon (`--hold-xmin`), when neither
    /// index can drop the entries of claimed and finished jobs: the first probe starts at
    /// the queue's floor (queue migration 014), as a fetch does, and the second reads the
    /// lease index from its newest end (the jobs claimed last are the ones most likely still
    /// running; from the oldest end it walked every finished run first).
    static let drainUnfinishedQuery = """
        SELECT EXISTS (SELECT 1 FROM (SELECT id FROM ledgersync.jobs j WHERE state IN ('available', 'retryable')
                                        AND queue = 'default'
                                        AND (j.priority, j.run_at, j.id) >= ((SELECT f.priority FROM ledgersync.fetch_floor('default') f),
                                                                             (SELECT f.run_at FROM ledgersync.fetch_floor('default') f),
                                                                             (SELECT f.id FROM ledgersync.fetch_floor('default') f))
                                      ORDER BY queue, priority, run_at, id LIMIT 1) AS waiting)
            OR EXISTS (SELECT 1 FROM (SELECT id FROM ledgersync.jobs WHERE lease_expires_at IS NOT NULL
                                      ORDER BY lease_expires_at DESC LIMIT 1) AS running) AS left
        """

    /// The path of this very binary, so child workers run the code being measured.
    static var executablePath: String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }
}

/// Memory of a process from /proc/<pid>/status, in MiB: VmRSS (resident now) and VmHWM
/// (the most it was ever resident, so read after a drain it is the peak during the drain).
struct ProcessMemory {
    let rssMiB: Double
    let peakMiB: Double

    static func read(pid: Int32) -> ProcessMemory? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        func field(_ name: String) -> Double? {
            guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix(name + ":") }) else { return nil }
            let kB = line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first.flatMap { Double($0) }
            return kB.map { $0 / 1024 }
        }
        guard let rss = field("VmRSS"), let peak = field("VmHWM") else { return nil }
        return ProcessMemory(rssMiB: rss, peakMiB: peak)
    }
}

/// CPU time (user + system) a process has used, from /proc/<pid>/stat, in seconds. On a
/// shared machine wall-clock rates swing with other people's load; CPU per job barely does,
/// so it is the figure to compare changes by.
enum ProcessCPU {
    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))

    static func seconds(pid: Int32) -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = text.lastIndex(of: ")")
        else { return nil }
        // Fields after the command name: state is field 3; utime and stime are 14 and 15.
        let fields = text[text.index(after: close)...].split(separator: " ")
        guard fields.count > 13, let user = Double(fields[11]), let system = Double(fields[12]) else { return nil }
        return (user + system) / ticksPerSecond
    }

    /// Server processes of the connections of `applicationPrefix` to this database.
    static func backendPIDs(_ pool: ConnectionPool, applicationPrefix: String) async throws -> [Int32] {
        try await pool.query(
            """
            SELECT pid FROM pg_stat_activity
            WHERE datname = current_database() AND application_name LIKE $1 || '%'
              AND application_name NOT LIKE 'ledgersync-bench%'
            """,
            [applicationPrefix]
        ).rows.map { try $0.decode("pid", as: Int32.self) }
    }
}

/// A child `ledgersync worker --bench-handshake` process: its stdout is read line by line
/// (READY, then a RESULT on exit), its stdin takes GO, its stderr goes to a log file.
final class BenchWorkerProcess: @unchecked Sendable {
    let process = Process()
    private let stdinPipe = Pipe()
    private let stdoutPipe = Pipe()
    private let lines: AsyncStream<String>
    private var iterator: AsyncStream<String>.Iterator
    let logPath: String

    init(arguments: [String], databaseURL: String, environment: [String: String] = [:], logPath: String) throws {
        process.executableURL = URL(fileURLWithPath: Bench.executablePath)
        process.arguments = ["worker", "--bench-handshake"] + arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = databaseURL
        env["LOG_LEVEL"] = env["LOG_LEVEL"] ?? "warning"
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        self.logPath = logPath
        if !FileManager.default.fileExists(atPath: logPath) { FileManager.default.createFile(atPath: logPath, contents: nil) }
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        log.seekToEndOfFile()
        process.standardError = log
        let (stream, continuation) = AsyncStream.makeStream(of: String.self)
        lines = stream
        iterator = stream.makeAsyncIterator()
        let reader = stdoutPipe.fileHandleForReading
        // A plain thread: the blocking reads must not sit on Swift's cooperative pool.
        Thread.detachNewThread {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                while let newline = buffer.firstIndex(of: UInt8(ascii: "\n")) {
                    continuation.yield(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
                    buffer.removeSubrange(buffer.startIndex...newline)
                }
            }
            if !buffer.isEmpty { continuation.yield(String(decoding: buffer, as: UTF8.self)) }
            continuation.finish()
        }
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }

    /// The next stdout line, nil at end of output.
    func nextLine() async -> String? { await iterator.next() }

    func waitUntilReady() async throws {
        while let line = await nextLine() {
            if line == "READY" { return }
        }
        throw CLIError.failed("a worker exited before it was ready; see \(logPath)")
    }

    func go() {
        stdinPipe.fileHandleForWriting.write(Data("GO\n".utf8))
    }

    /// SIGTERM (graceful shutdown), then the RESULT line the worker prints on exit.
    func stop() async -> [String: Any]? {
        kill(pid, SIGTERM)
        var result: [String: Any]?
        while let line = await nextLine() {
            if line.hasPrefix("RESULT "),
                let object = try? JSONSerialization.jsonObject(with: Data(line.dropFirst(7).utf8)) as? [String: Any]
            {
                result = object
            }
        }
        process.waitUntilExit()
        return result
    }

    func kill9() {
        if process.isRunning { kill(pid, SIGKILL) }
    }
}

/// The worker side of the READY/GO handshake (`worker --bench-handshake`).
enum BenchHandshake {
    /// Opens every connection of the pool before READY, as the peers' workers connect
    /// before they announce themselves: connecting is start-up, not work.
    static func warm(_ pool: ConnectionPool, connections: Int) async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<connections {
                group.addTask { _ = try? await pool.query("SELECT pg_sleep(0.02)") }
            }
        }
    }

    static func readyThenWaitForGo() async {
        Bench.writeLine("READY")
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            Thread.detachNewThread {
                while let line = readLine() {
                    if line.trimmingCharacters(in: .whitespaces) == "GO" { break }
                }
                continuation.resume()
            }
        }
    }

    static func reportHandlerCalls() {
        let calls = DiagnosticKinds.noopCalls.withLock { $0 }
        var fields: [String: Any] = ["count": calls.count]
        fields["first"] = calls.first ?? NSNull()
        fields["last"] = calls.last ?? NSNull()
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        Bench.writeLine("RESULT " + String(decoding: data, as: UTF8.self))
    }
}

/// The bench's own `--database-url` (default $BENCH_DSN, then $DATABASE_URL): the bench
/// empties the queue, so it should not pick up a real database by accident.
enum BenchDatabase {
    static func url(_ option: String?) throws -> String {
        let environment = ProcessInfo.processInfo.environment
        guard let url = option ?? environment["BENCH_DSN"] ?? environment["DATABASE_URL"], !url.isEmpty else {
            throw CLIError.config("no database: pass --database-url or set BENCH_DSN (the bench empties ledgersync.jobs)")
        }
        return url
    }
}

/// The cluster's WAL counters (`pg_stat_wal`, PostgreSQL 14+): read before and after a timed
/// part, the difference divided by the jobs is what each job cost the log. Cluster-wide, so
/// meant for the bench's own cluster; a checkpoint inside the part shows as full-page images.
struct WALCounters {
    let bytes: Double
    let records: Double
    let fullPageImages: Double

    static func read(_ pool: ConnectionPool) async throws -> WALCounters {
        let row = try await pool.query(
            "SELECT wal_bytes::float8 AS bytes, wal_records::float8 AS records, wal_fpi::float8 AS fpi FROM pg_stat_wal"
        ).rows[0]
        return WALCounters(bytes: try row.decode("bytes"), records: try row.decode("records"), fullPageImages: try row.decode("fpi"))
    }

    /// `wal_bytes_per_job`, `wal_records_per_job` and `wal_fpi_per_job` from `before` to `self`.
    func perJob(since before: WALCounters, jobs: Int) -> [String: Any] {
        let n = Double(max(jobs, 1))
        return [
            "wal_bytes_per_job": Bench.round((bytes - before.bytes) / n, 1),
            "wal_records_per_job": Bench.round((records - before.records) / n, 2),
            "wal_fpi_per_job": Bench.round((fullPageImages - before.fullPageImages) / n, 3),
        ]
    }
}
