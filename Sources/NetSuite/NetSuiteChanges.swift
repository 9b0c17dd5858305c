import ExactJSON
import Foundation
import Sync

// The records of a type changed at NetSuite since a time (`ChangeReading`, issue 15): what the
// change polls read. The way Nango's NetSuite syncs read them (PROVIDERS 5): the record
// collection filtered on `lastModifiedDate`, page after page, then each record by its id with
// its sublists.
//
// Oracle NetSuite Help Center:
// - "Record Collection Filtering" (section_1545222128,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545222128.html):
//   `GET …/record/v1/{type}?q=<field> <OPERATOR> <value>`; Date / Time fields take AFTER,
//   BEFORE, ON, ON_OR_AFTER, ON_OR_BEFORE (and their _NOT forms); conditions join with AND /
//   OR; "REST web services uses the underlying N/query SuiteScript module, which uses a
//   different date format than the formats outlined in Using Datetime Fields"; its example
//   filters on a date written `"1/1/2019"`. The page gives no example of a time of day in a
//   filter value, and N/query reads dates in the user's date format preference and time zone,
//   so the filter here is a DATE only (M/D/YYYY), one day before `since` so that any account
//   time zone is covered; the exact comparison is made on the records' own `lastModifiedDate`.
// - "Collection Paging" (section_156414087576): `limit` (at most 1000) and `offset`; the
//   answer carries `count`, `hasMore`, `offset`, `totalResults`, `items` (each an `id` and its
//   `links`) and `links` with rel `next` while there is more.
// - "Format of Sublists and Subrecords" (section_1545141947,
//   https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545141947.html):
//   "REST web services do not automatically expand sublists and subrecords"; without
//   `expandSubResources=true` the answer holds the body fields and links for the sublists; with
//   it, a sublist carries its `items` (a payment's `apply` lines).
// - "Using Datetime Fields" (listed under "NetSuite Record Structure", section_1540811112; its
//   own section number not found in the search corpus): datetime values in REST answers are
//   ISO 8601 (`2019-11-14T07:35:00Z`); a `Z` or an offset, fractional seconds are read too.
// - "Customer Payment" (REST record, article_0224093711): the `apply` sublist's lines name the
//   document (`doc`), whether it is applied (`apply`) and the `amount` applied.
//
// Query parameters are signed like any other (TBASigner: every query parameter goes into the
// base string, PROVIDERS 2.1 step 3; Tests/NetSuiteTests/Fixtures/tba_signatures.json holds a
// `q`/`limit`/`offset` case computed by oauthlib).

/// One page of a record collection: the ids of its records.
public struct RecordCollectionPage: Sendable, Equatable {
    public let ids: [String]
    public let hasMore: Bool
    public let offset: Int
    public let totalResults: Int?
}

extension NetSuiteClient {
    /// `GET …/{recordType}?q=…&limit=…&offset=…` ("Record Collection Filtering", "Collection
    /// Paging"): one page of the ids of the records the filter selects.
    public func list(recordType: String, query: String?, limit: Int, offset: Int) async throws -> RecordCollectionPage {
        guard (1...1000).contains(limit), offset >= 0 else {
            throw SyncError(.permanent, "record collection paging: limit must be 1…1000 and offset at least 0")
        }
        guard !recordType.isEmpty, recordType.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "_") }) else {
            throw SyncError(.permanent, "a NetSuite record type is letters, digits and '_', got \"\(recordType.prefix(40))\"")
        }
        var url = "\(account.restBaseURL)/\(recordType)?"
        if let query { url += "q=\(PercentEncoding.encode(query))&" }
        url += "limit=\(limit)&offset=\(offset)"
        let response = try await send(method: "GET", url: url, body: nil)
        guard (200...299).contains(response.status) else { throw NetSuiteErrorParser.parse(response) }
        guard let answer = try? ExactJSON.parse(response.body), let items = answer["items"]?.arrayValue else {
            throw SyncError(.transient, "NetSuite answered the \(recordType) collection without an items list")
        }
        let ids = try items.map { item -> String in
            guard let id = item["id"]?.stringValue ?? item["id"]?.numberText else {
                throw SyncError(.transient, "NetSuite answered the \(recordType) collection with an item without an id")
            }
            return id
        }
        return RecordCollectionPage(
            ids: ids, hasMore: answer["hasMore"]?.boolValue ?? false,
            offset: answer["offset"]?.numberText.flatMap { Int($0) } ?? offset,
            totalResults: answer["totalResults"]?.numberText.flatMap { Int($0) })
    }

    /// `GET …/{recordType}/{internalID}?expandSubResources=true`: the record with its
    /// sublists' lines; nil when NetSuite says it does not exist (404).
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

extension NetSuiteProvider: ChangeReading {
    /// Records per collection page a change poll reads (Nango's NetSuite syncs use 100).
    public static let changePageSize = 100

