import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Testing

@Suite("ZohoBooksSimulator limits, faults and inspection", .timeLimit(.minutes(2)))
struct ZohoBooksLimitsTests {
    typealias H = ZohoBooksHarness

    @Test("the request window: N per window, then 429 until the window turns")
    func minuteWindow() async throws {
        // A window long enough that six local calls fit in it on a loaded machine (2 s did not:
        // CI runs the suites side by side on 2 cores; six calls once took 3.4 s).
        try await H.run(.init(requestsPerWindow: 5, minuteWindow: .seconds(8))) { sim in
            let (token, _) = try await sim.exchange()
            // reset() starts the windows now.
            let start = Date()
            sim.simulator.reset()
            var statuses: [Int] = []
            for _ in 0..<6 { statuses.append(try await sim.api("GET", "/contacts", token: token).status) }
            #expect(Date().timeIntervalSince(start) < 8)
            #expect(statuses == [200, 200, 200, 200, 200, 429])
            let refused = try await sim.api("GET", "/contacts", token: token)
            #expect(refused.status == 429)
            #expect(refused.exactJSON?["code"] == .number("44"))
            #expect(sim.simulator.stats.rejectedMinuteWindow == 2)
            // The window is a time: the test waits for it to pass, and every call before is refused.
            var passedAt: Date?
            while passedAt == nil, Date().timeIntervalSince(start) < 20 {
                try await Task.sleep(for: .milliseconds(100))
                if try await sim.api("GET", "/contacts", token: token).status == 200 { passedAt = Date() }
            }
            #expect(try #require(passedAt).timeIntervalSince(start) >= 7.99)
        }
    }

    @Test("the daily quota: 429 with its own code once used up")
    func dailyQuota() async throws {
        try await H.run(.init(dailyQuota: 3)) { sim in
            let (token, _) = try await sim.exchange()
            for _ in 0..<3 { #expect(try await sim.api("GET", "/contacts", token: token).status == 200) }
            let refused = try await sim.api("GET", "/contacts", token: token)
            #expect(refused.status == 429)
            #expect(refused.exactJSON?["code"] == .number("45"))
            #expect(sim.simulator.stats.rejectedDailyQuota == 1)
            #expect(sim.simulator.stats.rejectedMinuteWindow == 0)
        }
    }

    @Test("concurrent calls over the limit get 429")
    func concurrency() async throws {
        try await H.run(.init(concurrencyLimit: 2, latency: .milliseconds(500))) { sim in
            let (token, _) = try await sim.exchange()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<6 { group.addTask { try await sim.api("GET", "/contacts", token: token).status } }
                var all: [Int] = []
                for try await status in group { all.append(status) }
                return all
            }
            #expect(statuses.filter { $0 == 200 }.count >= 2)
            #expect(statuses.filter { $0 == 429 }.count >= 1)
            #expect(statuses.count == 6)
            #expect(sim.simulator.stats.rejectedConcurrent == statuses.filter { $0 == 429 }.count)
        }
    }

    @Test("faults: 500 before the write; the write applied and the answer lost; a dropped connection")
    func faults() async throws {
        let body = #"{"contact_name": "Acme"}"#
        try await H.run(.init(faultRate: 1, faults: [.serverError])) { sim in
            let (token, _) = try await sim.exchange()
            let answer = try await sim.api("POST", "/contacts", token: token, json: body)
            #expect(answer.status == 500)
            #expect(answer.exactJSON?["code"] == .number("1000"))
            #expect(sim.simulator.records("contacts").isEmpty)
        }
        try await H.run(.init(faultRate: 1, faults: [.dropConnection])) { sim in
            let (token, _) = try await sim.exchange()
            await #expect(throws: (any Error).self) { try await sim.api("POST", "/contacts", token: token, json: body) }
            #expect(sim.simulator.records("contacts").count == 1)
            // Reads are never faulted.
            #expect(try await sim.api("GET", "/contacts", token: token).status == 200)
        }
        try await H.run(.init(faultRate: 1, faults: [.timeout], timeoutDelay: .seconds(5))) { sim in
            let (token, _) = try await sim.exchange()
            await #expect(throws: (any Error).self) {
                try await sim.api("POST", "/contacts", token: token, json: body, timeout: .seconds(1))
            }
            #expect(sim.simulator.records("contacts").count == 1)
            #expect(sim.simulator.stats.faultsInjected[.timeout] == 1)
        }
    }

    @Test("the same seed draws the same faults")
    func seeded() async throws {
        func draws() async throws -> [Int] {
            try await H.run(.init(faultRate: 0.5, faults: [.serverError], seed: 7)) { sim in
                let (token, _) = try await sim.exchange()
                var statuses: [Int] = []
                for n in 0..<12 {
                    statuses.append(try await sim.api("POST", "/contacts", token: token, json: #"{"contact_name": "c\#(n)"}"#).status)
                }
                return statuses
            }
        }
        let first = try await draws()
        #expect(first.contains(500) && first.contains(201))
        #expect(try await draws() == first)
    }

    @Test("inspection over HTTP: grant codes, records, stats, token requests without secrets, faults, reset")
    func inspection() async throws {
        try await H.run { sim in
            let issued = try await sim.inspect("POST", "/_simulator/grant-codes", json: #"{"client_id": "\#(H.client.clientID)"}"#)
            #expect(issued.status == 201)
            let code = try #require(issued.exactJSON?["code"]?.stringValue)
            let answer = try await sim.token([
                ("code", code), ("client_id", H.client.clientID), ("client_secret", H.client.clientSecret),
                ("grant_type", "authorization_code"),
            ])
            let token = try #require(answer.exactJSON?["access_token"]?.stringValue)
            _ = try await sim.createContact("Acme", token: token)

            let records = try await sim.inspect("GET", "/_simulator/records/contacts")
            #expect(records.exactJSON?["records"]?.arrayValue?.first?["contact_name"] == .string("Acme"))
            #expect(try await sim.inspect("GET", "/_simulator/records/vendors").status == 404)
            let stats = try await sim.inspect("GET", "/_simulator/stats")
            #expect(stats.exactJSON?["writes"] == .number("1"))
            #expect(stats.exactJSON?["tokenRequests"] == .number("1"))
            let tokens = try await sim.inspect("GET", "/_simulator/token-requests")
            let text = String(decoding: tokens.body, as: UTF8.self)
            #expect(tokens.exactJSON?.arrayValue?.count == 1)
            #expect(!text.contains(H.client.clientSecret) && !text.contains(code) && !text.contains(token))

            #expect(try await sim.inspect("POST", "/_simulator/faults", json: #"{"rate": 2}"#).status == 400)
            #expect(try await sim.inspect("POST", "/_simulator/faults", json: #"{"rate": 1}"#).status == 204)
            _ = try? await sim.api("POST", "/contacts", token: token, json: #"{"contact_name": "B"}"#, timeout: .seconds(1))
            #expect(sim.simulator.stats.faultsInjected.values.reduce(0, +) == 1)
            #expect(try await sim.inspect("POST", "/_simulator/reset").status == 204)
            #expect(sim.simulator.records("contacts").isEmpty)
            #expect(sim.simulator.stats.writes == 0)
            // The token still works after a reset.
            #expect(try await sim.api("GET", "/contacts", token: token).status == 200)
        }
    }
}
