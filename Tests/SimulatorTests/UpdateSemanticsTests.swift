import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Testing

@testable import Simulators

/// The simulator updates records the way Oracle documents REST web services updates, so a
/// client that re-sends a record without `?replace=` is caught doubling its lines. Each rule
/// is pinned with the example from Oracle's page (quoted next to the test).
@Suite("NetSuiteSimulator update semantics", .timeLimit(.minutes(3)))
struct UpdateSemanticsTests {
    static func json(_ text: String) throws -> ExactJSON { try ExactJSON.parse(text) }

    /// Oracle's examples key `sublist` by `key1` and `key2`; `unkeyedsublist` has no key.
    static let exampleKeys = ["sublist": ["key1", "key2"]]

    /// A pre-state for Oracle's examples (the pages show only the post state; this one holds
    /// the lines the post states call "previously present").
    static let preState = """
        {"body1": "previous body text 1", "body2": "previous body text 2",
         "sublist": {"items": [
           {"key1": "X", "key2": "0", "col": "previously present line 0"},
           {"key1": "a", "key2": "1", "col": "previously present line 1"},
           {"key1": "b", "key2": "2", "col": "previously present line 2"}]},
         "unkeyedsublist": {"items": [
           {"col": "previously present line 1"}, {"col": "previously present line 2"}, {"col": "previously present line 0"}]}}
        """

    /// The request body of both pages' examples.
    static let exampleRequest = """
        {"body1": "replaced body text 1",
         "sublist": {"items": [
           {"key1": "a", "key2": "1", "col": "replaced line 1"},
           {"key1": "b", "key2": "2", "col": "replaced line 2"}]},
         "unkeyedsublist": {"items": [{"col": "inserted line 1"}, {"col": "inserted line 2"}]}}
        """

    static func cols(_ record: ExactJSON, _ sublist: String) -> [String] {
        (record[sublist]?["items"]?.arrayValue ?? []).compactMap { $0["col"]?.stringValue }
    }

