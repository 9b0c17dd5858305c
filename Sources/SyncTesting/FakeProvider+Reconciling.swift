import Foundation
import Sync

// Reconciliation on the fake (issue 15): the records of a `FakeLedger` read back as
// `RecordSnapshot`s, and the test controls that make them drift the way people change records
// at a real provider (an amount edited, a line deleted, a record deleted, a record created
// with an external id, an invoice paid by hand).

extension FakeProvider: RecordReconciling {
    public func snapshot(of objectType: ExternalRef.ObjectType, providerID: String) async throws -> RecordSnapshot? {
        if ledger.drawReadFailure() { throw SyncError(.transient, "fake: the ledger answered 503") }
        guard let record = ledger.record(providerID: providerID), record.recordType == objectType.rawValue else { return nil }
        return ledger.snapshot(record)
    }

    public func expectedSnapshot(of document: SyncedDocument, target: SyncTarget) throws -> RecordSnapshot {
        switch document {
        case .customer(let customer): FakeLedger.snapshot(.customer(customer), providerID: nil)
        case .invoice(let invoice): FakeLedger.snapshot(.invoice(invoice, customerRef: ""), providerID: nil).droppingReferences
        case .salesOrder(let order): FakeLedger.snapshot(.salesOrder(order, customerRef: ""), providerID: nil).droppingReferences
        case .creditMemo(let memo):
            FakeLedger.snapshot(.creditMemo(memo, customerRef: "", invoiceRef: ""), providerID: nil).droppingReferences
        case .payment(let payment):
            FakeLedger.snapshot(.payment(payment, customerRef: "", invoiceRefs: [:]), providerID: nil).droppingReferences
        }
    }

    /// Pages of `FakeLedger.externalIDPageSize` records, the page token an offset.
    public func recordsWithExternalIDs(of objectType: ExternalRef.ObjectType, page: String?) async throws -> ExternalIDPage {
        let all = ledger.records(of: objectType).filter { !$0.billingID.isEmpty }
        let start = page.flatMap { Int($0) } ?? 0
        let end = min(all.count, start + FakeLedger.externalIDPageSize)
        let records = start < end ? all[start..<end].map { (providerID: $0.providerID, externalID: $0.billingID) } : []
        return ExternalIDPage(records: records, next: end < all.count ? String(end) : nil)
    }
}

extension RecordSnapshot {
    /// Without what the provider's record references (filled by reconciliation).
    var droppingReferences: RecordSnapshot {
        RecordSnapshot(
            objectType: objectType, providerID: providerID, externalID: externalID, customerProviderID: nil, name: name,
            currency: currency, totalCents: totalCents, taxCents: taxCents, lines: lines, appliedCents: appliedCents)
    }
}

extension FakeLedger {
    /// Records with an external id listed per page by `recordsWithExternalIDs`.
    public static let externalIDPageSize = 50

    /// A record as the ledger holds it now: what it was written with, plus (for an invoice)
    /// what the credit memos and payments applied to it leave due.
    func snapshot(_ record: Record) -> RecordSnapshot? {
        guard let content = record.content else { return nil }
        let base = Self.snapshot(content, providerID: record.providerID)
        if record.voided {
            return RecordSnapshot(
                objectType: base.objectType, providerID: base.providerID, externalID: base.externalID,
                customerProviderID: base.customerProviderID, name: base.name, currency: base.currency, totalCents: base.totalCents,
                taxCents: base.taxCents, lines: base.lines, appliedCents: base.appliedCents, status: .void)
        }
        guard case .invoice = content, let total = base.totalCents else { return base }
        var due = total
        for other in state.withLock({ $0.records }) where !other.voided {
            switch other.content {
            case .creditMemo(let memo, _, let invoiceRef)? where invoiceRef == record.providerID:
                due -= memo.appliedToInvoiceCents
            case .payment(let payment, _, let invoiceRefs)?:
                for application in payment.applications where invoiceRefs[application.invoiceID] == record.providerID {
                    due -= application.amountCents
                }
            default: break
            }
        }
        return RecordSnapshot(
            objectType: base.objectType, providerID: base.providerID, externalID: base.externalID,
            customerProviderID: base.customerProviderID, name: base.name, currency: base.currency, totalCents: total,
            taxCents: base.taxCents, lines: base.lines, appliedCents: base.appliedCents, amountDueCents: max(0, due),
            status: due <= 0 ? .paid : .open)
    }

