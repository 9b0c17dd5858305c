/// A payment as Lago sends it (API `GET /payments/:id`, webhook `payment.created`…),
/// applied at the provider to the invoice it pays.
public struct BillingPayment: BillingDocument, Hashable {
    public static let documentRoot = "payment"
    public static let envelopeKeys = ["payment"]

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

    /// The first invoice paid: the one a provider payment is applied to.
    public var invoiceID: String { invoiceIDs[0] }
    /// `paid_at`, else `created_at` (validation makes sure one is there).
    public var date: BillingDate { (paidAt ?? createdAt)! }
    public var amount: Money { Money(amountCents: amountCents, currency: currency) }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id", invoiceIDs = "invoice_ids", invoiceID = "invoice_id"
        case amountCents = "amount_cents", currency = "amount_currency", paidAt = "paid_at"
        case createdAt = "created_at", reference, externalPaymentID = "external_payment_id"
        case paymentStatus = "payment_status", type
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
    }

    public func validate(root: String) throws(DocumentError) {
        let v = Validator(root: root)
        try v.nonEmpty(lagoID, "lago_id")
        if invoiceIDs.isEmpty { throw v.fail("invoice_ids", "must name at least one invoice") }
        for (i, id) in invoiceIDs.enumerated() { try v.nonEmpty(id, "invoice_ids[\(i)]") }
        if amountCents <= 0 { throw v.fail("amount_cents", "must be positive, got \(amountCents)") }
        if paidAt == nil && createdAt == nil { throw v.fail("paid_at", "is required (or created_at)") }
    }
}