    /// "Updating a Sublist" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545295601.html):
    /// "During update operations, lines of a keyed sublist are updated if the line contains
    /// matching keys, and the remaining lines from the request are added. For non-keyed
    /// sublists, the lines are always appended to the ones that are already present on the
    /// sublist." Its post state: body1 "replaced body text 1", body2 "previous body text 2";
    /// sublist a/"replaced line 1", b/"replaced line 2", X/"previously present line 0";
    /// unkeyedsublist the three previously present lines, then "inserted line 1", "inserted line 2".
    @Test("Updating a Sublist: keyed lines updated in place, non-keyed lines appended, omitted body fields kept")
    func updatingASublist() throws {
        let merged = RecordStore.merge(
            existing: try Self.json(Self.preState), update: try Self.json(Self.exampleRequest), replace: [], keys: Self.exampleKeys)
        #expect(merged["body1"] == .string("replaced body text 1"))
        #expect(merged["body2"] == .string("previous body text 2"))
        #expect(Self.cols(merged, "sublist") == ["replaced line 1", "replaced line 2", "previously present line 0"])
        #expect(
            Self.cols(merged, "unkeyedsublist") == [
                "previously present line 1", "previously present line 2", "previously present line 0", "inserted line 1", "inserted line 2",
            ])
    }

    /// "Replacing a Sublist" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545297048.html):
    /// "During sublist replacements, lines of a keyed sublist are updated if the line contains
    /// matching keys, other lines are removed, and the remaining unmatched lines from the
    /// request are added. For non-keyed sublists, all lines are always removed and replaced by
    /// lines that are in the incoming request." (`POST .../myrecord?replace=sublist`)
    @Test("Replacing a Sublist: only the named sublists lose the lines the request does not have")
    func replacingASublist() throws {
        let onlyKeyed = RecordStore.merge(
            existing: try Self.json(Self.preState), update: try Self.json(Self.exampleRequest), replace: ["sublist"], keys: Self.exampleKeys
        )
        #expect(Self.cols(onlyKeyed, "sublist") == ["replaced line 1", "replaced line 2"])
        // Not named: still appended.
        #expect(Self.cols(onlyKeyed, "unkeyedsublist").count == 5)

        let both = RecordStore.merge(
            existing: try Self.json(Self.preState), update: try Self.json(Self.exampleRequest),
            replace: ["sublist", "unkeyedsublist"], keys: Self.exampleKeys)
        #expect(Self.cols(both, "unkeyedsublist") == ["inserted line 1", "inserted line 2"])
        #expect(both["body2"] == .string("previous body text 2"))

        // "PATCH /record/v1/purchaseOrder/:id?replace=item { … all lines except those you want
        // to delete … }" ("Working with Sublists", chapter_1545142407): replace with no lines
        // of the sublist in the request empties it.
        let emptied = RecordStore.merge(
            existing: try Self.json(Self.preState), update: try Self.json(#"{"body1": "x"}"#), replace: ["unkeyedsublist"],
            keys: Self.exampleKeys)
        #expect(Self.cols(emptied, "unkeyedsublist") == [])
        #expect(Self.cols(emptied, "sublist").count == 3)
        // A name that is no sublist of the record changes nothing (no page says otherwise).
        let unknown = RecordStore.merge(
            existing: try Self.json(Self.preState), update: try Self.json("{}"), replace: ["nosuchsublist"], keys: Self.exampleKeys)
        #expect(unknown == (try Self.json(Self.preState)))
    }

    /// "Updating a Record Instance" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545142173.html):
    /// "Any omitted fields are considered unchanged." … "If the value of a body field is set
    /// to null, the body field is deleted."
    @Test("null deletes a body field or a keyed line's field; on a create it leaves the field unset")
    func nullClears() throws {
        let merged = RecordStore.merge(
            existing: try Self.json(Self.preState),
            update: try Self.json(#"{"body2": null, "sublist": {"items": [{"key1": "X", "key2": "0", "col": null}]}}"#),
            replace: [], keys: Self.exampleKeys)
        #expect(merged["body2"] == nil)
        #expect(merged["body1"] == .string("previous body text 1"))
        let lineX = merged["sublist"]?["items"]?.arrayValue?.first { $0["key1"] == .string("X") }
        #expect(lineX != nil && lineX?["col"] == nil)

        let created = RecordStore.merge(existing: nil, update: try Self.json(#"{"memo": null, "a": 1}"#), replace: [])
        #expect(created == (try Self.json(#"{"a": 1}"#)))
    }

    // MARK: - Over HTTP, on the record types the worker writes

    @Test("an invoice re-sent without replace doubles its item lines and total; ?replace=item keeps exactly the request's lines")
    func invoiceItemLines() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let body = Bodies.invoice("inv_1", customer: customer, amounts: ["10.00", "5.00"])
            _ = try await sim.createInvoice("inv_1", customer: customer, amounts: ["10.00", "5.00"])
            let again = try await sim.upsert("invoice", "inv_1", body)
            #expect(again.status == 204)
            var record = try #require(sim.simulator.record(.invoice, externalID: "inv_1"))
            #expect(record.sublist("item").count == 4)
            #expect(record.total == "30.00")

            let replaced = try await sim.send(
                "PUT", sim.url("invoice", "eid:inv_1") + "?replace=item",
                json: Bodies.invoice("inv_1", customer: customer, amounts: ["7.00"]))
            #expect(replaced.status == 204)
            record = try #require(sim.simulator.record(.invoice, externalID: "inv_1"))
            #expect(record.sublist("item").count == 1)
            #expect(record.total == "7.00")
            #expect(record.writeCount == 3)
            // The simulator kept the request as it arrived, query included.
            let last = try #require(sim.simulator.receivedWrites.last)
            #expect(last.method == "PUT")
            #expect(last.url == sim.url("invoice", "eid:inv_1") + "?replace=item")
            #expect(last.body == Bodies.invoice("inv_1", customer: customer, amounts: ["7.00"]))
            let listed = try #require(try await sim.inspect("GET", "/_simulator/requests").exactJSON?.arrayValue)
            #expect(listed.last?["url"] == .string(last.url))
            #expect(listed.last?["body"] == .string(last.body))
        }
    }

    /// "Use Cases for Updating an Invoice" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_0209053443.html):
    /// "Use the PATCH command to add a line item to an invoice" (a line without `line`) and
    /// "To update a line item in an invoice, add the line item ID in the request" (`"line": 5`).
    @Test("PATCH by internal id: a line with a matching `line` is updated, one without is added, omitted fields kept")
    func patchInvoiceLines() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let lines = #"[{"line": 5, "item": {"id": "510"}, "quantity": 1, "rate": 10.00, "amount": 10.00}]"#
            let created = try await sim.upsert(
                "invoice", "inv_1",
                #"{"tranId": "N-1", "memo": "first", "entity": {"id": "\#(customer)"}, "item": {"items": \#(lines)}}"#)
            #expect(created.status == 204)
            let id = try #require(sim.simulator.record(.invoice, externalID: "inv_1")?.internalID)

            let update = try await sim.send(
                "PATCH", sim.url("invoice", id),
                json: #"{"item": {"items": [{"line": 5, "item": {"id": "510"}, "quantity": 1, "rate": 9.00, "amount": 9.00}]}}"#)
            #expect(update.status == 204)
            var record = try #require(sim.simulator.record(.invoice, internalID: id))
            #expect(record.sublist("item").count == 1)
            #expect(record.total == "9.00")
            #expect(record.string("memo") == "first")

            let add = try await sim.send(
                "PATCH", sim.url("invoice", id),
                json: #"{"memo": null, "item": {"items": [{"item": {"id": "510"}, "quantity": 50, "rate": 2.00, "amount": 100.00}]}}"#)
            #expect(add.status == 204)
            record = try #require(sim.simulator.record(.invoice, internalID: id))
            #expect(record.sublist("item").count == 2)
            #expect(record.total == "109.00")
            #expect(record.string("memo") == nil)

            let missing = try await sim.send("PATCH", sim.url("invoice", "99999"), json: "{}")
            #expect(missing.status == 404)
            // By external id too; a PATCH never creates.
            let byExternalID = try await sim.send("PATCH", sim.url("invoice", "eid:inv_1"), json: #"{"memo": "by eid"}"#)
            #expect(byExternalID.status == 204)
            #expect(sim.simulator.record(.invoice, internalID: id)?.string("memo") == "by eid")
            #expect(try await sim.send("PATCH", sim.url("invoice", "eid:nope"), json: "{}").status == 404)
            #expect(sim.simulator.record(.invoice, externalID: "nope") == nil)
        }
    }

    /// "Updating Sublists in SOAP Web Services", keyed sublists (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_N3441570.html):
    /// "applyList — doc — Customer Payment, Credit Memo, …": a payment's apply lines are keyed
    /// by the document they apply to.
    @Test("a payment's apply line is keyed by doc: re-sent, it is updated, not added")
    func paymentApplyKeyedByDoc() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            let invoice = try await sim.createInvoice("inv_1", customer: customer, amounts: ["50.00"])
            let first = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: customer, payment: "20.00", applies: [(invoice, "20.00")]))
            #expect(first.status == 204)
            let second = try await sim.upsert(
                "customerPayment", "pay_1", Bodies.payment("pay_1", customer: customer, payment: "30.00", applies: [(invoice, "30.00")]))
            #expect(second.status == 204)
            let record = try #require(sim.simulator.record(.customerPayment, externalID: "pay_1"))
            #expect(record.sublist("apply").count == 1)
            #expect(record.sublist("apply").first?["amount"] == .number("30.00"))
        }
    }

    @Test("a customer's addressBook re-sent without replace gains a line; with ?replace=addressBook it holds the request's")
    func customerAddressBook() async throws {
        try await SimulatorHarness.run { sim in
            let address = #", "addressBook": {"items": [{"defaultBilling": true, "addressBookAddress": {"city": "Paris"}}]}"#
            for _ in 0..<2 { _ = try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1", extra: address)) }
            #expect(sim.simulator.record(.customer, externalID: "cus_1")?.sublist("addressBook").count == 2)
            let replaced = try await sim.send(
                "PUT", sim.url("customer", "eid:cus_1") + "?replace=addressBook", json: Bodies.customer("cus_1", extra: address))
            #expect(replaced.status == 204)
            #expect(sim.simulator.record(.customer, externalID: "cus_1")?.sublist("addressBook").count == 1)
        }
    }
}
