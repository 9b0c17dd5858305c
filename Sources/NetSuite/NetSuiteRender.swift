import Foundation
import Sync

/// `ledgersync sync render`: the NetSuite requests a sync job would send for a document,
/// without sending them. Follows the job kinds of `SyncJobKinds.swift` step for step (which
/// refs a kind needs, when an embedded customer is pushed first) and builds each request
/// with `NetSuiteUpsert` and `NetSuiteRequest`, the code the worker sends with.
public enum NetSuiteRender {
    /// Every sync kind (`SyncJobKind`, described in `SyncKindDescription`).
    public static var kinds: [String] { SyncJobKind.allCases.map(\.rawValue) }

    public struct Rendered: Sendable {
        /// In the order the worker would send them (an embedded customer first).
        public var requests: [NetSuiteRequest] = []
        /// What the output cannot show for real: a ref that is not in external_refs yet.
        public var notes: [String] = []

        /// Method and URL, the headers, a blank line and the body, per request; notes first
        /// as `# …` lines. No `Authorization` header: it would carry a signature.
        public var text: String {
            var out = notes.map { "# \($0)\n" }.joined()
            for (index, request) in requests.enumerated() {
                if index > 0 || !notes.isEmpty { out += "\n" }
                out += "\(request.method) \(request.url)\n"
                for header in request.headers { out += "\(header.name): \(header.value)\n" }
                out += "\n\(request.body ?? "")\n"
            }
            return out
        }
    }

    /// Looks up an external ref of the connection: (object type, billing id) → ref.
    public typealias Lookup = @Sendable (ExternalRef.ObjectType, String) async throws -> ExternalRef?

