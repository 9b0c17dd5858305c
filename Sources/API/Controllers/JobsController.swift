import ExactJSON
import Foundation
import Hummingbird
import JobQueue
import Postgres
import Sync

/// `/v1/jobs…` and `/v1/stats`: enqueue, list, show, retry, cancel, counts. Every route
/// calls the `JobQueue` functions the CLI's `jobs` commands call.
struct JobsController {
    let queue: JobQueue
    let connections: ConnectionStore
    /// Kinds this installation runs (besides those workers published in `ledgersync.job_kinds`).
    let knownKinds: Set<String>

    static let maxBatch = 1000
    static let defaultPageSize = 50
    static let maxPageSize = 500
    /// Bulk retry/cancel touch at most this many jobs per call (as the CLI's default).
    static let maxBulk = 10_000

    func register(on group: RouterGroup<APIRequestContext>) {
        group.post("jobs") { request, context -> Response in try await enqueue(request, context) }
        group.post("jobs/batch") { request, context -> Response in try await enqueueBatch(request, context) }
        group.get("jobs") { request, _ -> Response in try await list(request) }
        group.post("jobs/retry") { request, context -> Response in try await bulk(request, context, retry: true) }
        group.post("jobs/cancel") { request, context -> Response in try await bulk(request, context, retry: false) }
        group.get("jobs/:id") { _, context -> Response in try await show(context) }
        group.post("jobs/:id/retry") { _, context -> Response in try await retryOne(context) }
        group.post("jobs/:id/cancel") { _, context -> Response in try await cancelOne(context) }
        group.get("stats") { _, _ -> Response in try await stats() }
        group.get("rate-windows") { _, _ -> Response in try await rateWindows() }
    }

    /// The rate windows of every limit key (sliding, queue migration 011), as `limits list` shows them.
    func rateWindows() async throws -> Response {
        var views: [JSON] = []
        for window in try await queue.rateWindows() {
            let text = RateWindow(maxStarts: window.maxStarts, seconds: window.seconds).text
            let fields: [(String, JSON)] = [
                ("limit_key", .string(window.limitKey)), ("window", .string(text)), ("seconds", .int(Int64(window.seconds))),
                ("max_starts", .int(Int64(window.maxStarts))), ("used", .int(Int64(window.used))), ("left", .int(Int64(window.left))),
                ("turns_in_seconds", .double(window.turnsInSeconds)),
            ]
            views.append(.object(fields))
        }
        return .json(.object([("rate_windows", .array(views))]))
    }

    // MARK: - Enqueue

    static let enqueueFields: Set<String> = [
        "kind", "args", "queue", "priority", "run_at", "max_attempts", "unique_key", "serial_key", "limit_key",
    ]

    /// Reads one job of a request, checking everything but the kind's existence.
    static func enqueueRequest(_ value: JSON, path: String) throws -> EnqueueRequest {
        let body = try ObjectReader(value, path: path, allowed: enqueueFields)
        let kind = try body.require("kind") { try body.string($0, maxLength: 200) }
        let args = try body.object("args") ?? .object([])
        // The bounds every face holds args to (ArgsBounds; the SQL functions check the same),
        // so the 422 names the field here rather than in a database error.
        if let violation = ArgsBounds.check(args, root: body.field("args")) {
            throw APIError.invalid(violation.path, violation.message)
        }
        return EnqueueRequest(
            kind: kind, args: JSONText(args.text), queue: try body.string("queue", maxLength: 200) ?? "default",
            priority: try body.int("priority", in: 0...9) ?? 0, runAt: try body.date("run_at"),
            maxAttempts: try body.int("max_attempts", in: 1...1000),
            uniqueKey: try body.string("unique_key", maxLength: 1000), serialKey: try body.string("serial_key", maxLength: 1000),
            limitKey: try body.string("limit_key", maxLength: 1000))
    }

    /// 422 unless a worker of this installation can run `kind`: a job nobody runs would
    /// wait forever. A sync job must also name an existing connection; it is enqueued
    /// through `ledgersync.enqueue_sync` (`insert`), which gives it the serial and limit keys
    /// and the customer SQL callers get, unless the client set its own keys: without them a
    /// payment could overtake its invoice, and the workers together could exceed the
    /// account's concurrency limit.
    func prepared(_ request: EnqueueRequest, field: String, argsField: String) async throws -> EnqueueRequest {
        try SystemJobKinds.refuse(request.kind, field: field)
        try await checkRunnable(request, field: field, argsField: argsField)
        return request
    }

