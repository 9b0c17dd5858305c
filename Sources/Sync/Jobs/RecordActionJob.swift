import ExactJSON
import Foundation
import JobQueue
import Postgres

/// The args of a `record.action` job (docs/record-actions.md): which connection, which action,
/// and its inputs. `body` is read from the args text exactly (numbers as written).
public struct RecordActionArgs: Codable, Sendable {
    public let connectionID: UUID
    public let action: String
    public let recordType: String?
    public let id: String?
    public let externalID: String?
    public let query: String?
    public let limit: Int?
    public let offset: Int?

    enum CodingKeys: String, CodingKey {
        case connectionID = "connection_id"
        case action
        case recordType = "record_type"
        case id
        case externalID = "external_id"
        case query
        case limit
        case offset
    }

    public init(
        connectionID: UUID, action: String, recordType: String? = nil, id: String? = nil, externalID: String? = nil, query: String? = nil,
        limit: Int? = nil, offset: Int? = nil
    ) {
        self.connectionID = connectionID
        self.action = action
        self.recordType = recordType
        self.id = id
        self.externalID = externalID
        self.query = query
        self.limit = limit
        self.offset = offset
    }

    /// The action these args ask for, with `body` (the args' `body` member), validated: every
    /// error names the field.
    public func action(body: ExactJSON?) throws -> RecordAction {
        func type() throws -> String {
            guard let recordType else { throw StoreError.invalid("record_type", "is required for \(action)") }
            return try RecordAction.validateRecordType(recordType)
        }
        func recordID() throws -> RecordActionID {
            switch (id, externalID) {
            case (let id?, nil): return .internalID(try RecordAction.validateInternalID(id))
            case (nil, let externalID?): return .externalID(try RecordAction.validateExternalID(externalID))
            case (.some, .some): throw StoreError.invalid("id", "give id or external_id, not both")
            case (nil, nil): throw StoreError.invalid("id", "id or external_id is required for \(action)")
            }
        }
        func requiredBody() throws -> ExactJSON {
            guard let body else { throw StoreError.invalid("body", "is required for \(action)") }
            return body
        }
        let built: RecordAction
        switch action {
        case "create": built = .create(recordType: try type(), body: try requiredBody())
        case "get": built = .get(recordType: try type(), id: try recordID())
        case "update": built = .update(recordType: try type(), id: try recordID(), body: try requiredBody())
        case "upsert":
            guard let externalID else { throw StoreError.invalid("external_id", "is required for upsert") }
            built = .upsert(recordType: try type(), externalID: externalID, body: try requiredBody())
        case "delete": built = .delete(recordType: try type(), id: try recordID())
        case "query":
            guard let query else { throw StoreError.invalid("query", "is required for query") }
            built = .query(query, limit: limit ?? 1000, offset: offset ?? 0)
        default:
            throw StoreError.invalid("action", "must be create, get, update, upsert, delete or query, got \"\(action.prefix(40))\"")
        }
        return try built.validated()
    }

    /// `body` of a job's args text, exactly as written; nil when absent or null.
    public static func body(inArgs text: String) throws -> ExactJSON? {
        let root: ExactJSON
        do {
            root = try ExactJSON.parse(Data(text.utf8))
        } catch {
            throw StoreError.invalid("args", "are not JSON")
        }
        switch root["body"] {
        case nil, .null?: return nil
        case let body?: return body
        }
    }
}

/// The webhook of a finished record action: `record.action_completed` with the result, or
/// `record.action_failed` with the error.
public struct RecordActionEvent: Sendable {
    public static let completed = "record.action_completed"
    public static let failed = "record.action_failed"

    public let jobID: Int64
    public let connectionID: UUID
    public let action: String
    public let recordType: String?
    /// The result (`RecordActionResult.json`) or nil for a failure.
    public let result: ExactJSON?
    public let error: String?

    public var type: String { result != nil ? Self.completed : Self.failed }
    /// One event per job: a retried webhook enqueue finds the same delivery.
    public var id: String { "evt_record_action_\(jobID)" }

    /// The exact bytes signed and sent.
    public func body(now: Date = Date()) -> String {
        var data: [(key: String, value: ExactJSON)] = [
            ("job_id", .number(String(jobID))), ("connection_id", .string(connectionID.uuidString.lowercased())),
            ("action", .string(action)),
        ]
        if let recordType { data.append(("record_type", .string(recordType))) }
        if let result { data.append(("result", result)) }
        if let error { data.append(("error", .string(error))) }
        let stamp = now.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt))
        return ExactJSON.object([
            ("id", .string(id)), ("type", .string(type)), ("created_at", .string(stamp)), ("data", .object(data)),
        ]).description
    }
}

/// A stored record action result (sync migration 019).
public struct RecordActionOutcome: Sendable, Equatable {
    public let jobID: Int64
    public let connectionID: UUID
    public let action: String
    public let recordType: String?
    public let succeeded: Bool
    /// The result's JSON text (`RecordActionResult.json`), nil for a failure.
    public let result: String?
    public let error: String?

    /// The stored outcome of job `jobID`, nil while there is none.
    public static func load(jobID: Int64, pool: ConnectionPool) async throws -> RecordActionOutcome? {
        guard let row = try await pool.query(SyncSQL.recordActionResult, [jobID]).rows.first else { return nil }
        let connection: String = try row.decode("connection_id")
        return RecordActionOutcome(
            jobID: try row.decode("job_id"), connectionID: UUID(uuidString: connection) ?? UUID(), action: try row.decode("action"),
            recordType: try row.decodeIfPresent("record_type"), succeeded: try row.decode("succeeded"),
            result: try row.decodeIfPresent("result"), error: try row.decodeIfPresent("error"))
    }
}

