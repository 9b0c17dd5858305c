import ExactJSON
import Sync

// The receivables lifecycle of the simulated account: what is applied to an invoice (customer
// payments, credit memos), what is left of a credit memo (its own applications, customer
// refunds), the amount due and status these give, and the rules an upsert must keep for them.
// Each rule cites the Oracle Help Center page it follows; where no page states a rule, the
// comment says so.

/// One line of an `apply` sublist that applies money (`"apply": false` lines do not).
struct AppliedLine {
    let docID: String
    let amount: ExactDecimal
}

extension RecordStore {
    /// The lines of a stored body's `apply` sublist (validation has already checked them).
    static func appliedLines(of body: ExactJSON) -> [AppliedLine] {
        (body["apply"]?["items"]?.arrayValue ?? []).compactMap { line in
            guard line["apply"]?.boolValue != false,
                let docID = line["doc"]?.referenceID,
                let amount = line["amount"]?.numberText.flatMap(ExactDecimal.init(literal:))
            else { return nil }
            return AppliedLine(docID: docID, amount: amount)
        }
    }

    /// What stored transactions of `types` apply to `docID` (an internal id), leaving out the
    /// record being written (`excluding`: its type and external id), whose new body replaces
    /// its earlier application.
    func applied(
        to docID: String, by types: [NetSuiteSimulator.RecordType],
        excluding: (type: NetSuiteSimulator.RecordType, externalID: String)? = nil
    ) -> ExactDecimal {
        var sum = ExactDecimal.zero
        for type in types {
            for record in records(type) where !(record.type == excluding?.type && record.externalID == excluding?.externalID) {
                for line in Self.appliedLines(of: record.body) where line.docID == docID { sum += line.amount }
            }
        }
        return sum
    }

    /// An invoice's amount due: its total less what customer payments and credit memos apply
    /// to it. Oracle, "Customer Payment" (REST record, article_0224093711): a payment applied
    /// to an invoice decreases the amount due; "Credit Memo" (SOAP record, section_N3666537):
    /// a credit memo decreases the amount a customer owes and is applied to open invoices.
    func amountRemaining(
        invoice: NetSuiteSimulator.Record, excluding: (type: NetSuiteSimulator.RecordType, externalID: String)? = nil
    ) -> ExactDecimal {
        (invoice.totalAmount ?? .zero) - applied(to: invoice.internalID, by: [.customerPayment, .creditMemo], excluding: excluding)
    }

    /// What is left of a credit memo to apply or refund: its total less its own `apply`
    /// lines and the customer refunds applied to it. Oracle, "Customer Refund" (REST record,
    /// article_0830082954): the refund's `apply` sublist names the credits it pays out.
    func unappliedCredit(
        creditMemo: NetSuiteSimulator.Record, excluding: (type: NetSuiteSimulator.RecordType, externalID: String)? = nil
    ) -> ExactDecimal {
        let ownApplications = Self.appliedLines(of: creditMemo.body).reduce(ExactDecimal.zero) { $0 + $1.amount }
        let refunded = applied(to: creditMemo.internalID, by: [.customerRefund], excluding: excluding)
        return (creditMemo.totalAmount ?? .zero) - ownApplications - refunded
    }

    /// The fields NetSuite derives for a transaction, added to its GET answer:
    /// `amountRemaining` and `status` for invoices and credit memos. Status names as the
    /// NetSuite UI shows them (invoice "Open" / "Paid In Full", credit memo "Open" / "Fully
    /// Applied"); no Oracle REST page found that lists the REST status ids, so only
    /// `refName` is given.
    func derivedFields(_ record: NetSuiteSimulator.Record) -> [(key: String, value: ExactJSON)] {
        let remaining: ExactDecimal
        let closedName: String
        switch record.type {
        case .invoice:
            remaining = amountRemaining(invoice: record)
            closedName = "Paid In Full"
        case .creditMemo:
            remaining = unappliedCredit(creditMemo: record)
            closedName = "Fully Applied"
        default:
            return []
        }
        let status = remaining == .zero ? closedName : "Open"
        return [
            ("amountRemaining", .number(remaining.description)),
            ("status", .object([("refName", .string(status))])),
        ]
    }
}

