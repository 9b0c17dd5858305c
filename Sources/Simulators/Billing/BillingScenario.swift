import Foundation
import Sync

/// A billing system's documents, generated: customers, invoices (several fee kinds, coupons,
/// credit notes, prepaid credits, taxes), credit notes and payments in Lago's JSON, with the
/// totals they must reach at the provider. Deterministic for a seed, so a failing end-to-end
/// run can be replayed. Used by the end-to-end tests, the demo and the benchmark.
public struct BillingScenario: Sendable {
    public struct Customer: Sendable {
        public let lagoID: String
        public let externalID: String
        public let currency: Currency
        public let json: String
    }

    public struct Invoice: Sendable {
        public let lagoID: String
        public let customerID: String
        public let currency: Currency
        /// `total_amount_cents`: what NetSuite's lines plus taxes must add up to.
        public let totalCents: Int64
        public let taxesCents: Int64
        /// `amount_cents` of every fee, in order.
        public let feeAmounts: [Int64]
        public let json: String
    }

    public struct CreditNote: Sendable {
        public let lagoID: String
        public let invoiceID: String
        public let customerID: String
        public let currency: Currency
        public let totalCents: Int64
        /// What the note applies to its invoice (`credit_amount_cents`): at most the invoice's total.
        public let creditCents: Int64
        /// The rest of the note, refunded (`refund_amount_cents`).
        public let refundCents: Int64
        public let json: String
    }

    public struct Payment: Sendable {
        public let lagoID: String
        public let invoiceID: String
        public let customerID: String
        public let currency: Currency
        public let amountCents: Int64
        public let json: String
    }

    public let customers: [Customer]
    public let invoices: [Invoice]
    public let creditNotes: [CreditNote]
    public let payments: [Payment]

    /// The NetSuite items the mappings below point at (all taxable).
    public static let itemIDs = ["900", "510", "520", "530", "540", "550", "601", "602"]

    /// The mappings a connection needs for these documents: a fallback item (the
    /// `storage_gb` charge has no item of its own), default items, two one-to-one items,
    /// SuiteTax codes and currencies.
    public static func mappings(connection: UUID) -> [Mapping] {
        [
            .fallbackItem(connectionID: connection, providerID: "900", providerName: "Billing (fallback)"),
            .defaultItem(connectionID: connection, for: .subscription, providerID: "510"),
            .defaultItem(connectionID: connection, for: .minimumCommitment, providerID: "520"),
            .defaultItem(connectionID: connection, for: .coupon, providerID: "530"),
            .defaultItem(connectionID: connection, for: .creditNote, providerID: "540"),
            .defaultItem(connectionID: connection, for: .prepaidCredit, providerID: "550"),
            .item(connectionID: connection, code: "api_calls", providerID: "601", accountCode: "4010"),
            .item(connectionID: connection, code: "setup_fee", providerID: "602", accountCode: "4020"),
            Mapping(
                connectionID: connection, kind: .tax, billingKey: "vat_20", providerID: "vat_20",
                details: ["nexus": "1", "tax_type": "10", "tax_code": "20"]),
            Mapping(
                connectionID: connection, kind: .tax, billingKey: "us_sales", providerID: "us_sales",
                details: ["nexus": "1", "tax_type": "11", "tax_code": "21"]),
            Mapping(connectionID: connection, kind: .currency, billingKey: "USD", providerID: "1"),
            Mapping(connectionID: connection, kind: .currency, billingKey: "EUR", providerID: "2"),
            Mapping(connectionID: connection, kind: .currency, billingKey: "JPY", providerID: "3"),
            Mapping(connectionID: connection, kind: .currency, billingKey: "KWD", providerID: "4"),
        ]
    }

    /// The Zoho Books ids the Zoho mappings below point at: the Zoho Books simulator's
    /// reference data (`ZohoBooksSimulator.ReferenceData.demo`), so the demo and the
    /// end-to-end tests write lines Zoho accepts. Items in the order of `zohoMappings`:
    /// fallback, subscription, minimum commitment, coupon, credit note, prepaid credit,
    /// `api_calls`, `setup_fee`.
    public static let zohoItemIDs = [
        "460000000020005", "460000000020001", "460000000020007", "460000000020009", "460000000020011", "460000000020013",
        "460000000020003", "460000000020015",
    ]
    /// vat_20: "Standard Rate" 20%; us_sales: "NY Sales Tax" 8.875%.
    public static let zohoTaxIDs = ["vat_20": "460000000017094", "us_sales": "460000000017098"]
    public static let zohoCurrencyIDs = [
        "USD": "460000000000097", "EUR": "460000000000099", "JPY": "460000000000103", "KWD": "460000000000101",
    ]
    /// The accounts of the currency mappings' details (`ZohoMappings.currencyDetails`):
    /// payments go to "Undeposited Funds", refunds leave "Business Checking".
    public static let zohoPaymentAccountID = "460000000000391"
    public static let zohoRefundAccountID = "460000000000393"