/// `record.action`: one generic action at the connection's provider. It runs under the
/// connection's limit key (enqueue it with `RecordActionJob.enqueue`), so it shares the
/// account's concurrency limit and rate windows with the sync jobs.
public struct RecordActionJob: JobHandler {
    public static let kind = "record.action"
    /// The most result JSON stored and sent (bytes); a larger answer fails the job.
    public static let maxResultBytes = 1 << 20
    let sync: SyncEnvironment
    public var options: JobKindOptions { sync.options.jobOptions }

    public init(sync: SyncEnvironment) { self.sync = sync }

    /// Enqueues an action on connection `args.connectionID` of `provider` (validated first:
    /// errors name the field) and returns the job id. Writes are not repeated blindly: a
    /// create gets 1 attempt (a POST that timed out may have created the record); the others
    /// the kind's default.
    public static func enqueue(_ args: RecordActionArgs, body: ExactJSON?, provider: String, queue: JobQueue) async throws -> Int64 {
        _ = try args.action(body: body)
        var object = try ExactJSON.parse(Data(JSONEncoder().encode(args))).objectMembers.filter { $0.value != .null }
        if let body { object.append(("body", body)) }
        return try await queue.enqueue(
            EnqueueRequest(
                kind: kind, args: JSONText(ExactJSON.object(object).description), maxAttempts: args.action == "create" ? 1 : nil,
                limitKey: SyncEnvironment.limitKey(provider: provider, connection: args.connectionID)))
    }

    /// The provider of connection `id`; `StoreError` not found when there is none.
    public static func provider(of id: UUID, pool: ConnectionPool) async throws -> String {
        let rows = try await pool.query("SELECT provider FROM ledgersync.connections WHERE id = $1::uuid", [id.uuidString]).rows
        guard let provider: String = try rows.first?.decode("provider") else {
            throw StoreError(.notFound, field: "connection_id", "no connection \(id.uuidString.lowercased())")
        }
        return provider
    }

    /// Waits up to `timeout` for the job's stored outcome, nil when it has none by then. Polls
    /// the result table (sync migration 019), pauses growing from 20 ms to a quarter second:
    /// no notification tells another process that a worker finished a job.
    public static func outcome(jobID: Int64, pool: ConnectionPool, timeout: Duration) async throws -> RecordActionOutcome? {
        let deadline = ContinuousClock.now + timeout
        var pause = Duration.milliseconds(20)
        while true {
            if let outcome = try await RecordActionOutcome.load(jobID: jobID, pool: pool) { return outcome }
            let left = deadline - ContinuousClock.now
            guard left > .zero else { return nil }
            try await Task.sleep(for: min(pause, left))
            pause = min(pause * 2, .milliseconds(250))
        }
    }

    public func run(_ args: RecordActionArgs, context: JobContext) async throws {
        do {
            let action = try args.action(body: try RecordActionArgs.body(inArgs: context.job.args.text))
            let connection = try await sync.connections.get(args.connectionID)
            let provider = try await sync.providers.provider(for: connection, context: sync.providerContext)
            guard let actions = provider as? any RecordActions else {
                throw SyncError(.permanent, "provider \(connection.provider) does not support generic record actions")
            }
            let result = try await actions.perform(action)
            context.releaseLimitSlot()
            let json = result.json.description
            guard json.utf8.count <= Self.maxResultBytes else {
                throw SyncError(
                    .permanent,
                    "the provider's answer is \(json.utf8.count) bytes, over the \(Self.maxResultBytes) stored; ask for fewer rows (limit)")
            }
            // The webhook first, then the stored result: whoever sees the result (`?wait=`)
            // may count on the webhook being on its way. A retry after a failed store enqueues
            // the same event id again, which the delivery's unique key turns into nothing.
            try await emit(
                RecordActionEvent(
                    jobID: context.job.id, connectionID: args.connectionID, action: args.action, recordType: args.recordType,
                    result: result.json, error: nil))
            try await store(args, context: context, succeeded: true, result: json, error: nil)
        } catch is CancellationError {
            throw CancellationError()
        } catch {
            if let stillRunning = (error as? SyncError)?.providerMayStillRunFor {
                await sync.holdLimitSlot(context, for: stillRunning)
            }
            var jobError = context.applyingRateLimitCap(to: sync.jobError(for: error, job: context.job))
            if let refusal = error as? SyncError, refusal.errorClass == .dependency {
                // A missing customer or invoice the action names is the caller's to fix: no
                // sync job will create it for this action, so waiting cannot help.
                jobError = JobError(
                    action: .fail, errorClass: SyncError.ErrorClass.permanent.rawValue, message: refusal.message, code: refusal.providerCode
                )
            }
            if sync.isFinal(jobError, job: context.job) {
                let message = String(jobError.message.prefix(2000))
                do {
                    try await emit(
                        RecordActionEvent(
                            jobID: context.job.id, connectionID: args.connectionID, action: args.action, recordType: args.recordType,
                            result: nil, error: message))
                    try await store(args, context: context, succeeded: false, result: nil, error: message)
                } catch {
                    context.logger.error("record action failed; its result could not be stored", metadata: ["error": "\(error)"])
                }
            }
            throw jobError
        }
    }

    private func store(_ args: RecordActionArgs, context: JobContext, succeeded: Bool, result: String?, error: String?) async throws {
        try await context.pool.query(
            SyncSQL.storeRecordActionResult,
            [context.job.id, args.connectionID.uuidString, args.action, args.recordType, succeeded, result, error])
    }

    private func emit(_ event: RecordActionEvent) async throws {
        _ = try await WebhookDelivery.enqueue(
            eventID: event.id, eventType: event.type, body: event.body(), endpoints: sync.endpoints, queue: sync.queue)
    }
}
