import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

/// What linking an existing NetSuite record needs, client and simulator together over real
/// HTTP: SuiteQL (`POST …/query/v1/suiteql`, the subset `refs match` sends) and PATCH / GET by
/// internal id, each rule as Oracle's page states it (Sources/Simulators/NetSuite/SuiteQL.swift,
/// RecordUpdate.swift).
@Suite("SuiteQL and records by internal id", .timeLimit(.minutes(2)))
struct LinkingTests {
    static func client(_ harness: SimulatorHarness) -> NetSuiteClient {
        NetSuiteClient(account: harness.account, credentials: SimulatorHarness.credentials, http: harness.http)
    }

    /// Customers made "in NetSuite" (not by an upsert of ledgersync): two with one name, one
    /// with a quote in its name.
    @discardableResult
    static func seed(_ simulator: NetSuiteSimulator) throws -> [NetSuiteSimulator.Record] {
        func customer(_ externalID: String, _ name: String, _ email: String) throws -> NetSuiteSimulator.Record {
            try simulator.addRecord(
                .customer, externalID: externalID,
                body: .object([
                    ("companyName", .string(name)), ("email", .string(email)), ("subsidiary", .object([("id", .string("1"))])),
                ]))
        }
        return [
            try customer("crm-1", "Dup Co", "one@dup.example"),
            try customer("crm-2", "Dup Co", "two@dup.example"),
            try customer("crm-3", "O'Brien & Sons", "ob@example.com"),
        ]
    }