extension RecordValidator {
    /// The lifecycle rules of a transaction upsert that passed its record type's own checks:
    /// the subsidiary, the currency, and what its `apply` sublist applies. `total` is the
    /// record's total as validated.
    func validateLifecycle(
        _ type: NetSuiteSimulator.RecordType, externalID: String, body: ExactJSON, total: ExactDecimal?
    ) throws(NetSuiteErrorBody) {
        let customerField = type.isItemTransaction ? "entity" : "customer"
        guard let customerID = body[customerField]?.referenceID, let customer = store.record(.customer, internalID: customerID) else {
            return
        }
        try checkSubsidiary(body, customer: customer)
        try checkCurrency(body, customer: customer)
        if type == .creditMemo, let total {
            try checkCreditMemoApplication(body, externalID: externalID, customerID: customerID, total: total)
        }
        if type == .invoice, let total, let existing = store.record(.invoice, externalID: externalID) {
            try checkInvoiceCoversApplications(existing, newTotal: total)
        }
    }

    /// Oracle, "Currency on Customer Transactions" (bridgehead_N1398658): a transaction's
    /// currency is the customer's primary currency or another currency "from the customer's
    /// record"; "Assigning Currencies to Entities" (section_N1397405): currencies are added to
    /// a customer record (REST: the customer's `currencylist` subrecord, "Customer",
    /// article_161581923822). A customer without a `currency` is not checked (the simulator
    /// does not model subsidiary base currencies).
    private func checkCurrency(_ body: ExactJSON, customer: NetSuiteSimulator.Record) throws(NetSuiteErrorBody) {
        guard let currency = body["currency"]?.referenceID, let primary = customer.reference("currency") else { return }
        let others = customer.sublist("currencyList").compactMap { $0["currency"]?.referenceID }
        guard currency == primary || others.contains(currency) else {
            throw .userError(
                "Currency \(currency) is not one of the currencies of customer \(customer.internalID) (\(([primary] + others).joined(separator: ", "))); add it to the customer first.",
                path: "currency")
        }
    }

    /// An update may not lower an invoice's total below what payments and credit memos
    /// already apply to it: that is how the simulator refuses voiding (zeroing) a paid
    /// invoice. No Oracle page found that states this rule or its error text for REST; the
    /// UI refuses to void a transaction with applied payments, and the simulator does the same.
    private func checkInvoiceCoversApplications(_ invoice: NetSuiteSimulator.Record, newTotal: ExactDecimal) throws(NetSuiteErrorBody) {
        let applied = store.applied(to: invoice.internalID, by: [.customerPayment, .creditMemo])
        guard applied <= newTotal else {
            throw .userError(
                "Invoice \(invoice.internalID) would total \(newTotal), less than the \(applied) payments and credits apply to it.",
                path: "item")
        }
    }

    /// Oracle, "Associate Subsidiaries with Entities and Items" (section_N276477): in
    /// OneWorld a transaction inherits its subsidiary from its entity. A transaction that
    /// names a subsidiary must name its customer's (the simulator keeps one subsidiary per
    /// customer; Oracle's multi-subsidiary customers are not simulated).
    private func checkSubsidiary(_ body: ExactJSON, customer: NetSuiteSimulator.Record) throws(NetSuiteErrorBody) {
        guard let value = body["subsidiary"], value != .null else { return }
        guard let subsidiary = value["id"]?.stringValue else {
            throw .userError("A reference must be {\"id\": \"<internal id>\"}, got \(value).", path: "subsidiary")
        }
        let customerSubsidiary = customer.reference("subsidiary") ?? ""
        guard subsidiary == customerSubsidiary else {
            throw .userError(
                "Subsidiary \(subsidiary) differs from subsidiary \(customerSubsidiary) of customer \(customer.internalID); a transaction takes its customer's subsidiary.",
                path: "subsidiary")
        }
    }

