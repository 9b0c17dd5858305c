import ExactJSON
import Foundation
import Sync

// The records of a type changed at Zoho Books since a time (`ChangeReading`, issue 15): what
// the change polls read.
//
// Zoho's pages (the published OpenAPI files of the Zoho Books API v3 and the module pages
// https://www.zoho.com/books/api/v3/contacts/, /invoices/, /credit-notes/, /sales-order/,
// /customer-payments/):
// - Records carry `created_time` and `last_modified_time`, `2013-11-18T02:02:51-0800`
//   ("Customer Payments" documents `created_time` only: a payment is placed by its
//   `last_modified_time` when the answer has one, else by its `created_time`).
// - Only the invoices' list documents a time filter: `last_modified_time` "Search invoices
//   modified after a specific time … YYYY-MM-DDTHH:MM:SS-UTC format … 2023-11-18T02:02:51-0800".
//   It is sent one second before `since` ("after" is read as strictly later; times are whole
//   seconds), so nothing changed at `since` is lost.
// - `sort_column` / `sort_order` (D descending) per list: contacts and sales orders can be sorted
//   by `last_modified_time`; credit notes and payments by `created_time` only. So contacts and
//   sales orders are read newest change first until one older than `since`; credit notes and
//   payments newest first by creation until one created before `since`. A credit note or
//   payment CREATED before `since` and changed after it is therefore not seen: Zoho documents
//   no way to list those by their changes.
// - "Pagination" (https://www.zoho.com/books/api/v3/pagination/): `page` (from 1), `per_page`
//   (at most 200) and `page_context.has_more_page`.
// - "Customer Payments", retrieve-a-payment: the payment's `invoices` list, each
//   `{invoice_id, invoice_number, amount_applied, …}`. The list's entries are not documented
//   to carry it, so every payment found is read by its id.
//
// Every request after the call's first is paced (`ProviderReadPacing.beforeFurtherRequest`,
// the read's `SyncTarget.beforeFurtherRequest`): the organization's per-minute window counts
// reads too.

extension ZohoBooksProvider: ChangeReading {
    /// Records per list page (Zoho's maximum).
    static let changePageSize = 200
    /// List pages one `changes` call reads at most; a longer read continues in the next call.
    static let changeMaxPages = 25

