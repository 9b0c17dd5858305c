import Foundation
import Postgres

/// Which jobs an operator means: every field is optional, nil meaning any.
public struct JobFilter: Sendable, Equatable {
    public var id: Int64?
    public var states: [JobState]?
    public var kind: String?
    public var queue: String?
    /// Created at least this long ago.
    public var olderThan: Duration?
    /// Created at most this long ago.
    public var newerThan: Duration?
    /// Only ids below this (the cursor of the next page).
    public var beforeID: Int64?
    public var limit: Int
    /// Only jobs whose args contain this JSON object (jsonb `@>`), e.g.
    /// `{"connection_id": "…"}` for one connection's jobs. The queue reads no field itself.
    public var argsContain: JSONText?
    /// Created strictly after / before these instants.
    public var createdAfter: Date?
    public var createdBefore: Date?

    public init(
        id: Int64? = nil, states: [JobState]? = nil, kind: String? = nil, queue: String? = nil,
        olderThan: Duration? = nil, newerThan: Duration? = nil, beforeID: Int64? = nil, limit: Int = 100,
        argsContain: JSONText? = nil, createdAfter: Date? = nil, createdBefore: Date? = nil
    ) {
        self.id = id
        self.states = states
        self.kind = kind
        self.queue = queue
        self.olderThan = olderThan
        self.newerThan = newerThan
        self.beforeID = beforeID
        self.limit = limit
        self.argsContain = argsContain
        self.createdAfter = createdAfter
        self.createdBefore = createdBefore
    }

    /// The eleven parameters shared by list_jobs.sql, requeue_jobs.sql and cancel_jobs.sql.
    var binds: [any PostgresEncodable] {
        [
            id, states?.map(\.rawValue), kind, queue, olderThan?.seconds, newerThan?.seconds, beforeID, limit,
            argsContain, createdAfter, createdBefore,
        ]
    }
}

/// A job as operators see it: everything stored, including the error of every attempt.
public struct JobRecord: Sendable, Codable, Equatable {
    public let id: Int64
    public let state: JobState
    public let queue: String
    public let kind: String
    public let priority: Int
    public let attempt: Int
    public let maxAttempts: Int
    public let runAt: Date
    public let createdAt: Date
    public let attemptedAt: Date?
    public let finalizedAt: Date?
    public let lockedBy: String?
    public let uniqueKey: String?
    public let serialKey: String?
    public let limitKey: String?
    public let args: JSONValue
    public let errors: [JobOutcome.ErrorEntry]
    /// The args as PostgreSQL stores them (jsonb text): numbers keep every digit, which
    /// `args` (a `JSONValue`, numbers as Double) cannot promise. The API answers with this.
    public private(set) var argsText: String = "{}"

    enum CodingKeys: String, CodingKey {
        case id, state, queue, kind, priority, attempt, maxAttempts, runAt, createdAt, attemptedAt, finalizedAt, lockedBy
        case uniqueKey, serialKey, limitKey, args, errors
    }

    init(row: Row) throws {
        id = try row.decode("id")
        state = try row.decode("state")
        queue = try row.decode("queue")
        kind = try row.decode("kind")
        priority = try row.decode("priority")
        attempt = try row.decode("attempt")
        maxAttempts = try row.decode("max_attempts")
        runAt = try row.decode("run_at")
        createdAt = try row.decode("created_at")
        attemptedAt = try row.decodeIfPresent("attempted_at")
        finalizedAt = try row.decodeIfPresent("finalized_at")
        lockedBy = try row.decodeIfPresent("locked_by")
        uniqueKey = try row.decodeIfPresent("unique_key")
        serialKey = try row.decodeIfPresent("serial_key")
        limitKey = try row.decodeIfPresent("limit_key")
        argsText = try row.decode("args", as: String.self)
        // JSONDecoder refuses numbers a Double cannot hold (1e400); such args still show,
        // exactly, in `argsText`, and the job stays readable.
        args =
            (try? JSONValue.parse(argsText))
            ?? .object(["ledgersync_args_unreadable": .string("numbers beyond a Double: see the args text")])
        errors = try ErrorHistory.decode(try row.decode("errors", as: String.self))
    }
}

/// Jobs completed recently: the queue's throughput.
public struct JobThroughput: Sendable, Codable, Equatable {
    public let completedLastMinute: Int64
    public let completedLastHour: Int64
}

/// How long the jobs of one kind completed in the last hour ran (their last run).
public struct JobRunDurations: Sendable, Equatable {
    public let kind: String
    public let jobs: Int64
    public let secondsSum: Double
    public let p50: Double
    public let p95: Double
    public let p99: Double
}

/// How many errors of one class the jobs of one kind recorded in the last hour.
public struct JobErrorCount: Sendable, Equatable {
    public let kind: String
    public let errorClass: String
    public let errors: Int64
}

