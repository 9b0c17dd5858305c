import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Synchronization
import Sync
import Testing

/// Records of any type (`contact`, custom records), POST and DELETE, `dateCreated` and
/// `lastModifiedDate`, and SuiteQL's tables (Sources/Simulators/NetSuite/GenericRecords.swift,
/// SuiteQL.swift, SuiteQLTables.swift).
@Suite("NetSuiteSimulator generic records and SuiteQL tables", .timeLimit(.minutes(2)))
struct GenericRecordTests {
    /// A clock a test moves by hand.
    final class ManualClock: Sendable {
        let now = Mutex(Date(timeIntervalSince1970: 1_796_310_245))  // 2026-12-03T15:04:05Z
        func advance(_ seconds: TimeInterval) { now.withLock { $0 += seconds } }
    }

    static func configuration(_ clock: ManualClock) -> NetSuiteSimulator.Configuration {
        var configuration = NetSuiteSimulator.Configuration(credentials: [SimulatorHarness.credentials])
        configuration.clock = { clock.now.withLock { $0 } }
        return configuration
    }

    static func id(fromLocation response: HTTPResponse) -> String? {
        response.header("Location")?.split(separator: "/").last.map(String.init)
    }

    @Test("contact: POST creates (204, Location), GET answers it with ISO dates, PATCH merges, PUT eid upserts, DELETE removes (then 404)")
    func contactLifecycle() async throws {
        let clock = ManualClock()
        try await SimulatorHarness.run(Self.configuration(clock)) { sim in
            let base = "\(sim.account.restBaseURL)/contact"
            let created = try await sim.send("POST", base, json: #"{"firstName": "Ada", "lastName": "Lovelace", "company": {"id": "100"}, "id": "999"}"#)
            #expect(created.status == 204)
            #expect(created.body.isEmpty)
            let id = try #require(Self.id(fromLocation: created))
            #expect(created.header("Location") == "\(base)/\(id)")
            #expect(id != "999")

            let got = try await sim.send("GET", sim.url("contact", id))
            #expect(got.status == 200)
            let json = try #require(got.exactJSON)
            #expect(json["id"] == .string(id))
            #expect(json["externalId"] == nil)
            #expect(json["firstName"] == .string("Ada"))
            #expect(json["dateCreated"] == .string("2026-12-03T15:04:05Z"))
            #expect(json["lastModifiedDate"] == .string("2026-12-03T15:04:05Z"))

            clock.advance(60)
            let patched = try await sim.send("PATCH", sim.url("contact", id), json: #"{"lastName": "King", "externalId": "ct-1"}"#)
            #expect(patched.status == 204)
            let afterPatch = try #require(try await sim.send("GET", sim.url("contact", "eid:ct-1")).exactJSON)
            #expect(afterPatch["firstName"] == .string("Ada"))
            #expect(afterPatch["lastName"] == .string("King"))
            #expect(afterPatch["dateCreated"] == .string("2026-12-03T15:04:05Z"))
            #expect(afterPatch["lastModifiedDate"] == .string("2026-12-03T15:05:05Z"))

            let upserted = try await sim.upsert("contact", "ct-1", #"{"email": "ada@example.com"}"#)
            #expect(upserted.status == 204)
            #expect(Self.id(fromLocation: upserted) == id)
            let fresh = try await sim.upsert("contact", "ct-2", #"{"firstName": "Grace"}"#)
            #expect(Self.id(fromLocation: fresh) != id)
            #expect(sim.simulator.genericRecords("contact").map(\.externalID) == ["ct-1", "ct-2"])

            // A second POST with a used external id is refused, naming the field.
            let duplicate = try await sim.send("POST", base, json: #"{"externalId": "ct-2"}"#)
            #expect(duplicate.status == 400)
            #expect(duplicate.netSuiteError.path == "externalId")

            let deleted = try await sim.send("DELETE", sim.url("contact", id))
            #expect(deleted.status == 204)
            #expect(try await sim.send("GET", sim.url("contact", id)).status == 404)
            #expect(try await sim.send("DELETE", sim.url("contact", id)).status == 404)
            #expect(try await sim.send("DELETE", sim.url("contact", "eid:ct-2")).status == 204)
            #expect(sim.simulator.genericRecords("contact").isEmpty)
            #expect(sim.simulator.stats.deletes == 2)
        }
    }

    @Test("custom records: any customrecord… type, case-insensitive in the URL; unknown types stay 404")
    func customRecords() async throws {
        try await SimulatorHarness.run { sim in
            let base = "\(sim.account.restBaseURL)/customrecord_project"
            let created = try await sim.send("POST", base, json: #"{"name": "Apollo", "custrecord_budget": 1200.50, "externalId": "p-1"}"#)
            #expect(created.status == 204)
            let id = try #require(Self.id(fromLocation: created))
            let got = try #require(try await sim.send("GET", sim.url("CUSTOMRECORD_PROJECT", "eid:p-1")).exactJSON)
            #expect(got["id"] == .string(id))
            #expect(got["custrecord_budget"] == .number("1200.50"))
            #expect(try await sim.send("POST", "\(sim.account.restBaseURL)/vendorBill", json: "{}").status == 404)
            #expect(try await sim.send("POST", base, json: "[1]").status == 400)
            #expect(try await sim.send("GET", base).status == 405)
        }
    }

    @Test("sync types: POST needs an unused externalId; DELETE works and is refused while a payment applies to the invoice")
    func typedCreateAndDelete() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let posted = try await sim.send(
                "POST", "\(sim.account.restBaseURL)/invoice", json: Bodies.invoice("inv_1", customer: customer, amounts: ["10.00"]))
            #expect(posted.status == 204)
            let invoice = try #require(Self.id(fromLocation: posted))
            #expect(sim.simulator.record(.invoice, externalID: "inv_1")?.total == "10.00")
            let again = try await sim.send(
                "POST", "\(sim.account.restBaseURL)/invoice", json: Bodies.invoice("inv_1", customer: customer, amounts: ["10.00"]))
            #expect(again.status == 400)
            let noExternalID = try await sim.send("POST", "\(sim.account.restBaseURL)/invoice", json: #"{"tranId": "x"}"#)
            #expect(noExternalID.status == 400)
            #expect(noExternalID.netSuiteError.path == "externalId")

            let got = try #require(try await sim.send("GET", sim.url("invoice", invoice)).exactJSON)
            #expect(got["lastModifiedDate"]?.stringValue?.hasSuffix("Z") == true)

            _ = try await sim.upsert("customerPayment", "pay_1", Bodies.payment("pay_1", customer: customer, payment: "4.00", applies: [(invoice, "4.00")]))
            let refused = try await sim.send("DELETE", sim.url("invoice", invoice))
            #expect(refused.status == 400)
            #expect(try await sim.send("DELETE", sim.url("customer", customer)).status == 400)
            #expect(try await sim.send("DELETE", sim.url("customerPayment", "eid:pay_1")).status == 204)
            #expect(sim.simulator.amountRemaining(.invoice, externalID: "inv_1") == "10.00")
            #expect(try sim.simulator.deleteRecord(.invoice, externalID: "inv_1"))
            #expect(try await sim.send("GET", sim.url("invoice", invoice)).status == 404)
            #expect(sim.simulator.record(.invoice, externalID: "inv_1") == nil)
        }
    }

    static func query(_ sim: SimulatorHarness, _ q: String, limit: Int = 1000, offset: Int = 0) async throws -> SuiteQLPage {
        try await LinkingTests.client(sim).suiteQL(q, limit: limit, offset: offset)
    }

    @Test("SuiteQL over contact and a custom record: WHERE … AND, IS NULL, IN, >=, ORDER BY, *, paging with next")
    func suiteQLGeneric() async throws {
        let clock = ManualClock()
        try await SimulatorHarness.run(Self.configuration(clock)) { sim in
            for (index, name) in ["Ada", "Grace", "Edsger"].enumerated() {
                clock.advance(3600)
                let extra = index == 1 ? "" : #", "externalId": "ct-\#(index)""#
                _ = try await sim.send("POST", "\(sim.account.restBaseURL)/contact", json: #"{"firstName": "\#(name)", "rank": \#(index + 1)\#(extra)}"#)
            }
            let named = try await Self.query(sim, "SELECT id, firstname FROM contact WHERE firstname IN ('Ada', 'Edsger') ORDER BY firstname DESC")
            #expect(named.items.map { $0["firstname"] } == ["Edsger", "Ada"])
            let noExternal = try await Self.query(sim, "SELECT firstname FROM contact WHERE externalid IS NULL")
            #expect(noExternal.items == [["firstname": "Grace"]])
            let ranked = try await Self.query(sim, "SELECT contact.firstname FROM contact WHERE rank >= 2 AND externalid IS NOT NULL")
            #expect(ranked.items == [["firstname": "Edsger"]])
            let since = try await Self.query(
                sim,
                "SELECT firstname, TO_CHAR(lastmodifieddate, 'YYYY-MM-DD\"T\"HH24:MI:SS') AS modified, lastmodifieddate FROM contact WHERE lastmodifieddate > TO_TIMESTAMP('2026-12-03 17:04:05', 'YYYY-MM-DD HH24:MI:SS') ORDER BY id"
            )
            #expect(since.items == [["firstname": "Edsger", "modified": "2026-12-03T18:04:05", "lastmodifieddate": "12/3/2026"]])

            _ = try await sim.send("POST", "\(sim.account.restBaseURL)/customrecord_project", json: #"{"name": "Apollo", "custrecord_owner": {"id": "7"}}"#)
            _ = try await sim.send("POST", "\(sim.account.restBaseURL)/customrecord_project", json: #"{"name": "Gemini"}"#)
            let projects = try await Self.query(sim, "SELECT * FROM customrecord_project WHERE custrecord_owner = 7")
            #expect(projects.items.count == 1)
            #expect(projects.items.first?["name"] == "Apollo")
            #expect(projects.items.first?["created"] != nil)

            let first = try await Self.query(sim, "SELECT name FROM customrecord_project ORDER BY name", limit: 1)
            #expect(first.items == [["name": "Apollo"]] && first.hasMore && first.totalResults == 2)
            let second = try await Self.query(sim, "SELECT name FROM customrecord_project ORDER BY name", limit: 1, offset: 1)
            #expect(second.items == [["name": "Gemini"]] && !second.hasMore)

            for bad in [
                "SELECT id FROM nosuchtable", "SELECT id FROM contact WHERE firstname LIKE 'A%'", "SELECT id FROM contact WHERE a = 1 OR b = 2",
                "SELECT id FROM transaction WHERE email = 'a'", "SELECT TO_CHAR(lastmodifieddate, 'Month') FROM contact",
                "SELECT id FROM contact WHERE lastmodifieddate > TO_DATE('2026-13-01', 'YYYY-MM-DD')", "SELECT x.id FROM contact",
            ] {
                await #expect(throws: SyncError.self, "\(bad)") { _ = try await Self.query(sim, bad) }
            }
        }
    }

    @Test("SuiteQL transaction and reference tables: type, externalid, status, amount remaining; items, accounts, currencies, tax codes")
    func suiteQLTables() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let invoice = try await sim.createInvoice("inv_1", customer: customer, amounts: ["31.50", "-5.00"])
            _ = try await sim.createInvoice("inv_2", customer: customer, amounts: ["10.00"])
            _ = try await sim.upsert("customerPayment", "pay_1", Bodies.payment("pay_1", customer: customer, payment: "26.50", applies: [(invoice, "26.50")]))
            let invoices = try await Self.query(
                sim, "SELECT id, externalid, tranid, entity, foreigntotal, foreignamountremaining, status FROM transaction WHERE type = 'CustInvc' AND externalid IS NOT NULL ORDER BY id")
            #expect(invoices.items.map { $0["externalid"] } == ["inv_1", "inv_2"])
            #expect(invoices.items.first == [
                "id": invoice, "externalid": "inv_1", "tranid": "N-inv_1", "entity": customer, "foreigntotal": "26.50",
                "foreignamountremaining": "0.00", "status": "B",
            ])
            #expect(invoices.items.last?["status"] == "A")
            let payments = try await Self.query(sim, "SELECT externalid, total FROM transaction WHERE type IN ('CustPymt')")
            #expect(payments.items == [["externalid": "pay_1", "total": "26.50"]])

            let items = try await Self.query(sim, "SELECT id, itemid FROM item WHERE id = 510")
            #expect(items.items == [["id": "510", "itemid": "Subscription"]])
            let currencies = try await Self.query(sim, "SELECT id, symbol FROM currency ORDER BY id")
            #expect(currencies.items.map { $0["symbol"] } == ["USD", "EUR", "JPY", "KWD"])
            let accounts = try await Self.query(sim, "SELECT acctnumber FROM account WHERE accttype = 'Income' ORDER BY acctnumber")
            #expect(accounts.items.map { $0["acctnumber"] } == ["4000", "4010", "4020"])
            let taxes = try await Self.query(sim, "SELECT id, itemid, rate FROM salestaxitem WHERE taxtype IS NOT NULL ORDER BY id")
            #expect(taxes.items == [["id": "20", "itemid": "vat_20", "rate": "20.00%"], ["id": "21", "itemid": "us_sales", "rate": "8.25%"]])
            #expect(try await Self.query(sim, "SELECT id, name FROM subsidiary").items == [["id": "1", "name": "Parent Company"]])
            #expect(try await Self.query(sim, "SELECT name FROM location WHERE id = '2'").items == [["name": "Warehouse East"]])
            let customers = try await Self.query(sim, "SELECT * FROM customer")
            #expect(customers.items.first?["externalid"] == "cus_1")
            #expect(customers.items.first?["isperson"] == "F")
        }
    }
}
