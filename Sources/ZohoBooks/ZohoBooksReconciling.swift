import ExactJSON
import Foundation
import Sync
import Synchronization

// Reconciliation's Zoho Books side (`RecordReconciling`, docs/zoho-books.md "Reconciliation").
//
// Zoho's pages (the "Get a …" and "List …" sections of each module, and its OpenAPI files):
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/), get-an-invoice-response: `invoice`
//   with `customer_id`, `currency_code`, `line_items` (each `item_id`, `rate`, `quantity`,
//   `item_total`), `sub_total`, `tax_total`, `total`, `balance`, `status` ("Search invoices by
//   invoice status. Allowed Values: sent, draft, overdue, paid, void, unpaid, partially_paid and
//   viewed") and `custom_fields` (`api_name`, `value`).
// - "Sales Order" (https://www.zoho.com/books/api/v3/sales-order/), "Credit Notes"
//   (https://www.zoho.com/books/api/v3/credit-notes/: `balance` is what is left of a credit
//   note, status open / closed / void), "Customer Payments"
//   (https://www.zoho.com/books/api/v3/customer-payments/: `amount`, `invoices` with
//   `amount_applied`), "Contacts" (https://www.zoho.com/books/api/v3/contacts/: `contact_name`).
// - "Currency" (https://www.zoho.com/books/api/v3/currency/): `GET /settings/currencies` maps a
//   `currency_id` to its `currency_code`, for an answer that carries only the id.
// - "Pagination" (https://www.zoho.com/books/api/v3/pagination/): lists take `page` and
//   `per_page` (at most 200) and answer `page_context.has_more_page`.
// - A 404 with code 1002 ("… does not exist") is Zoho's answer for a missing record ("Errors",
//   https://www.zoho.com/books/api/v3/errors/; the client's parser keeps the code).
//
// NOT DOCUMENTED (decided here): how Zoho rounds the tax it computes inside tax-inclusive lines
// (ZohoPayloads.transaction), so the expected snapshot leaves `taxCents` nil (not compared):
// the total, which Zoho adds up without rounding, and the lines are compared to the minor unit.
// Whether a list's rows carry `custom_fields`: read from `custom_fields`, or from the
// `cf_<name>` member list answers show for custom fields.

extension ZohoBooksProvider: RecordReconciling {
    /// The record as Zoho holds it, by id; nil when Zoho says it does not exist (1002 / 404).
    /// One GET; the first time a currency id is met without its code, one more
    /// (`GET /settings/currencies`, cached for the process), and for a record that names no
    /// currency its customer's (`GET /contacts/{id}`).
    func snapshot(of objectType: ExternalRef.ObjectType, providerID: String) async throws -> RecordSnapshot? {
        let module = Self.module(objectType)
        let answer: ExactJSON
        do {
            answer = try await client.send("GET", "\(module.path)/\(try Self.pathID(providerID, module))")
        } catch let error as SyncError where error.providerCode == "1002" {
            return nil
        }
        guard let record = answer[module.resource] else {
            throw SyncError(.transient, "Zoho Books answered GET \(module.path)/{id} without \(module.resource)")
        }
        if objectType == .customer {
            return ZohoSnapshot.contact(record, providerID: providerID, uniqueField: uniqueField)
        }
        let currency = try await currency(of: record)
        return try ZohoSnapshot.transaction(
            record, objectType: objectType, providerID: providerID, uniqueField: uniqueField, currency: currency)
    }

    /// What the sync's payload (`ZohoPayloads`, the same code the push runs) writes for
    /// `document`. A void at Zoho keeps the document's lines and total (its status says void),
    /// so a voided document's expected snapshot is its payload's like any other.
    func expectedSnapshot(of document: SyncedDocument, target: SyncTarget) throws -> RecordSnapshot {
        try ZohoSnapshot.expected(document, uniqueField: uniqueField, target: target)
    }

