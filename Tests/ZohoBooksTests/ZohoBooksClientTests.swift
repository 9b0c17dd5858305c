import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import SyncTesting
import Testing

@testable import ZohoBooks

/// The Zoho Books client over real HTTP against the simulator: the envelope, the four error
/// classes, and access tokens from the shared store (single-flight, renewed once after a 401).
@Suite("Zoho Books client against the simulator", .timeLimit(.minutes(2)))
struct ZohoBooksClientTests {
    static let contact = ExactJSON.object([("contact_name", .string("Client Test Ltd")), ("contact_type", .string("customer"))])

    @Test("a call carries organization_id and the token; the envelope is answered with code 0")
    func envelope() async throws {
        try await ZohoTestBed.run { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            let created = try await client.send("POST", "contacts", body: Self.contact)
            #expect(created["code"]?.numberText == "0")
            let id = try #require(created["contact"]?["contact_id"]?.stringValue)
            let read = try await client.send("GET", "contacts/\(id)")
            #expect(read["contact"]?["contact_name"]?.stringValue == "Client Test Ltd")
            #expect(client.url("contacts", query: [("page", "2")]).hasSuffix("/books/v3/contacts?organization_id=10234695&page=2"))
        }
    }

    @Test("HTTP 400 with a non-zero code is permanent, with Zoho's message and the code as provider code")
    func refusedIsPermanent() async throws {
        try await ZohoTestBed.run { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            let error = await #expect(throws: SyncError.self) {
                try await client.send("POST", "contacts", body: .object([("contact_type", .string("customer"))]))
            }
            #expect(error?.errorClass == .permanent)
            #expect(error?.providerCode == "4")
            #expect(error?.message.contains("Invalid value passed for contact_name") == true, "\(String(describing: error))")
            // A record that does not exist: 404 code 1002, permanent.
            let missing = await #expect(throws: SyncError.self) { try await client.send("GET", "contacts/460000000099999") }
            #expect(missing?.errorClass == .permanent)
            #expect(missing?.providerCode == "1002")
        }
    }

    @Test("a 401 renews the token once in the store and the request succeeds; a second 401 is permanent")
    func unauthorizedOnceThenRenewed() async throws {
        try await ZohoTestBed.run { bed in
            let tokens = InMemoryTokenStore()
            let client = try bed.client(tokens: tokens)
            _ = try await client.send("GET", "contacts")
            #expect(await tokens.issued == 1)
            bed.simulator.expireAccessTokens()
            _ = try await client.send("POST", "contacts", body: Self.contact)
            #expect(await tokens.issued == 2)
            #expect(await tokens.invalidated == 1)
            #expect(bed.records("contacts").count == 1)

            // A token Zoho never issued: refused, renewed once (the store hands out the same
            // bad one), refused again: permanent, and nothing was written.
            let fixed = FixedTokenStore(token: "1000.not-a-token")
            let bad = try bed.client(tokens: fixed)
            let error = await #expect(throws: SyncError.self) { try await bad.send("POST", "contacts", body: Self.contact) }
            #expect(error?.errorClass == .permanent)
            #expect(error?.message.contains("HTTP 401") == true)
            #expect(error?.message.contains("not-a-token") == false)
            #expect(await fixed.invalidated == 1)
            #expect(bed.records("contacts").count == 1)
        }
    }

    @Test("a 429 of the request window is rate_limited without a hint; the daily quota says its day")
    func rateLimited() async throws {
        var configuration = ZohoBooksSimulator.Configuration()
        configuration.requestsPerWindow = 2
        try await ZohoTestBed.run(configuration) { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            _ = try await client.send("GET", "contacts")
            _ = try await client.send("GET", "contacts")
            let error = await #expect(throws: SyncError.self) { try await client.send("GET", "contacts") }
            #expect(error?.errorClass == .rateLimited)
            #expect(error?.retryAfter == nil)
            #expect(error?.exhaustsWindowsUpTo == nil)
        }
        var daily = ZohoBooksSimulator.Configuration()
        daily.dailyQuota = 1
        try await ZohoTestBed.run(daily) { bed in
            let client = try bed.client(tokens: InMemoryTokenStore())
            _ = try await client.send("GET", "contacts")
            let error = await #expect(throws: SyncError.self) { try await client.send("GET", "contacts") }
            #expect(error?.errorClass == .rateLimited)
            #expect(error?.exhaustsWindowsUpTo == .seconds(86_400))
        }
    }

    @Test("500, a lost answer and a dropped connection are transient; a lost answer holds the slot")
    func transientFaults() async throws {
        for fault in ZohoBooksSimulator.Fault.allCases {
            var configuration = ZohoBooksSimulator.Configuration()
            configuration.faultRate = 1
            configuration.faults = [fault]
            configuration.timeoutDelay = .seconds(6)
            try await ZohoTestBed.run(configuration) { bed in
                let client = try ZohoBooksClient(
                    connection: bed.connection(),
                    context: bed.context(tokens: InMemoryTokenStore(), requestTimeout: .seconds(2), serverTimeLimit: .seconds(42)))
                let error = await #expect(throws: SyncError.self) { try await client.send("POST", "contacts", body: Self.contact) }
                #expect(error?.errorClass == .transient, "\(fault): \(String(describing: error))")
                if fault == .timeout {
                    #expect(error?.providerMayStillRunFor == .seconds(42), "\(String(describing: error))")
                } else {
                    #expect(error?.providerMayStillRunFor == nil)
                }
            }
        }
    }

    @Test("many concurrent requests of a new client share one token request at the accounts server")
    func tokensSingleFlight() async throws {
        try await ZohoTestBed.run { bed in
            let before = bed.simulator.stats.tokenRequests
            let tokens = InMemoryTokenStore()
            let client = try bed.client(tokens: tokens)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for _ in 0..<20 { group.addTask { _ = try await client.send("GET", "contacts") } }
                try await group.waitForAll()
            }
            #expect(bed.simulator.stats.tokenRequests - before == 1)
            #expect(await tokens.issued == 1)
        }
    }

    @Test("answers that are not the envelope are never quoted, and are classified by their status")
    func notTheEnvelope() throws {
        let page = HTTPResponse(status: 502, headers: [], body: Data("<html>upstream secret-ish page</html>".utf8))
        let error = #expect(throws: SyncError.self) { try ZohoErrorParser.envelope(page, method: "PUT", path: "invoices") }
        #expect(error?.errorClass == .transient)
        #expect(error?.message.contains("html") == false)
        let ok = HTTPResponse(status: 200, headers: [], body: Data("not json".utf8))
        #expect(
            (#expect(throws: SyncError.self) { try ZohoErrorParser.envelope(ok, method: "PUT", path: "invoices") })?.errorClass
                == .transient)
        let concurrent = HTTPResponse(
            status: 429, headers: [],
            body: Data(#"{"code": 1070, "message": "You have exceeded the maximum number of concurrent API calls."}"#.utf8))
        let busy = #expect(throws: SyncError.self) { try ZohoErrorParser.envelope(concurrent, method: "GET", path: "contacts") }
        #expect(busy?.errorClass == .rateLimited)
        #expect(busy?.exhaustsWindowsUpTo == .zero)
        #expect(ZohoBooksClient.minValidity(forLifetime: .seconds(3600)) == .seconds(300))
        #expect(ZohoBooksClient.minValidity(forLifetime: .seconds(20)) == .seconds(10))
    }
}
