import ExactJSON
import Foundation
import Sync

// Generic record actions on NetSuite (`RecordActions`, docs/record-actions.md).
//
// Oracle NetSuite Help Center:
// - "Creating a Record Instance" (section_1545141395): POST …/record/v1/{type} with the body;
//   204 and the new record's URL in Location.
// - "Getting a Record Instance" / "Updating a Record Instance" (section_1545142173): GET and
//   PATCH …/record/v1/{type}/{id}; omitted fields are unchanged.
// - "Using the Upsert Operation" and "Using External IDs": PUT …/{type}/eid:{externalId}.
// - "Deleting a Record Instance" (article_0624125335): DELETE …/record/v1/{type}/{id}, 204.
// - "Using CRUD Operations on Custom Records, Custom Lists, and Custom Transactions v1"
//   (section_158100110171): the same operations on custom records (`customrecord_…`).
// - SuiteQL: see NetSuiteQuery.swift (`NetSuiteClient.suiteQL`, signed limit/offset).
extension NetSuiteProvider: RecordActions {
    public func perform(_ action: RecordAction) async throws -> RecordActionResult {
        try await client.perform(try action.validated())
    }
}

extension NetSuiteClient {
    /// Runs one validated action (see `NetSuiteProvider.perform`).
    public func perform(_ action: RecordAction) async throws -> RecordActionResult {
        switch action {
        case .create(let type, let body):
            let response = try await send(
                method: "POST", url: "\(account.restBaseURL)/\(type)", body: Data(body.description.utf8))
            guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
            guard let id = Self.internalID(fromLocation: response.header("Location"), recordType: type) else {
                // Not safe to repeat blindly (a POST creates again): the job fails, naming why.
                throw SyncError(.permanent, "NetSuite created a \(type) but answered without a usable Location header")
            }
            return RecordActionResult(id: id)
        case .get(let type, let id):
            let response = try await send(method: "GET", url: url(type, id), body: nil)
            if response.status == 404 { return RecordActionResult(found: false) }
            guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
            guard let record = try? ExactJSON.parse(response.body) else {
                throw SyncError(.transient, "NetSuite answered GET \(type) with a body that is not JSON")
            }
            return RecordActionResult(id: record["id"]?.stringValue ?? Self.plainID(id), record: record)
        case .update(let type, let id, let body):
            let response = try await send(
                method: "PATCH", url: url(type, id), body: Data(body.description.utf8))
            guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
            return RecordActionResult(id: Self.internalID(fromLocation: response.header("Location"), recordType: type) ?? Self.plainID(id))
        case .upsert(let type, let externalID, let body):
            return RecordActionResult(id: try await upsert(recordType: type, externalID: externalID, body: body))
        case .delete(let type, let id):
            let response = try await send(method: "DELETE", url: url(type, id), body: nil)
            guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
            return RecordActionResult(id: Self.plainID(id))
        case .query(let text, let limit, let offset):
            let page = try await suiteQLRows(text, limit: limit, offset: offset)
            return RecordActionResult(rows: page.rows, hasMore: page.hasMore, totalResults: page.totalResults)
        }
    }

    private func url(_ type: String, _ id: RecordActionID) -> String {
        switch id {
        case .internalID(let internalID): "\(account.restBaseURL)/\(type)/\(internalID)"
        case .externalID(let externalID): "\(account.restBaseURL)/\(type)/eid:\(externalID)"
        }
    }

    private static func plainID(_ id: RecordActionID) -> String? {
        if case .internalID(let internalID) = id { return internalID }
        return nil
    }

    /// One SuiteQL page with its rows as NetSuite answered them (each row's `links` left out).
    func suiteQLRows(_ query: String, limit: Int, offset: Int) async throws -> (rows: [ExactJSON], hasMore: Bool, totalResults: Int?) {
        let url = "\(suiteQLURL)?limit=\(limit)&offset=\(offset)"
        let body = ExactJSON.object([("q", .string(query))])
        let response = try await send(
            method: "POST", url: url, body: Data(body.description.utf8), extraHeaders: [("Prefer", "transient")])
        guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
        guard let answer = try? ExactJSON.parse(response.body), let items = answer["items"]?.arrayValue else {
            throw SyncError(.transient, "NetSuite answered a SuiteQL query without an items list")
        }
        let rows = items.map { item in ExactJSON.object(item.objectMembers.filter { $0.key.lowercased() != "links" }) }
        return (rows, answer["hasMore"]?.boolValue ?? false, answer["totalResults"]?.numberText.flatMap { Int($0) })
    }
}