    /// The module listed page by page (`page`, `per_page=200`): each record's id and the value
    /// of the unique custom field, when it has one.
    func recordsWithExternalIDs(of objectType: ExternalRef.ObjectType, page: String?) async throws -> ExternalIDPage {
        let module = Self.module(objectType)
        let number: Int
        if let page {
            guard let value = Int(page), value >= 1 else {
                throw SyncError(.permanent, "a Zoho Books page of records with external ids is a page number, got \"\(page.prefix(20))\"")
            }
            number = value
        } else {
            number = 1
        }
        let answer = try await client.send(
            "GET", module.path, query: [("page", String(number)), ("per_page", String(ZohoSnapshot.pageSize))])
        guard let rows = answer[module.path]?.arrayValue else {
            throw SyncError(.transient, "Zoho Books answered the list of \(module.path) without \(module.path)")
        }
        let records = rows.compactMap { row -> (providerID: String, externalID: String)? in
            guard let id = Self.idText(row[module.idKey]), let value = ZohoSnapshot.uniqueValue(row, uniqueField), !value.isEmpty else {
                return nil
            }
            return (id, value)
        }
        let more = answer["page_context"]?["has_more_page"]?.boolValue ?? false
        return ExternalIDPage(records: records, next: more && !rows.isEmpty ? String(number + 1) : nil)
    }

    static func module(_ objectType: ExternalRef.ObjectType) -> Module {
        switch objectType {
        case .customer: .contacts
        case .invoice: .invoices
        case .salesOrder: .salesOrders
        case .creditMemo: .creditNotes
        case .payment: .payments
        }
    }

    /// The record's currency: `currency_code`, else its `currency_id` looked up in the
    /// organization's currencies; a record with neither (a payment answered without them) is
    /// in its customer's currency ("Contacts": a contact's `currency_id`), one more GET.
    func currency(of record: ExactJSON, viaCustomer: Bool = true) async throws -> Currency {
        if let code = record["currency_code"]?.stringValue, let currency = Currency.named(code) { return currency }
        guard let id = Self.idText(record["currency_id"]), !id.isEmpty else {
            if viaCustomer, let customerID = Self.idText(record["customer_id"]), !customerID.isEmpty {
                let answer = try await client.send("GET", "contacts/\(try Self.pathID(customerID, .contacts))")
                if let contact = answer["contact"] { return try await currency(of: contact, viaCustomer: false) }
            }
            throw SyncError(.permanent, "Zoho Books answered a record without currency_code or currency_id: its amounts cannot be counted")
        }
        let key = "\(client.organizationID)/\(id)"
        if let known = ZohoSnapshot.currencies.withLock({ $0[key] }) { return known }
        let answer = try await client.send("GET", "settings/currencies")
        var found: Currency?
        ZohoSnapshot.currencies.withLock { cache in
            for row in answer["currencies"]?.arrayValue ?? [] {
                guard let rowID = Self.idText(row["currency_id"]), let code = row["currency_code"]?.stringValue,
                    let currency = Currency.named(code)
                else { continue }
                cache["\(client.organizationID)/\(rowID)"] = currency
                if rowID == id { found = currency }
            }
        }
        guard let found else { throw SyncError(.permanent, "Zoho Books currency \(id) is not one of the organization's currencies") }
        return found
    }
}

/// Zoho records, read back or about to be written, reduced to `RecordSnapshot`s. Pure.
enum ZohoSnapshot {
    static let pageSize = 200
    /// Currencies by "organization/currency_id", for the life of the process.
    static let currencies = Mutex<[String: Currency]>([:])

    /// The unique custom field's value: `custom_fields[api_name == field].value`, else the
    /// record's `cf_…` member.
    static func uniqueValue(_ record: ExactJSON, _ field: String) -> String? {
        if let value = record["custom_fields"]?.arrayValue?.first(where: { $0["api_name"]?.stringValue == field })?["value"] {
            return value.stringValue ?? value.numberText
        }
        return record[field]?.stringValue
    }

