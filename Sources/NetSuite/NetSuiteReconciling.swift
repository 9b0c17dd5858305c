import ExactJSON
import Foundation
import Sync
import Synchronization

// Reconciliation's NetSuite side (`RecordReconciling`, docs/netsuite.md "Reconciliation"): a
// record read back and reduced to a `RecordSnapshot`, the snapshot the sync's own payload says
// the record should be, and the records that carry an external id.
//
// Oracle NetSuite Help Center:
// - "Format of Sublists and Subrecords"
//   (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545141947.html):
//   "REST web services do not automatically expand sublists and subrecords. You can use the
//   expandSubResources query parameter …; if the query parameter is not used, the response
//   contains only the body fields of the record, and the sublists and subrecords are
//   represented by links." So a snapshot's GET carries `expandSubResources=true` (signed with
//   the rest of the URL under TBA).
// - "Use Case for Retrieving an Invoice" (section_0210111448): an invoice's GET answer holds
//   `amountPaid`, `amountRemaining`, `total`, and references as `{"id", "refName"}`
//   (`"currency": {"id": "1", "refName": "USA"}`: the refName is the currency's name, not
//   necessarily its ISO code).
// - "Currency" (REST record, section_0818023012, and the REST API Browser's currency page): the
//   currency record, `GET …/record/v1/currency/{id}`, whose `symbol` is the ISO 4217 code
//   (the UI's "ISO Code" field) and `currencyPrecision` its decimals.
// - "Executing SuiteQL Queries Through REST Web Services" (section_157909186990) and
//   "Collection Paging" (section_156414087576): `recordsWithExternalIDs` pages by `offset`.
//   SuiteQL's `transaction.type` ids (CustInvc, SalesOrd, CustCred, CustPymt) are those of the
//   "transaction" table in the Records Catalog (Setup > Records Catalog); no Help Center page
//   found lists them in prose.

extension NetSuiteProvider: RecordReconciling {
    /// The record as NetSuite holds it, by internal id; nil on 404. One GET with
    /// `expandSubResources=true`, and for a transaction the currency record the first time a
    /// currency is seen by this process.
    public func snapshot(of objectType: ExternalRef.ObjectType, providerID: String) async throws -> RecordSnapshot? {
        let recordType = Self.recordType(objectType)
        guard let record = try await client.getExpanded(recordType: recordType, internalID: providerID) else { return nil }
        if objectType == .customer { return NetSuiteSnapshot.customer(record, providerID: providerID) }
        let currency = try await self.currency(of: record, objectType: objectType, providerID: providerID)
        return try NetSuiteSnapshot.transaction(record, objectType: objectType, providerID: providerID, currency: currency)
    }

    /// What the sync's payload writes for `document` (`NetSuiteUpsert`, the same code the push
    /// runs; the void's body for a voided invoice or credit note), reduced the same way as a
    /// record read back. References are placeholders the snapshot leaves out.
    public func expectedSnapshot(of document: SyncedDocument, target: SyncTarget) throws -> RecordSnapshot {
        try NetSuiteSnapshot.expected(document, target: target)
    }

    /// `SELECT id, externalid FROM <table> WHERE … externalid IS NOT NULL ORDER BY id`, 1000
    /// rows a page; `page` is the offset of the next page.
    public func recordsWithExternalIDs(of objectType: ExternalRef.ObjectType, page: String?) async throws -> ExternalIDPage {
        let offset: Int
        if let page {
            guard let number = Int(page), number >= 0 else {
                throw SyncError(.permanent, "a NetSuite page of records with external ids is an offset, got \"\(page.prefix(20))\"")
            }
            offset = number
        } else {
            offset = 0
        }
        let answer = try await client.suiteQL(
            NetSuiteSnapshot.externalIDQuery(objectType), limit: NetSuiteSnapshot.externalIDPageSize, offset: offset)
        let records = answer.items.compactMap { row -> (providerID: String, externalID: String)? in
            guard let id = row["id"], let externalID = row["externalid"], !externalID.isEmpty else { return nil }
            return (id, externalID)
        }
        let next = answer.hasMore && !answer.items.isEmpty ? String(offset + answer.items.count) : nil
        return ExternalIDPage(records: records, next: next)
    }

