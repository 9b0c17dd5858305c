/// What a fee bills for (Lago's `fee.item.type`); decides which item mapping applies
/// (PROVIDERS 1.4).
public enum FeeKind: String, Sendable, Hashable, CaseIterable {
    case subscription
    /// Usage of a billable metric.
    case charge
    case addOn = "add_on"
    case fixedCharge = "fixed_charge"
    /// Minimum commitment true-up. Lago sends "commitment"; "minimum_commitment" is accepted.
    case commitment
    /// Purchase of prepaid credits (a wallet top-up).
    case credit
}

/// A tax applied to an invoice, a fee or a credit note (Lago's `applied_taxes[]`).
public struct BillingAppliedTax: Sendable, Hashable, Decodable {
    public let lagoID: String?
    public let lagoTaxID: String?
    public let code: String
    public let name: String?
    /// Percent, exactly as sent ("20", "8.875").
    public let rate: ExactDecimal
    public let amountCents: Int64
    public let amountCurrency: Currency?
    /// What the tax was computed on, when sent (credit notes: `base_amount_cents`).
    public let baseAmountCents: Int64?

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case lagoTaxID = "lago_tax_id"
        case code = "tax_code"
        case name = "tax_name"
        case rate = "tax_rate"
        case amountCents = "amount_cents"
        case amountCurrency = "amount_currency"
        case baseAmountCents = "base_amount_cents"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.optional(.lagoID)
        lagoTaxID = try c.optional(.lagoTaxID)
        code = try c.decode(String.self, forKey: .code)
        name = try c.optional(.name)
        rate = try c.decode(ExactDecimal.self, forKey: .rate)
        amountCents = try c.cents(.amountCents)
        amountCurrency = try c.optional(.amountCurrency)
        baseAmountCents = try c.centsIfPresent(.baseAmountCents)
    }

    func validate(_ v: Validator, _ at: String, currency: Currency) throws(DocumentError) {
        try v.nonEmpty(code, "\(at).tax_code")
        if rate.isNegative || rate.compare(to: 100) > 0 {
            throw v.fail("\(at).tax_rate", "must be a percentage from 0 to 100, got \"\(rate)\"")
        }
        try v.nonNegative(amountCents, "\(at).amount_cents")
        try v.sameCurrency(amountCurrency, as: currency, "\(at).amount_currency")
        try v.nonNegative(baseAmountCents, "\(at).base_amount_cents")
    }
}

/// One fee line of an invoice (Lago's `fees[]`).
public struct BillingFee: Sendable, Hashable, Decodable {
    public let lagoID: String
    public let kind: FeeKind
    /// `item.code`: the plan, billable metric, add-on… code the item mapping is keyed by.
    public let itemCode: String
    public let itemName: String
    public let invoiceDisplayName: String?
    public let lagoItemID: String?
    /// Quantity, exact ("0.32", "12"): a JSON string or number.
    public let units: ExactDecimal
    public let unitAmountCents: Int64?
    /// Unit price with more precision than cents, in major units ("0.0125").
    public let preciseUnitAmount: ExactDecimal?
    /// Line amount before taxes.
    public let amountCents: Int64
    public let amountCurrency: Currency
    public let taxesAmountCents: Int64
    public let taxesRate: ExactDecimal?
    /// Amount plus taxes, when sent.
    public let totalAmountCents: Int64?
    public let description: String?
    public let fromDate: BillingDate?
    public let toDate: BillingDate?
    public let taxes: [BillingAppliedTax]

