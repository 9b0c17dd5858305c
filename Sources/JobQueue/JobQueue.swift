import Foundation
import Postgres

/// The queue's front door for code: enqueue jobs (one, a batch, or inside the caller's own
/// transaction) and the schema they live in. Workers are `WorkerPool`; operators' views
/// and actions are in `JobQueue+Admin.swift`.
public struct JobQueue: Sendable {
    public let pool: ConnectionPool

    public init(pool: ConnectionPool) { self.pool = pool }

    /// The queue's migrations (`sql/queue/`).
    public static var migrations: [Migration] { QueueSQL.migrations }

    /// Enqueues one job and returns its id (the existing job's id when `uniqueKey` is held
    /// by an unfinished job).
    @discardableResult
    public func enqueue(_ request: EnqueueRequest) async throws -> Int64 {
        try await pool.withConnection { try await enqueue(request, on: $0) }
    }

    /// Enqueues one job on `connection`, for example inside the caller's transaction: the
    /// job exists if and only if that transaction commits.
    @discardableResult
    public func enqueue(_ request: EnqueueRequest, on connection: Connection) async throws -> Int64 {
        let rows = try await connection.query(
            """
            SELECT ledgersync.enqueue($1::text, $2::jsonb, $3::text, $4::integer, $5::timestamptz,
                                      $6::integer, $7::text, $8::text, $9::text) AS id
            """,
            [
                request.kind, request.args, request.queue, request.priority, request.runAt,
                request.maxAttempts, request.uniqueKey, request.serialKey, request.limitKey,
            ],
            prepare: true
        ).rows
        return try rows[0].decode("id")
    }

    /// Enqueues one job and says whether it is new: `created` is false when an unfinished
    /// job already held `uniqueKey` and that job's id is returned instead (a client's retry
    /// of the same request). Runs in a transaction on `connection`, or on its own.
    public func enqueueReportingCreated(_ request: EnqueueRequest, on connection: Connection? = nil) async throws -> (
        id: Int64, created: Bool
    ) {
        guard let connection else {
            return try await pool.withTransaction { try await enqueueReportingCreated(request, on: $0) }
        }
        let id = try await enqueue(request, on: connection)
        return (id, try await wasCreatedInThisTransaction(jobID: id, on: connection))
    }

    /// Whether job `jobID` was inserted by the transaction open on `connection`: after an
    /// enqueue with a unique key (`ledgersync.enqueue`, `ledgersync.enqueue_sync`), tells a
    /// new job from the unfinished one that already held the key.
    public func wasCreatedInThisTransaction(jobID: Int64, on connection: Connection) async throws -> Bool {
        let rows = try await connection.query(QueueSQL.jobCreatedInThisTransaction, [jobID]).rows
        return try rows.first?.decode("created", as: Bool.self) ?? false
    }

    /// Enqueues many jobs, `batchSize` per statement, and returns the ids of those
    /// inserted (a job whose unique key is held is skipped). Each statement is atomic;
    /// pass a connection inside a transaction to make the whole call atomic.
    @discardableResult
    public func enqueueMany(_ requests: [EnqueueRequest], on connection: Connection? = nil, batchSize: Int = 5_000) async throws -> [Int64]
    {
        guard let connection else {
            return try await pool.withConnection { try await enqueueMany(requests, on: $0, batchSize: batchSize) }
        }
        var ids: [Int64] = []
        ids.reserveCapacity(requests.count)
        var start = 0
        while start < requests.count {
            let chunk = requests[start..<min(start + batchSize, requests.count)]
            // A batch the INSERT below would take whole goes by COPY (EnqueueCopy: the same
            // rows for ~6.5 ms of server time per 1,000 instead of ~10.5); any other, with its
            // unique keys or its bad job, goes through the INSERT, which skips or names them.
            if let copy = EnqueueCopy(chunk), let copied = try await copy.run(on: connection) {
                ids += copied
                start += batchSize
                continue
            }
            // Parallel arrays (enqueue_batch.sql) rather than one JSON document: no JSON to
            // build here nor to parse and check per job in the server.
            // A column no job of the chunk sets goes as NULL instead of an array of NULLs:
            // unnest pads a missing array with NULLs, and the arrays are what a bulk
            // enqueue spends its client time on.
            func optional<T: PostgresEncodable>(_ column: KeyPath<EnqueueRequest, T?>) -> [T?]? {
                chunk.contains { $0[keyPath: column] != nil } ? chunk.map { $0[keyPath: column] } : nil
            }
            let binds: [any PostgresEncodable] = [
                chunk.map(\.kind), chunk.map(\.args), chunk.map(\.queue), chunk.map(\.priority), optional(\.runAt),
                optional(\.maxAttempts), optional(\.uniqueKey), optional(\.serialKey), optional(\.limitKey),
            ]
            let rows = try await connection.query(QueueSQL.enqueueBatch, binds, prepare: true).rows
            for row in rows { ids.append(try row.decode("id")) }
            start += batchSize
        }
        return ids
    }

    /// Sets the concurrency limit of a limit key (nil removes it): at most `maxRunning`
    /// jobs with that key run at once across every worker. 0 pauses the key.
    public func setConcurrencyLimit(_ limitKey: String, maxRunning: Int?) async throws {
        try await pool.query("SELECT ledgersync.set_concurrency_limit($1::text, $2::integer)", [limitKey, maxRunning])
    }
}

/// What to enqueue. Only `kind` and `args` are required.
public struct EnqueueRequest: Sendable {
    public var kind: String
    public var args: JSONText
    public var queue: String
    /// 0 (most urgent) to 9.
    public var priority: Int
    /// Not before this time; nil means now.
    public var runAt: Date?
    /// nil means the kind's default (published by workers), else 20.
    public var maxAttempts: Int?
    public var uniqueKey: String?
    public var serialKey: String?
    public var limitKey: String?

    public init(
        kind: String, args: JSONText = JSONText("{}"), queue: String = "default", priority: Int = 0, runAt: Date? = nil,
        maxAttempts: Int? = nil, uniqueKey: String? = nil, serialKey: String? = nil, limitKey: String? = nil
    ) {
        self.kind = kind
        self.args = args
        self.queue = queue
        self.priority = priority
        self.runAt = runAt
        self.maxAttempts = maxAttempts
        self.uniqueKey = uniqueKey
        self.serialKey = serialKey
        self.limitKey = limitKey
    }

    /// A job for handler `H`, with typed arguments.
    public init<H: JobHandler>(
        _ handler: H.Type, args: H.Args, queue: String = "default", priority: Int = 0, runAt: Date? = nil,
        maxAttempts: Int? = nil, uniqueKey: String? = nil, serialKey: String? = nil, limitKey: String? = nil
    ) throws where H.Args: Encodable {
        self.init(
            kind: H.kind, args: try JSONText(encoding: args), queue: queue, priority: priority, runAt: runAt,
            maxAttempts: maxAttempts, uniqueKey: uniqueKey, serialKey: serialKey, limitKey: limitKey)
    }
}
