/// A credit note as Lago sends it (API `GET /credit_notes/:id`, webhook `credit_note.created`),
/// pushed to providers as a credit memo.
public struct BillingCreditMemo: BillingDocument, Hashable {
    public static let documentRoot = "credit_note"
    public static let envelopeKeys = ["credit_note"]

    /// One credited line: an amount taken off one fee of the credited invoice.
    public struct Item: Sendable, Hashable, Decodable {
        public let lagoID: String
        public let amountCents: Int64
        public let amountCurrency: Currency
        /// The invoice fee this item credits (its item code selects the provider item).
        public let fee: BillingFee?

        public var amount: Money { Money(amountCents: amountCents, currency: amountCurrency) }

        enum CodingKeys: String, CodingKey {
            case lagoID = "lago_id"
            case amountCents = "amount_cents"
            case amountCurrency = "amount_currency"
            case fee
        }

        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            lagoID = try c.decode(String.self, forKey: .lagoID)
            amountCents = try c.cents(.amountCents)
            amountCurrency = try c.decode(Currency.self, forKey: .amountCurrency)
            fee = try c.optional(.fee)
        }
    }

    public let lagoID: String
    public let number: String
    /// The Lago invoice this credit note credits (`lago_invoice_id`).
    public let lagoInvoiceID: String
    public let invoiceNumber: String?
    public let issuingDate: BillingDate
    public let currency: Currency
    /// Lago's reason: duplicated_charge, product_unsatisfactory, order_change,
    /// order_cancellation, fraudulent_charge, other. Kept as sent.
    public let reason: String?
    public let description: String?
    public let creditStatus: String?
    public let refundStatus: String?
    public let customer: BillingCustomer?
    public let items: [Item]
    public let taxes: [BillingAppliedTax]
    public let subTotalExcludingTaxesAmountCents: Int64
    public let couponsAdjustmentAmountCents: Int64
    public let taxesAmountCents: Int64
    public let totalAmountCents: Int64
    public let creditAmountCents: Int64?
    public let refundAmountCents: Int64?
    public let balanceAmountCents: Int64?

    public var total: Money { Money(amountCents: totalAmountCents, currency: currency) }

    /// What the credit note takes off the invoice it credits: `credit_amount_cents`, else the
    /// total less the refunded part (Lago: total = credit + refund). Validation makes sure it
    /// is neither negative nor more than the total.
    public var appliedToInvoiceCents: Int64 {
        creditAmountCents ?? (totalAmountCents - (refundAmountCents ?? 0))
    }

    /// The refunded part (`refund_amount_cents`, 0 when absent): pushed as a customer refund
    /// applied to the credit memo.
    public var refundCents: Int64 { refundAmountCents ?? 0 }

    /// The external id of the customer refund of this credit note's refunded part.
    public var refundExternalID: String { lagoID + "-refund" }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case number
        case lagoInvoiceID = "lago_invoice_id"
        case invoiceNumber = "invoice_number"
        case issuingDate = "issuing_date"
        case currency, reason, description
        case creditStatus = "credit_status"
        case refundStatus = "refund_status"
        case customer, items
        case taxes = "applied_taxes"
        case subTotalExcludingTaxesAmountCents = "sub_total_excluding_taxes_amount_cents"
        case couponsAdjustmentAmountCents = "coupons_adjustment_amount_cents"
        case taxesAmountCents = "taxes_amount_cents"
        case totalAmountCents = "total_amount_cents"
        case creditAmountCents = "credit_amount_cents"
        case refundAmountCents = "refund_amount_cents"
        case balanceAmountCents = "balance_amount_cents"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.decode(String.self, forKey: .lagoID)
        number = try c.decode(String.self, forKey: .number)
        lagoInvoiceID = try c.decode(String.self, forKey: .lagoInvoiceID)
        invoiceNumber = try c.optional(.invoiceNumber)
        issuingDate = try c.decode(BillingDate.self, forKey: .issuingDate)
        currency = try c.decode(Currency.self, forKey: .currency)
        reason = try c.optional(.reason)
        description = try c.optional(.description)
        creditStatus = try c.optional(.creditStatus)
        refundStatus = try c.optional(.refundStatus)
        customer = try c.optional(.customer)
        items = try c.decode([Item].self, forKey: .items)
        taxes = try c.array(.taxes)
        subTotalExcludingTaxesAmountCents = try c.cents(.subTotalExcludingTaxesAmountCents)
        couponsAdjustmentAmountCents = try c.cents(.couponsAdjustmentAmountCents, default: 0)
        taxesAmountCents = try c.cents(.taxesAmountCents)
        totalAmountCents = try c.cents(.totalAmountCents)
        creditAmountCents = try c.centsIfPresent(.creditAmountCents)
        refundAmountCents = try c.centsIfPresent(.refundAmountCents)
        balanceAmountCents = try c.centsIfPresent(.balanceAmountCents)
    }

    public func validate(root: String) throws(DocumentError) {
        let v = Validator(root: root)
        try v.nonEmpty(lagoID, "lago_id")
        try v.nonEmpty(number, "number")
        try v.nonEmpty(lagoInvoiceID, "lago_invoice_id")
        try customer?.validate(root: v.path("customer"))
        if items.isEmpty { throw v.fail("items", "must have at least one item") }
        for (i, item) in items.enumerated() {
            try v.nonEmpty(item.lagoID, "items[\(i)].lago_id")
            try v.nonNegative(item.amountCents, "items[\(i)].amount_cents")
            try v.sameCurrency(item.amountCurrency, as: currency, "items[\(i)].amount_currency")
            try item.fee?.validate(v, "items[\(i)].fee", currency: currency)
        }
        for (i, tax) in taxes.enumerated() {
            try tax.validate(v, "applied_taxes[\(i)]", currency: currency)
        }
        let amounts: [(Int64?, String)] = [
            (subTotalExcludingTaxesAmountCents, "sub_total_excluding_taxes_amount_cents"),
            (couponsAdjustmentAmountCents, "coupons_adjustment_amount_cents"),
            (taxesAmountCents, "taxes_amount_cents"), (totalAmountCents, "total_amount_cents"),
            (creditAmountCents, "credit_amount_cents"), (refundAmountCents, "refund_amount_cents"),
            (balanceAmountCents, "balance_amount_cents"),
        ]
        for (cents, name) in amounts { try v.nonNegative(cents, name) }

        // Lago's identities: items - coupons adjustment = sub total excluding taxes; + taxes = total.
        let itemSum = try v.sum(items.map(\.amountCents), currency, "sub_total_excluding_taxes_amount_cents")
        let adjustment = try v.negate(couponsAdjustmentAmountCents, currency, "coupons_adjustment_amount_cents")
        let excluding = try v.sum([itemSum, adjustment], currency, "sub_total_excluding_taxes_amount_cents")
        try v.equal(
            subTotalExcludingTaxesAmountCents, excluding, "sub_total_excluding_taxes_amount_cents",
            "the sum of items[].amount_cents - coupons_adjustment_amount_cents")
        let total = try v.sum([subTotalExcludingTaxesAmountCents, taxesAmountCents], currency, "total_amount_cents")
        try v.equal(
            totalAmountCents, total, "total_amount_cents",
            "sub_total_excluding_taxes_amount_cents + taxes_amount_cents")

        // Lago splits the total between what is credited (to the invoice) and what is
        // refunded: the two parts together may not exceed the total (checked, no overflow).
        let parts = try v.sum([creditAmountCents ?? 0, refundAmountCents ?? 0], currency, "refund_amount_cents")
        if parts > totalAmountCents {
            throw v.fail(
                refundAmountCents == nil ? "credit_amount_cents" : "refund_amount_cents",
                "credit_amount_cents + refund_amount_cents = \(parts) is more than total_amount_cents \(totalAmountCents)")
        }
    }
}