    /// A write's content as a snapshot (lines: one per fee or credited item, keyed by its
    /// item code; amounts before tax).
    static func snapshot(_ content: ProviderWrite, providerID: String?) -> RecordSnapshot {
        switch content {
        case .customer(let customer):
            return RecordSnapshot(
                objectType: .customer, providerID: providerID, externalID: customer.lagoID, name: customer.name,
                currency: customer.currency?.code)
        case .invoice(let invoice, let customerRef):
            return invoiceSnapshot(.invoice, invoice, customerRef: customerRef, providerID: providerID)
        case .salesOrder(let order, let customerRef):
            return invoiceSnapshot(.salesOrder, order.invoice, customerRef: customerRef, providerID: providerID)
        case .creditMemo(let memo, let customerRef, _):
            return RecordSnapshot(
                objectType: .creditMemo, providerID: providerID, externalID: memo.lagoID, customerProviderID: customerRef,
                currency: memo.currency.code, totalCents: memo.totalAmountCents, taxCents: memo.taxesAmountCents,
                lines: memo.items.map { RecordSnapshot.Line(itemID: $0.fee?.itemCode, amountCents: $0.amountCents) },
                appliedCents: memo.appliedToInvoiceCents)
        case .payment(let payment, let customerRef, _):
            return RecordSnapshot(
                objectType: .payment, providerID: providerID, externalID: payment.lagoID, customerProviderID: customerRef,
                currency: payment.currency.code, totalCents: payment.amountCents, appliedCents: payment.amountCents)
        }
    }

    private static func invoiceSnapshot(
        _ type: ExternalRef.ObjectType, _ invoice: BillingInvoice, customerRef: String, providerID: String?
    ) -> RecordSnapshot {
        RecordSnapshot(
            objectType: type, providerID: providerID, externalID: invoice.lagoID, customerProviderID: customerRef,
            currency: invoice.currency.code, totalCents: invoice.totalAmountCents, taxCents: invoice.taxesAmountCents,
            lines: invoice.fees.map { RecordSnapshot.Line(itemID: $0.itemCode, amountCents: $0.amountCents) })
    }

    // MARK: - Drift, as people make it at a provider

    /// Changes the record with id `providerID` in place (a person editing it); false when there is none.
    @discardableResult
    public func edit(providerID: String, _ change: (inout Record) -> Void) -> Bool {
        state.withLock { state in
            guard let index = state.records.firstIndex(where: { $0.providerID == providerID }) else { return false }
            change(&state.records[index])
            return true
        }
    }

    /// Deletes the record with id `providerID`; false when there is none.
    @discardableResult
    public func delete(providerID: String) -> Bool {
        state.withLock { state in
            guard let index = state.records.firstIndex(where: { $0.providerID == providerID }) else { return false }
            state.records.remove(at: index)
            return true
        }
    }

    /// Creates a record by hand: `externalID` "" for one without an external id (a payment
    /// a person entered). Returns its id.
    @discardableResult
    public func create(_ content: ProviderWrite, externalID: String) -> String {
        state.withLock { state in
            state.nextID += 1
            let record = Record(
                providerID: "\(state.nextID)", recordType: content.objectType.rawValue, billingID: externalID, content: content)
            state.records.append(record)
            return record.providerID
        }
    }
}

/// Bare billing documents (as `sync_status.document` stores them) for reconciliation tests:
/// the conformance suite's shapes, in USD without taxes.
public enum ReconcileFixtures {
    /// The amounts of an invoice's two lines.
    public static func feeAmounts(version: Int) -> (Int64, Int64) { ConformanceDocuments.feeAmounts(version: version) }

    public static func customer(_ id: String) throws -> String {
        try ConformanceDocuments.json(ConformanceDocuments.customerObject(id, version: 1))
    }

    /// Two lines; its total is `ConformanceDocuments.invoiceTotalCents(version:)`.
    public static func invoice(_ id: String, customerID: String, version: Int = 1) throws -> String {
        let wrapped = ConformanceDocuments.invoiceObject(id, customerID: customerID, version: version)
        return try ConformanceDocuments.json(wrapped["invoice"] as? [String: Any] ?? [:])
    }

    public static func creditNote(_ id: String, invoiceID: String, customerID: String, cents: Int64) throws -> String {
        try ConformanceDocuments.json([
            "lago_id": id, "number": "CN-\(id)", "lago_invoice_id": invoiceID, "issuing_date": "2026-11-02", "currency": "USD",
            "lago_customer_id": customerID,
            "items": [["lago_id": "\(id)-item", "amount_cents": cents, "amount_currency": "USD"]],
            "sub_total_excluding_taxes_amount_cents": cents, "coupons_adjustment_amount_cents": 0, "taxes_amount_cents": 0,
            "total_amount_cents": cents, "credit_amount_cents": cents, "refund_amount_cents": 0,
        ])
    }

    public static func payment(_ id: String, invoiceID: String, cents: Int64) throws -> String {
        try ConformanceDocuments.json([
            "lago_id": id, "invoice_ids": [invoiceID], "amount_cents": cents, "amount_currency": "USD",
            "payment_status": "succeeded", "type": "manual", "reference": "wire \(id)", "paid_at": "2026-11-10",
        ])
    }
}
