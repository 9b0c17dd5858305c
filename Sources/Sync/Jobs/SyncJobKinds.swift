import JobQueue

// The five sync job kinds. Each reads its document from the args, makes sure what it
// references is at the provider, upserts, and records the provider's id.
//
//   customer.sync      customer                      → provider customer
//   invoice.push       invoice (+ its customer)       → provider invoice
//   sales_order.push   invoice shape (+ customer)     → provider sales order
//   credit_memo.push   credit note; waits for invoice → provider credit memo
//   payment.apply      payment; waits for invoice     → provider payment applied to it

struct CustomerSyncJob: JobHandler {
    static let kind = "customer.sync"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .customer) { session in
            _ = try await session.pushCustomer(try session.document(BillingCustomer.self), at: ["customer"], last: true)
        }
    }
}

struct InvoicePushJob: JobHandler {
    static let kind = "invoice.push"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .invoice) { session in
            let invoice = try session.document(BillingInvoice.self)
            let customerID = try Self.customerID(of: invoice, args: args, root: "invoice")
            let customerRef = try await session.customerRef(customerID, document: invoice.customer, at: ["invoice", "customer"])
            let id = try await session.provider.upsertInvoice(
                invoice, customerRef: customerRef, target: try await session.target(recordType: "invoice", at: ["invoice"], writing: .invoice, invoice.lagoID))
            try await session.recordResult(
                .invoice, billingID: invoice.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }

    /// An invoice names its customer in `customer` (Lago always sends it); `customer_id` in
    /// the args is accepted for documents that do not.
    static func customerID(of invoice: BillingInvoice, args: SyncJobArgs, root: String) throws -> String {
        guard let id = invoice.customer?.lagoID ?? args.customerID else {
            throw DocumentError(field: "\(root).customer", message: "is required to push to an accounting provider (or give customer_id in the args)")
        }
        return id
    }
}

struct SalesOrderPushJob: JobHandler {
    static let kind = "sales_order.push"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .salesOrder) { session in
            let order = try session.document(BillingSalesOrder.self)
            let customerID = try InvoicePushJob.customerID(of: order.invoice, args: args, root: "sales_order")
            // The key the document arrived under, by exact top-level key (a bare document's
            // paths ignore the envelope).
            let envelope = DocumentDecoder.envelope(of: BillingSalesOrder.self, in: context.job.args.text) ?? BillingSalesOrder.documentRoot
            let customerRef = try await session.customerRef(customerID, document: order.customer, at: [envelope, "customer"])
            let id = try await session.provider.upsertSalesOrder(
                order, customerRef: customerRef, target: try await session.target(recordType: "sales_order", at: [envelope], writing: .salesOrder, order.lagoID))
            try await session.recordResult(
                .salesOrder, billingID: order.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }
}

struct CreditMemoPushJob: JobHandler {
    static let kind = "credit_memo.push"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .creditMemo) { session in
            let memo = try session.document(BillingCreditMemo.self)
            let invoice = try await session.invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? args.customerID ?? invoice.customerBillingID else {
                throw DocumentError(field: "credit_note.customer", message: "is required: the invoice's customer is not known (or give customer_id in the args)")
            }
            let customerRef = try await session.customerRef(customerID, document: memo.customer, at: ["credit_note", "customer"])
            let id = try await session.provider.upsertCreditMemo(
                memo, customerRef: customerRef, invoiceRef: invoice.providerID,
                target: try await session.target(recordType: "credit_memo", at: ["credit_note"], writing: .creditMemo, memo.lagoID))
            try await session.recordResult(
                .creditMemo, billingID: memo.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }
}

struct PaymentApplyJob: JobHandler {
    static let kind = "payment.apply"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .payment) { session in
            let payment = try session.document(BillingPayment.self)
            let invoice = try await session.invoiceRef(payment.invoiceID)
            guard let customerID = args.customerID ?? invoice.customerBillingID else {
                throw DocumentError(field: "payment", message: "names no customer and its invoice's customer is not known (give customer_id in the args)")
            }
            let customerRef = try await session.customerRef(customerID, document: nil, at: [])
            let id = try await session.provider.upsertPayment(
                payment, customerRef: customerRef, invoiceRef: invoice.providerID,
                target: try await session.target(recordType: "payment", at: ["payment"], writing: .payment, payment.lagoID))
            try await session.recordResult(
                .payment, billingID: payment.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }
}