    func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?) async throws -> ProviderChangePage {
        try await changes(
            of: objectType, since: since, page: page, perPage: Self.changePageSize,
            pacer: ZohoRequestPacer(ProviderReadPacing.beforeFurtherRequest))
    }

    /// How a module's list is read for changes.
    enum ChangeListing {
        /// `last_modified_time` filter (invoices): every page of the answer is a change.
        case filtered
        /// Sorted newest first by this column; stop at the first record before `since`.
        case newestFirst(column: String)
    }

    static func changeModule(_ objectType: ExternalRef.ObjectType) -> (Module, ChangeListing) {
        switch objectType {
        case .customer: (.contacts, .newestFirst(column: "last_modified_time"))
        case .invoice: (.invoices, .filtered)
        case .salesOrder: (.salesOrders, .newestFirst(column: "last_modified_time"))
        case .creditMemo: (.creditNotes, .newestFirst(column: "created_time"))
        case .payment: (.payments, .newestFirst(column: "created_time"))
        }
    }

    /// The changes of `objectType` at or after `since`, oldest first; `page` nil for the first
    /// call, else the list page a read cut short at `changeMaxPages` goes on from.
    func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?, perPage: Int, pacer: ZohoRequestPacer)
        async throws -> ProviderChangePage
    {
        var listPage = 1
        if let page {
            guard let value = Int(page), value >= 1 else {
                throw SyncError(.permanent, "a Zoho Books change page is a page number (digits), got \"\(page.prefix(40))\"")
            }
            listPage = value
        }
        let (module, listing) = Self.changeModule(objectType)
        // Zoho's times are whole seconds: a record changed in the second `since` falls in
        // carries that second.
        let from = Date(timeIntervalSince1970: since.timeIntervalSince1970.rounded(.down))
        var query: [(String, String)] = []
        switch listing {
        case .filtered:
            query.append(("last_modified_time", ProviderTime.format(from.addingTimeInterval(-1), suffix: .plusZero)))
        case .newestFirst(let column):
            query += [("sort_column", column), ("sort_order", "D")]
        }
        var found: [ProviderChange] = []
        var pagesRead = 0
        var next: String?
        reading: while true {
            let answer = try await client.send(
                "GET", module.path, query: query + [("page", String(listPage)), ("per_page", String(perPage))], pacer: pacer)
            pagesRead += 1
            guard let records = answer[module.path]?.arrayValue else {
                throw SyncError(.transient, "Zoho Books answered the \(module.label) list without \(module.path)")
            }
            for record in records {
                let change = try change(objectType, module: module, record: record)
                if change.modifiedAt >= from {
                    found.append(change)
                } else if case .newestFirst(let column) = listing {
                    // Sorted newest first: the rest is older. (By created_time: a record
                    // created before `since` may still have changed after it; see the header.)
                    let placed = column == "created_time" ? (change.createdAt ?? change.modifiedAt) : change.modifiedAt
                    if placed < from { break reading }
                }
            }
            guard answer["page_context"]?["has_more_page"]?.boolValue == true, !records.isEmpty else { break }
            listPage += 1
            if pagesRead >= Self.changeMaxPages {
                next = String(listPage)
                break
            }
        }
        if objectType == .payment {
            found = try await withApplications(found, pacer: pacer)
        }
        found.sort(by: Self.oldestFirst)
        return ProviderChangePage(changes: found, next: next)
    }

    /// Each payment read by its id for the invoices it is applied to.
    func withApplications(_ payments: [ProviderChange], pacer: ZohoRequestPacer) async throws -> [ProviderChange] {
        var read: [ProviderChange] = []
        for payment in payments {
            let answer: ExactJSON
            do {
                answer = try await client.send(
                    "GET", "\(Module.payments.path)/\(try Self.pathID(payment.providerID, .payments))", pacer: pacer)
            } catch let error as SyncError where error.providerCode == "1002" {
                continue // deleted since it was listed
            }
            guard let record = answer[Module.payments.resource] else {
                throw SyncError(.transient, "Zoho Books answered GET customerpayments/\(payment.providerID) without payment")
            }
            read.append(try change(.payment, module: .payments, record: record))
        }
        return read
    }

    static func oldestFirst(_ a: ProviderChange, _ b: ProviderChange) -> Bool {
        if a.modifiedAt != b.modifiedAt { return a.modifiedAt < b.modifiedAt }
        if a.providerID.count != b.providerID.count { return a.providerID.count < b.providerID.count }
        return a.providerID < b.providerID
    }

    /// The change a listed (or read) record makes. A record without an id or a readable time
    /// is an answer the poll cannot place: transient, named.
    func change(_ objectType: ExternalRef.ObjectType, module: Module, record: ExactJSON) throws -> ProviderChange {
        guard let id = Self.idText(record[module.idKey]), !id.isEmpty else {
            throw SyncError(.transient, "Zoho Books listed a \(module.label) without \(module.idKey)")
        }
        let created = record["created_time"]?.stringValue.flatMap(ProviderTime.parse)
        guard let modifiedAt = record["last_modified_time"]?.stringValue.flatMap(ProviderTime.parse) ?? created else {
            throw SyncError(.transient, "Zoho Books answered \(module.label) \(id) without a readable last_modified_time or created_time")
        }
        let number: String?
        let amount: String?
        switch objectType {
        case .customer:
            number = record["contact_name"]?.stringValue
            amount = nil
        case .payment:
            number = record["payment_number"]?.stringValue ?? record["reference_number"]?.stringValue
            amount = record["amount"]?.numberText
        case .invoice, .salesOrder, .creditMemo:
            number = module.numberKey.flatMap { record[$0]?.stringValue }
            amount = record["total"]?.numberText
        }
        let applications: [ProviderPaymentApplication] =
            objectType == .payment
            ? (record["invoices"]?.arrayValue ?? []).compactMap { line in
                guard let invoiceID = Self.idText(line["invoice_id"]) else { return nil }
                return ProviderPaymentApplication(providerInvoiceID: invoiceID, amount: line["amount_applied"]?.numberText)
            } : []
        return ProviderChange(
            objectType: objectType, providerID: id, externalID: externalID(record), modifiedAt: modifiedAt, createdAt: created,
            number: number, amount: amount, currency: record["currency_code"]?.stringValue, applications: applications,
            record: Self.bodyFields(record))
    }

    /// The value of the connection's unique custom field: in `custom_fields` (the records'
    /// shape in Zoho's answers), or as the `cf_…` member and in `custom_field_hash` that list
    /// answers also carry.
    func externalID(_ record: ExactJSON) -> String? {
        if let value = record["custom_fields"]?.arrayValue?.first(where: { $0["api_name"]?.stringValue == uniqueField })?["value"]?
            .stringValue
        {
            return value
        }
        return record[uniqueField]?.stringValue ?? record["custom_field_hash"]?[uniqueField]?.stringValue
    }

    /// The record without its lists of lines and applications (bounded body fields).
    static func bodyFields(_ record: ExactJSON) -> ExactJSON {
        .object(record.objectMembers.filter { $0.value.arrayValue == nil || $0.key == "custom_fields" })
    }
}
