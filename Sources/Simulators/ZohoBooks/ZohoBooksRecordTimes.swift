import ExactJSON
import Foundation
import Hummingbird
import Sync

// The times every Zoho Books record keeps (`created_time`, `last_modified_time`), and the list
// parameters that read by them: what the change polls read (issue 15).
//
// Zoho's pages (the published OpenAPI files of the Zoho Books API v3, one per module, and the
// module pages https://www.zoho.com/books/api/v3/<module>/ they are the source of):
// - Every module's record carries `created_time` and `last_modified_time`, written
//   `2013-11-18T02:02:51-0800` (ISO 8601, offset without a colon): "Contacts", "Invoices",
//   "Credit Notes", "Sales Order" schemas and examples. "Customer Payments" shows
//   `created_time` only; the simulator keeps both on payments too (NOT DOCUMENTED for them).
//   A record's `last_modified_time` moves when anything about it changes, its computed members
//   included (an invoice's `balance` after a payment): NOT DOCUMENTED in words; it is what
//   "modified" means in Zoho's UI. Times are whole seconds; the simulated organization's are
//   given in UTC (`+0000`).
// - "Invoices", list-invoices: `last_modified_time` "Search invoices modified after a specific
//   time … Use YYYY-MM-DDTHH:MM:SS-UTC format … Example: 2023-11-18T02:02:51-0800,
//   2025-19-19T02:02:51%2B0800". Simulated for invoices only: no other module's list documents
//   the parameter (it is ignored there). "After": strictly later.
// - `sort_column` per module's list: contacts "contact_name, first_name, last_name, email,
//   outstanding_receivable_amount, created_time and last_modified_time"; invoices
//   "customer_name, invoice_number, date, due_date, total, balance and created_time"; credit
//   notes "customer_name, creditnote_number, balance, total, date, and created_time"; sales
//   orders "customer_name, salesorder_number, shipment_date, last_modified_time,
//   reference_number, total, date, and created_time"; customer payments lists no values (its
//   example is created_time: that one is taken). `sort_order`: "The order for sorting",
//   example `D`; A ascending, D descending (the letters are Zoho's; "A" is NOT DOCUMENTED
//   beyond being the other value). Without `sort_column` a list is in creation order (the
//   simulator's; Zoho documents no default). A value not in the module's list is refused like
//   any invalid parameter (code 4 here: see ZohoBooksAPI.swift on undocumented codes).

extension ZohoBooksSimulator {
    /// Moves the simulated organization's clock (the times records are written at) by
    /// `seconds`, so a test can change a record "later" without waiting: Zoho's times are whole
    /// seconds. Tokens and rate windows still run on the real clock.
    public func advanceClock(by seconds: TimeInterval) {
        state.withLock { $0.clockOffset += seconds }
    }

    /// Now by the simulated organization's clock, whole seconds.
    static func recordTime(_ state: State) -> Date {
        Date(timeIntervalSince1970: Date().addingTimeInterval(state.clockOffset).timeIntervalSince1970.rounded(.down))
    }

    static let timeMembers: Set<String> = ["created_time", "last_modified_time"]

    /// Sets a written record's times: `created_time` kept from `previous` (or now for a new
    /// record), `last_modified_time` now. What a request sent for either is not taken.
    static func stamp(_ body: inout ExactJSON, previous: ExactJSON?, now: Date) {
        let created = previous?["created_time"] ?? .string(ZohoTime.format(now))
        var members = body.objectMembers.filter { !timeMembers.contains($0.key) }
        members += [("created_time", created), ("last_modified_time", .string(ZohoTime.format(now)))]
        body = .object(members)
    }

    /// After a request that changed records besides the one it wrote (a payment's invoices, a
    /// void's payments and credit notes, an applied credit): every record whose members other
    /// than its times changed, and whose `last_modified_time` the write did not already set,
    /// gets `last_modified_time` now.
    static func stampSideChanges(before: [String: [StoredRecord]], after: inout [String: [StoredRecord]], now: Date) {
        for (module, records) in after {
            let earlier = Dictionary((before[module] ?? []).map { ($0.id, $0.body) }, uniquingKeysWith: { first, _ in first })
            for index in records.indices {
                let body = records[index].body
                guard let old = earlier[records[index].id] else { continue }
                guard old["last_modified_time"] == body["last_modified_time"] else { continue }
                let strip = { (value: ExactJSON) in ExactJSON.object(value.objectMembers.filter { !timeMembers.contains($0.key) }) }
                guard strip(old) != strip(body) else { continue }
                var members = body.objectMembers.filter { $0.key != "last_modified_time" }
                members.append(("last_modified_time", .string(ZohoTime.format(now))))
                after[module]?[index].body = .object(members)
            }
        }
    }