    /// A credit memo's `apply` lines: each names an invoice of the same customer and applies
    /// a positive amount no larger than the invoice's amount due (other transactions'
    /// applications counted, this memo's own earlier one not); together no more than the
    /// memo's total. Oracle, "Credit Memo" (REST record, article_164460021767) and the SOAP
    /// record page (section_N3666537): a credit memo decreases what the customer owes and is
    /// applied to the customer's open invoices; the apply sublist is keyed by `doc`
    /// ("Deposit Application", article_0830101547, states it for apply sublists). Oracle
    /// documents no error text for over-application; the simulator's is its own.
    private func checkCreditMemoApplication(
        _ body: ExactJSON, externalID: String, customerID: String, total: ExactDecimal
    ) throws(NetSuiteErrorBody) {
        var appliedTotal = ExactDecimal.zero
        var byInvoice: [String: ExactDecimal] = [:]
        for (index, line) in (try sublist(body, "apply") ?? []).enumerated() {
            let path = "apply.items[\(index)]"
            guard case .object = line else { throw .userError("Each apply line must be an object.", path: path) }
            guard line["apply"]?.boolValue != false else { continue }
            guard let invoiceID = try reference(line["doc"], path: "\(path).doc") else { throw .missing("Document", path: "\(path).doc") }
            guard let invoice = store.record(.invoice, internalID: invoiceID) else {
                throw .invalidReference(invoiceID, field: "doc", path: "\(path).doc")
            }
            let billedTo = invoice.reference("entity") ?? ""
            guard billedTo == customerID else {
                throw .userError(
                    "Invoice \(invoiceID) was billed to customer \(billedTo), not to this credit memo's customer \(customerID).",
                    path: "\(path).doc")
            }
            guard let amountValue = line["amount"] else { throw .missing("Amount", path: "\(path).amount") }
            let applied = try amount(amountValue, path: "\(path).amount")
            guard applied > .zero else { throw .userError("An applied amount must be greater than 0.", path: "\(path).amount") }
            let onInvoice = (byInvoice[invoiceID] ?? .zero) + applied
            byInvoice[invoiceID] = onInvoice
            let due = store.amountRemaining(invoice: invoice, excluding: (.creditMemo, externalID))
            guard onInvoice <= due else {
                throw .userError(
                    "The credit memo applies \(onInvoice) to invoice \(invoiceID), whose amount due is \(due).", path: "\(path).amount")
            }
            appliedTotal = appliedTotal + applied
        }
        guard appliedTotal <= total else {
            throw .userError("The credit memo applies \(appliedTotal) in total, more than its total \(total).", path: "apply")
        }
        // What customer refunds already pay out of this memo stays paid out: an update (a
        // void's zero amounts) may not leave the memo owing more than it is worth.
        if let existing = store.record(.creditMemo, externalID: externalID) {
            let refunded = store.applied(to: existing.internalID, by: [.customerRefund])
            guard appliedTotal + refunded <= total else {
                throw .userError(
                    "The credit memo would total \(total), less than the \(appliedTotal) it applies plus the \(refunded) customer refunds pay out of it.",
                    path: "item")
            }
        }
    }

    /// A customer refund (Oracle, "Customer Refund", REST record `customerRefund`,
    /// article_0830082954: an `apply` sublist of the credits it pays out). Each line names a
    /// credit memo of the refund's customer and refunds a positive amount no larger than
    /// what is left of that memo; the refund's total is what its lines refund. The records
    /// browser lists `account` (the bank account) as required in the UI; the simulator does
    /// not require it (no REST page found that says so).
    func validateCustomerRefund(_ body: ExactJSON, externalID: String) throws(NetSuiteErrorBody) -> ExactDecimal {
        let customerID = try existingCustomer(body, field: "customer")
        try known(body, "currency", in: catalogue.currencies)
        var total = ExactDecimal.zero
        var byMemo: [String: ExactDecimal] = [:]
        guard let lines = try sublist(body, "apply"), !lines.isEmpty else {
            throw .userError("A customer refund must apply to at least one credit.", path: "apply")
        }
        for (index, line) in lines.enumerated() {
            let path = "apply.items[\(index)]"
            guard case .object = line else { throw .userError("Each apply line must be an object.", path: path) }
            guard line["apply"]?.boolValue != false else { continue }
            guard let memoID = try reference(line["doc"], path: "\(path).doc") else { throw .missing("Document", path: "\(path).doc") }
            guard let memo = store.record(.creditMemo, internalID: memoID) else {
                throw .invalidReference(memoID, field: "doc", path: "\(path).doc")
            }
            let creditedTo = memo.reference("entity") ?? ""
            guard creditedTo == customerID else {
                throw .userError(
                    "Credit memo \(memoID) was issued to customer \(creditedTo), not to this refund's customer \(customerID).",
                    path: "\(path).doc")
            }
            guard let amountValue = line["amount"] else { throw .missing("Amount", path: "\(path).amount") }
            let refunded = try amount(amountValue, path: "\(path).amount")
            guard refunded > .zero else { throw .userError("A refunded amount must be greater than 0.", path: "\(path).amount") }
            let onMemo = (byMemo[memoID] ?? .zero) + refunded
            byMemo[memoID] = onMemo
            let left = store.unappliedCredit(creditMemo: memo, excluding: (.customerRefund, externalID))
            guard onMemo <= left else {
                throw .userError(
                    "The refund pays out \(onMemo) of credit memo \(memoID), which has \(left) left to apply.", path: "\(path).amount")
            }
            total = total + refunded
        }
        guard total > .zero else { throw .userError("A customer refund must apply to at least one credit.", path: "apply") }
        return total
    }
}
