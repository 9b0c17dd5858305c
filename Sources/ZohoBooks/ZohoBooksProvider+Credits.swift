import ExactJSON
import Foundation
import Sync

// Credit notes (upserted, then applied to their invoice), their refunds, and voids.
//
// Zoho's pages:
// - "Credit Notes" (https://www.zoho.com/books/api/v3/credit-notes/): "Update a credit note
//   using a custom field's unique value" (the upsert), "Get a credit note", "Credit to an
//   invoice" (`POST /creditnotes/{creditnote_id}/invoices` {"invoices": [{"invoice_id",
//   "amount_applied"}]}), "List invoices credited", "Refund credit note" (`POST
//   /creditnotes/{creditnote_id}/refunds`), "List refunds of a credit note"
//   (`creditnote_refunds`), "Void a Credit Note" (`POST /creditnotes/{creditnote_id}/status/void`);
//   a credit note's `balance` is what is left of it.
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/): "Void an invoice"
//   (`POST /invoices/{invoice_id}/status/void`).
// - Zoho Invoice "Credit Notes" (https://www.zoho.com/invoice/api/v3/credit-notes/): 12003
//   "Credit notes that are in closed status cannot be applied to invoices".
//
// NOT DOCUMENTED in words (decided here): that the credit note the upsert answers (and "Get a
// credit note") lists the invoices it credited (`invoices_credited`, each with `invoice_id` and
// `amount_applied`) and its refunds (`creditnote_refunds`, each with `creditnote_refund_id`,
// `amount`, `date`, `reference_number`). Zoho's attribute list found does not name them; the
// "List invoices credited" and "List refunds of a credit note" endpoints answer those members,
// and integrators' scripts read them from the credit note itself. Without `invoices_credited`
// the amount already applied is taken as the credit note's total less its balance and its
// refunds (every application of a synced credit note is ours: one invoice per credit note).
// What Zoho answers to voiding a document that is already void is not documented either: a
// refused void is checked by reading the document, and a void one counts as done.

extension ZohoBooksProvider {
    /// Upserts the credit note, then applies its credited part to its invoice. A further
    /// request (paced: `SyncTarget.beforeFurtherRequest`). Idempotent after a crash between the
    /// two: the upsert's answer says how much of the credit note the invoice already has
    /// (`invoices_credited`), and only what is missing is applied, so a retried job never
    /// applies the credit twice.
    func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws
        -> String
    {
        let pacer = ZohoRequestPacer(target: target)
        let body = try ZohoPayloads.creditNote(memo, customerID: customerRef, uniqueField: uniqueField, target: target)
        let (id, record) = try await upsert(.creditNotes, billingID: memo.lagoID, body: body, target: target, pacer: pacer)
        let wanted = memo.appliedToInvoiceCents
        guard wanted > 0 else { return id }
        let applied = try Self.appliedCents(record, invoiceID: invoiceRef, currency: memo.currency)
        let (missing, overflow) = wanted.subtractingReportingOverflow(applied)
        guard !overflow, missing > 0 else { return id }
        let application: ExactJSON
        if applied == 0 {
            application = try ZohoPayloads.creditApplication(memo, invoiceID: invoiceRef)
        } else {
            // Part was applied before (the credit note grew since): apply the rest.
            application = .object([
                (
                    "invoices",
                    .array([
                        .object([
                            ("invoice_id", .string(invoiceRef)),
                            ("amount_applied", .number(Money(amountCents: missing, currency: memo.currency).decimalString)),
                        ])
                    ])
                )
            ])
        }
        _ = try await client.send(
            "POST", "creditnotes/\(try Self.pathID(id, .creditNotes))/invoices", body: application, pacer: pacer)
        return id
    }

    /// The refunded part of a credit note, refunded from the credit note (`creditMemoRef`).
    /// Zoho has no upsert for refunds: the credit note is read first and a refund already
    /// there (the same `reference_number`, or without one the same amount and date) is the
    /// answer, so a retried job never refunds twice. Every request is a further one of the
    /// credit note's job (it follows `upsertCreditMemo`): each is paced.
    func upsertCustomerRefund(_ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget) async throws
        -> String
    {
        let pacer = ZohoRequestPacer(target: target, alreadySent: 1)
        let noteID = try Self.pathID(creditMemoRef, .creditNotes)
        let body = try ZohoPayloads.creditNoteRefund(memo, target: target)
        let answer: ExactJSON
        do {
            answer = try await client.send("GET", "creditnotes/\(noteID)", pacer: pacer)
        } catch let error as SyncError where error.providerCode == "1002" {
            throw SyncError(
                .permanent, "the Zoho Books credit note \(creditMemoRef) to refund is gone (\(error.message))",
                providerCode: error.providerCode)
        }
        if let existing = Self.existingRefund(in: answer["creditnote"] ?? .null, like: body) { return existing }
        let refund = try await client.send("POST", "creditnotes/\(noteID)/refunds", body: body, pacer: pacer)
        guard let refundID = Self.idText(refund["creditnote_refund"]?["creditnote_refund_id"]), !refundID.isEmpty else {
            throw SyncError(
                .transient,
                "Zoho Books answered the credit note refund without creditnote_refund.creditnote_refund_id (it may have been applied)")
        }
        return refundID
    }