    /// The same mappings for a Zoho Books connection: items, taxes and currencies by Zoho id;
    /// each currency names the accounts and modes of its payments and refunds.
    public static func zohoMappings(connection: UUID) -> [Mapping] {
        let items = zohoItemIDs
        let accounts = [
            "payment_account_id": zohoPaymentAccountID, "payment_mode": "banktransfer", "refund_account_id": zohoRefundAccountID,
            "refund_mode": "banktransfer",
        ]
        return [
            .fallbackItem(connectionID: connection, providerID: items[0], providerName: "Billing (other charges)"),
            .defaultItem(connectionID: connection, for: .subscription, providerID: items[1]),
            .defaultItem(connectionID: connection, for: .minimumCommitment, providerID: items[2]),
            .defaultItem(connectionID: connection, for: .coupon, providerID: items[3]),
            .defaultItem(connectionID: connection, for: .creditNote, providerID: items[4]),
            .defaultItem(connectionID: connection, for: .prepaidCredit, providerID: items[5]),
            .item(connectionID: connection, code: "api_calls", providerID: items[6]),
            .item(connectionID: connection, code: "setup_fee", providerID: items[7]),
        ]
            + zohoTaxIDs.sorted { $0.key < $1.key }.map {
                Mapping(connectionID: connection, kind: .tax, billingKey: $0.key, providerID: $0.value)
            }
            + zohoCurrencyIDs.sorted { $0.key < $1.key }.map {
                Mapping(connectionID: connection, kind: .currency, billingKey: $0.key, providerID: $0.value, details: accounts)
            }
    }