    /// Enqueues one prepared job in the transaction on `connection`: a sync job in one
    /// `enqueue_sync` call, any other job through `JobQueue`. Whether it is new (false when
    /// an unfinished job held its unique key). `enqueue_sync`'s refusals (a customer_id
    /// that contradicts the document, a document that is not an object) are 422s naming
    /// the field.
    func insert(_ job: EnqueueRequest, field: String, argsField: String, on connection: Connection) async throws -> (
        id: Int64, created: Bool
    ) {
        guard let sync = SyncQueue.Request(job) else {
            return try await queue.enqueueReportingCreated(job, on: connection)
        }
        let id: Int64
        do {
            id = try await SyncQueue(pool: queue.pool).enqueue(sync, on: connection)
        } catch let error as PostgresError where error.sqlState == "22023" {
            let message = error.message.split(whereSeparator: \.isNewline).first.map(String.init) ?? error.message
            let named =
                message.contains("customer_id")
                ? "\(argsField).customer_id"
                : message.contains("no connection")
                    ? "\(argsField).connection_id"
                    : message.contains("kind must be") ? field : argsField
            throw APIError.invalid(named, message)
        }
        return (id, try await queue.wasCreatedInThisTransaction(jobID: id, on: connection))
    }

    private func checkRunnable(_ request: EnqueueRequest, field: String, argsField: String) async throws {
        if !knownKinds.contains(request.kind) {
            let rows = try await queue.pool.query(APISQL.jobKindPublished, [request.kind]).rows
            guard try rows[0].decode("known", as: Bool.self) else {
                throw APIError.invalid(
                    field,
                    "unknown job kind \"\(request.kind.prefix(60))\" (known: \(knownKinds.sorted().joined(separator: ", ")), and any kind a worker has published)"
                )
            }
        }
        guard SyncJobKind(rawValue: request.kind) != nil else { return }
        let args = try JSONParser.parse(Array(request.args.text.utf8))
        guard case .string(let text)? = args["connection_id"], let id = UUID(uuidString: text) else {
            throw APIError.invalid("\(argsField).connection_id", "a \(request.kind) job needs the UUID of its connection")
        }
        guard try await connections.exists(id) else {
            throw APIError.invalid("\(argsField).connection_id", "no connection \(id.uuidString.lowercased())")
        }
    }

    func enqueue(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let job = try await prepared(
            try Self.enqueueRequest(try await readJSONBody(request, context: context), path: ""), field: "kind", argsField: "args")
        // The job is read back in the transaction that inserts it: if reading it fails, the
        // insert rolls back with it, so no error answer leaves a job behind for a client's
        // retry to duplicate. Views.job cannot fail, and the answer is built before commit.
        let (record, created) = try await queue.pool.withTransaction { connection in
            let (id, created) = try await insert(job, field: "kind", argsField: "args", on: connection)
            guard let record = try await queue.job(id: id, on: connection) else {
                throw APIError.notFound("job \(id) was pruned meanwhile")
            }
            return (record, created)
        }
        return .json(
            .object([
                ("job", Views.job(record)), ("created", .bool(created)),
                // The client's retry of a request with a unique key finds the job it made.
                (
                    "message",
                    .string(created ? "enqueued" : "a job with this unique_key is already unfinished; returning it, nothing enqueued")
                ),
            ]),
            status: created ? .created : .ok)
    }