    static func contact(_ record: ExactJSON, providerID: String?, uniqueField: String) -> RecordSnapshot {
        RecordSnapshot(
            objectType: .customer, providerID: providerID, externalID: uniqueValue(record, uniqueField),
            name: record["contact_name"]?.stringValue)
    }

    /// `derived`: the body is Zoho's answer (with `total`, `balance`, `status`, `item_total`),
    /// not a payload (whose amounts are computed here as Zoho adds them up).
    static func transaction(
        _ record: ExactJSON, objectType: ExternalRef.ObjectType, providerID: String?, uniqueField: String, currency: Currency,
        derived: Bool = true
    ) throws -> RecordSnapshot {
        let externalID = uniqueValue(record, uniqueField)
        let what = providerID ?? externalID ?? "?"
        func cents(_ value: ExactJSON?, _ field: String) throws -> Int64? {
            guard let value, value != .null else { return nil }
            guard let text = value.numberText ?? value.stringValue, let decimal = ExactDecimal(text) else {
                throw SyncError(.permanent, "Zoho Books' \(field) of \(what) is not a decimal amount")
            }
            do {
                return try Money(parsing: decimal.description, currency: currency).amountCents
            } catch {
                throw SyncError(.permanent, "Zoho Books' \(field) \(text) of \(what) is not an amount in \(currency.code): \(error)")
            }
        }
        func sum(_ values: [Int64], _ field: String) throws -> Int64 {
            do {
                return try Money.sum(values.map { Money(amountCents: $0, currency: currency) }, currency: currency).amountCents
            } catch {
                throw SyncError(.permanent, "the \(field) amounts of Zoho Books record \(what) overflow 64 bits")
            }
        }
        let customer = derived ? ZohoBooksProvider.idText(record["customer_id"]) : nil
        if objectType == .payment {
            let applied = try (record["invoices"]?.arrayValue ?? []).enumerated().map {
                try cents($0.element["amount_applied"], "invoices[\($0.offset)].amount_applied") ?? 0
            }
            return RecordSnapshot(
                objectType: .payment, providerID: providerID, externalID: externalID, customerProviderID: customer,
                currency: currency.code, totalCents: try cents(record["amount"], "amount"), appliedCents: try sum(applied, "invoices"))
        }
        var lines: [RecordSnapshot.Line] = []
        for (index, line) in (record["line_items"]?.arrayValue ?? []).enumerated() {
            let amount: Int64
            if derived, let total = try cents(line["item_total"], "line_items[\(index)].item_total") {
                amount = total
            } else {
                amount = try lineTotal(line, currency: currency, field: "line_items[\(index)]", what: what)
            }
            lines.append(RecordSnapshot.Line(itemID: ZohoBooksProvider.idText(line["item_id"]), amountCents: amount))
        }
        let total: Int64
        if derived, let answered = try cents(record["total"], "total") {
            total = answered
        } else {
            // Σ lines − discount + adjustment: what Zoho adds up for tax-inclusive lines.
            let discount = try cents(record["discount"], "discount") ?? 0
            let adjustment = try cents(record["adjustment"], "adjustment") ?? 0
            guard discount != Int64.min else { throw SyncError(.permanent, "the discount of \(what) overflows 64 bits") }
            total = try sum(lines.map(\.amountCents) + [-discount, adjustment], "line_items")
        }
        var applied: Int64?
        var due: Int64?
        var status: RecordSnapshot.Status?
        if derived, objectType == .creditMemo {
            if let credited = record["invoices_credited"]?.arrayValue {
                applied = try sum(
                    credited.enumerated().map {
                        try cents($0.element["amount_applied"], "invoices_credited[\($0.offset)].amount_applied") ?? 0
                    },
                    "invoices_credited")
            } else {
                applied = try cents(record["credits_applied"], "credits_applied")
            }
        }
        if derived, objectType == .invoice || objectType == .creditMemo {
            due = try cents(record["balance"], "balance")
            status = Self.status(record["status"]?.stringValue, due: due)
        }
        return RecordSnapshot(
            objectType: objectType, providerID: providerID, externalID: externalID, customerProviderID: customer,
            currency: currency.code, totalCents: total, taxCents: derived ? try cents(record["tax_total"], "tax_total") : nil,
            lines: lines, appliedCents: applied, amountDueCents: due, status: status)
    }

