import JobQueue

// The sync job kinds (what each means: SyncKindDescription, SyncKinds.swift). Each gets its
// args decoded once (SyncJobInput: connection, customer, envelope, document), makes sure what it
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
    static let kind = SyncJobKind.customerSync.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .customerSync, BillingCustomer.self) { session, job in
            _ = try await session.pushCustomer(job.document, at: [job.envelope], last: true)
        }
    }
}

struct InvoicePushJob: JobHandler {
    static let kind = SyncJobKind.invoicePush.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .invoicePush, BillingInvoice.self) { session, job in
            let invoice = job.document
            let customerID = try Self.customerID(of: invoice, given: job.customerID, root: "invoice")
            let customerRef = try await session.customerRef(customerID, document: invoice.customer, at: [job.envelope, "customer"])
            // An invoice in another currency than the customer's: the currency is added to the
            // customer first (NetSuite refuses a transaction in a currency its customer lacks).
            if let customer = invoice.customer, customer.lagoID == customerID, let primary = customer.currency, primary != invoice.currency
            {
                _ = try await session.provider.addCustomerCurrency(
                    customer, currency: invoice.currency,
                    target: try await session.target(
                        recordType: "customer", at: [job.envelope, "customer"], writing: .customer, customerID))
            }
            let id = try await session.provider.upsertInvoice(
                invoice, customerRef: customerRef,
                target: try await session.target(recordType: "invoice", at: [job.envelope], writing: .invoice, invoice.lagoID))
            try await session.recordResult(
                .invoice, billingID: invoice.lagoID, providerID: id,
                customerBillingID: customerID)
            await session.recordFallbackWarning(session.target.mappings.fallbackLines(invoice), .invoice, billingID: invoice.lagoID)
        }
    }

    /// An invoice names its customer in `customer` (Lago always sends it); `customer_id` in
    /// the args is accepted for documents that do not.
    static func customerID(of invoice: BillingInvoice, given: String?, root: String) throws -> String {
        guard let id = invoice.customer?.lagoID ?? given else {
            throw DocumentError(
                field: "\(root).customer", message: "is required to push to an accounting provider (or give customer_id in the args)")
        }
        return id
    }
}

struct SalesOrderPushJob: JobHandler {
    static let kind = SyncJobKind.salesOrderPush.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .salesOrderPush, BillingSalesOrder.self) { session, job in
            let order = job.document
            let customerID = try InvoicePushJob.customerID(of: order.invoice, given: job.customerID, root: "sales_order")
            // The key the document arrived under (`sales_order` or `invoice`).
            let envelope = job.envelope
            let customerRef = try await session.customerRef(customerID, document: order.customer, at: [envelope, "customer"])
            if let customer = order.customer, customer.lagoID == customerID, let primary = customer.currency,
                primary != order.invoice.currency
            {
                _ = try await session.provider.addCustomerCurrency(
                    customer, currency: order.invoice.currency,
                    target: try await session.target(recordType: "customer", at: [envelope, "customer"], writing: .customer, customerID))
            }
            let id = try await session.provider.upsertSalesOrder(
                order, customerRef: customerRef,
                target: try await session.target(recordType: "sales_order", at: [envelope], writing: .salesOrder, order.lagoID))
            try await session.recordResult(
                .salesOrder, billingID: order.lagoID, providerID: id,
                customerBillingID: customerID)
            await session.recordFallbackWarning(session.target.mappings.fallbackLines(order.invoice), .salesOrder, billingID: order.lagoID)
        }
    }
}

