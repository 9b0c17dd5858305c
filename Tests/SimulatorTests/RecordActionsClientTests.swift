import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

/// Must-show 4 through the client: `NetSuiteProvider.perform` (the `RecordActions`
/// capability) against the simulator over real HTTP, signed with TBA: create, get, update,
/// upsert, delete and a SuiteQL search on `contact` and on a custom record.
@Suite("NetSuite record actions through the client", .timeLimit(.minutes(2)))
struct RecordActionsClientTests {
    static func provider(_ harness: SimulatorHarness) -> NetSuiteProvider {
        NetSuiteProvider(client: LinkingTests.client(harness))
    }

    static func object(_ text: String) throws -> ExactJSON { try ExactJSON.parse(Data(text.utf8)) }

    @Test("contact and customrecord_project: create, get, update, upsert, SuiteQL, delete")
    func lifecycle() async throws {
        try await SimulatorHarness.run { harness in
            let provider = Self.provider(harness)
            for type in ["contact", "customrecord_project"] {
                let created = try await provider.perform(
                    .create(recordType: type, body: try Self.object(#"{"name": "Ada", "rank": 1.50}"#)))
                let id = try #require(created.id)
                #expect(harness.simulator.genericRecord(type, internalID: id)?.string("name") == "Ada")

                let got = try await provider.perform(.get(recordType: type, id: .internalID(id)))
                #expect(got.found && got.record?["rank"] == .number("1.50") && got.id == id)

                let updated = try await provider.perform(
                    .update(
                        recordType: type, id: .internalID(id), body: try Self.object(#"{"name": "Ada King", "externalId": "x-\#(type)"}"#)))
                #expect(updated.id == id)
                let byExternalID = try await provider.perform(.get(recordType: type, id: .externalID("x-\(type)")))
                #expect(byExternalID.record?["name"] == .string("Ada King") && byExternalID.record?["rank"] == .number("1.50"))

                let upserted = try await provider.perform(
                    .upsert(recordType: type, externalID: "x-\(type)", body: try Self.object(#"{"rank": 2}"#)))
                #expect(upserted.id == id)
                let other = try await provider.perform(
                    .upsert(recordType: type, externalID: "y-\(type)", body: try Self.object(#"{"name": "Grace"}"#)))
                #expect(other.id != id)

                let found = try await provider.perform(
                    .query(
                        "SELECT id, name, rank FROM \(type) WHERE externalid IN ('x-\(type)', 'y-\(type)') ORDER BY name", limit: 10,
                        offset: 0))
                #expect(
                    found.rows == [
                        .object([("id", .string(id)), ("name", .string("Ada King")), ("rank", .string("2"))]),
                        .object([("id", .string(other.id ?? "")), ("name", .string("Grace"))]),
                    ])
                #expect(found.hasMore == false && found.totalResults == 2)
                let paged = try await provider.perform(.query("SELECT id FROM \(type) ORDER BY id", limit: 1, offset: 1))
                #expect(paged.rows?.count == 1 && paged.hasMore == false && paged.totalResults == 2)

                let deleted = try await provider.perform(.delete(recordType: type, id: .internalID(id)))
                #expect(deleted.id == id)
                let gone = try await provider.perform(.get(recordType: type, id: .internalID(id)))
                #expect(!gone.found && gone.record == nil)
                await #expect(throws: SyncError.self) { _ = try await provider.perform(.delete(recordType: type, id: .internalID(id))) }
                _ = try await provider.perform(.delete(recordType: type, id: .externalID("y-\(type)")))
                #expect(harness.simulator.genericRecords(type).isEmpty)
            }
        }
    }

    @Test("inputs are validated before any request, naming the field")
    func validation() async throws {
        try await SimulatorHarness.run { harness in
            let provider = Self.provider(harness)
            let cases: [(RecordAction, String)] = [
                (.create(recordType: "contact/../x", body: .object([])), "record_type"),
                (.create(recordType: "9contact", body: .object([])), "record_type"),
                (.get(recordType: "contact", id: .internalID("12a")), "id"),
                (.delete(recordType: "contact", id: .externalID("a b")), "external_id"),
                (.upsert(recordType: "contact", externalID: "a/b", body: .object([])), "external_id"),
                (.update(recordType: "contact", id: .internalID("1"), body: .array([])), "body"),
                (.query("SELECT id FROM contact", limit: 0, offset: 0), "limit"),
                (.query("  ", limit: 10, offset: 0), "query"),
            ]
            for (action, field) in cases {
                do {
                    _ = try await provider.perform(action)
                    Issue.record("accepted: \(action)")
                } catch let error as StoreError {
                    #expect(error.field == field, "\(action): \(error)")
                }
            }
            #expect(harness.simulator.stats.requests == 0)
        }
    }
}