    /// void → void; paid (invoice) or closed (credit note) → paid; any other status (draft,
    /// sent, viewed, overdue, unpaid, partially_paid, open) → open while something is due,
    /// paid at a zero balance.
    static func status(_ name: String?, due: Int64?) -> RecordSnapshot.Status? {
        switch name {
        case "void"?: return .void
        case "paid"?, "closed"?: return .paid
        case nil: return due.map { $0 == 0 ? .paid : .open }
        default: return due == 0 ? .paid : .open
        }
    }

    /// A payload line's total: `rate` × `quantity`, exactly, in minor units (the payload only
    /// sends a quantity whose product with the rate is whole minor units).
    static func lineTotal(_ line: ExactJSON, currency: Currency, field: String, what: String) throws -> Int64 {
        guard let rateText = line["rate"]?.numberText, let rate = ExactDecimal(rateText),
            let quantity = ExactDecimal(line["quantity"]?.numberText ?? "1")
        else { throw SyncError(.permanent, "\(field) of \(what) has no decimal rate and quantity") }
        let (product, overflow) = rate.units.multipliedReportingOverflow(by: quantity.units)
        guard !overflow, let value = ExactDecimal(units: product, scale: rate.scale + quantity.scale),
            let normalized = ExactDecimal(value.description)
        else { throw SyncError(.permanent, "\(field) of \(what): rate × quantity overflows") }
        do {
            return try Money(parsing: normalized.description, currency: currency).amountCents
        } catch {
            throw SyncError(.permanent, "\(field) of \(what): rate × quantity \(normalized) is not an amount in \(currency.code)")
        }
    }

    // MARK: - Expected

    static let placeholderID = "0"

    static func expected(_ document: SyncedDocument, uniqueField: String, target: SyncTarget) throws -> RecordSnapshot {
        let ref = placeholderID
        switch document {
        case .customer(let customer):
            return contact(
                try ZohoPayloads.contact(customer, uniqueField: uniqueField, target: target), providerID: nil, uniqueField: uniqueField)
        case .invoice(let invoice):
            let body = try ZohoPayloads.invoice(invoice, customerID: ref, uniqueField: uniqueField, target: target)
            return try transaction(
                body, objectType: .invoice, providerID: nil, uniqueField: uniqueField, currency: invoice.currency, derived: false)
        case .salesOrder(let order):
            let body = try ZohoPayloads.salesOrder(order, customerID: ref, uniqueField: uniqueField, target: target)
            return try transaction(
                body, objectType: .salesOrder, providerID: nil, uniqueField: uniqueField, currency: order.invoice.currency, derived: false)
        case .creditMemo(let memo):
            let body = try ZohoPayloads.creditNote(memo, customerID: ref, uniqueField: uniqueField, target: target)
            let snapshot = try transaction(
                body, objectType: .creditMemo, providerID: nil, uniqueField: uniqueField, currency: memo.currency, derived: false)
            // The credited part is applied to the invoice (ZohoPayloads.creditApplication); a
            // voided credit note applies nothing.
            let applied = memo.creditStatus == "voided" ? 0 : max(0, memo.appliedToInvoiceCents)
            return RecordSnapshot(
                objectType: .creditMemo, providerID: nil, externalID: snapshot.externalID, currency: snapshot.currency,
                totalCents: snapshot.totalCents, lines: snapshot.lines, appliedCents: applied)
        case .payment(let payment):
            var refs: [String: String] = [:]
            for application in payment.applications { refs[application.invoiceID] = ref }
            let body = try ZohoPayloads.payment(payment, customerID: ref, invoiceRefs: refs, uniqueField: uniqueField, target: target)
            return try transaction(
                body, objectType: .payment, providerID: nil, uniqueField: uniqueField, currency: payment.currency, derived: false)
        }
    }
}