    /// The record's currency: its `currency` reference (a refName that is an ISO code is taken
    /// as it is; otherwise the currency record's `symbol`, cached per account and id), else the
    /// currency of its customer. Nothing can be counted in minor units without one.
    func currency(of record: ExactJSON, objectType: ExternalRef.ObjectType, providerID: String) async throws -> Currency {
        if let reference = record["currency"], let id = reference.referenceID {
            if let name = reference["refName"]?.stringValue, let currency = Currency.named(name) { return currency }
            return try await currencyRecord(id)
        }
        let customerField = objectType == .payment ? "customer" : "entity"
        if let customerID = record[customerField]?.referenceID,
            let customer = try await client.get(recordType: "customer", internalID: customerID),
            let id = customer["currency"]?.referenceID
        {
            return try await currencyRecord(id)
        }
        throw SyncError(
            .permanent,
            "NetSuite \(Self.recordType(objectType)) \(providerID) names no currency (nor does its customer): its amounts cannot be counted in minor units"
        )
    }

    private func currencyRecord(_ id: String) async throws -> Currency {
        let key = "\(client.account.accountID)/\(id)"
        if let known = NetSuiteSnapshot.currencies.withLock({ $0[key] }) { return known }
        guard let record = try await client.get(recordType: "currency", internalID: id) else {
            throw SyncError(.permanent, "NetSuite currency \(id) does not exist (GET currency/\(id) answered 404)")
        }
        guard let symbol = record["symbol"]?.stringValue, let currency = Currency.named(symbol) else {
            throw SyncError(
                .permanent,
                "NetSuite currency \(id)'s symbol \"\(record["symbol"]?.stringValue?.prefix(10) ?? "")\" is not an ISO 4217 code")
        }
        NetSuiteSnapshot.currencies.withLock { $0[key] = currency }
        return currency
    }
}

extension NetSuiteClient {
    /// `GET …/{recordType}/{internalID}?expandSubResources=true`: the record with its sublists
    /// inline; nil on 404.
    public func getExpanded(recordType: String, internalID: String) async throws -> ExactJSON? {
        try Self.requireInternalID(internalID)
        let response = try await send(
            method: "GET", url: "\(account.restBaseURL)/\(recordType)/\(internalID)?expandSubResources=true", body: nil)
        if response.status == 404 { return nil }
        guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
        do {
            return try ExactJSON.parse(response.body)
        } catch {
            throw SyncError(.transient, "NetSuite answered GET \(recordType) \(internalID) with a body that is not JSON")
        }
    }
}

/// Record bodies, read back or about to be written, reduced to `RecordSnapshot`s. Pure.
public enum NetSuiteSnapshot {
    static let externalIDPageSize = 1000
    /// Currencies by "account/internal id", for the life of the process (a currency record's
    /// ISO code does not change).
    static let currencies = Mutex<[String: Currency]>([:])

    /// The SuiteQL of `recordsWithExternalIDs`.
    public static func externalIDQuery(_ objectType: ExternalRef.ObjectType) -> String {
        let type: String
        switch objectType {
        case .customer: return "SELECT id, externalid FROM customer WHERE externalid IS NOT NULL ORDER BY id"
        case .invoice: type = "CustInvc"
        case .salesOrder: type = "SalesOrd"
        case .creditMemo: type = "CustCred"
        case .payment: type = "CustPymt"
        }
        return "SELECT id, externalid FROM transaction WHERE type = '\(type)' AND externalid IS NOT NULL ORDER BY id"
    }

