import ExactJSON
import Sync

/// The rules an upsert body must follow (docs/netsuite.md, "Answers" and "The simulator").
/// A broken rule throws the NetSuite error the worker would get, with `o:errorPath` naming
/// the field, so the worker's error classification is exercised for real.
///
/// Error texts avoid the words the worker reads as "reference missing" ("does not exist",
/// "not found", "invalid field value") unless a reference really is missing: that is what
/// tells a dependency to wait for apart from data that is simply wrong.
struct RecordValidator {
    let store: RecordStore
    /// The catalogue's items, with those `NetSuiteSimulator.addItem` added since.
    let items: [String: NetSuiteSimulator.Item]
    let catalogue: NetSuiteSimulator.Catalogue
    let locationRequired: Bool

    /// Checks `body` for an upsert of `type` at `eid:externalID`; returns the record's total.
    func validate(_ type: NetSuiteSimulator.RecordType, externalID: String, body: ExactJSON) throws(NetSuiteErrorBody) -> ExactDecimal? {
        guard case .object = body else { throw .userError("The request body must be a JSON object.") }
        if let bodyExternalID = body["externalId"] {
            guard bodyExternalID.stringValue == externalID else {
                throw .userError("externalId \(bodyExternalID) in the body differs from eid:\(externalID) in the URL.", path: "externalId")
            }
        }
        switch type {
        case .customer:
            try validateCustomer(body)
            return nil
        case .invoice, .salesOrder, .creditMemo:
            let total = try validateItemTransaction(type, body)
            try validateLifecycle(type, externalID: externalID, body: body, total: total)
            return total
        case .customerPayment:
            let total = try validatePayment(body, externalID: externalID)
            try validateLifecycle(type, externalID: externalID, body: body, total: total)
            return total
        case .customerRefund:
            return try validateCustomerRefund(body, externalID: externalID)
        }
    }

    // MARK: - Customer

    private func validateCustomer(_ body: ExactJSON) throws(NetSuiteErrorBody) {
        guard let subsidiary = try reference(body["subsidiary"], path: "subsidiary") else {
            throw .missing("Subsidiary", path: "subsidiary")
        }
        guard catalogue.subsidiaries.contains(subsidiary) else {
            throw .invalidReference(subsidiary, field: "subsidiary", path: "subsidiary")
        }
        try known(body, "currency", in: catalogue.currencies)
        let isPerson: Bool
        switch body["isPerson"] {
        case nil: isPerson = false
        case .bool(let value)?: isPerson = value
        case let other?: throw .userError("isPerson must be true or false, got \(other).", path: "isPerson")
        }
        let required = isPerson ? [("firstName", "First Name"), ("lastName", "Last Name")] : [("companyName", "Company Name")]
        let missing = required.filter { field, _ in (body[field]?.stringValue ?? "").isEmpty }
        if let first = missing.first {
            throw .missing(missing.map(\.1).joined(separator: ", "), path: first.0)
        }
    }

    // MARK: - Invoice, sales order, credit memo

    private func validateItemTransaction(_ type: NetSuiteSimulator.RecordType, _ body: ExactJSON) throws(NetSuiteErrorBody) -> ExactDecimal
    {
        let customerID = try existingCustomer(body, field: "entity")
        if locationRequired, try reference(body["location"], path: "location") == nil {
            throw .missing("Location", path: "location")
        }
        try known(body, "location", in: catalogue.locations)
        try known(body, "currency", in: catalogue.currencies)
        try known(body, "nexus", in: catalogue.nexuses)
        try known(body, "taxItem", in: catalogue.taxItems)

        guard let lines = try sublist(body, "item"), !lines.isEmpty else {
            throw .userError("You must enter at least one line item for this transaction.", path: "item")
        }
        let taxOverride = body["taxDetailsOverride"]?.boolValue == true
        var total = ExactDecimal.zero
        var lineReferences: Set<String> = []
        for (index, line) in lines.enumerated() {
            let path = "item.items[\(index)]"
            guard case .object = line else { throw .userError("Each item line must be an object.", path: path) }
            guard let itemID = try reference(line["item"], path: "\(path).item") else {
                throw .missing("Item", path: "\(path).item")
            }
            guard let item = items[itemID] else {
                throw .invalidReference(itemID, field: "item", path: "\(path).item")
            }
            if taxOverride && !item.taxable {
                throw .userError(
                    "Item \(item.name) (\(item.id)) is not taxable; lines of a transaction with taxDetailsOverride must be.",
                    path: "\(path).item")
            }
            guard let amount = line["amount"] else { throw .missing("Amount", path: "\(path).amount") }
            total = total + (try self.amount(amount, path: "\(path).amount"))
            if let reference = line["taxDetailsReference"]?.stringValue { lineReferences.insert(reference) }
        }

        for (index, row) in (try sublist(body, "taxDetails") ?? []).enumerated() {
            let path = "taxDetails.items[\(index)]"
            guard let reference = row["taxDetailsReference"]?.stringValue else {
                throw .missing("Tax Details Reference", path: "\(path).taxDetailsReference")
            }
            guard lineReferences.contains(reference) else {
                throw .userError("taxDetailsReference \"\(reference)\" matches no item line.", path: "\(path).taxDetailsReference")
            }
            try known(row, "taxType", in: catalogue.taxTypes, path: "\(path).taxType")
            try known(row, "taxCode", in: catalogue.taxCodes, path: "\(path).taxCode")
            if let basis = row["taxBasis"] { _ = try amount(basis, path: "\(path).taxBasis") }
            guard let taxAmount = row["taxAmount"] else { throw .missing("Tax Amount", path: "\(path).taxAmount") }
            total = total + (try amount(taxAmount, path: "\(path).taxAmount"))
        }
        if let legacyTax = body["taxAmountOverride"] {
            total = total + (try amount(legacyTax, path: "taxAmountOverride"))
        }

        if type == .creditMemo, let invoiceID = try reference(body["createdFrom"], path: "createdFrom") {
            guard let invoice = store.record(.invoice, internalID: invoiceID) else {
                throw .invalidReference(invoiceID, field: "createdFrom", path: "createdFrom")
            }
            let billedTo = invoice.reference("entity") ?? ""
            guard billedTo == customerID else {
                throw .userError(
                    "Invoice \(invoiceID) was billed to customer \(billedTo), not to this credit memo's customer \(customerID).",
                    path: "createdFrom")
            }
        }
        return total
    }