/// Counts for one (queue, kind, state).
public struct JobStatsRow: Sendable, Codable, Equatable {
    public let queue: String
    public let kind: String
    public let state: JobState
    public let jobs: Int64
    /// Age of the oldest job of the group that could run now, if any.
    public let oldestRunnableSeconds: Double?
}

extension JobQueue {
    /// Jobs matching `filter`, newest first.
    public func list(_ filter: JobFilter) async throws -> [JobRecord] {
        try await pool.query(QueueSQL.listJobs, filter.binds).rows.map(JobRecord.init(row:))
    }

    /// One job, or nil if there is no job with that id.
    public func job(id: Int64) async throws -> JobRecord? {
        try await list(JobFilter(id: id, limit: 1)).first
    }

    /// One job read on `connection`, e.g. inside the transaction that enqueued it.
    public func job(id: Int64, on connection: Connection) async throws -> JobRecord? {
        try await connection.query(QueueSQL.listJobs, JobFilter(id: id, limit: 1).binds).rows.map(JobRecord.init(row:)).first
    }

    /// Moves matching failed, cancelled or retryable jobs back to available now, giving a
    /// job that used up its attempts one more. Returns the ids moved.
    @discardableResult
    public func retry(_ filter: JobFilter) async throws -> [Int64] {
        let ids: [Int64] = try await pool.withConnection { connection in
            let rows = try await connection.query(QueueSQL.requeueJobs, filter.binds).rows
            let ids = try rows.map { try $0.decode("id", as: Int64.self) }
            if !ids.isEmpty {
                // Wake idle workers; the insert trigger only covers new jobs.
                try await connection.query(
                    "SELECT pg_notify('ledgersync_jobs', queue) FROM (SELECT DISTINCT queue FROM ledgersync.jobs WHERE id = ANY ($1::bigint[])) q",
                    [ids])
            }
            return ids
        }
        return ids
    }

    /// Cancels matching available, retryable or running jobs. Returns the ids cancelled.
    @discardableResult
    public func cancel(_ filter: JobFilter) async throws -> [Int64] {
        try await pool.query(QueueSQL.cancelJobs, filter.binds).rows.map { try $0.decode("id", as: Int64.self) }
    }

    /// Counts by queue, kind and state.
    public func stats() async throws -> [JobStatsRow] {
        try await pool.query(QueueSQL.jobStats).rows.map { row in
            JobStatsRow(
                queue: try row.decode("queue"), kind: try row.decode("kind"), state: try row.decode("state"), jobs: try row.decode("jobs"),
                oldestRunnableSeconds: try row.decodeIfPresent("oldest_runnable_seconds"))
        }
    }
}

extension JobQueue {
    /// Jobs completed in the last minute and the last hour.
    public func throughput() async throws -> JobThroughput {
        let row = try await pool.query(QueueSQL.completedCounts).rows[0]
        return JobThroughput(completedLastMinute: try row.decode("last_minute"), completedLastHour: try row.decode("last_hour"))
    }

    /// Run durations of the jobs completed in the last hour, by kind.
    public func runDurations() async throws -> [JobRunDurations] {
        try await pool.query(QueueSQL.runDurations).rows.map { row in
            JobRunDurations(
                kind: try row.decode("kind"), jobs: try row.decode("jobs"), secondsSum: try row.decode("seconds_sum"),
                p50: try row.decode("p50"), p95: try row.decode("p95"), p99: try row.decode("p99"))
        }
    }

    /// Errors recorded in the last hour, by kind and class.
    public func recentErrors() async throws -> [JobErrorCount] {
        try await pool.query(QueueSQL.recentErrors).rows.map { row in
            JobErrorCount(
                kind: try row.decode("kind"), errorClass: try row.decodeIfPresent("class") ?? "unknown", errors: try row.decode("errors"))
        }
    }
}

enum ErrorHistory {
    static func decode(_ text: String) throws -> [JobOutcome.ErrorEntry] {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .custom { decoder in
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            if let date = PostgresJSONDate.parse(text) { return date }
            throw DecodingError.dataCorruptedError(in: container, debugDescription: "not a timestamp: \(text)")
        }
        return try decoder.decode([JobOutcome.ErrorEntry].self, from: Data(text.utf8))
    }

    static func encode(_ entry: JobOutcome.ErrorEntry) -> JSONText {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .custom { date, encoder in
            var container = encoder.singleValueContainer()
            try container.encode(PostgresJSONDate.format(date))
        }
        return JSONText(String(decoding: (try? encoder.encode(entry)) ?? Data("{}".utf8), as: UTF8.self))
    }
}

/// Timestamps inside jsonb: PostgreSQL writes `to_jsonb(now())` as ISO 8601 with a `T`
/// (`2026-11-21T12:00:00.123456+00:00`); we write the same.
enum PostgresJSONDate {
    static func parse(_ text: String) -> Date? {
        (try? Date(postgresText: text))
    }

    static func format(_ date: Date) -> String {
        let text = date.postgresText ?? ""
        return text.replacingOccurrences(of: " ", with: "T") + ":00"
    }
}