    func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await void(.invoices, billingID: invoice.lagoID, target: target)
    }

    func voidCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        try await void(.creditNotes, billingID: memo.lagoID, target: target)
    }

    /// `POST /<module>/{id}/status/void` on the record the billing object became (the job
    /// found its ref). Safe to repeat: a refused void of a document that is void already
    /// (read back, a further request) counts as done.
    func void(_ module: Module, billingID: String, target: SyncTarget) async throws -> String {
        guard let recorded = target.existingProviderID else {
            throw SyncError(.dependency, "the Zoho Books \(module.label) of \(billingID) is not known yet: nothing to void")
        }
        let id = try Self.pathID(recorded, module)
        let pacer = ZohoRequestPacer(target: target)
        do {
            _ = try await client.send("POST", "\(module.path)/\(id)/status/void", pacer: pacer)
        } catch let error as SyncError where error.errorClass == .permanent {
            if error.providerCode == "1002" {
                throw SyncError(
                    .permanent, "the Zoho Books \(module.label) \(id) to void is gone (\(error.message))", providerCode: error.providerCode)
            }
            let current = try await client.send("GET", "\(module.path)/\(id)", pacer: pacer)
            guard current[module.resource]?["status"]?.stringValue == "void" else { throw error }
        }
        return id
    }

    // MARK: - Reading what a credit note holds

    /// How much of the credit note `record` was applied to invoice `invoiceID`, in minor units.
    static func appliedCents(_ record: ExactJSON, invoiceID: String, currency: Currency) throws -> Int64 {
        func cents(_ value: ExactJSON?, _ field: String) throws -> Int64 {
            guard let value else { return 0 }
            guard let text = value.numberText ?? value.stringValue else {
                throw SyncError(.transient, "Zoho Books answered a credit note whose \(field) is not a number")
            }
            do {
                return try Money(parsing: text, currency: currency).amountCents
            } catch {
                throw SyncError(
                    .transient, "Zoho Books answered a credit note whose \(field) is not an amount in \(currency.code): \(error)")
            }
        }
        func add(_ a: Int64, _ b: Int64) throws -> Int64 {
            let (sum, overflow) = a.addingReportingOverflow(b)
            guard !overflow else { throw SyncError(.permanent, "the credit note's amounts overflow") }
            return sum
        }
        if let credited = record["invoices_credited"]?.arrayValue {
            var applied: Int64 = 0
            for line in credited where idText(line["invoice_id"]) == invoiceID {
                applied = try add(applied, try cents(line["amount_applied"] ?? line["credited_amount"], "invoices_credited.amount_applied"))
            }
            return applied
        }
        let total = try cents(record["total"], "total")
        let balance = try cents(record["balance"], "balance")
        var refunded: Int64 = 0
        for refund in record["creditnote_refunds"]?.arrayValue ?? [] {
            refunded = try add(refunded, try cents(refund["amount"], "creditnote_refunds.amount"))
        }
        return max(0, total - balance - refunded)
    }

    /// The id of the refund in the credit note `record` that `body` would create again.
    static func existingRefund(in record: ExactJSON, like body: ExactJSON) -> String? {
        let refunds = record["creditnote_refunds"]?.arrayValue ?? []
        let reference = body["reference_number"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        let match = refunds.first { refund in
            if let reference { return refund["reference_number"]?.stringValue == reference }
            return sameNumber(refund["amount"], body["amount"]) && refund["date"]?.stringValue == body["date"]?.stringValue
        }
        return match.flatMap { idText($0["creditnote_refund_id"]) }
    }

    /// Two JSON numbers with the same value (`12.5` and `12.50`).
    static func sameNumber(_ a: ExactJSON?, _ b: ExactJSON?) -> Bool {
        guard let a = a?.numberText.flatMap({ ExactDecimal($0) }), let b = b?.numberText.flatMap({ ExactDecimal($0) }) else { return false }
        return a == b
    }
}
