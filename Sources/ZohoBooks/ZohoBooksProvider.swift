import ExactJSON
import Foundation
import Sync

// STUB (lead, issue 14): filled in by the provider work.

/// Writes billing documents to one Zoho Books organization, idempotently: every record is
/// upserted by a unique custom field holding the billing id (docs/zoho-books.md).
struct ZohoBooksProvider: AccountingProvider {
    let client: ZohoBooksClient

    func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String { throw notYet }
    func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String { throw notYet }
    func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String { throw notYet }
    func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        throw notYet
    }
    func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget) async throws
        -> String
    { throw notYet }
    func upsertCustomerRefund(_ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget) async throws
        -> String
    { throw notYet }
    func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String? { nil }
    func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String { throw notYet }
    func voidCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        throw notYet
    }

    private var notYet: SyncError { SyncError(.permanent, "Zoho Books provider not built yet") }
}
