/// A payment as Lago sends it (API `GET /payments/:id`, webhook `payment.created`…),
/// applied at the provider to the invoice it pays.
public struct BillingPayment: BillingDocument, Hashable {
    public static let documentRoot = "payment"
    public static let envelopeKeys = ["payment"]

    /// One invoice a payment pays, with the amount it applies there (`invoice_amounts`).
    public struct InvoiceAmount: Sendable, Hashable, Decodable {
        public let invoiceID: String
        public let amountCents: Int64

        public init(invoiceID: String, amountCents: Int64) {
            self.invoiceID = invoiceID
            self.amountCents = amountCents
        }

        enum CodingKeys: String, CodingKey {
            case invoiceID = "invoice_id"
            case amountCents = "amount_cents"
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            invoiceID = try c.decode(String.self, forKey: .invoiceID)
            amountCents = try c.cents(.amountCents)
        }
    }

    public let lagoID: String
    /// The Lago invoices this payment pays (`invoice_ids`; a single `invoice_id` is accepted).
    public let invoiceIDs: [String]
    public let amountCents: Int64
    public let currency: Currency
    /// When the money arrived (`paid_at`); Lago's API answers carry only `created_at`.
    public let paidAt: BillingDate?
    public let createdAt: BillingDate?
    /// The payer's or the operator's reference (bank transfer id, cheque number).
    public let reference: String?
    public let externalPaymentID: String?
    public let paymentStatus: String?
    /// "manual" or "provider".
    public let type: String?
    /// What the payment applies to each invoice (`invoice_amounts`, an extension of Lago's
    /// shape): required when `invoice_ids` names more than one invoice; the amounts add up to
    /// `amount_cents`. Empty when absent.
    public let invoiceAmounts: [InvoiceAmount]

    /// The invoices paid with the amount applied to each, in `invoice_ids` order: the
    /// explicit `invoice_amounts`, or the whole amount on the one invoice.
    public var applications: [InvoiceAmount] {
        if invoiceAmounts.isEmpty { return [InvoiceAmount(invoiceID: invoiceIDs[0], amountCents: amountCents)] }
        return invoiceIDs.compactMap { id in invoiceAmounts.first { $0.invoiceID == id } }
    }

    /// The first invoice paid (`applications` has every invoice with its amount).
    public var invoiceID: String { invoiceIDs[0] }
    /// `paid_at`, else `created_at` (validation makes sure one is there).
    public var date: BillingDate { (paidAt ?? createdAt)! }
    public var amount: Money { Money(amountCents: amountCents, currency: currency) }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case invoiceIDs = "invoice_ids"
        case invoiceID = "invoice_id"
        case amountCents = "amount_cents"
        case currency = "amount_currency"
        case paidAt = "paid_at"
        case createdAt = "created_at"
        case reference
        case externalPaymentID = "external_payment_id"
        case paymentStatus = "payment_status"
        case type
        case invoiceAmounts = "invoice_amounts"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.decode(String.self, forKey: .lagoID)
        if !c.contains(.invoiceIDs), c.contains(.invoiceID) {
            invoiceIDs = [try c.decode(String.self, forKey: .invoiceID)]
        } else {
            invoiceIDs = try c.decode([String].self, forKey: .invoiceIDs)
        }
        amountCents = try c.cents(.amountCents)
        currency = try c.decode(Currency.self, forKey: .currency)
        paidAt = try c.optional(.paidAt)
        createdAt = try c.optional(.createdAt)
        reference = try c.optional(.reference)
        externalPaymentID = try c.optional(.externalPaymentID)
        paymentStatus = try c.optional(.paymentStatus)
        type = try c.optional(.type)
        invoiceAmounts = try c.array(.invoiceAmounts)
    }

    public func validate(root: String) throws(DocumentError) {
        let v = Validator(root: root)
        try v.nonEmpty(lagoID, "lago_id")
        if invoiceIDs.isEmpty { throw v.fail("invoice_ids", "must name at least one invoice") }
        for (i, id) in invoiceIDs.enumerated() { try v.nonEmpty(id, "invoice_ids[\(i)]") }
        if amountCents <= 0 { throw v.fail("amount_cents", "must be positive, got \(amountCents)") }
        if paidAt == nil && createdAt == nil { throw v.fail("paid_at", "is required (or created_at)") }
        try validateInvoiceAmounts(v)
    }

    /// `invoice_amounts`: one positive amount per invoice of `invoice_ids` (each once), adding
    /// up to `amount_cents` exactly (overflow-checked). Required with several invoices: a
    /// payment is never spread by guess.
    private func validateInvoiceAmounts(_ v: Validator) throws(DocumentError) {
        var seenInvoices: Set<String> = []
        for (i, id) in invoiceIDs.enumerated() where !seenInvoices.insert(id).inserted {
            throw v.fail("invoice_ids[\(i)]", "names invoice \"\(id)\" twice")
        }
        if invoiceAmounts.isEmpty {
            if invoiceIDs.count > 1 {
                throw v.fail("invoice_amounts", "is required when invoice_ids names more than one invoice (the amount applied to each)")
            }
            return
        }
        var seen: Set<String> = []
        for (i, entry) in invoiceAmounts.enumerated() {
            try v.nonEmpty(entry.invoiceID, "invoice_amounts[\(i)].invoice_id")
            guard invoiceIDs.contains(entry.invoiceID) else {
                throw v.fail("invoice_amounts[\(i)].invoice_id", "\"\(entry.invoiceID)\" is not one of invoice_ids")
            }
            guard seen.insert(entry.invoiceID).inserted else {
                throw v.fail("invoice_amounts[\(i)].invoice_id", "names invoice \"\(entry.invoiceID)\" twice")
            }
            if entry.amountCents <= 0 {
                throw v.fail("invoice_amounts[\(i)].amount_cents", "must be positive, got \(entry.amountCents)")
            }
        }
        if let missing = invoiceIDs.first(where: { !seen.contains($0) }) {
            throw v.fail("invoice_amounts", "has no amount for invoice \"\(missing)\" of invoice_ids")
        }
        let sum = try v.sum(invoiceAmounts.map(\.amountCents), currency, "invoice_amounts")
        if sum != amountCents {
            throw v.fail("invoice_amounts", "the amounts add up to \(sum), not to amount_cents \(amountCents)")
        }
    }
}