    /// The requests of job `kind` for `args` (the job's args text: the document, bare or in
    /// its envelope, plus `customer_id` when given). `target` is the connection with its
    /// mappings; custom field values are resolved here per record, as the jobs do.
    public static func render(
        kind: String, args: String, account: NetSuiteAccount, target: SyncTarget, lookup: Lookup
    ) async throws -> Rendered {
        var rendered = Rendered()
        func recordTarget(_ recordType: String, _ path: [String]) -> SyncTarget {
            var t = target
            t.customFields = CustomFieldValue.resolve(t.mappings, recordType: recordType, args: args, at: path)
            return t
        }
        let argsCustomerID = ((try? JSONSerialization.jsonObject(with: Data(args.utf8))) as? [String: Any])?["customer_id"] as? String

        func customerRef(_ customerID: String, document: BillingCustomer?, at path: [String]) async throws -> String {
            if let ref = try await lookup(.customer, customerID) { return ref.providerID }
            if let document, document.lagoID == customerID {
                rendered.requests.append(
                    try NetSuiteUpsert.customer(document, target: recordTarget("customer", path)).request(account: account))
                rendered.notes.append(
                    "customer \(customerID) is not at NetSuite yet: the worker upserts it first (the first request) and uses the internal id it answers"
                )
            } else {
                rendered.notes.append(
                    "customer \(customerID) is not at NetSuite yet and the document does not carry it: the job waits for its customer.sync")
            }
            return placeholder(.customer, customerID)
        }

        func invoiceRef(_ invoiceID: String) async throws -> (providerID: String, customerBillingID: String?) {
            if let ref = try await lookup(.invoice, invoiceID) { return (ref.providerID, ref.customerBillingID) }
            rendered.notes.append("invoice \(invoiceID) is not at NetSuite yet: the job waits for its invoice.push")
            return (placeholder(.invoice, invoiceID), nil)
        }

        /// The internal id a person linked billing object `billingID` to (docs/linking.md):
        /// its write is a PATCH of that record, not an upsert.
        func linked(_ type: ExternalRef.ObjectType, _ billingID: String) async throws -> String? {
            guard let ref = try await lookup(type, billingID), ref.isLinked else { return nil }
            return ref.providerID
        }

        /// The currency added to an embedded customer first, when the transaction is in
        /// another currency than the customer's (as `invoice.push` does).
        func addCurrency(_ customer: BillingCustomer?, customerID: String, currency: Currency, at path: [String]) async throws {
            guard let customer, customer.lagoID == customerID, let primary = customer.currency, primary != currency,
                let planned = try NetSuiteUpsert.customer(customer, addingCurrency: currency, target: recordTarget("customer", path))
            else { return }
            rendered.requests.append(planned.request(account: account, linkedID: try await linked(.customer, customerID)))
        }

        switch kind {
        case "customer.sync":
            let customer = try DocumentDecoder.decode(BillingCustomer.self, from: args)
            rendered.requests.append(
                try NetSuiteUpsert.customer(customer, target: recordTarget("customer", ["customer"]))
                    .request(account: account, linkedID: try await linked(.customer, customer.lagoID)))
        case "invoice.push":
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: args)
            guard let customerID = invoice.customer?.lagoID ?? argsCustomerID else {
                throw DocumentError(
                    field: "invoice.customer", message: "is required to push to an accounting provider (or give customer_id in the args)")
            }
            let ref = try await customerRef(customerID, document: invoice.customer, at: ["invoice", "customer"])
            try await addCurrency(invoice.customer, customerID: customerID, currency: invoice.currency, at: ["invoice", "customer"])
            rendered.requests.append(
                try NetSuiteUpsert.invoice(invoice, customerRef: ref, target: recordTarget("invoice", ["invoice"]))
                    .request(account: account, linkedID: try await linked(.invoice, invoice.lagoID)))
        case "sales_order.push":
            let order = try DocumentDecoder.decode(BillingSalesOrder.self, from: args)
            guard let customerID = order.invoice.customer?.lagoID ?? argsCustomerID else {
                throw DocumentError(
                    field: "sales_order.customer",
                    message: "is required to push to an accounting provider (or give customer_id in the args)")
            }
            let envelope = DocumentDecoder.envelope(of: BillingSalesOrder.self, in: args) ?? BillingSalesOrder.documentRoot
            let ref = try await customerRef(customerID, document: order.invoice.customer, at: [envelope, "customer"])
            try await addCurrency(
                order.invoice.customer, customerID: customerID, currency: order.invoice.currency, at: [envelope, "customer"])
            rendered.requests.append(
                try NetSuiteUpsert.salesOrder(order, customerRef: ref, target: recordTarget("sales_order", [envelope]))
                    .request(account: account, linkedID: try await linked(.salesOrder, order.lagoID)))
        case "credit_memo.push":
            let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: args)
            let invoice = try await invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? argsCustomerID ?? invoice.customerBillingID else {
                throw DocumentError(
                    field: "credit_note.customer",
                    message: "is required: the invoice's customer is not known (or give customer_id in the args)")
            }
            let ref = try await customerRef(customerID, document: memo.customer, at: ["credit_note", "customer"])
            rendered.requests.append(
                try NetSuiteUpsert.creditMemo(
                    memo, customerRef: ref, invoiceRef: invoice.providerID, target: recordTarget("credit_memo", ["credit_note"])
                )
                .request(account: account, linkedID: try await linked(.creditMemo, memo.lagoID)))
            if memo.refundCents > 0 {
                let memoRef = try await lookup(.creditMemo, memo.lagoID)?.providerID ?? placeholder(.creditMemo, memo.lagoID)
                if memoRef.hasPrefix("<") {
                    rendered.notes.append(
                        "the refund applies to the credit memo the request before it writes (its internal id from the answer)")
                }
                rendered.requests.append(
                    try NetSuiteUpsert.customerRefund(memo, customerRef: ref, creditMemoRef: memoRef, target: target).request(
                        account: account))
            }
        case "payment.apply":
            let payment = try DocumentDecoder.decode(BillingPayment.self, from: args)
            var invoices: [(providerID: String, customerBillingID: String?)] = []
            for invoiceID in payment.invoiceIDs { invoices.append(try await invoiceRef(invoiceID)) }
            guard let customerID = argsCustomerID ?? invoices.first?.customerBillingID else {
                throw DocumentError(
                    field: "payment", message: "names no customer and its invoice's customer is not known (give customer_id in the args)")
            }
            let ref = try await customerRef(customerID, document: nil, at: [])
            let invoiceRefs = Dictionary(zip(payment.invoiceIDs, invoices.map(\.providerID)), uniquingKeysWith: { first, _ in first })
            rendered.requests.append(
                try NetSuiteUpsert.payment(
                    payment, customerRef: ref, invoiceRefs: invoiceRefs, target: recordTarget("payment", ["payment"])
                )
                .request(account: account, linkedID: try await linked(.payment, payment.lagoID)))
        case "invoice.void":
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: args)
            let pushed = try await invoiceRef(invoice.lagoID)
            guard let customerID = pushed.customerBillingID ?? invoice.customer?.lagoID ?? argsCustomerID else {
                throw DocumentError(
                    field: "invoice.customer", message: "is required to push to an accounting provider (or give customer_id in the args)")
            }
            let ref = try await customerRef(customerID, document: invoice.customer, at: ["invoice", "customer"])
            rendered.requests.append(
                try NetSuiteUpsert.voidedInvoice(invoice, customerRef: ref, target: recordTarget("invoice", ["invoice"]))
                    .request(account: account, linkedID: try await linked(.invoice, invoice.lagoID)))
        case "credit_memo.void":
            let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: args)
            let memoRef = try await lookup(.creditMemo, memo.lagoID)
            if memoRef == nil {
                rendered.notes.append("credit memo \(memo.lagoID) is not at NetSuite yet: the job waits for its credit_memo.push")
            }
            let invoice = try await invoiceRef(memo.lagoInvoiceID)
            guard let customerID = memo.customer?.lagoID ?? argsCustomerID ?? memoRef?.customerBillingID ?? invoice.customerBillingID else {
                throw DocumentError(
                    field: "credit_note.customer",
                    message: "is required: the credit memo's customer is not known (or give customer_id in the args)")
            }
            let ref = try await customerRef(customerID, document: memo.customer, at: ["credit_note", "customer"])
            rendered.requests.append(
                try NetSuiteUpsert.voidedCreditMemo(
                    memo, customerRef: ref, invoiceRef: invoice.providerID, target: recordTarget("credit_memo", ["credit_note"])
                )
                .request(account: account, linkedID: try await linked(.creditMemo, memo.lagoID)))
        default:
            throw DocumentError(field: "kind", message: "\"\(kind)\" is not a sync job kind; one of \(kinds.joined(separator: ", "))")
        }
        return rendered
    }

    /// What stands in a reference whose internal id is not known yet.
    static func placeholder(_ type: ExternalRef.ObjectType, _ billingID: String) -> String {
        "<internal id of \(type.rawValue) \(billingID): not synced to this connection yet>"
    }
}