    // MARK: - Customer payment

    private func validatePayment(_ body: ExactJSON, externalID: String) throws(NetSuiteErrorBody) -> ExactDecimal {
        let customerID = try existingCustomer(body, field: "customer")
        try known(body, "currency", in: catalogue.currencies)
        guard let paymentValue = body["payment"] else { throw .missing("Payment Amount", path: "payment") }
        let payment = try amount(paymentValue, path: "payment")
        guard payment > .zero else { throw .userError("The payment amount must be greater than 0.", path: "payment") }

        var appliedTotal = ExactDecimal.zero
        var appliedByInvoice: [String: ExactDecimal] = [:]
        for (index, line) in (try sublist(body, "apply") ?? []).enumerated() {
            let path = "apply.items[\(index)]"
            guard case .object = line else { throw .userError("Each apply line must be an object.", path: path) }
            guard line["apply"]?.boolValue != false else { continue }
            guard let invoiceID = try reference(line["doc"], path: "\(path).doc") else {
                throw .missing("Document", path: "\(path).doc")
            }
            guard let invoice = store.record(.invoice, internalID: invoiceID) else {
                throw .invalidReference(invoiceID, field: "doc", path: "\(path).doc")
            }
            let billedTo = invoice.reference("entity") ?? ""
            guard billedTo == customerID else {
                throw .userError(
                    "Invoice \(invoiceID) was billed to customer \(billedTo), not to this payment's customer \(customerID).",
                    path: "\(path).doc")
            }
            guard let amountValue = line["amount"] else { throw .missing("Amount", path: "\(path).amount") }
            let applied = try amount(amountValue, path: "\(path).amount")
            guard applied > .zero else { throw .userError("An applied amount must be greater than 0.", path: "\(path).amount") }

            // An upsert of this payment replaces its own earlier application, so only other
            // payments count against the invoice.
            let onInvoice = (appliedByInvoice[invoiceID] ?? .zero) + applied
            appliedByInvoice[invoiceID] = onInvoice
            let due = store.amountRemaining(invoice: invoice, excluding: (.customerPayment, externalID))
            guard onInvoice <= due else {
                throw .userError(
                    "The payment applies \(onInvoice) to invoice \(invoiceID), whose amount due is \(due).", path: "\(path).amount")
            }
            appliedTotal = appliedTotal + applied
        }
        guard appliedTotal <= payment else {
            throw .userError("The payment applies \(appliedTotal) in total, more than its amount \(payment).", path: "apply")
        }
        return payment
    }

    // MARK: - Fields

    /// The id of a `{"id": "…"}` reference; nil when the field is absent or null.
    func reference(_ value: ExactJSON?, path: String) throws(NetSuiteErrorBody) -> String? {
        switch value {
        case nil, .null?: return nil
        case let value?:
            guard let id = value["id"]?.stringValue, !id.isEmpty else {
                throw .userError("A reference must be {\"id\": \"<internal id>\"}, got \(value).", path: path)
            }
            return id
        }
    }

    /// Refuses a reference in `field` to an id the catalogue does not list, as NetSuite
    /// refuses a reference to a record the account does not have; an absent field is fine.
    func known(_ body: ExactJSON, _ field: String, in ids: Set<String>, path: String? = nil) throws(NetSuiteErrorBody) {
        let path = path ?? field
        guard let id = try reference(body[field], path: path) else { return }
        guard ids.contains(id) else { throw .invalidReference(id, field: field, path: path) }
    }

    /// The internal id in reference `field`, which must name an existing customer.
    func existingCustomer(_ body: ExactJSON, field: String) throws(NetSuiteErrorBody) -> String {
        guard let id = try reference(body[field], path: field) else { throw .missing("Customer", path: field) }
        guard store.record(.customer, internalID: id) != nil else {
            throw .invalidReference(id, field: field, path: field)
        }
        return id
    }

    /// The lines of sublist `field` (`{"items": [...]}`); nil when the field is absent.
    func sublist(_ body: ExactJSON, _ field: String) throws(NetSuiteErrorBody) -> [ExactJSON]? {
        guard let value = body[field], value != .null else { return nil }
        guard let lines = value["items"]?.arrayValue else {
            throw .userError("A sublist must be {\"items\": [...]}, got \(value).", path: field)
        }
        return lines
    }

    /// A money amount: a JSON number with at most `ExactDecimal.maxScale` decimals.
    func amount(_ value: ExactJSON, path: String) throws(NetSuiteErrorBody) -> ExactDecimal {
        guard let literal = value.numberText else {
            throw .userError("The amount at \(path) must be a JSON number, got \(value).", path: path)
        }
        guard let amount = ExactDecimal(literal: literal) else {
            throw .userError(
                "The amount \(literal) at \(path) has more than \(ExactDecimal.maxScale) decimal places, an exponent or more than 15 digits.",
                path: path)
        }
        return amount
    }
}