    @Test("an exact email finds one customer; the answer has Oracle's collection shape with lower-case field names")
    func exactEmail() async throws {
        try await SimulatorHarness.run { harness in
            let seeded = try Self.seed(harness.simulator)
            let client = Self.client(harness)
            let page = try await client.suiteQL(try CustomerMatch.query(.email, "ob@example.com"))
            #expect(
                page.items == [
                    ["id": seeded[2].internalID, "companyname": "O'Brien & Sons", "email": "ob@example.com", "externalid": "crm-3"]
                ])
            #expect(page.count == 1 && page.totalResults == 1 && !page.hasMore && page.offset == 0)
            #expect(harness.simulator.stats.queries == 1)
            #expect(harness.simulator.stats.writes == 0, "a query writes nothing")

            // `=` compares exactly, case included.
            #expect(try await client.suiteQL(try CustomerMatch.query(.email, "OB@example.com")).items.isEmpty)
        }
    }

    @Test("a quote in a value is escaped: the name matches, and a value crafted to widen the query matches nothing")
    func quotesAreEscaped() async throws {
        try await SimulatorHarness.run { harness in
            let seeded = try Self.seed(harness.simulator)
            let client = Self.client(harness)
            #expect(
                try CustomerMatch.query(.name, "O'Brien & Sons")
                    == "SELECT id, companyname, email, externalid FROM customer WHERE companyname = 'O''Brien & Sons' ORDER BY id")
            let found = try await CustomerMatch.candidates(.name, "O'Brien & Sons", client: client)
            #expect(found.map(\.internalID) == [seeded[2].internalID])
            // Unescaped, this would read `companyname = 'x' OR email = 'ob@example.com'`.
            let injected = try await CustomerMatch.candidates(.name, "x' OR email = 'ob@example.com", client: client)
            #expect(injected.isEmpty)
            #expect(throws: SyncError.self) { try CustomerMatch.query(.name, "line\nbreak") }
        }
    }

    @Test("paging: limit and offset are signed query parameters; hasMore, totalResults and the next link follow them")
    func paging() async throws {
        try await SimulatorHarness.run { harness in
            let seeded = try Self.seed(harness.simulator)
            let client = Self.client(harness)
            let query = try CustomerMatch.query(.name, "Dup Co")
            let first = try await client.suiteQL(query, limit: 1, offset: 0)
            #expect(first.items.map { $0["id"] } == [seeded[0].internalID])
            #expect(first.hasMore && first.totalResults == 2 && first.count == 1)
            let second = try await client.suiteQL(query, limit: 1, offset: 1)
            #expect(second.items.map { $0["id"] } == [seeded[1].internalID])
            #expect(!second.hasMore && second.offset == 1)
            let all = try await client.suiteQLAll(query, pageSize: 1)
            #expect(all.compactMap { $0["id"] } == [seeded[0].internalID, seeded[1].internalID])

            // A query parameter changed after signing: the signature no longer holds.
            let signedURL = "\(client.suiteQLURL)?limit=5&offset=0"
            let header = try TBASigner.authorizationHeader(
                method: "POST", url: signedURL, credentials: SimulatorHarness.credentials, account: harness.account)
            let tampered = try await harness.http.execute(
                HTTPRequest(
                    method: "POST", url: "\(client.suiteQLURL)?limit=6&offset=0",
                    headers: [("Authorization", header), ("Content-Type", "application/json"), ("Prefer", "transient")],
                    body: Data(#"{"q": "SELECT id FROM customer WHERE email = 'ob@example.com'"}"#.utf8)))
            #expect(tampered.status == 401)
        }
    }

    @Test("outside the subset, without Prefer: transient, or with another method: refused in the record API's error shape")
    func refusals() async throws {
        try await SimulatorHarness.run { harness in
            try Self.seed(harness.simulator)
            let client = Self.client(harness)
            for query in [
                "SELECT id FROM nosuchtable", "SELECT id FROM transaction WHERE email = 'a'", "SELECT id FROM customer WHERE email LIKE 'a%'",
                "SELECT id FROM customer WHERE email = 'a' OR 1 = 1", "SELECT id FROM customer WHERE email = 'unterminated",
                "SELECT id, balance FROM customer WHERE email = 'a'",
            ] {
                do {
                    _ = try await client.suiteQL(query)
                    Issue.record("accepted: \(query)")
                } catch let error as SyncError {
                    #expect(error.providerCode == "INVALID_PARAMETER", "\(query): \(error)")
                    #expect(error.errorClass == .permanent, "\(query): \(error)")
                }
            }
            let body = #"{"q": "SELECT id FROM customer WHERE email = 'ob@example.com'"}"#
            let noPrefer = try await harness.send("POST", client.suiteQLURL, json: body)
            #expect(noPrefer.status == 400)
            let get = try await harness.send("GET", client.suiteQLURL)
            #expect(get.status == 405)
            let parsed = try ExactJSON.parse(noPrefer.body)
            #expect(parsed["o:errorDetails"]?.arrayValue?.first?["o:errorCode"]?.stringValue == "USER_ERROR")
        }
    }

    @Test("PATCH by internal id: omitted fields kept, null deletes, one write; GET reads it; an unknown id is 404")
    func updateByInternalID() async throws {
        try await SimulatorHarness.run { harness in
            let seeded = try Self.seed(harness.simulator)
            let client = Self.client(harness)
            let id = seeded[0].internalID
            let written = try await client.update(
                recordType: "customer", internalID: id,
                body: .object([("companyName", .string("Dup Co (renamed)")), ("phone", .string("555"))]))
            #expect(written == id)
            var record = try #require(harness.simulator.record(.customer, internalID: id))
            #expect(record.string("companyName") == "Dup Co (renamed)")
            #expect(record.string("email") == "one@dup.example", "an omitted field is unchanged")
            #expect(record.string("phone") == "555")
            #expect(record.externalID == "crm-1" && record.writeCount == 2)
            #expect(harness.simulator.stats.writes == 1)
            #expect(harness.simulator.records(.customer).count == 3, "an update creates nothing")

            _ = try await client.update(recordType: "customer", internalID: id, body: .object([("phone", .null)]))
            record = try #require(harness.simulator.record(.customer, internalID: id))
            #expect(record.string("phone") == nil, "null deletes the field")

            let read = try #require(try await client.get(recordType: "customer", internalID: id))
            #expect(read["companyName"]?.stringValue == "Dup Co (renamed)" && read["id"]?.stringValue == id)
            #expect(try await client.get(recordType: "customer", internalID: "999999") == nil)
            do {
                _ = try await client.update(recordType: "customer", internalID: "999999", body: .object([("phone", .string("1"))]))
                Issue.record("an update of a record that does not exist succeeded")
            } catch let error as SyncError {
                #expect(error.providerCode == "NONEXISTENT_ID", "\(error)")
            }
            // The body is validated as a whole, as an upsert's is.
            do {
                _ = try await client.update(
                    recordType: "customer", internalID: id, body: .object([("subsidiary", .object([("id", .string("77"))]))]))
                Issue.record("an update to an unknown subsidiary succeeded")
            } catch let error as SyncError {
                #expect(error.providerCode == "INVALID_KEY_OR_REF", "\(error)")
            }
        }
    }
}