    /// A customer: its external id and name (`companyName`, else first and last name).
    public static func customer(_ record: ExactJSON, providerID: String?) -> RecordSnapshot {
        RecordSnapshot(
            objectType: .customer, providerID: providerID, externalID: record["externalId"]?.stringValue, name: customerName(record))
    }

    static func customerName(_ record: ExactJSON) -> String? {
        if let company = record["companyName"]?.stringValue, !company.isEmpty { return company }
        let person = [record["firstName"]?.stringValue, record["lastName"]?.stringValue].compactMap { $0 }.filter { !$0.isEmpty }
        return person.isEmpty ? nil : person.joined(separator: " ")
    }

    /// An invoice, sales order, credit memo or payment in `currency`, from its body (read back
    /// with `expandSubResources=true`, or a payload). `derived`: whether the body is NetSuite's
    /// answer (with `amountRemaining` and `status`) rather than a payload.
    public static func transaction(
        _ record: ExactJSON, objectType: ExternalRef.ObjectType, providerID: String?, currency: Currency, derived: Bool = true
    ) throws -> RecordSnapshot {
        let externalID = record["externalId"]?.stringValue
        func cents(_ value: ExactJSON?, _ field: String) throws -> Int64? {
            guard let value, value != .null else { return nil }
            return try amountCents(value, currency: currency, field: field)
        }
        func sum(_ values: [Int64], _ field: String) throws -> Int64 {
            do {
                return try Money.sum(values.map { Money(amountCents: $0, currency: currency) }, currency: currency).amountCents
            } catch {
                throw SyncError(.permanent, "the \(field) amounts of NetSuite record \(providerID ?? externalID ?? "?") overflow 64 bits")
            }
        }
        if objectType == .payment {
            let applied = try appliedLines(record).enumerated().map { try cents($0.element["amount"], "apply[\($0.offset)].amount") ?? 0 }
            return RecordSnapshot(
                objectType: .payment, providerID: providerID, externalID: externalID,
                customerProviderID: derived ? record["customer"]?.referenceID : nil, currency: currency.code,
                totalCents: try cents(record["payment"], "payment") ?? cents(record["total"], "total"),
                appliedCents: try cents(record["applied"], "applied") ?? sum(applied, "apply"))
        }
        let lines = try items(record["item"]).enumerated().map { index, line in
            RecordSnapshot.Line(itemID: line["item"]?.referenceID, amountCents: try cents(line["amount"], "item[\(index)].amount") ?? 0)
        }
        let taxRows = try items(record["taxDetails"]).enumerated().map {
            try cents($0.element["taxAmount"], "taxDetails[\($0.offset)].taxAmount") ?? 0
        }
        let tax: Int64
        if let total = try cents(record["taxTotal"], "taxTotal") {
            tax = total
        } else if !taxRows.isEmpty {
            tax = try sum(taxRows, "taxDetails")
        } else {
            tax = try cents(record["taxAmountOverride"], "taxAmountOverride") ?? 0
        }
        let total = try cents(record["total"], "total") ?? sum(lines.map(\.amountCents) + [tax], "item")
        var applied: Int64?
        var due: Int64?
        var status: RecordSnapshot.Status?
        if objectType == .creditMemo {
            let amounts = try appliedLines(record).enumerated().map { try cents($0.element["amount"], "apply[\($0.offset)].amount") ?? 0 }
            applied = try sum(amounts, "apply")
        }
        if derived, objectType == .invoice || objectType == .creditMemo {
            due = try cents(record["amountRemaining"], "amountRemaining")
            status = Self.status(record, total: total, due: due)
        }
        return RecordSnapshot(
            objectType: objectType, providerID: providerID, externalID: externalID,
            customerProviderID: derived ? record["entity"]?.referenceID : nil, currency: currency.code, totalCents: total,
            taxCents: tax, lines: lines, appliedCents: applied, amountDueCents: due, status: status)
    }