struct CreditMemoPushJob: JobHandler {
    static let kind = SyncJobKind.creditMemoPush.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .creditMemoPush, BillingCreditMemo.self) { session, job in
            let memo = job.document
            let invoice = try await session.invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? job.customerID ?? invoice.customerBillingID else {
                throw DocumentError(
                    field: "credit_note.customer",
                    message: "is required: the invoice's customer is not known (or give customer_id in the args)")
            }
            let customerRef = try await session.customerRef(customerID, document: memo.customer, at: [job.envelope, "customer"])
            let id = try await session.provider.upsertCreditMemo(
                memo, customerRef: customerRef, invoiceRef: invoice.providerID,
                target: try await session.target(recordType: "credit_memo", at: [job.envelope], writing: .creditMemo, memo.lagoID))
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
    static let kind = SyncJobKind.paymentApply.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .paymentApply, BillingPayment.self) { session, job in
            let payment = job.document
            // Every invoice the payment applies to must be at the provider first.
            var invoices: [ExternalRef] = []
            for invoiceID in payment.invoiceIDs { invoices.append(try await session.invoiceRef(invoiceID)) }
            guard let customerID = job.customerID ?? invoices[0].customerBillingID else {
                throw DocumentError(
                    field: "payment", message: "names no customer and its invoice's customer is not known (give customer_id in the args)")
            }
            for (index, invoice) in invoices.enumerated() {
                if let billedTo = invoice.customerBillingID, billedTo != customerID {
                    throw DocumentError(
                        field: "payment.invoice_ids[\(index)]",
                        message:
                            "invoice \"\(payment.invoiceIDs[index])\" belongs to customer \(billedTo), not to the payment's customer \(customerID)"
                    )
                }
            }
            let customerRef = try await session.customerRef(customerID, document: nil, at: [])
            var invoiceRefs: [String: String] = [:]
            for (invoiceID, ref) in zip(payment.invoiceIDs, invoices) { invoiceRefs[invoiceID] = ref.providerID }
            let id = try await session.provider.upsertPayment(
                payment, customerRef: customerRef, invoiceRefs: invoiceRefs,
                target: try await session.target(recordType: "payment", at: [job.envelope], writing: .payment, payment.lagoID))
            try await session.recordResult(
                .payment, billingID: payment.lagoID, providerID: id,
                customerBillingID: customerID)
        }
    }
}

struct InvoiceVoidJob: JobHandler {
    static let kind = SyncJobKind.invoiceVoid.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .invoiceVoid, BillingInvoice.self) { session, job in
            let invoice = job.document
            // A void waits for the push of what it voids, like a payment: voiding nothing and
            // completing would leave the invoice open when its push runs later.
            let ref = try await session.invoiceRef(invoice.lagoID)
            let customerID = try ref.customerBillingID ?? InvoicePushJob.customerID(of: invoice, given: job.customerID, root: "invoice")
            let customerRef = try await session.customerRef(customerID, document: invoice.customer, at: [job.envelope, "customer"])
            let id = try await session.provider.voidInvoice(
                invoice, customerRef: customerRef,
                target: try await session.target(recordType: "invoice", at: [job.envelope], writing: .invoice, invoice.lagoID))
            try await session.recordResult(.invoice, billingID: invoice.lagoID, providerID: id, customerBillingID: customerID)
        }
    }
}

struct CreditMemoVoidJob: JobHandler {
    static let kind = SyncJobKind.creditMemoVoid.rawValue
    let sync: SyncEnvironment
    var options: JobKindOptions { sync.options.standbyJobOptions }

    func run(_ args: SyncJobArgs, context: JobContext) async throws {
        try await sync.run(context, args, kind: .creditMemoVoid, BillingCreditMemo.self) { session, job in
            let memo = job.document
            guard
                let memoRef = try await session.sync.refs.lookup(
                    connection: session.connectionID, objectType: .creditMemo, billingID: memo.lagoID)
            else {
                throw await session.waitFor(.creditMemo, memo.lagoID)
            }
            let invoice = try await session.invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? job.customerID ?? memoRef.customerBillingID ?? invoice.customerBillingID else {
                throw DocumentError(
                    field: "credit_note.customer",
                    message: "is required: the credit memo's customer is not known (or give customer_id in the args)")
            }
            let customerRef = try await session.customerRef(customerID, document: memo.customer, at: [job.envelope, "customer"])
            let id = try await session.provider.voidCreditMemo(
                memo, customerRef: customerRef, invoiceRef: invoice.providerID,
                target: try await session.target(recordType: "credit_memo", at: [job.envelope], writing: .creditMemo, memo.lagoID))
            try await session.recordResult(.creditMemo, billingID: memo.lagoID, providerID: id, customerBillingID: customerID)
        }
    }
}