    func enqueueBatch(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: ["jobs"])
        let items = try body.require("jobs") { try body.array($0, maxCount: Self.maxBatch) }
        guard !items.isEmpty else { throw APIError.invalid("jobs", "must hold at least one job") }
        var jobs: [EnqueueRequest] = []
        for (index, item) in items.enumerated() {
            jobs.append(
                try await prepared(
                    try Self.enqueueRequest(item, path: "jobs[\(index)]"), field: "jobs[\(index)].kind", argsField: "jobs[\(index)].args"))
        }
        // One transaction: all or nothing.
        let results = try await queue.pool.withTransaction { connection in
            var results: [(id: Int64, created: Bool)] = []
            for (index, job) in jobs.enumerated() {
                results.append(try await insert(job, field: "jobs[\(index)].kind", argsField: "jobs[\(index)].args", on: connection))
            }
            return results
        }
        let createdCount = results.filter(\.created).count
        return .json(
            .object([
                ("jobs", .array(results.map { .object([("id", .int($0.id)), ("created", .bool($0.created))]) })),
                ("created", .int(createdCount)),
                ("existing", .int(results.count - createdCount)),
            ]),
            status: createdCount > 0 ? .created : .ok)
    }

    // MARK: - Read

    /// The filter of `GET /v1/jobs` (query) and of bulk retry/cancel (body).
    struct Filter {
        var states: [JobState]?
        var kind: String?
        var queue: String?
        var connectionID: UUID?
        var createdAfter: Date?
        var createdBefore: Date?

        var isEmpty: Bool {
            states == nil && kind == nil && queue == nil && connectionID == nil && createdAfter == nil && createdBefore == nil
        }

        func jobFilter(limit: Int, beforeID: Int64? = nil) -> JobFilter {
            JobFilter(
                states: states, kind: kind, queue: queue, beforeID: beforeID, limit: limit,
                argsContain: connectionID.map { JSONText(JSON.object([("connection_id", .string($0.uuidString.lowercased()))]).text) },
                createdAfter: createdAfter, createdBefore: createdBefore)
        }

        static func states(_ text: String, field: String) throws -> [JobState] {
            try text.split(separator: ",", omittingEmptySubsequences: false).map { name in
                guard let state = JobState(rawValue: name.trimmingCharacters(in: .whitespaces)) else {
                    throw APIError.invalid(
                        field, "unknown state \"\(name.prefix(40))\" (states: \(JobState.allCases.map(\.rawValue).joined(separator: ", ")))"
                    )
                }
                return state
            }
        }
    }

    func list(_ request: Request) async throws -> Response {
        let query = try QueryReader(request)
        var filter = Filter()
        filter.states = try query.string("state").map { try Filter.states($0, field: "state") }
        filter.kind = try query.string("kind")
        filter.queue = try query.string("queue")
        filter.connectionID = try query.uuid("connection_id")
        filter.createdAfter = try query.date("created_after")
        filter.createdBefore = try query.date("created_before")
        let limit = try query.int("limit", in: 1...Self.maxPageSize) ?? Self.defaultPageSize
        var beforeID: Int64?
        if let cursor = try query.string("cursor") {
            guard let id = Int64(cursor), id > 0 else { throw APIError.invalid("cursor", "is not a cursor this API gave out") }
            beforeID = id
        }
        // One more than asked, to know whether there is a next page.
        let jobs = try await queue.list(filter.jobFilter(limit: limit + 1, beforeID: beforeID))
        let page = Array(jobs.prefix(limit))
        let nextCursor: JSON = jobs.count > limit ? .string(String(page.last!.id)) : .null
        return .json(.object([("jobs", .array(page.map(Views.job))), ("next_cursor", nextCursor)]))
    }

    func show(_ context: APIRequestContext) async throws -> Response {
        let id = try pathID(context)
        guard let job = try await queue.job(id: id) else { throw APIError.notFound("no job with id \(id)", field: "id") }
        // What a waiting sync job waits for (sync migrations 007, 009); null otherwise.
        let wait = job.state == .available || job.state == .retryable ? try await DependencyWaits.wait(jobID: id, pool: queue.pool) : nil
        // What a sync job that succeeded left for a person to look at (sync migration 012).
        let warnings = try await JobWarnings.warnings(jobID: id, pool: queue.pool)
        return .json(.object([("job", Views.job(job, waitingFor: wait, warnings: warnings))]))
    }

    // MARK: - Retry and cancel

    func retryOne(_ context: APIRequestContext) async throws -> Response {
        let id = try pathID(context)
        let moved = try await queue.retry(JobFilter(id: id, limit: 1))
        guard let job = try await queue.job(id: id) else { throw APIError.notFound("no job with id \(id)", field: "id") }
        guard !moved.isEmpty else {
            if [.failed, .cancelled, .retryable].contains(job.state), let key = job.uniqueKey {
                throw APIError.conflict("job \(id) cannot be retried: another unfinished job holds its unique key \"\(key.prefix(80))\"")
            }
            throw APIError.conflict("job \(id) is \(job.state.rawValue); only failed, cancelled or retryable jobs can be retried")
        }
        return .json(.object([("job", Views.job(job))]))
    }

    func cancelOne(_ context: APIRequestContext) async throws -> Response {
        let id = try pathID(context)
        let cancelled = try await queue.cancel(JobFilter(id: id, limit: 1))
        guard let job = try await queue.job(id: id) else { throw APIError.notFound("no job with id \(id)", field: "id") }
        guard !cancelled.isEmpty else {
            throw APIError.conflict("job \(id) is \(job.state.rawValue); only available, retryable or running jobs can be cancelled")
        }
        return .json(.object([("job", Views.job(job))]))
    }

    static let bulkFields: Set<String> = ["state", "kind", "queue", "connection_id", "created_after", "created_before", "limit"]

    /// `POST /v1/jobs/retry` and `/v1/jobs/cancel`: every job matching a filter, which must
    /// not be empty (an empty body would otherwise mean "every job").
    func bulk(_ request: Request, _ context: APIRequestContext, retry: Bool) async throws -> Response {
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: Self.bulkFields)
        var filter = Filter()
        if body.has("state") {
            if let list = try? body.stringArray("state", maxCount: JobState.allCases.count) {
                guard !list.isEmpty else { throw APIError.invalid("state", "must name at least one state") }
                filter.states = try list.map { try Filter.states($0, field: "state")[0] }
            } else {
                filter.states = try body.string("state").map { try Filter.states($0, field: "state") }
            }
        }
        filter.kind = try body.string("kind", maxLength: 200)
        filter.queue = try body.string("queue", maxLength: 200)
        filter.connectionID = try body.uuid("connection_id")
        filter.createdAfter = try body.date("created_after")
        filter.createdBefore = try body.date("created_before")
        let limit = try body.int("limit", in: 1...Self.maxBulk) ?? Self.maxBulk
        guard !filter.isEmpty else {
            throw APIError.invalid("body", "give at least one of state, kind, queue, connection_id, created_after, created_before")
        }
        let ids = retry ? try await queue.retry(filter.jobFilter(limit: limit)) : try await queue.cancel(filter.jobFilter(limit: limit))
        return .json(.object([("ids", .array(ids.map(JSON.int))), ("count", .int(ids.count))]))
    }

    // MARK: - Stats

    func stats() async throws -> Response {
        let rows = try await queue.stats()
        let throughput = try await queue.throughput()
        func totals(_ key: (JobStatsRow) -> String) -> JSON {
            var sums: [String: Int64] = [:]
            for row in rows { sums[key(row), default: 0] += row.jobs }
            return .object(sums.sorted { $0.key < $1.key }.map { (key: $0.key, value: JSON.int($0.value)) })
        }
        var byState: [(key: String, value: JSON)] = []
        for state in JobState.allCases {
            byState.append((state.rawValue, .int(rows.filter { $0.state == state }.reduce(Int64(0)) { $0 + $1.jobs })))
        }
        let oldest = rows.compactMap(\.oldestRunnableSeconds).max()
        return .json(
            .object([
                ("by_state", .object(byState)),
                ("by_kind", totals(\.kind)),
                ("by_queue", totals(\.queue)),
                (
                    "groups",
                    .array(
                        rows.map { row in
                            .object([
                                ("queue", .string(row.queue)), ("kind", .string(row.kind)), ("state", .string(row.state.rawValue)),
                                ("jobs", .int(row.jobs)), ("oldest_runnable_seconds", row.oldestRunnableSeconds.map(JSON.double) ?? .null),
                            ])
                        })
                ),
                ("oldest_available_age_seconds", oldest.map(JSON.double) ?? .null),
                ("completed_last_minute", .int(throughput.completedLastMinute)),
                ("completed_last_hour", .int(throughput.completedLastHour)),
            ]))
    }
}
