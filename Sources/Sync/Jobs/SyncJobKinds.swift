import JobQueue

// The sync job kinds. Each reads its document from the args, makes sure what it
// references is at the provider, upserts, and records the provider's id.
//
//   customer.sync      customer                      → provider customer
//   invoice.push       invoice (+ its customer)       → provider invoice
//   sales_order.push   invoice shape (+ customer)     → provider sales order
//   credit_memo.push   credit note; waits for invoice → provider credit memo applied to the
//                                                      invoice (+ customer refund of the refunded part)
//   payment.apply      payment; waits for every invoice → provider payment applied to each
//   invoice.void       invoice; waits for its push     → provider invoice voided (amounts zero)
//   credit_memo.void   credit note; waits for its push → provider credit memo voided

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
            // An invoice in another currency than the customer's: the currency is added to the
            // customer first (NetSuite refuses a transaction in a currency its customer lacks).
            if let customer = invoice.customer, customer.lagoID == customerID, let primary = customer.currency, primary != invoice.currency {
                _ = try await session.provider.addCustomerCurrency(
                    customer, currency: invoice.currency,
                    target: try await session.target(recordType: "customer", at: ["invoice", "customer"], writing: .customer, customerID))
            }
            let id = try await session.provider.upsertInvoice(
                invoice, customerRef: customerRef, target: try await session.target(recordType: "invoice", at: ["invoice"], writing: .invoice, invoice.lagoID))
            try await session.recordResult(
                .invoice, billingID: invoice.lagoID, providerID: id,
                customerBillingID: customerID)
            await session.recordFallbackWarning(session.target.mappings.fallbackLines(invoice), .invoice, billingID: invoice.lagoID)
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
            if let customer = order.customer, customer.lagoID == customerID, let primary = customer.currency, primary != order.invoice.currency {
                _ = try await session.provider.addCustomerCurrency(
                    customer, currency: order.invoice.currency,
                    target: try await session.target(recordType: "customer", at: [envelope, "customer"], writing: .customer, customerID))
            }
            let id = try await session.provider.upsertSalesOrder(
                order, customerRef: customerRef, target: try await session.target(recordType: "sales_order", at: [envelope], writing: .salesOrder, order.lagoID))
            try await session.recordResult(
                .salesOrder, billingID: order.lagoID, providerID: id,
                customerBillingID: customerID)
            await session.recordFallbackWarning(session.target.mappings.fallbackLines(order.invoice), .salesOrder, billingID: order.lagoID)
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
            // The refunded part, applied to the credit memo just written (idempotent: its
            // external id is the credit note's plus "-refund").
            if memo.refundCents > 0 {
                _ = try await session.provider.upsertCustomerRefund(
                    memo, customerRef: customerRef, creditMemoRef: id, target: session.target)
            }
            try await session.recordResult(
                .creditMemo, billingID: memo.lagoID, providerID: id,
                customerBillingID: customerID)
            await session.recordFallbackWarning(session.target.mappings.fallbackLines(memo), .creditMemo, billingID: memo.lagoID)
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
            // Every invoice the payment applies to must be at the provider first.
            var invoices: [ExternalRef] = []
            for invoiceID in payment.invoiceIDs { invoices.append(try await session.invoiceRef(invoiceID)) }
            guard let customerID = args.customerID ?? invoices[0].customerBillingID else {
                throw DocumentError(field: "payment", message: "names no customer and its invoice's customer is not known (give customer_id in the args)")
            }
            for (index, invoice) in invoices.enumerated() {
                if let billedTo = invoice.customerBillingID, billedTo != customerID {
                    throw DocumentError(
                        field: "payment.invoice_ids[\(index)]",
                        message: "invoice \"\(payment.invoiceIDs[index])\" belongs to customer \(billedTo), not to the payment's customer \(customerID)")
                }
            }
            let customerRef = try await session.customerRef(customerID, document: nil, at: [])
            var invoiceRefs: [String: String] = [:]
            for (invoiceID, ref) in zip(payment.invoiceIDs, invoices) { invoiceRefs[invoiceID] = ref.providerID }
            let id = try await session.provider.upsertPayment(
                payment, customerRef: customerRef, invoiceRefs: invoiceRefs,
                target: try await session.target(recordType: "payment", at: ["payment"], writing: .payment, payment.lagoID))
            try await session.recordResult(
                .payment, billingID: payment.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }
}

struct InvoiceVoidJob: JobHandler {
    static let kind = "invoice.void"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .invoice) { session in
            let invoice = try session.document(BillingInvoice.self)
            // A void waits for the push of what it voids, like a payment: voiding nothing and
            // completing would leave the invoice open when its push runs later.
            let ref = try await session.invoiceRef(invoice.lagoID)
            let customerID = try ref.customerBillingID ?? InvoicePushJob.customerID(of: invoice, args: args, root: "invoice")
            let customerRef = try await session.customerRef(customerID, document: invoice.customer, at: ["invoice", "customer"])
            let id = try await session.provider.voidInvoice(
                invoice, customerRef: customerRef, target: try await session.target(recordType: "invoice", at: ["invoice"], writing: .invoice, invoice.lagoID))
            try await session.recordResult(.invoice, billingID: invoice.lagoID, providerID: id, customerBillingID: customerID)
        }
    }
}

struct CreditMemoVoidJob: JobHandler {
    static let kind = "credit_memo.void"
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.jobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, objectType: .creditMemo) { session in
            let memo = try session.document(BillingCreditMemo.self)
            guard let memoRef = try await session.sync.refs.lookup(
                connection: session.connectionID, objectType: .creditMemo, billingID: memo.lagoID)
            else {
                throw await session.waitFor(.creditMemo, memo.lagoID)
            }
            let invoice = try await session.invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? args.customerID ?? memoRef.customerBillingID ?? invoice.customerBillingID else {
                throw DocumentError(field: "credit_note.customer", message: "is required: the credit memo's customer is not known (or give customer_id in the args)")
            }
            let customerRef = try await session.customerRef(customerID, document: memo.customer, at: ["credit_note", "customer"])
            let id = try await session.provider.voidCreditMemo(
                memo, customerRef: customerRef, invoiceRef: invoice.providerID,
                target: try await session.target(recordType: "credit_memo", at: ["credit_note"], writing: .creditMemo, memo.lagoID))
            try await session.recordResult(.creditMemo, billingID: memo.lagoID, providerID: id, customerBillingID: customerID)
        }
    }
}