    public var amount: Money { Money(amountCents: amountCents, currency: amountCurrency) }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case item, units
        case unitAmountCents = "unit_amount_cents"
        case preciseUnitAmount = "precise_unit_amount"
        case amountCents = "amount_cents"
        case amountCurrency = "amount_currency"
        case taxesAmountCents = "taxes_amount_cents"
        case taxesRate = "taxes_rate"
        case totalAmountCents = "total_amount_cents"
        case description
        case fromDate = "from_date"
        case toDate = "to_date"
        case taxes = "applied_taxes"
    }

    enum ItemKeys: String, CodingKey {
        case type, code, name
        case invoiceDisplayName = "invoice_display_name"
        case lagoItemID = "lago_item_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.decode(String.self, forKey: .lagoID)
        let item = try c.nestedContainer(keyedBy: ItemKeys.self, forKey: .item)
        let type = try item.decode(String.self, forKey: .type)
        guard let kind = FeeKind(rawValue: type == "minimum_commitment" ? "commitment" : type) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: item,
                debugDescription: "unknown fee type \"\(type)\" (expected one of: "
                    + FeeKind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        self.kind = kind
        itemCode = try item.decode(String.self, forKey: .code)
        itemName = try item.decode(String.self, forKey: .name)
        invoiceDisplayName = try item.decodeIfPresent(String.self, forKey: .invoiceDisplayName)
        lagoItemID = try item.decodeIfPresent(String.self, forKey: .lagoItemID)
        units = try c.decode(ExactDecimal.self, forKey: .units)
        unitAmountCents = try c.centsIfPresent(.unitAmountCents)
        preciseUnitAmount = try c.optional(.preciseUnitAmount)
        amountCents = try c.cents(.amountCents)
        amountCurrency = try c.decode(Currency.self, forKey: .amountCurrency)
        taxesAmountCents = try c.cents(.taxesAmountCents, default: 0)
        taxesRate = try c.optional(.taxesRate)
        totalAmountCents = try c.centsIfPresent(.totalAmountCents)
        description = try c.optional(.description)
        fromDate = try c.optional(.fromDate)
        toDate = try c.optional(.toDate)
        taxes = try c.array(.taxes)
    }

    func validate(_ v: Validator, _ at: String, currency: Currency) throws(DocumentError) {
        try v.nonEmpty(lagoID, "\(at).lago_id")
        try v.nonEmpty(itemCode, "\(at).item.code")
        try v.nonNegative(units, "\(at).units")
        try v.nonNegative(unitAmountCents, "\(at).unit_amount_cents")
        try v.nonNegative(preciseUnitAmount, "\(at).precise_unit_amount")
        try v.nonNegative(amountCents, "\(at).amount_cents")
        try v.sameCurrency(amountCurrency, as: currency, "\(at).amount_currency")
        try v.nonNegative(taxesAmountCents, "\(at).taxes_amount_cents")
        if let totalAmountCents {
            let expected = try v.sum([amountCents, taxesAmountCents], currency, "\(at).total_amount_cents")
            try v.equal(totalAmountCents, expected, "\(at).total_amount_cents", "amount_cents + taxes_amount_cents")
        }
        if let fromDate, let toDate, toDate < fromDate {
            throw v.fail("\(at).to_date", "must not be before from_date \(fromDate.isoDate), got \(toDate.isoDate)")
        }
        for (i, tax) in taxes.enumerated() {
            try tax.validate(v, "\(at).applied_taxes[\(i)]", currency: currency)
        }
    }
}

/// A deduction applied to an invoice (Lago's `credits[]`): a coupon, an applied credit note,
/// or a progressive-billing credit.
public struct BillingCredit: Sendable, Hashable, Decodable {
    public enum Kind: String, Sendable, Hashable, CaseIterable {
        case coupon
        case creditNote = "credit_note"
        /// Progressive billing: an amount already invoiced earlier in the period.
        case progressiveBilling = "invoice"
    }

    public let lagoID: String?
    public let kind: Kind
    public let itemCode: String?
    public let itemName: String?
    public let lagoItemID: String?
    public let amountCents: Int64
    public let amountCurrency: Currency
    public let beforeTaxes: Bool?

    public var amount: Money { Money(amountCents: amountCents, currency: amountCurrency) }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case item
        case amountCents = "amount_cents"
        case amountCurrency = "amount_currency"
        case beforeTaxes = "before_taxes"
    }

    enum ItemKeys: String, CodingKey {
        case type, code, name
        case lagoItemID = "lago_item_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.optional(.lagoID)
        let item = try c.nestedContainer(keyedBy: ItemKeys.self, forKey: .item)
        let type = try item.decode(String.self, forKey: .type)
        guard let kind = Kind(rawValue: type) else {
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: item,
                debugDescription: "unknown credit type \"\(type)\" (expected one of: "
                    + Kind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
        }
        self.kind = kind
        itemCode = try item.decodeIfPresent(String.self, forKey: .code)
        itemName = try item.decodeIfPresent(String.self, forKey: .name)
        lagoItemID = try item.decodeIfPresent(String.self, forKey: .lagoItemID)
        amountCents = try c.cents(.amountCents)
        amountCurrency = try c.decode(Currency.self, forKey: .amountCurrency)
        beforeTaxes = try c.optional(.beforeTaxes)
    }
}

/// An invoice as Lago sends it (API `GET /invoices/:id`, webhook `invoice.created`).
public struct BillingInvoice: BillingDocument, Hashable {
    public static let documentRoot = "invoice"
    public static let envelopeKeys = ["invoice"]

