import ExactJSON
import Foundation
import Simulators
import Sync
import SyncTesting
import Testing
import ZohoBooks

/// Reconciliation's Zoho Books side against the simulator over HTTP: a small month written by
/// the provider, read back, equals what `ZohoPayloads` says; drift made by hand through Zoho's
/// API shows as exactly the field that drifted.
@Suite("Zoho Books reconciling", .timeLimit(.minutes(2)))
struct ZohoReconcilingTests {
    struct Month {
        let customers: [BillingCustomer]
        let invoices: [BillingInvoice]
        let creditNote: BillingCreditMemo
        let payment: BillingPayment
        let voided: BillingInvoice
        var ids: [String: String] = [:]

        var documents: [SyncedDocument] {
            customers.map { .customer($0) } + invoices.map { .invoice($0.lagoID == voided.lagoID ? voided : $0) }
                + [.creditMemo(creditNote), .payment(payment)]
        }
    }

    static func key(_ type: ExternalRef.ObjectType, _ billingID: String) -> String { "\(type.rawValue)/\(billingID)" }

    static func month() throws -> Month {
        let scenario = BillingScenario.generate(customers: 2, invoicesPerCustomer: 3, creditNoteEvery: 100, payments: 0)
        let customers = try scenario.customers.map { try DocumentDecoder.decode(BillingCustomer.self, from: $0.json) }
        let invoices = try scenario.invoices.map { try DocumentDecoder.decode(BillingInvoice.self, from: $0.json) }
        let creditNote = try DocumentDecoder.decode(BillingCreditMemo.self, from: scenario.creditNotes[0].json)
        let first = scenario.invoices.filter { $0.customerID == scenario.customers[0].lagoID }
        let (a, b) = (first[1], first[2])
        let half = b.totalCents / 2
        let payment = try DocumentDecoder.decode(
            BillingPayment.self,
            from: """
                {"payment": {"lago_id": "pay-two", "invoice_ids": ["\(a.lagoID)", "\(b.lagoID)"], "amount_cents": \(a.totalCents + half),
                 "amount_currency": "\(a.currency.code)", "invoice_amounts": [{"invoice_id": "\(a.lagoID)", "amount_cents": \(a.totalCents)},
                 {"invoice_id": "\(b.lagoID)", "amount_cents": \(half)}], "payment_status": "succeeded", "type": "manual",
                 "reference": "wire two", "paid_at": "2026-11-12"}}
                """)
        let last = try #require(scenario.invoices.last { $0.customerID == scenario.customers[1].lagoID })
        let voided = try DocumentDecoder.decode(
            BillingInvoice.self, from: last.json.replacingOccurrences(of: #""status":"finalized""#, with: #""status":"voided""#))
        return Month(customers: customers, invoices: invoices, creditNote: creditNote, payment: payment, voided: voided)
    }

    static func withMonth(_ body: (ZohoTestBed, any RecordReconciling, SyncTarget, Month) async throws -> Void) async throws {
        try await ZohoTestBed.run(.init(requestsPerWindow: 100_000, dailyQuota: 100_000)) { bed in
            let provider = try bed.provider(tokens: InMemoryTokenStore())
            let reconciling = try #require(provider as? any RecordReconciling)
            let id = ZohoTestBed.connectionID
            let target = SyncTarget(
                connectionID: id, connection: bed.connection(),
                mappings: MappingSet(connectionID: id, mappings: BillingScenario.zohoMappings(connection: id)))
            var month = try month()
            for customer in month.customers {
                month.ids[key(.customer, customer.lagoID)] = try await provider.upsertCustomer(customer, target: target)
            }
            func customerRef(_ invoice: BillingInvoice) -> String { month.ids[key(.customer, invoice.customer?.lagoID ?? "")] ?? "" }
            for invoice in month.invoices {
                month.ids[key(.invoice, invoice.lagoID)] = try await provider.upsertInvoice(
                    invoice, customerRef: customerRef(invoice), target: target)
            }
            let credited = try #require(month.invoices.first { $0.lagoID == month.creditNote.lagoInvoiceID })
            month.ids[key(.creditMemo, month.creditNote.lagoID)] = try await provider.upsertCreditMemo(
                month.creditNote, customerRef: customerRef(credited), invoiceRef: month.ids[key(.invoice, credited.lagoID)]!,
                target: target)
            var refs: [String: String] = [:]
            for application in month.payment.applications { refs[application.invoiceID] = month.ids[key(.invoice, application.invoiceID)] }
            let paid = try #require(month.invoices.first { $0.lagoID == month.payment.invoiceID })
            month.ids[key(.payment, month.payment.lagoID)] = try await provider.upsertPayment(
                month.payment, customerRef: customerRef(paid), invoiceRefs: refs, target: target)
            var voidTarget = target
            voidTarget.existingProviderID = month.ids[key(.invoice, month.voided.lagoID)]
            _ = try await provider.voidInvoice(month.voided, customerRef: customerRef(month.voided), target: voidTarget)
            try await body(bed, reconciling, target, month)
        }
    }

    static func billingID(_ document: SyncedDocument) -> String {
        switch document {
        case .customer(let c): c.lagoID
        case .invoice(let i): i.lagoID
        case .salesOrder(let o): o.lagoID
        case .creditMemo(let m): m.lagoID
        case .payment(let p): p.lagoID
        }
    }

    /// The fields an expected snapshot holds (reconciliation fills references, amount due and
    /// status; Zoho's own tax split is not compared).
    static func ownFields(_ snapshot: RecordSnapshot) -> RecordSnapshot {
        RecordSnapshot(
            objectType: snapshot.objectType, providerID: nil, externalID: snapshot.externalID, name: snapshot.name,
            currency: snapshot.currency, totalCents: snapshot.totalCents, lines: snapshot.lines, appliedCents: snapshot.appliedCents)
    }

    @Test("every record of a synced month reads back equal to its expected snapshot; balance and status as Zoho keeps them")
    func syncedMonthMatches() async throws {
        try await Self.withMonth { bed, provider, target, month in
            for document in month.documents {
                let id = try #require(month.ids[Self.key(document.objectType, Self.billingID(document))])
                let read = try #require(try await provider.snapshot(of: document.objectType, providerID: id))
                let expected = try provider.expectedSnapshot(of: document, target: target)
                #expect(Self.ownFields(read) == expected, "\(document.objectType) \(Self.billingID(document))")
                #expect(read.providerID == id)
                if document.objectType != .customer { #expect(read.customerProviderID != nil) }
            }
            let id = { (type: ExternalRef.ObjectType, billing: String) in month.ids[Self.key(type, billing)]! }
            let credited = try #require(try await provider.snapshot(of: .invoice, providerID: id(.invoice, month.creditNote.lagoInvoiceID)))
            #expect(credited.status == .open)
            #expect(credited.amountDueCents == credited.totalCents! - month.creditNote.appliedToInvoiceCents)
            let apps = month.payment.applications
            let paid = try #require(try await provider.snapshot(of: .invoice, providerID: id(.invoice, apps[0].invoiceID)))
            #expect(paid.status == .paid && paid.amountDueCents == 0)
            let part = try #require(try await provider.snapshot(of: .invoice, providerID: id(.invoice, apps[1].invoiceID)))
            #expect(part.status == .open)
            #expect(part.amountDueCents == part.totalCents! - apps[1].amountCents)
            let voided = try #require(try await provider.snapshot(of: .invoice, providerID: id(.invoice, month.voided.lagoID)))
            #expect(voided.status == .void && voided.amountDueCents == 0)
            let payment = try #require(try await provider.snapshot(of: .payment, providerID: id(.payment, month.payment.lagoID)))
            #expect(payment.appliedCents == month.payment.amountCents && payment.totalCents == month.payment.amountCents)
            let kwd = try #require(month.invoices.first { $0.currency.code == "EUR" })
            let read = try #require(try await provider.snapshot(of: .invoice, providerID: id(.invoice, kwd.lagoID)))
            #expect(read.currency == "EUR" && read.totalCents == kwd.totalAmountCents)
            // Zoho's tax split: the billing tax up to a minor unit per line.
            #expect(abs(read.taxCents! - kwd.taxesAmountCents) <= Int64(kwd.fees.count))
            _ = bed
        }
    }

    @Test("drift through Zoho's API: an edited rate, a deleted line, a payment by hand, a missing record each show as exactly that")
    func driftShowsExactly() async throws {
        try await Self.withMonth { bed, provider, target, month in
            let client = try bed.client(tokens: InMemoryTokenStore())
            let touched = Set([month.creditNote.lagoInvoiceID, month.voided.lagoID] + month.payment.applications.map(\.invoiceID))
            let candidates = month.invoices.filter { !touched.contains($0.lagoID) }
            #expect(candidates.count >= 2)

            // 1. A line's rate edited by hand (+1 minor unit on a one-unit line).
            let edited = candidates[0]
            let editedID = month.ids[Self.key(.invoice, edited.lagoID)]!
            let expected = try provider.expectedSnapshot(of: .invoice(edited), target: target)
            let record = try #require(try await client.send("GET", "invoices/\(editedID)")["invoice"])
            var lines = record["line_items"]!.arrayValue!.map { line in
                ExactJSON.object(
                    line.objectMembers.filter { ["line_item_id", "item_id", "rate", "quantity", "tax_id", "description"].contains($0.key) })
            }
            let at = try #require(lines.firstIndex { $0["quantity"]?.numberText.flatMap { ExactDecimal($0) } == ExactDecimal(1) })
            let rate = try Money(parsing: ExactDecimal(lines[at]["rate"]!.numberText!)!.description, currency: edited.currency)
            let bumped = Money(amountCents: rate.amountCents + 1, currency: edited.currency)
            lines[at] = .object(
                lines[at].objectMembers.map { (key: $0.key, value: $0.key == "rate" ? .number(bumped.decimalString) : $0.value) })
            _ = try await client.send("PUT", "invoices/\(editedID)", body: .object([("line_items", .array(lines))]))
            let afterEdit = try #require(try await provider.snapshot(of: .invoice, providerID: editedID))
            var wanted = expected.lines!
            wanted[at] = RecordSnapshot.Line(itemID: wanted[at].itemID, amountCents: wanted[at].amountCents + 1)
            #expect(afterEdit.lines == wanted)
            #expect(afterEdit.totalCents == expected.totalCents! + 1)
            #expect(afterEdit.externalID == expected.externalID && afterEdit.currency == expected.currency)

            // 2. A line deleted by hand: exactly that line gone, the total less its amount.
            let other = candidates[1]
            let otherID = month.ids[Self.key(.invoice, other.lagoID)]!
            let otherExpected = try provider.expectedSnapshot(of: .invoice(other), target: target)
            let otherRecord = try #require(try await client.send("GET", "invoices/\(otherID)")["invoice"])
            let kept = otherRecord["line_items"]!.arrayValue!.dropLast().map { line in
                ExactJSON.object(
                    line.objectMembers.filter { ["line_item_id", "item_id", "rate", "quantity", "tax_id", "description"].contains($0.key) })
            }
            if otherRecord["line_items"]!.arrayValue!.count > 1 {
                _ = try await client.send("PUT", "invoices/\(otherID)", body: .object([("line_items", .array(Array(kept)))]))
                let afterDelete = try #require(try await provider.snapshot(of: .invoice, providerID: otherID))
                #expect(afterDelete.lines == Array(otherExpected.lines!.dropLast()))
                #expect(afterDelete.totalCents == otherExpected.totalCents! - otherExpected.lines!.last!.amountCents)
            }

            // 3. A payment by hand on the edited invoice: balance 0, status paid, nothing else.
            let due = try #require(afterEdit.amountDueCents)
            let customerID = try #require(record["customer_id"]?.stringValue)
            let amount = Money(amountCents: due, currency: edited.currency).decimalString
            _ = try await client.send(
                "POST", "customerpayments",
                body: .object([
                    ("customer_id", .string(customerID)), ("payment_mode", .string("cash")), ("amount", .number(amount)),
                    ("date", .string("2026-11-20")),
                    ("invoices", .array([.object([("invoice_id", .string(editedID)), ("amount_applied", .number(amount))])])),
                ]))
            let afterPayment = try #require(try await provider.snapshot(of: .invoice, providerID: editedID))
            #expect(afterPayment.status == .paid && afterPayment.amountDueCents == 0)
            #expect(afterEdit.status == .open)
            #expect(Self.ownFields(afterPayment) == Self.ownFields(afterEdit))

            // 4. A record that does not exist: nil (Zoho's 1002), not an error.
            #expect(try await provider.snapshot(of: .invoice, providerID: "460000009999999") == nil)
        }
    }

    @Test("recordsWithExternalIDs pages through every record of a module, 200 a page, reading the unique custom field")
    func externalIDsPage() async throws {
        try await Self.withMonth { bed, provider, _, month in
            // 200 more contacts (a page is 200 records): the contacts take two pages.
            var month = month
            let client = try bed.client(tokens: InMemoryTokenStore())
            for n in 0..<200 {
                let answer = try await client.send(
                    "POST", "contacts",
                    body: .object([
                        ("contact_name", .string("Bulk \(n)")), ("contact_type", .string("customer")),
                        (
                            "custom_fields",
                            .array([.object([("api_name", .string(ZohoBooksDriver.defaultUniqueField)), ("value", .string("bulk-\(n)"))])])
                        ),
                    ]))
                month.ids[Self.key(.customer, "bulk-\(n)")] = try #require(answer["contact"]?["contact_id"]?.stringValue)
            }
            for type in [ExternalRef.ObjectType.customer, .invoice, .creditMemo, .payment] {
                var seen: [String: String] = [:]
                var page: String?
                var pages = 0
                repeat {
                    let answer = try await provider.recordsWithExternalIDs(of: type, page: page)
                    for record in answer.records { seen[record.externalID] = record.providerID }
                    page = answer.next
                    pages += 1
                } while page != nil && pages < 100
                let expected = month.ids.filter { $0.key.hasPrefix("\(type.rawValue)/") }
                #expect(seen.count == expected.count, "\(type)")
                for (key, id) in expected { #expect(seen[String(key.dropFirst(type.rawValue.count + 1))] == id, "\(key)") }
                #expect(pages == (type == .customer ? 2 : 1), "\(type)")
            }
        }
    }
}