    public func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?) async throws -> ProviderChangePage {
        try await changes(of: objectType, since: since, page: page, pageSize: Self.changePageSize)
    }

    /// One page of the collection (`pageSize` records from the offset `page`), each record
    /// read with its sublists, those changed at or after `since` kept, oldest first. The
    /// collection is NetSuite's order, not modification order: the page's records are sorted,
    /// the pages are not (a poll reads every page before it moves its cursor). `next` is the
    /// next page's offset while the collection has more.
    public func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?, pageSize: Int) async throws
        -> ProviderChangePage
    {
        let offset: Int
        if let page {
            guard let value = Int(page), value >= 0 else {
                throw SyncError(.permanent, "a NetSuite change page is an offset (digits), got \"\(page.prefix(40))\"")
            }
            offset = value
        } else {
            offset = 0
        }
        let recordType = Self.recordType(objectType)
        let listed = try await client.list(
            recordType: recordType, query: Self.changeFilter(since: since), limit: pageSize, offset: offset)
        // NetSuite's times are whole seconds: a record changed in the second `since` falls in
        // is written with that second's start.
        let from = Date(timeIntervalSince1970: since.timeIntervalSince1970.rounded(.down))
        var changes: [ProviderChange] = []
        for id in listed.ids {
            // Deleted since it was listed: nothing to report.
            guard let record = try await client.getExpanded(recordType: recordType, internalID: id) else { continue }
            let change = try Self.change(objectType, id: id, record: record)
            if change.modifiedAt >= from { changes.append(change) }
        }
        changes.sort(by: Self.oldestFirst)
        let next = listed.hasMore && !listed.ids.isEmpty ? String(listed.offset + listed.ids.count) : nil
        return ProviderChangePage(changes: changes, next: next)
    }

    /// `lastModifiedDate ON_OR_AFTER "M/D/YYYY"`, the date one day before `since` in UTC (see
    /// the file's header: a date, in the format of Oracle's example, early enough for any
    /// account time zone).
    public static func changeFilter(since: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let day = calendar.dateComponents([.year, .month, .day], from: since.addingTimeInterval(-86_400))
        return "lastModifiedDate ON_OR_AFTER \"\(day.month ?? 1)/\(day.day ?? 1)/\(day.year ?? 1970)\""
    }

    /// By `modifiedAt`, then by id (as numbers: NetSuite's are digits; then as text).
    static func oldestFirst(_ a: ProviderChange, _ b: ProviderChange) -> Bool {
        if a.modifiedAt != b.modifiedAt { return a.modifiedAt < b.modifiedAt }
        let (left, right) = (Int(a.providerID) ?? Int.max, Int(b.providerID) ?? Int.max)
        return left != right ? left < right : a.providerID < b.providerID
    }

    /// The change a record read back makes. A record without a readable `lastModifiedDate` is
    /// an answer the poll cannot place: transient, named.
    static func change(_ objectType: ExternalRef.ObjectType, id: String, record: ExactJSON) throws -> ProviderChange {
        guard let modifiedText = record["lastModifiedDate"]?.stringValue, let modifiedAt = ProviderTime.parse(modifiedText) else {
            throw SyncError(
                .transient, "NetSuite answered \(recordType(objectType)) \(id) without a readable lastModifiedDate")
        }
        let createdAt = record["dateCreated"]?.stringValue.flatMap(ProviderTime.parse)
        let number: String?
        let amount: String?
        switch objectType {
        case .customer:
            number = record["companyName"]?.stringValue ?? record["entityId"]?.stringValue
            amount = nil
        case .payment:
            number = record["tranId"]?.stringValue
            amount = record["payment"]?.numberText
        case .invoice, .salesOrder, .creditMemo:
            number = record["tranId"]?.stringValue
            amount = record["total"]?.numberText
        }
        let currency = record["currency"]?["refName"]?.stringValue ?? record["currency"]?.referenceID
        var applications: [ProviderPaymentApplication] = []
        if objectType == .payment {
            for line in record["apply"]?["items"]?.arrayValue ?? [] where line["apply"]?.boolValue != false {
                guard let doc = line["doc"]?.referenceID else { continue }
                applications.append(ProviderPaymentApplication(providerInvoiceID: doc, amount: line["amount"]?.numberText))
            }
        }
        return ProviderChange(
            objectType: objectType, providerID: id, externalID: record["externalId"]?.stringValue, modifiedAt: modifiedAt,
            createdAt: createdAt, number: number, amount: amount, currency: currency, applications: applications,
            record: bodyFields(record))
    }

    /// The record's body fields: sublists (`{"items": …}` or `{"links": …}` alone) and links left out.
    static func bodyFields(_ record: ExactJSON) -> ExactJSON {
        .object(
            record.objectMembers.filter { member in
                guard member.key != "links" else { return false }
                guard let object = member.value.objectValue else { return true }
                return object["items"] == nil && !(object.count == 1 && object["links"] != nil)
            })
    }
}