    public let lagoID: String
    public let number: String
    public let issuingDate: BillingDate
    public let paymentDueDate: BillingDate?
    public let invoiceType: String?
    public let status: String?
    public let currency: Currency
    public let customer: BillingCustomer?
    public let fees: [BillingFee]
    /// Coupons, applied credit notes and progressive-billing credits.
    public let credits: [BillingCredit]
    /// Invoice-level taxes (`applied_taxes`).
    public let taxes: [BillingAppliedTax]
    public let feesAmountCents: Int64
    public let couponsAmountCents: Int64
    public let creditNotesAmountCents: Int64
    public let prepaidCreditAmountCents: Int64
    public let progressiveBillingCreditAmountCents: Int64
    public let subTotalExcludingTaxesAmountCents: Int64?
    public let subTotalIncludingTaxesAmountCents: Int64?
    public let taxesAmountCents: Int64
    public let totalAmountCents: Int64

    /// The coupon deductions among `credits`.
    public var coupons: [BillingCredit] { credits.filter { $0.kind == .coupon } }
    public var total: Money { Money(amountCents: totalAmountCents, currency: currency) }
    public var taxesAmount: Money { Money(amountCents: taxesAmountCents, currency: currency) }
    public var prepaidCreditAmount: Money { Money(amountCents: prepaidCreditAmountCents, currency: currency) }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case number
        case issuingDate = "issuing_date"
        case paymentDueDate = "payment_due_date"
        case invoiceType = "invoice_type"
        case status, currency, customer, fees, credits
        case taxes = "applied_taxes"
        case feesAmountCents = "fees_amount_cents"
        case couponsAmountCents = "coupons_amount_cents"
        case creditNotesAmountCents = "credit_notes_amount_cents"
        case prepaidCreditAmountCents = "prepaid_credit_amount_cents"
        case progressiveBillingCreditAmountCents = "progressive_billing_credit_amount_cents"
        case subTotalExcludingTaxesAmountCents = "sub_total_excluding_taxes_amount_cents"
        case subTotalIncludingTaxesAmountCents = "sub_total_including_taxes_amount_cents"
        case taxesAmountCents = "taxes_amount_cents"
        case totalAmountCents = "total_amount_cents"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.decode(String.self, forKey: .lagoID)
        number = try c.decode(String.self, forKey: .number)
        issuingDate = try c.decode(BillingDate.self, forKey: .issuingDate)
        paymentDueDate = try c.optional(.paymentDueDate)
        invoiceType = try c.optional(.invoiceType)
        status = try c.optional(.status)
        currency = try c.decode(Currency.self, forKey: .currency)
        customer = try c.optional(.customer)
        fees = try c.decode([BillingFee].self, forKey: .fees)
        credits = try c.array(.credits)
        taxes = try c.array(.taxes)
        feesAmountCents = try c.cents(.feesAmountCents)
        couponsAmountCents = try c.cents(.couponsAmountCents, default: 0)
        creditNotesAmountCents = try c.cents(.creditNotesAmountCents, default: 0)
        prepaidCreditAmountCents = try c.cents(.prepaidCreditAmountCents, default: 0)
        progressiveBillingCreditAmountCents = try c.cents(.progressiveBillingCreditAmountCents, default: 0)
        subTotalExcludingTaxesAmountCents = try c.centsIfPresent(.subTotalExcludingTaxesAmountCents)
        subTotalIncludingTaxesAmountCents = try c.centsIfPresent(.subTotalIncludingTaxesAmountCents)
        taxesAmountCents = try c.cents(.taxesAmountCents)
        totalAmountCents = try c.cents(.totalAmountCents)
    }

    public func validate(root: String) throws(DocumentError) {
        let v = Validator(root: root)
        try v.nonEmpty(lagoID, "lago_id")
        try v.nonEmpty(number, "number")
        if let paymentDueDate, paymentDueDate < issuingDate {
            throw v.fail("payment_due_date", "must not be before issuing_date \(issuingDate.isoDate), got \(paymentDueDate.isoDate)")
        }
        try customer?.validate(root: v.path("customer"))
        for (i, fee) in fees.enumerated() {
            try fee.validate(v, "fees[\(i)]", currency: currency)
        }
        for (i, credit) in credits.enumerated() {
            try v.nonNegative(credit.amountCents, "credits[\(i)].amount_cents")
            try v.sameCurrency(credit.amountCurrency, as: currency, "credits[\(i)].amount_currency")
        }
        for (i, tax) in taxes.enumerated() {
            try tax.validate(v, "applied_taxes[\(i)]", currency: currency)
        }
        let amounts: [(Int64, String)] = [
            (feesAmountCents, "fees_amount_cents"), (couponsAmountCents, "coupons_amount_cents"),
            (creditNotesAmountCents, "credit_notes_amount_cents"),
            (prepaidCreditAmountCents, "prepaid_credit_amount_cents"),
            (progressiveBillingCreditAmountCents, "progressive_billing_credit_amount_cents"),
            (taxesAmountCents, "taxes_amount_cents"), (totalAmountCents, "total_amount_cents"),
        ]
        for (cents, name) in amounts { try v.nonNegative(cents, name) }
        try v.nonNegative(subTotalExcludingTaxesAmountCents, "sub_total_excluding_taxes_amount_cents")
        try v.nonNegative(subTotalIncludingTaxesAmountCents, "sub_total_including_taxes_amount_cents")

        // Lines against headers.
        let feeSum = try v.sum(fees.map(\.amountCents), currency, "fees_amount_cents")
        try v.equal(feesAmountCents, feeSum, "fees_amount_cents", "the sum of fees[].amount_cents")
        let creditHeaders: [(BillingCredit.Kind, Int64, String)] = [
            (.coupon, couponsAmountCents, "coupons_amount_cents"),
            (.creditNote, creditNotesAmountCents, "credit_notes_amount_cents"),
            (.progressiveBilling, progressiveBillingCreditAmountCents, "progressive_billing_credit_amount_cents"),
        ]
        for (kind, header, name) in creditHeaders {
            let lines = credits.filter { $0.kind == kind }.map(\.amountCents)
            let sum = try v.sum(lines, currency, name)
            try v.equal(header, sum, name, "the sum of credits[] of type \(kind.rawValue)")
        }

        // Lago's identities: fees - progressive billing - coupons = sub total excluding taxes;
        // + taxes = sub total including taxes; - credit notes - prepaid credits = total.
        let minus = { (cents: Int64, name: String) throws(DocumentError) -> Int64 in
            try v.negate(cents, currency, name)
        }
        let excluding = try v.sum(
            [
                feesAmountCents, try minus(progressiveBillingCreditAmountCents, "progressive_billing_credit_amount_cents"),
                try minus(couponsAmountCents, "coupons_amount_cents"),
            ],
            currency, "sub_total_excluding_taxes_amount_cents")
        if let subTotalExcludingTaxesAmountCents {
            try v.equal(
                subTotalExcludingTaxesAmountCents, excluding, "sub_total_excluding_taxes_amount_cents",
                "fees_amount_cents - progressive_billing_credit_amount_cents - coupons_amount_cents")
        }
        let including = try v.sum([excluding, taxesAmountCents], currency, "sub_total_including_taxes_amount_cents")
        if let subTotalIncludingTaxesAmountCents {
            try v.equal(
                subTotalIncludingTaxesAmountCents, including, "sub_total_including_taxes_amount_cents",
                "sub_total_excluding_taxes_amount_cents + taxes_amount_cents")
        }
        let total = try v.sum(
            [
                including, try minus(creditNotesAmountCents, "credit_notes_amount_cents"),
                try minus(prepaidCreditAmountCents, "prepaid_credit_amount_cents"),
            ],
            currency, "total_amount_cents")
        try v.equal(
            totalAmountCents, total, "total_amount_cents",
            "fees_amount_cents - progressive_billing_credit_amount_cents - coupons_amount_cents"
                + " + taxes_amount_cents - credit_notes_amount_cents - prepaid_credit_amount_cents")
    }
}

/// A sales order: the same JSON as an invoice (Lago posted its invoice payload as a NetSuite
/// `salesorder`, PROVIDERS 1.3), decoded and checked by the same rules, with its own root in
/// error paths ("sales_order.fees[0].units"). Fields read through to the invoice:
/// `order.number`, `order.fees`.
@dynamicMemberLookup
public struct BillingSalesOrder: BillingDocument, Hashable {
    public static let documentRoot = "sales_order"
    public static let envelopeKeys = ["sales_order", "invoice"]

    public let invoice: BillingInvoice

    public init(from decoder: any Decoder) throws {
        invoice = try BillingInvoice(from: decoder)
    }

    public subscript<T>(dynamicMember keyPath: KeyPath<BillingInvoice, T>) -> T { invoice[keyPath: keyPath] }

    public func validate(root: String) throws(DocumentError) { try invoice.validate(root: root) }
}
