import Sync

/// One write an `AccountingProvider` is asked for, with the provider ids it references: what
/// the conformance suite sends, and what `FakeProvider` keeps as a record's content.
public enum ProviderWrite: Sendable, Hashable {
    case customer(BillingCustomer)
    case invoice(BillingInvoice, customerRef: String)
    case salesOrder(BillingSalesOrder, customerRef: String)
    case creditMemo(BillingCreditMemo, customerRef: String, invoiceRef: String)
    /// `invoiceRefs`: each billing invoice id the payment applies to → the provider's id.
    case payment(BillingPayment, customerRef: String, invoiceRefs: [String: String])

    public var objectType: ExternalRef.ObjectType {
        switch self {
        case .customer: .customer
        case .invoice: .invoice
        case .salesOrder: .salesOrder
        case .creditMemo: .creditMemo
        case .payment: .payment
        }
    }

    /// The billing system's id of the document (`lago_id`).
    public var billingID: String {
        switch self {
        case .customer(let customer): customer.lagoID
        case .invoice(let invoice, _): invoice.lagoID
        case .salesOrder(let order, _): order.invoice.lagoID
        case .creditMemo(let memo, _, _): memo.lagoID
        case .payment(let payment, _, _): payment.lagoID
        }
    }

    /// Calls the provider's method for this write and returns the provider's id.
    public func send(to provider: any AccountingProvider, target: SyncTarget) async throws -> String {
        switch self {
        case .customer(let customer):
            try await provider.upsertCustomer(customer, target: target)
        case .invoice(let invoice, let customerRef):
            try await provider.upsertInvoice(invoice, customerRef: customerRef, target: target)
        case .salesOrder(let order, let customerRef):
            try await provider.upsertSalesOrder(order, customerRef: customerRef, target: target)
        case .creditMemo(let memo, let customerRef, let invoiceRef):
            try await provider.upsertCreditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: target)
        case .payment(let payment, let customerRef, let invoiceRefs):
            try await provider.upsertPayment(payment, customerRef: customerRef, invoiceRefs: invoiceRefs, target: target)
        }
    }
}