    /// `customers` customers with `invoicesPerCustomer` invoices each; a credit note for every
    /// `creditNoteEvery`-th invoice and a payment for the first `payments` invoices (whole or
    /// in part, never more than the invoice's total).
    ///
    /// `revision` > 0 gives the same billing objects (the same ids and numbers) as they look
    /// after an edit in the billing system: other addresses, emails and metadata, other
    /// amounts, and invoices with lines removed and others added, so a test can push a whole
    /// month and then push it again changed. Revision 0 is the original.
    ///
    /// `firstCustomerExtraInvoices` gives the first customer that many more invoices, after
    /// all the others (a heavy customer: one long serial lane in a month-end run); 0 leaves
    /// the scenario exactly as without it.
    public static func generate(
        customers customerCount: Int, invoicesPerCustomer: Int, creditNoteEvery: Int, payments paymentCount: Int, seed: UInt64 = 7,
        revision: Int = 0, firstCustomerExtraInvoices: Int = 0
    ) -> BillingScenario {
        var random = SplitMix64(seed: seed)
        // Ids always come from `random`, so every revision names the same objects; a later
        // revision draws its amounts from a stream of its own.
        var edits = SplitMix64(seed: seed &+ UInt64(revision) &* 0x9E37_79B9_7F4A_7C15)
        func draw() -> UInt64 {
            let original = random.next()
            return revision == 0 ? original : edits.next()
        }
        /// Whether the `period`-th invoices have a line: in a revision, other invoices do.
        func every(_ period: Int, _ i: Int) -> Bool { (i + revision) % period == 0 }
        let currencies: [(Currency, String, String)] = [
            (.usd, "us_sales", "8.875"), (.eur, "vat_20", "20"), (.jpy, "vat_20", "20"), (.kwd, "us_sales", "8.875"),
        ]
        var customers: [Customer] = []
        var customerDocs: [[String: Any]] = []
        for c in 0..<customerCount {
            let (currency, _, _) = currencies[c % currencies.count]
            let lagoID = String(format: "cus-%05d-%04x", c, random.next() & 0xffff)
            let individual = c % 3 == 0
            var doc: [String: Any] = [
                "lago_id": lagoID, "external_id": String(format: "ACME-%05d", c),
                "name": individual ? "Ada Lovelace \(c)" : "Customer \(c) Ltd", "customer_type": individual ? "individual" : "company",
                "email": revision == 0 ? "billing\(c)@example.com,ap\(c)@example.com" : "billing\(c)+v\(revision)@example.com",
                "currency": currency.code,
                "address_line1": revision == 0 ? "\(c) Main Street" : "\(c) Main Street, Suite \(100 + revision)",
                "city": "Springfield", "zipcode": "12345", "country": "US",
                "metadata": [["key": "region", "value": (c + revision) % 2 == 0 ? "EMEA" : "AMER", "display_in_invoice": false]],
            ]
            if individual {
                doc["firstname"] = "Ada"
                doc["lastname"] = "Lovelace \(c)"
            }
            customerDocs.append(doc)
            customers.append(
                Customer(lagoID: lagoID, externalID: doc["external_id"] as! String, currency: currency, json: Self.json(["customer": doc])))
        }

        var invoices: [Invoice] = []
        let spreadInvoices = customerCount * invoicesPerCustomer
        for i in 0..<(spreadInvoices + (customerCount > 0 ? firstCustomerExtraInvoices : 0)) {
            let c = i < spreadInvoices ? i % customerCount : 0
            let (currency, taxCode, taxRate) = currencies[c % currencies.count]
            let scale = Int64(currency.minorUnits == 0 ? 1 : currency.minorUnits == 2 ? 100 : 1000)
            let lagoID = String(format: "inv-%06d-%04x", i, random.next() & 0xffff)
            var fees: [[String: Any]] = []
            var feeAmounts: [Int64] = []
            var feeTaxes: [Int64] = []
            func addFee(_ type: String, _ code: String, _ name: String, units: String, unitPrice: String?, amount: Int64) {
                let tax = Self.tax(amount, rate: taxRate)
                var fee: [String: Any] = [
                    "lago_id": "\(lagoID)-fee\(fees.count)", "item": ["type": type, "code": code, "name": name],
                    "units": units, "amount_cents": amount, "amount_currency": currency.code,
                    "taxes_amount_cents": tax, "total_amount_cents": amount + tax,
                    "applied_taxes": [
                        [
                            "tax_code": taxCode, "tax_name": taxCode, "tax_rate": taxRate, "amount_cents": tax,
                            "amount_currency": currency.code,
                        ]
                    ],
                ]
                if let unitPrice { fee["precise_unit_amount"] = unitPrice }
                fees.append(fee)
                feeAmounts.append(amount)
                feeTaxes.append(tax)
            }
            // A subscription, usage at a fractional price (quantity × rate is exact), usage
            // on the fallback item, and now and then an add-on or a minimum commitment.
            addFee("subscription", "pro_plan", "Pro plan", units: "1", unitPrice: nil, amount: Int64(49 + (i + 17 * revision) % 50) * scale)
            let calls = Int64(1000 + draw() % 90_000)
            addFee(
                "charge", "api_calls", "API calls", units: String(calls), unitPrice: currency.minorUnits == 0 ? "1" : "0.01",
                amount: currency.minorUnits == 0 ? calls : calls * scale / 100)
            let storage = Int64(1 + draw() % 5000) * scale / 10 + 7
            if revision == 0 || !every(3, i) { addFee("charge", "storage_gb", "Storage", units: "12.5", unitPrice: nil, amount: storage) }
            if every(4, i) { addFee("add_on", "setup_fee", "Setup", units: "1", unitPrice: nil, amount: 250 * scale) }
            if every(7, i) {
                addFee("commitment", "minimum_commitment", "Minimum commitment", units: "1", unitPrice: nil, amount: 15 * scale + 3)
            }

            let feesTotal = feeAmounts.reduce(0, +)
            let coupon: Int64 = i % 3 == 0 ? min(10 * scale + 1, feesTotal / 4) : 0
            let couponTax = Self.tax(coupon, rate: taxRate)
            let taxes = feeTaxes.reduce(0, +) - couponTax
            let subExcluding = feesTotal - coupon
            let subIncluding = subExcluding + taxes
            let creditNote: Int64 = i % 5 == 1 ? subIncluding / 10 : 0
            let prepaid: Int64 = i % 6 == 2 ? subIncluding / 20 + 1 : 0
            let total = subIncluding - creditNote - prepaid
            var credits: [[String: Any]] = []
            if coupon > 0 {
                credits.append([
                    "lago_id": "\(lagoID)-coupon", "item": ["type": "coupon", "code": "spring", "name": "Spring coupon"],
                    "amount_cents": coupon, "amount_currency": currency.code, "before_taxes": true,
                ])
            }
            if creditNote > 0 {
                credits.append([
                    "lago_id": "\(lagoID)-cn", "item": ["type": "credit_note", "code": "CN-\(i)", "name": "Credit note"],
                    "amount_cents": creditNote, "amount_currency": currency.code, "before_taxes": false,
                ])
            }
            let invoice: [String: Any] = [
                "lago_id": lagoID, "number": String(format: "INV-%06d", i), "issuing_date": "2026-10-\(String(format: "%02d", 1 + i % 28))",
                "payment_due_date": "2026-11-\(String(format: "%02d", 1 + i % 28))", "invoice_type": "subscription", "status": "finalized",
                "currency": currency.code, "customer": customerDocs[c], "fees": fees, "credits": credits,
                "applied_taxes": [
                    [
                        "tax_code": taxCode, "tax_name": taxCode, "tax_rate": taxRate, "amount_cents": taxes,
                        "amount_currency": currency.code,
                    ]
                ],
                "fees_amount_cents": feesTotal, "coupons_amount_cents": coupon, "credit_notes_amount_cents": creditNote,
                "prepaid_credit_amount_cents": prepaid, "progressive_billing_credit_amount_cents": 0,
                "sub_total_excluding_taxes_amount_cents": subExcluding, "taxes_amount_cents": taxes,
                "sub_total_including_taxes_amount_cents": subIncluding, "total_amount_cents": total,
            ]
            invoices.append(
                Invoice(
                    lagoID: lagoID, customerID: customers[c].lagoID, currency: currency, totalCents: total, taxesCents: taxes,
                    feeAmounts: feeAmounts, json: Self.json(["invoice": invoice])))
        }

        var creditNotes: [CreditNote] = []
        for (n, invoice) in invoices.enumerated() where creditNoteEvery > 0 && n % creditNoteEvery == 0 {
            let (_, taxCode, taxRate) = currencies[customers.firstIndex { $0.lagoID == invoice.customerID }! % currencies.count]
            let amount = invoice.feeAmounts[0] / 2 + 1
            let tax = Self.tax(amount, rate: taxRate)
            let lagoID = "cn-\(invoice.lagoID)"
            let note: [String: Any] = [
                "lago_id": lagoID, "number": "CN-\(n)", "lago_invoice_id": invoice.lagoID, "issuing_date": "2026-11-02",
                "currency": invoice.currency.code, "reason": "other",
                "items": [["lago_id": "\(lagoID)-item", "amount_cents": amount, "amount_currency": invoice.currency.code]],
                "applied_taxes": [
                    [
                        "tax_code": taxCode, "tax_name": taxCode, "tax_rate": taxRate, "amount_cents": tax,
                        "amount_currency": invoice.currency.code, "base_amount_cents": amount,
                    ]
                ],
                "sub_total_excluding_taxes_amount_cents": amount, "coupons_adjustment_amount_cents": 0,
                "taxes_amount_cents": tax, "total_amount_cents": amount + tax,
                // Credited to the invoice up to its total; any rest is refunded (Lago splits a
                // note's total the same way).
                "credit_amount_cents": min(amount + tax, invoice.totalCents),
                "refund_amount_cents": amount + tax - min(amount + tax, invoice.totalCents),
            ]
            creditNotes.append(
                CreditNote(
                    lagoID: lagoID, invoiceID: invoice.lagoID, customerID: invoice.customerID, currency: invoice.currency,
                    totalCents: amount + tax, creditCents: min(amount + tax, invoice.totalCents),
                    refundCents: amount + tax - min(amount + tax, invoice.totalCents), json: Self.json(["credit_note": note])))
        }

        var payments: [Payment] = []
        // A payment pays what is due: the invoice's total less what a credit note credited.
        let credited = Dictionary(creditNotes.map { ($0.invoiceID, $0.creditCents) }, uniquingKeysWith: +)
        for invoice in invoices.prefix(paymentCount) where invoice.totalCents - (credited[invoice.lagoID] ?? 0) > 0 {
            let due = invoice.totalCents - (credited[invoice.lagoID] ?? 0)
            let amount = payments.count % 4 == 3 ? max(1, due / 2) : due
            let lagoID = "pay-\(invoice.lagoID)"
            let payment: [String: Any] = [
                "lago_id": lagoID, "invoice_ids": [invoice.lagoID], "amount_cents": amount, "amount_currency": invoice.currency.code,
                "payment_status": "succeeded", "type": "manual", "reference": "wire \(payments.count)", "paid_at": "2026-11-10",
            ]
            payments.append(
                Payment(
                    lagoID: lagoID, invoiceID: invoice.lagoID, customerID: invoice.customerID, currency: invoice.currency,
                    amountCents: amount, json: Self.json(["payment": payment])))
        }
        return BillingScenario(customers: customers, invoices: invoices, creditNotes: creditNotes, payments: payments)
    }

    /// amount × rate / 100, rounded half up, in integers (rates here have at most 3 decimals).
    static func tax(_ amount: Int64, rate: String) -> Int64 {
        let parts = rate.split(separator: ".")
        let decimals = parts.count > 1 ? parts[1].count : 0
        let rateScaled = Int64(parts.joined())! // rate × 10^decimals
        var divisor: Int64 = 100
        for _ in 0..<decimals { divisor *= 10 }
        return (amount * rateScaled + divisor / 2) / divisor
    }

    static func json(_ object: [String: Any]) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
