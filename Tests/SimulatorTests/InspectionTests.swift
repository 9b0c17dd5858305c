import Foundation
import HTTPClient
import NetSuite
import Simulators
import Testing

@Suite("NetSuiteSimulator inspection endpoints", .timeLimit(.minutes(3)))
struct NetSuiteSimulatorInspectionTests {
    @Test("GET /_simulator/records/{type} lists records with exact fields and totals")
    func records() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            _ = try await sim.createInvoice("inv_1", customer: customer, amounts: ["0.1", "0.2"])
            // Its lines replaced (an update without ?replace=item would append them).
            _ = try await sim.send(
                "PUT", sim.url("invoice", "eid:inv_1") + "?replace=item",
                json: Bodies.invoice("inv_1", customer: customer, amounts: ["0.10", "0.20"]))

            let response = try await sim.inspect("GET", "/_simulator/records/INVOICE")
            #expect(response.status == 200)
            let list = try #require(response.exactJSON?.arrayValue)
            #expect(list.count == 1)
            #expect(list[0]["internalId"] == .string("101"))
            #expect(list[0]["externalId"] == .string("inv_1"))
            #expect(list[0]["total"] == .number("0.30"))
            #expect(list[0]["writeCount"] == .number("2"))
            #expect(list[0]["fields"]?["item"]?["items"]?.arrayValue?.first?["amount"] == .number("0.10"))

            let customers = try #require(try await sim.inspect("GET", "/_simulator/records/customer").exactJSON?.arrayValue)
            #expect(customers.first?["total"] == .null)

            #expect(try await sim.inspect("GET", "/_simulator/records/vendor").status == 404)
        }
    }

    @Test("stats, login audit, fault rate and reset over HTTP")
    func statsAuditFaultsReset() async throws {
        try await SimulatorHarness.run { sim in
            _ = try await sim.createCustomer("cus_1")
            _ = try await sim.send("GET", sim.url("customer", "eid:cus_1"), authorization: "OAuth realm=\"x\"")

            let stats = try #require(try await sim.inspect("GET", "/_simulator/stats").exactJSON)
            #expect(stats["requests"] == .number("2"))
            #expect(stats["writes"] == .number("1"))
            #expect(stats["authFailures"] == .number("1"))
            // Authenticated requests by auth kind: the signed write; the refused read is neither.
            #expect(stats["tbaRequests"] == .number("1"))
            #expect(stats["bearerRequests"] == .number("0"))
            #expect(stats["maxInFlight"] == .number("1"))
            #expect(stats["faultsInjected"]?["timeout"] == .number("0"))

            let audit = try #require(try await sim.inspect("GET", "/_simulator/login-audit").exactJSON?.arrayValue)
            #expect(audit.count == 1)
            #expect(audit[0]["reason"] == .string("malformed"))
            #expect(audit[0]["path"] == .string("/services/rest/record/v1/customer/eid:cus_1"))

            let rate = try await sim.inspect("POST", "/_simulator/faults", json: #"{"rate": 0.25}"#)
            #expect(rate.status == 200)
            #expect(try await sim.inspect("GET", "/_simulator/stats").exactJSON?["faultRate"] == .number("0.25"))
            #expect(try await sim.inspect("POST", "/_simulator/faults", json: #"{"rate": 2}"#).status == 400)

            #expect(try await sim.inspect("POST", "/_simulator/reset").status == 204)
            #expect(sim.simulator.records(.customer).isEmpty)
            #expect(sim.simulator.loginAudit.isEmpty)
            #expect(sim.simulator.stats.requests == 0)
            #expect(try await sim.inspect("GET", "/_simulator/stats").exactJSON?["faultRate"] == .number("0.0"))

            #expect(try await sim.inspect("GET", "/_simulator/nothing").status == 404)
        }
    }

    @Test("the inspection API needs no signature and counts as no request")
    func noAuthNoCounting() async throws {
        try await SimulatorHarness.run { sim in
            for _ in 0..<3 { _ = try await sim.inspect("GET", "/_simulator/stats") }
            #expect(sim.simulator.stats.requests == 0)
            #expect(sim.simulator.loginAudit.isEmpty)
        }
    }
}
