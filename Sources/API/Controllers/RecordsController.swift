import ExactJSON
import Foundation
import Hummingbird
import JobQueue
import Sync

/// Generic record actions at a connection's provider (docs/record-actions.md):
///
/// - `POST   /v1/connections/{id}/records/{record_type}` create (body: the record)
/// - `GET    /v1/connections/{id}/records/{record_type}/{record_id}` get
/// - `PATCH  /v1/connections/{id}/records/{record_type}/{record_id}` update (body: the fields)
/// - `PUT    /v1/connections/{id}/records/{record_type}/eid:{external_id}` upsert
/// - `DELETE /v1/connections/{id}/records/{record_type}/{record_id}` delete
/// - `POST   /v1/connections/{id}/query` a query in the provider's language (SuiteQL):
///   `{"query": "…", "limit": 100, "offset": 0}`
///
/// `{record_id}` is an internal id (digits) or `eid:<external id>`. Each enqueues a
/// `record.action` job under the connection's limit key and answers 202 with the job; with
/// `?wait=<seconds>` (1…30) it waits for the job's result and answers 200 with it (or 202 when
/// the time ran out first). A record body is kept exactly as sent (numbers as written).
struct RecordsController {
    let queue: JobQueue

    static let maxWait = 30

    func register(on group: RouterGroup<APIRequestContext>) {
        group.post("connections/:id/records/:record_type") { request, context -> Response in
            try await run(request, context, action: "create", needsID: false, needsBody: true)
        }
        group.get("connections/:id/records/:record_type/:record_id") { request, context -> Response in
            try await run(request, context, action: "get", needsID: true, needsBody: false)
        }
        group.patch("connections/:id/records/:record_type/:record_id") { request, context -> Response in
            try await run(request, context, action: "update", needsID: true, needsBody: true)
        }
        group.put("connections/:id/records/:record_type/:record_id") { request, context -> Response in
            try await run(request, context, action: "upsert", needsID: true, needsBody: true)
        }
        group.delete("connections/:id/records/:record_type/:record_id") { request, context -> Response in
            try await run(request, context, action: "delete", needsID: true, needsBody: false)
        }
        group.post("connections/:id/query") { request, context -> Response in try await query(request, context) }
    }

    /// The body as exact JSON (numbers as written): 400 when it is not JSON.
    func exactBody(_ request: Request, _ context: APIRequestContext) async throws -> ExactJSON {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        do {
            return try ExactJSON.parse(buffer.readableBytesView)
        } catch {
            throw APIError.malformedJSON("the body is not valid JSON: \(error)")
        }
    }

    func run(_ request: Request, _ context: APIRequestContext, action: String, needsID: Bool, needsBody: Bool) async throws -> Response {
        let connectionID = try pathUUID(context)
        let wait = try QueryReader(request).int("wait", in: 1...Self.maxWait)
        guard let recordType = context.parameters.get("record_type")?.removingPercentEncoding else {
            throw APIError.invalid("record_type", "is not valid percent-encoded UTF-8")
        }
        var id: String?
        var externalID: String?
        if needsID {
            guard let text = context.parameters.get("record_id")?.removingPercentEncoding else {
                throw APIError.invalid("record_id", "is not valid percent-encoded UTF-8")
            }
            if text.hasPrefix("eid:") { externalID = String(text.dropFirst(4)) } else { id = text }
            if action == "upsert" && externalID == nil {
                throw APIError.invalid("record_id", "an upsert names the record by external id: …/records/{record_type}/eid:{external_id}")
            }
        }
        let body = needsBody ? try await exactBody(request, context) : nil
        let args = RecordActionArgs(connectionID: connectionID, action: action, recordType: recordType, id: id, externalID: externalID)
        return try await enqueue(args, body: body, wait: wait)
    }

    func query(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let connectionID = try pathUUID(context)
        let wait = try QueryReader(request).int("wait", in: 1...Self.maxWait)
        let body = try ObjectReader(try await readJSONBody(request, context: context), allowed: ["query", "limit", "offset"])
        let text = try body.require("query") { try body.string($0, maxLength: RecordAction.maxQueryLength) }
        let args = RecordActionArgs(
            connectionID: connectionID, action: "query", query: text, limit: try body.int("limit", in: 1...1000),
            offset: try body.int("offset", in: 0...Int(Int32.max)))
        return try await enqueue(args, body: nil, wait: wait)
    }

    func enqueue(_ args: RecordActionArgs, body: ExactJSON?, wait: Int?) async throws -> Response {
        // A StoreError becomes 404 (no such connection) or 422 naming the field (APIError.from).
        let provider = try await RecordActionJob.provider(of: args.connectionID, pool: queue.pool)
        let jobID = try await RecordActionJob.enqueue(args, body: body, provider: provider, queue: queue)
        if let wait, let outcome = try await RecordActionJob.outcome(jobID: jobID, pool: queue.pool, timeout: .seconds(wait)) {
            return try await answer(jobID: jobID, outcome: outcome, status: .ok)
        }
        return try await answer(jobID: jobID, outcome: nil, status: .accepted)
    }

    /// `{"job": …, "result": …}`: the job as `GET /v1/jobs/{id}` shows it, and the stored
    /// outcome (`succeeded`, `result` or `error`) once there is one.
    func answer(jobID: Int64, outcome: RecordActionOutcome?, status: HTTPResponse.Status) async throws -> Response {
        guard let job = try await queue.job(id: jobID) else { throw APIError.notFound("job \(jobID) was pruned meanwhile") }
        var text = #"{"job":"# + Views.job(job).text
        if let outcome {
            text += #","succeeded":"# + (outcome.succeeded ? "true" : "false")
            if let result = outcome.result { text += #","result":"# + result }
            if let error = outcome.error { text += #","error":"# + ExactJSON.string(error).description }
        }
        text += "}"
        return Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }
}
