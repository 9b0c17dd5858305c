import ExactJSON
import Foundation
import HTTPClient
import Simulators
import Sync
import Testing

@testable import NetSuite

/// Reconciliation's NetSuite side against the simulator over HTTP: a small month written by the
/// provider (the sync's own calls), read back, equals what the payloads say; drift made by hand
/// at the simulator shows as exactly the field that drifted.
@Suite(.timeLimit(.minutes(2))) struct NetSuiteReconcilingTests {
    static let credentials = NetSuiteCredentials(
        consumerKey: "rc-consumer-key", consumerSecret: "rc-consumer-secret", tokenID: "rc-token-id", tokenSecret: "rc-token-secret")

    /// The month: 2 customers (USD company, EUR person), 3 invoices each with taxes and coupons;
    /// a credit note applied to the first invoice; one payment over two invoices of the first
    /// customer (the first paid in full, the other in part); the second customer's last invoice
    /// voided.
    struct Month {
        let customers: [BillingCustomer]
        let invoices: [BillingInvoice]
        let creditNote: BillingCreditMemo
        let payment: BillingPayment
        let voided: BillingInvoice
        /// (document, object type, billing id) → NetSuite internal id.
        var ids: [String: String] = [:]

        var documents: [SyncedDocument] {
            customers.map { .customer($0) }
                + invoices.map { invoice in invoice.lagoID == voided.lagoID ? .invoice(voided) : .invoice(invoice) }
                + [.creditMemo(creditNote), .payment(payment)]
        }
    }

    static func month() throws -> Month {
        let scenario = BillingScenario.generate(customers: 2, invoicesPerCustomer: 3, creditNoteEvery: 100, payments: 0)
        let customers = try scenario.customers.map { try DocumentDecoder.decode(BillingCustomer.self, from: $0.json) }
        let invoices = try scenario.invoices.map { try DocumentDecoder.decode(BillingInvoice.self, from: $0.json) }
        let creditNote = try DocumentDecoder.decode(BillingCreditMemo.self, from: scenario.creditNotes[0].json)
        let first = scenario.invoices.filter { $0.customerID == scenario.customers[0].lagoID }
        // invoices[0] carries the credit note; the payment pays invoices 2 and 4 of customer 0.
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
        #expect(voided.status == "voided")
        return Month(customers: customers, invoices: invoices, creditNote: creditNote, payment: payment, voided: voided)
    }

    static func key(_ type: ExternalRef.ObjectType, _ billingID: String) -> String { "\(type.rawValue)/\(billingID)" }

    /// Runs `body` with a started simulator, the provider of its account and the month synced
    /// through the provider.
    static func withMonth(_ body: (NetSuiteSimulator, NetSuiteProvider, SyncTarget, Month) async throws -> Void) async throws {
        let simulator = NetSuiteSimulator(configuration: .init(accountID: "1234567_SB1", credentials: [credentials], concurrencyLimit: 5))
        _ = try await simulator.start()
        let http = HTTPClient(allowPrivateNetworks: true)
        do {
            let client = NetSuiteClient(
                account: try NetSuiteAccount(accountID: "1234567_SB1", baseURLOverride: simulator.baseURL), credentials: credentials,
                http: http, requestTimeout: .seconds(10))
            let provider = NetSuiteProvider(client: client)
            let target = NetSuitePayloadTests.target()
            var month = try month()
            for customer in month.customers {
                month.ids[key(.customer, customer.lagoID)] = try await provider.upsertCustomer(customer, target: target)
            }
            func customerRef(_ invoice: BillingInvoice) -> String { month.ids[key(.customer, invoice.customer?.lagoID ?? "")] ?? "" }
            for invoice in month.invoices {
                month.ids[key(.invoice, invoice.lagoID)] = try await provider.upsertInvoice(
                    invoice, customerRef: customerRef(invoice), target: target)
            }
            let creditedInvoice = try #require(month.invoices.first { $0.lagoID == month.creditNote.lagoInvoiceID })
            let memoID = try await provider.upsertCreditMemo(
                month.creditNote, customerRef: customerRef(creditedInvoice),
                invoiceRef: month.ids[key(.invoice, creditedInvoice.lagoID)]!, target: target)
            month.ids[key(.creditMemo, month.creditNote.lagoID)] = memoID
            if month.creditNote.refundCents > 0 {
                _ = try await provider.upsertCustomerRefund(
                    month.creditNote, customerRef: customerRef(creditedInvoice), creditMemoRef: memoID, target: target)
            }
            var refs: [String: String] = [:]
            for application in month.payment.applications { refs[application.invoiceID] = month.ids[key(.invoice, application.invoiceID)] }
            let paidInvoice = try #require(month.invoices.first { $0.lagoID == month.payment.invoiceID })
            month.ids[key(.payment, month.payment.lagoID)] = try await provider.upsertPayment(
                month.payment, customerRef: customerRef(paidInvoice), invoiceRefs: refs, target: target)
            _ = try await provider.voidInvoice(month.voided, customerRef: customerRef(month.voided), target: target)
            try await body(simulator, provider, target, month)
        } catch {
            http.shutdown()
            await simulator.stop()
            throw error
        }
        http.shutdown()
        await simulator.stop()
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

    /// The fields `expectedSnapshot` produces (reconciliation fills the references, the amount
    /// due and the status from the refs and the other documents).
    static func ownFields(_ snapshot: RecordSnapshot) -> RecordSnapshot {
        RecordSnapshot(
            objectType: snapshot.objectType, providerID: nil, externalID: snapshot.externalID, name: snapshot.name,
            currency: snapshot.currency, totalCents: snapshot.totalCents, taxCents: snapshot.taxCents, lines: snapshot.lines,
            appliedCents: snapshot.appliedCents)
    }

    @Test("every record of a synced month reads back equal to its expected snapshot; due and status as NetSuite derives them")
    func syncedMonthMatches() async throws {
        try await Self.withMonth { simulator, provider, target, month in
            for document in month.documents {
                let id = try #require(month.ids[Self.key(document.objectType, Self.billingID(document))])
                let read = try #require(try await provider.snapshot(of: document.objectType, providerID: id))
                let expected = try provider.expectedSnapshot(of: document, target: target)
                #expect(Self.ownFields(read) == expected, "\(document.objectType) \(Self.billingID(document))")
                #expect(read.providerID == id)
                if document.objectType != .customer {
                    #expect(read.customerProviderID != nil)
                    #expect(read.lines?.isEmpty == false || document.objectType == .payment)
                }
            }
            let byBilling = { (type: ExternalRef.ObjectType, id: String) in month.ids[Self.key(type, id)]! }
            // The credited invoice: open, its total less the credit due.
            let credited = try #require(
                try await provider.snapshot(of: .invoice, providerID: byBilling(.invoice, month.creditNote.lagoInvoiceID)))
            #expect(credited.status == .open)
            #expect(credited.amountDueCents == credited.totalCents! - month.creditNote.appliedToInvoiceCents)
            // The payment's invoices: the first paid in full, the second open with the rest due.
            let apps = month.payment.applications
            let paid = try #require(try await provider.snapshot(of: .invoice, providerID: byBilling(.invoice, apps[0].invoiceID)))
            #expect(paid.status == .paid)
            #expect(paid.amountDueCents == 0)
            let part = try #require(try await provider.snapshot(of: .invoice, providerID: byBilling(.invoice, apps[1].invoiceID)))
            #expect(part.status == .open)
            #expect(part.amountDueCents == part.totalCents! - apps[1].amountCents)
            let payment = try #require(try await provider.snapshot(of: .payment, providerID: byBilling(.payment, month.payment.lagoID)))
            #expect(payment.appliedCents == month.payment.amountCents)
            #expect(payment.totalCents == month.payment.amountCents)
            // The voided invoice: void, nothing due.
            let voided = try #require(try await provider.snapshot(of: .invoice, providerID: byBilling(.invoice, month.voided.lagoID)))
            #expect(voided.status == .void)
            #expect(voided.totalCents == 0)
            #expect(voided.amountDueCents == 0)
            // Currencies as ISO codes, in each record's own digits (the EUR customer's invoices).
            let eur = try #require(month.invoices.first { $0.currency.code == "EUR" })
            let eurRead = try #require(try await provider.snapshot(of: .invoice, providerID: byBilling(.invoice, eur.lagoID)))
            #expect(eurRead.currency == "EUR")
            #expect(eurRead.totalCents == eur.totalAmountCents)
            #expect(eurRead.taxCents == eur.taxesAmountCents)
            _ = simulator
        }
    }

    @Test("drift by hand: an edited amount, a deleted line, a deleted record (nil) and a payment by hand show as exactly those fields")
    func driftShowsExactly() async throws {
        try await Self.withMonth { simulator, provider, target, month in
            // An untouched invoice of the second customer (no credit, no payment, not voided).
            let touched = Set([month.creditNote.lagoInvoiceID, month.voided.lagoID] + month.payment.applications.map(\.invoiceID))
            let candidates = month.invoices.filter { !touched.contains($0.lagoID) }
            #expect(candidates.count >= 2)
            let edited = candidates[0]
            let editedID = month.ids[Self.key(.invoice, edited.lagoID)]!
            let expected = try provider.expectedSnapshot(of: .invoice(edited), target: target)
            let before = try #require(try await provider.snapshot(of: .invoice, providerID: editedID))

            // 1. An amount edited by hand: the first line's amount goes up by one minor unit.
            let record = try #require(simulator.record(.invoice, internalID: editedID))
            let lines = record.sublist("item")
            let firstAmount = try #require(lines[0]["amount"]?.numberText)
            let bumped = try Money(
                amountCents: Money(parsing: firstAmount, currency: edited.currency).amountCents + 1, currency: edited.currency)
            var newLines = lines.map { ExactJSON.object($0.map { (key: $0.key, value: $0.value) }) }
            newLines[0] = .object(lines[0].map { (key: $0.key, value: $0.key == "amount" ? .number(bumped.decimalString) : $0.value) })
            _ = try simulator.addRecord(.invoice, externalID: edited.lagoID, body: Self.replacing(record.body, "item", with: newLines))
            let afterEdit = try #require(try await provider.snapshot(of: .invoice, providerID: editedID))
            #expect(afterEdit.lines?[0].amountCents == expected.lines![0].amountCents + 1)
            #expect(Array(afterEdit.lines!.dropFirst()) == Array(expected.lines!.dropFirst()))
            #expect(afterEdit.totalCents == expected.totalCents! + 1)
            #expect(afterEdit.taxCents == expected.taxCents)
            #expect(afterEdit.externalID == expected.externalID && afterEdit.currency == expected.currency)

            // 2. A line deleted by hand, with the tax rows that reference it (as NetSuite
            //    drops them): the lines lose exactly it, the tax its rows, the total both.
            let other = candidates[1]
            let otherID = month.ids[Self.key(.invoice, other.lagoID)]!
            let otherExpected = try provider.expectedSnapshot(of: .invoice(other), target: target)
            let otherRecord = try #require(simulator.record(.invoice, internalID: otherID))
            let itemLines = otherRecord.sublist("item")
            let removed = try #require(itemLines.last?["taxDetailsReference"]?.stringValue)
            let kept = itemLines.dropLast().map { ExactJSON.object($0.map { (key: $0.key, value: $0.value) }) }
            let rows = otherRecord.sublist("taxDetails")
            let removedTax = try rows.filter { $0["taxDetailsReference"]?.stringValue == removed }.reduce(Int64(0)) {
                $0 + (try Money(parsing: $1["taxAmount"]!.numberText!, currency: other.currency).amountCents)
            }
            let keptRows = rows.filter { $0["taxDetailsReference"]?.stringValue != removed }.map {
                ExactJSON.object($0.map { (key: $0.key, value: $0.value) })
            }
            var edited2 = Self.replacing(otherRecord.body, "item", with: kept)
            if !rows.isEmpty { edited2 = Self.replacing(edited2, "taxDetails", with: keptRows) }
            _ = try simulator.addRecord(.invoice, externalID: other.lagoID, body: edited2)
            let afterDelete = try #require(try await provider.snapshot(of: .invoice, providerID: otherID))
            #expect(afterDelete.lines == Array(otherExpected.lines!.dropLast()))
            #expect(afterDelete.taxCents == otherExpected.taxCents! - removedTax)
            #expect(afterDelete.totalCents == otherExpected.totalCents! - otherExpected.lines!.last!.amountCents - removedTax)

            // 3. A payment by hand on the edited invoice: its amount due and status change, nothing else.
            let customerID = try #require(record.reference("entity"))
            let dueBefore = try #require(before.amountDueCents)
            let dueAfterEdit = dueBefore + 1
            let handPaid = Money(amountCents: dueAfterEdit, currency: edited.currency)
            var payment: [(key: String, value: ExactJSON)] = [
                ("customer", .reference(customerID)), ("payment", .number(handPaid.decimalString)), ("tranDate", .string("2026-11-20")),
            ]
            if let currency = record.body["currency"] { payment.append(("currency", currency)) }
            payment.append(
                (
                    "apply",
                    .sublist([
                        .object([("doc", .reference(editedID)), ("apply", .bool(true)), ("amount", .number(handPaid.decimalString))])
                    ])
                ))
            _ = try simulator.addRecord(.customerPayment, externalID: "hand-paid-1", body: .object(payment))
            let afterPayment = try #require(try await provider.snapshot(of: .invoice, providerID: editedID))
            #expect(afterPayment.amountDueCents == 0)
            #expect(afterPayment.status == .paid)
            #expect(before.status == .open)
            #expect(Self.ownFields(afterPayment) == Self.ownFields(afterEdit))

            // 4. A record that does not exist (deleted by hand): nil, not an error.
            #expect(try await provider.snapshot(of: .invoice, providerID: "987654") == nil)
        }
    }

    @Test("recordsWithExternalIDs pages through every record of a type by SuiteQL, ids and external ids as written")
    func externalIDsPage() async throws {
        try await Self.withMonth { simulator, provider, _, month in
            // 1000 more customers (a SuiteQL page is 1000 rows): the customers take two pages.
            var month = month
            for n in 0..<1000 {
                let id = "bulk-\(n)"
                let added = try simulator.addRecord(
                    .customer, externalID: id,
                    body: .object([("companyName", .string("Bulk \(n)")), ("isPerson", .bool(false)), ("subsidiary", .reference("1"))]))
                month.ids[Self.key(.customer, id)] = added.internalID
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

    @Test("expected snapshots come from the payload: lines as the push writes them, a voided invoice at zero")
    func expectedFromPayloads() throws {
        let month = try Self.month()
        let target = NetSuitePayloadTests.target()
        let provider = NetSuiteProvider(
            client: NetSuiteClient(
                account: try NetSuiteAccount(accountID: "1234567_SB1"), credentials: Self.credentials,
                http: HTTPClient(allowPrivateNetworks: true)))
        for invoice in month.invoices where invoice.lagoID != month.voided.lagoID {
            let expected = try provider.expectedSnapshot(of: .invoice(invoice), target: target)
            #expect(expected.totalCents == invoice.totalAmountCents)
            #expect(expected.taxCents == invoice.taxesAmountCents)
            let body = try NetSuitePayloads.invoice(invoice, customerRef: "1", target: target)
            #expect(expected.lines?.count == body["item"]?["items"]?.arrayValue?.count)
            #expect(expected.currency == invoice.currency.code)
            #expect(expected.status == nil && expected.amountDueCents == nil && expected.customerProviderID == nil)
        }
        let voided = try provider.expectedSnapshot(of: .invoice(month.voided), target: target)
        #expect(voided.totalCents == 0 && voided.taxCents == 0)
        #expect(voided.lines?.allSatisfy { $0.amountCents == 0 } == true)
        let memo = try provider.expectedSnapshot(of: .creditMemo(month.creditNote), target: target)
        #expect(memo.appliedCents == month.creditNote.appliedToInvoiceCents)
        #expect(memo.totalCents == month.creditNote.totalAmountCents)
        let payment = try provider.expectedSnapshot(of: .payment(month.payment), target: target)
        #expect(payment.appliedCents == month.payment.amountCents)
        #expect(payment.lines == nil)
        let customer = try provider.expectedSnapshot(of: .customer(month.customers[0]), target: target)
        #expect(customer.externalID == month.customers[0].lagoID)
        #expect(customer.name != nil)
    }

    static func replacing(_ body: ExactJSON, _ sublist: String, with lines: [ExactJSON]) -> ExactJSON {
        .object(body.objectMembers.map { $0.key == sublist ? (key: sublist, value: .sublist(lines)) : $0 })
    }
}
