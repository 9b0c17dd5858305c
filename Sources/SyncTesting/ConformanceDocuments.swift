import Foundation
import Sync

/// The billing documents the conformance suite writes: small, valid Lago documents in USD
/// without taxes, in two versions (the same ids, other content) so a check can tell the
/// latest from the first.
///
/// What a harness's mappings must cover (`ConformanceHarness.target()`): a default item for
/// `subscription` fees (plan `conformance_plan`), an item for, or a fallback item covering, the
/// `charge` fee with code `conformance_usage`, and the currency USD.
public enum ConformanceDocuments {
    /// A company customer; `version` changes its name, email and address.
    public static func customer(_ id: String, version: Int = 1) throws -> BillingCustomer {
        try DocumentDecoder.decode(BillingCustomer.self, from: json(customerObject(id, version: version)))
    }

    /// An invoice of `customerID` with a subscription fee and a usage fee; `version` changes
    /// the amounts (and so the total) and the due date.
    public static func invoice(_ id: String, customerID: String, version: Int = 1) throws -> BillingInvoice {
        try DocumentDecoder.decode(BillingInvoice.self, from: json(invoiceObject(id, customerID: customerID, version: version)))
    }

    /// A sales order: the invoice's JSON under its own id.
    public static func salesOrder(_ id: String, customerID: String, version: Int = 1) throws -> BillingSalesOrder {
        try DocumentDecoder.decode(BillingSalesOrder.self, from: json(invoiceObject(id, customerID: customerID, version: version)))
    }

    /// The total of `invoice(_:customerID:version:)` in cents.
    public static func invoiceTotalCents(version: Int) -> Int64 {
        let (subscription, usage) = feeAmounts(version: version)
        return subscription + usage
    }

    /// A credit note on `invoiceID`, wholly credited to it (nothing refunded); `version`
    /// changes its amount (always less than the invoice's total) and reason.
    public static func creditNote(_ id: String, invoiceID: String, version: Int = 1) throws -> BillingCreditMemo {
        let amount: Int64 = 1_000 + Int64(version) * 250
        let note: [String: Any] = [
            "lago_id": id, "number": "CN-\(id)", "lago_invoice_id": invoiceID, "issuing_date": "2026-11-02",
            "currency": "USD", "reason": "other", "description": "Conformance credit v\(version)",
            "items": [["lago_id": "\(id)-item", "amount_cents": amount, "amount_currency": "USD"]],
            "sub_total_excluding_taxes_amount_cents": amount, "coupons_adjustment_amount_cents": 0,
            "taxes_amount_cents": 0, "total_amount_cents": amount,
            "credit_amount_cents": amount, "refund_amount_cents": 0,
        ]
        return try DocumentDecoder.decode(BillingCreditMemo.self, from: json(["credit_note": note]))
    }

    /// A payment of part of `invoiceID`; `version` changes the amount and the reference.
    public static func payment(_ id: String, invoiceID: String, version: Int = 1) throws -> BillingPayment {
        let payment: [String: Any] = [
            "lago_id": id, "invoice_ids": [invoiceID], "amount_cents": 500 + Int64(version) * 100, "amount_currency": "USD",
            "payment_status": "succeeded", "type": "manual", "reference": "wire \(id) v\(version)", "paid_at": "2026-11-10",
        ]
        return try DocumentDecoder.decode(BillingPayment.self, from: json(["payment": payment]))
    }

    // MARK: - JSON

    static func customerObject(_ id: String, version: Int) -> [String: Any] {
        [
            "lago_id": id, "external_id": "EXT-\(id)", "name": "Conformance \(id) v\(version) Ltd", "customer_type": "company",
            "email": "billing+v\(version)@example.com", "currency": "USD",
            "address_line1": "\(version) Conformance Street", "city": "Springfield", "zipcode": "12345", "country": "US",
        ]
    }

    static func feeAmounts(version: Int) -> (Int64, Int64) {
        (4_900 + Int64(version) * 100, 1_234 + Int64(version) * 11)
    }

    static func invoiceObject(_ id: String, customerID: String, version: Int) -> [String: Any] {
        let (subscription, usage) = feeAmounts(version: version)
        let fees: [[String: Any]] = [
            [
                "lago_id": "\(id)-fee0", "item": ["type": "subscription", "code": "conformance_plan", "name": "Conformance plan"],
                "units": "1", "amount_cents": subscription, "amount_currency": "USD", "taxes_amount_cents": 0,
                "total_amount_cents": subscription,
            ],
            [
                "lago_id": "\(id)-fee1", "item": ["type": "charge", "code": "conformance_usage", "name": "Conformance usage"],
                "units": "\(usage)", "precise_unit_amount": "0.01", "amount_cents": usage, "amount_currency": "USD",
                "taxes_amount_cents": 0, "total_amount_cents": usage,
            ],
        ]
        let total = subscription + usage
        return [
            "invoice": [
                "lago_id": id, "number": "INV-\(id)", "issuing_date": "2026-10-01", "payment_due_date": "2026-11-\(10 + version % 10)",
                "invoice_type": "subscription", "status": "finalized", "currency": "USD",
                "customer": customerObject(customerID, version: 1), "fees": fees, "credits": [],
                "fees_amount_cents": total, "coupons_amount_cents": 0, "credit_notes_amount_cents": 0,
                "prepaid_credit_amount_cents": 0, "sub_total_excluding_taxes_amount_cents": total, "taxes_amount_cents": 0,
                "sub_total_including_taxes_amount_cents": total, "total_amount_cents": total,
            ] as [String: Any]
        ]
    }

    static func json(_ object: [String: Any]) throws -> String {
        String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }
}