    /// Void: NetSuite's own "Voided" status, or what Ledgersync's void writes (docs/netsuite.md
    /// "Voids": memo "VOID" and every amount zero, since the REST record API has no void).
    /// Otherwise paid when nothing remains, open when something does (invoice statuses "Open"
    /// and "Paid In Full", credit memo "Open" and "Fully Applied").
    static func status(_ record: ExactJSON, total: Int64, due: Int64?) -> RecordSnapshot.Status? {
        let name = (record["status"]?["refName"]?.stringValue ?? record["status"]?["id"]?.stringValue ?? "").lowercased()
        if name.contains("void") { return .void }
        if record["memo"]?.stringValue == "VOID", total == 0 { return .void }
        if let due { return due == 0 ? .paid : .open }
        if name.contains("paid") || name.contains("fully applied") { return .paid }
        return name.isEmpty ? nil : .open
    }

    /// The lines of a sublist `{"items": [...]}` (an unexpanded sublist, links only, has none).
    static func items(_ sublist: ExactJSON?) -> [ExactJSON] {
        sublist?["items"]?.arrayValue ?? []
    }

    /// The `apply` lines that apply money (`"apply": false` lines, which NetSuite lists for
    /// every open document of the customer, do not).
    static func appliedLines(_ record: ExactJSON) -> [ExactJSON] {
        items(record["apply"]).filter { $0["apply"]?.boolValue != false }
    }

    /// A money amount as NetSuite writes it (a JSON number, `1000.0`, or decimal text) in
    /// minor units of `currency`, exactly: trailing zeros do not count, a digit beyond the
    /// currency's decimals is an error.
    static func amountCents(_ value: ExactJSON, currency: Currency, field: String) throws -> Int64 {
        guard let text = value.numberText ?? value.stringValue, let decimal = ExactDecimal(text) else {
            throw SyncError(.permanent, "NetSuite's \(field) is not a decimal amount: \(String(value.description.prefix(40)))")
        }
        do {
            return try Money(parsing: decimal.description, currency: currency).amountCents
        } catch {
            throw SyncError(.permanent, "NetSuite's \(field) \(text) is not an amount in \(currency.code): \(error)")
        }
    }

    // MARK: - Expected

    /// Placeholder references for payloads whose references the snapshot leaves out.
    static let placeholderRef = "0"

    public static func expected(_ document: SyncedDocument, target: SyncTarget) throws -> RecordSnapshot {
        let ref = placeholderRef
        switch document {
        case .customer(let customer):
            return Self.customer(try NetSuitePayloads.customer(customer, target: target), providerID: nil)
        case .invoice(let invoice):
            let body =
                invoice.status == "voided"
                ? try NetSuitePayloads.voidedInvoice(invoice, customerRef: ref, target: target)
                : try NetSuitePayloads.invoice(invoice, customerRef: ref, target: target)
            return try transaction(body, objectType: .invoice, providerID: nil, currency: invoice.currency, derived: false)
        case .salesOrder(let order):
            let body = try NetSuitePayloads.invoice(order.invoice, customerRef: ref, target: target, root: "sales_order")
            return try transaction(body, objectType: .salesOrder, providerID: nil, currency: order.invoice.currency, derived: false)
        case .creditMemo(let memo):
            let body =
                memo.creditStatus == "voided"
                ? try NetSuitePayloads.voidedCreditMemo(memo, customerRef: ref, invoiceRef: ref, target: target)
                : try NetSuitePayloads.creditMemo(memo, customerRef: ref, invoiceRef: ref, target: target)
            return try transaction(body, objectType: .creditMemo, providerID: nil, currency: memo.currency, derived: false)
        case .payment(let payment):
            var refs: [String: String] = [:]
            for application in payment.applications { refs[application.invoiceID] = ref }
            let body = try NetSuitePayloads.payment(payment, customerRef: ref, invoiceRefs: refs, target: target)
            return try transaction(body, objectType: .payment, providerID: nil, currency: payment.currency, derived: false)
        }
    }
}
