import Foundation
import JobQueue
import Synchronization

/// The provider of one sync job, paced through the connection's rate windows (queue
/// migrations 010–011): the job's start spent one start of its limit key's windows, which pays
/// for the first request of the job's first provider call. Each later call (an invoice job
/// that pushes its customer first, then the invoice) first spends another start, waiting until
/// one is free; requests after the first inside one call are the provider's to pace
/// (`SyncTarget.beforeFurtherRequest`, which spends a start the same way). So a provider that
/// counts requests per window (Zoho Books) never sees more than the windows allow, however
/// many requests a job makes. A key without windows costs one round trip per later call
/// (`JobContext.takeRateWindowStart` finds none), and only for jobs that make several calls.
struct PacedProvider: AccountingProvider {
    let base: any AccountingProvider
    let context: JobContext
    private let calls = Calls()

    init(_ base: any AccountingProvider, context: JobContext) {
        self.base = base
        self.context = context
    }

    /// Calls made so far by this job; shared by copies of the session.
    private final class Calls: Sendable {
        let count = Mutex(0)
    }

    /// The target the provider sees: further requests inside a call spend a start too.
    func paced(_ target: SyncTarget) -> SyncTarget {
        var target = target
        let context = self.context
        target.beforeFurtherRequest = { try await context.takeRateWindowStart() }
        return target
    }

    /// Before a call: the job's first is paid for by its start; any later one spends a start.
    /// And before any: the run's concurrency-limit slot. A standby run (queue migration 013)
    /// has loaded its connection and mappings by now and waits here for a slot handed over
    /// in memory; every other run holds its slot and passes at once.
    private func call<T>(_ target: SyncTarget, _ body: (SyncTarget) async throws -> T) async throws -> T {
        try await context.waitForLimitSlot()
        let earlier = calls.count.withLock { count in
            defer { count += 1 }
            return count
        }
        if earlier > 0 { try await context.takeRateWindowStart() }
        return try await body(paced(target))
    }

    func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.upsertCustomer(customer, target: $0) }
    }

    func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.upsertInvoice(invoice, customerRef: customerRef, target: $0) }
    }

    func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.upsertSalesOrder(order, customerRef: customerRef, target: $0) }
    }

    func upsertCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.upsertCreditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: $0) }
    }

    func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget) async throws
        -> String
    {
        try await call(target) { try await base.upsertPayment(payment, customerRef: customerRef, invoiceRefs: invoiceRefs, target: $0) }
    }

    func upsertCustomerRefund(_ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget) async throws
        -> String
    {
        try await call(target) {
            try await base.upsertCustomerRefund(memo, customerRef: customerRef, creditMemoRef: creditMemoRef, target: $0)
        }
    }

    func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String? {
        try await call(target) { try await base.addCustomerCurrency(customer, currency: currency, target: $0) }
    }

    func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.voidInvoice(invoice, customerRef: customerRef, target: $0) }
    }

    func voidCreditMemo(_ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget) async throws -> String {
        try await call(target) { try await base.voidCreditMemo(memo, customerRef: customerRef, invoiceRef: invoiceRef, target: $0) }
    }
}