    /// The sort columns each module's list documents (see the file's header).
    static let sortColumns: [String: Set<String>] = [
        "contacts": [
            "contact_name", "first_name", "last_name", "email", "outstanding_receivable_amount", "created_time", "last_modified_time",
        ],
        "invoices": ["customer_name", "invoice_number", "date", "due_date", "total", "balance", "created_time"],
        "creditnotes": ["customer_name", "creditnote_number", "balance", "total", "date", "created_time"],
        "salesorders": [
            "customer_name", "salesorder_number", "shipment_date", "last_modified_time", "reference_number", "total", "date",
            "created_time",
        ],
        "customerpayments": ["created_time"],
    ]

    /// A list's records filtered by `last_modified_time` (invoices) and sorted by
    /// `sort_column` / `sort_order`; an error names the parameter.
    static func timeFilteredAndSorted(_ records: [ExactJSON], module: String, query: (String) -> String?)
        -> Result<[ExactJSON], APIError>
    {
        var records = records
        if module == "invoices", let text = query("last_modified_time") {
            guard let after = ZohoTime.parse(text) else { return .failure(.invalid("last_modified_time")) }
            records = records.filter { record in
                record["last_modified_time"]?.stringValue.flatMap(ZohoTime.parse).map { $0 > after } ?? false
            }
        }
        guard let column = query("sort_column") else { return .success(records) }
        guard sortColumns[module]?.contains(column) == true else { return .failure(.invalid("sort_column")) }
        let descending: Bool
        switch query("sort_order") {
        case nil, "A": descending = false
        case "D": descending = true
        default: return .failure(.invalid("sort_order"))
        }
        // Stable: equal keys keep creation order.
        let keyed = records.enumerated().map { (at: $0.offset, record: $0.element, key: sortKey($0.element[column])) }
        let sorted = keyed.sorted { a, b in
            if a.key == b.key { return a.at < b.at }
            return descending ? b.key < a.key : a.key < b.key
        }
        return .success(sorted.map(\.record))
    }

    /// Times compare as times, numbers as decimals, the rest as text; a missing member first.
    enum SortKey: Comparable {
        case missing
        case time(Date)
        case number(ExactDecimal)
        case text(String)
    }

    static func sortKey(_ value: ExactJSON?) -> SortKey {
        guard let value else { return .missing }
        if let text = value.numberText, let number = ExactDecimal(text) { return .number(number) }
        if let text = value.stringValue {
            if let time = ZohoTime.parse(text) { return .time(time) }
            return .text(text)
        }
        return .missing
    }
}

/// Zoho's times: `2013-11-18T02:02:51-0800`.
enum ZohoTime {
    /// `+0000`, whole seconds.
    static func format(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        func two(_ value: Int?) -> String { String(format: "%02d", value ?? 0) }
        return "\(String(format: "%04d", parts.year ?? 1970))-\(two(parts.month))-\(two(parts.day))T"
            + "\(two(parts.hour)):\(two(parts.minute)):\(two(parts.second))+0000"
    }

    /// `YYYY-MM-DDTHH:MM:SS` then `±HHMM`, `±HH:MM` or `Z`; nil for anything else.
    static func parse(_ text: String) -> Date? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20 else { return nil }
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= bytes.count else { return nil }
            var value = 0
            for byte in bytes[from..<(from + count)] {
                guard (48...57).contains(byte) else { return nil }
                value = value * 10 + Int(byte - 48)
            }
            return value
        }
        guard let year = number(0, 4), bytes[4] == 45, let month = number(5, 2), bytes[7] == 45, let day = number(8, 2),
            bytes[10] == 84, let hour = number(11, 2), bytes[13] == 58, let minute = number(14, 2), bytes[16] == 58,
            let second = number(17, 2), (1...12).contains(month), (1...31).contains(day), hour <= 23, minute <= 59, second <= 59
        else { return nil }
        var offset = 0
        let rest = bytes.count - 19
        if rest == 1, bytes[19] == 90 {
            offset = 0
        } else if rest == 5 || rest == 6, bytes[19] == 43 || bytes[19] == 45 {
            let hours = number(20, 2)
            let minutes = rest == 5 ? number(22, 2) : (bytes[22] == 58 ? number(23, 2) : nil)
            guard let hours, let minutes, hours <= 23, minutes <= 59 else { return nil }
            offset = (bytes[19] == 45 ? -1 : 1) * (hours * 3600 + minutes * 60)
        } else {
            return nil
        }
        var calendar = Calendar(identifier: .gregorian)
        guard let utc = TimeZone(identifier: "UTC") else { return nil }
        calendar.timeZone = utc
        guard let date = calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hour, minute: minute, second: second))
        else { return nil }
        return date.addingTimeInterval(Double(-offset))
    }
}
