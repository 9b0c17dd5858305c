import ExactJSON
import Foundation
import Sync

extension NetSuiteSimulator {
    /// The record types the simulator keeps (docs/netsuite.md). The raw value is the REST
    /// record API's spelling; URLs match it case-insensitively, as NetSuite does.
    public enum RecordType: String, CaseIterable, Sendable, Codable {
        case customer
        case invoice
        case salesOrder
        case creditMemo
        case customerPayment
        case customerRefund

        /// The type named by a URL path segment (`salesorder`, `salesOrder`, `CUSTOMER`).
        public init?(pathSegment: some StringProtocol) {
            let lowered = pathSegment.lowercased()
            guard let match = Self.allCases.first(where: { $0.rawValue.lowercased() == lowered }) else { return nil }
            self = match
        }

        /// Invoices, sales orders and credit memos: entity, item lines, taxes.
        var isItemTransaction: Bool {
            self == .invoice || self == .salesOrder || self == .creditMemo
        }
    }

    /// One record as the simulated account holds it.
    public struct Record: Sendable {
        public let type: RecordType
        /// NetSuite's id: a number, unique in the account, given at creation.
        public let internalID: String
        public let externalID: String
        /// The body of the last upsert, as received: member order kept, numbers as written.
        public let body: ExactJSON
        /// What the record is worth: item lines' `amount` plus `taxDetails` rows' `taxAmount`
        /// plus a legacy `taxAmountOverride`; a payment's `payment`; nil for a customer.
        public let totalAmount: ExactDecimal?
        public let createdAt: Date
        public let updatedAt: Date
        /// How many upserts wrote this record (1 after creation).
        public let writeCount: Int

        /// `totalAmount` written with as many decimals as the amounts had, i.e. the
        /// currency's: `"32.80"`, `"1234"`, `"1.234"`.
        public var total: String? { totalAmount?.description }

        /// The body's top-level members.
        public var fields: [String: ExactJSON] { body.objectValue ?? [:] }

        /// A top-level string field (`tranId`, `companyName`).
        public func string(_ field: String) -> String? { body[field]?.stringValue }

        /// The literal text of a top-level number field (`payment`, `taxAmountOverride`).
        public func number(_ field: String) -> String? { body[field]?.numberText }

        /// The id of a reference field: `"entity": {"id": "101"}` gives "101".
        public func reference(_ field: String) -> String? { body[field]?.referenceID }

        /// The lines of a sublist: `"item": {"items": [...]}` gives the items' members.
        public func sublist(_ field: String) -> [[String: ExactJSON]] {
            (body[field]?["items"]?.arrayValue ?? []).compactMap(\.objectValue)
        }
    }
}

/// The records of the account, by type and by external id. Not thread-safe: it lives
/// inside the simulator's locked state.
struct RecordStore {
    /// The first internal id given; ids then count up across all types, so an id of one type
    /// never names a record of another (a worker that mixes them up is caught).
    static let firstInternalID = 100

    private var records: [NetSuiteSimulator.RecordType: [String: NetSuiteSimulator.Record]] = [:]
    private var internalIDsByExternalID: [NetSuiteSimulator.RecordType: [String: String]] = [:]
    /// Shared by typed and generic records (`GenericRecords.swift`).
    var nextInternalID = firstInternalID
    /// Records of the types outside `RecordType` (`GenericRecords.swift`): by canonical type
    /// name, then internal id.
    var generic: [String: [String: NetSuiteSimulator.GenericRecord]] = [:]
    var genericIDsByExternalID: [String: [String: String]] = [:]
    /// What each payment (by external id) applies to each invoice (by internal id), kept up
    /// to date on every payment upsert so the amount-due check need not scan all payments.
    private var appliedToInvoices: [String: [String: ExactDecimal]] = [:]

    func record(_ type: NetSuiteSimulator.RecordType, internalID: String) -> NetSuiteSimulator.Record? {
        records[type]?[internalID]
    }

    func record(_ type: NetSuiteSimulator.RecordType, externalID: String) -> NetSuiteSimulator.Record? {
        internalIDsByExternalID[type]?[externalID].flatMap { records[type]?[$0] }
    }

    /// Every record of `type`, in creation order.
    func records(_ type: NetSuiteSimulator.RecordType) -> [NetSuiteSimulator.Record] {
        (records[type] ?? [:]).values.sorted { Int($0.internalID)! < Int($1.internalID)! }
    }

    /// Creates the record, or replaces the body of the one with this external id (keeping its
    /// internal id). Returns the record as stored.
    mutating func upsert(
        _ type: NetSuiteSimulator.RecordType, externalID: String, body: ExactJSON, total: ExactDecimal?, now: Date
    ) -> NetSuiteSimulator.Record {
        let stored: NetSuiteSimulator.Record
        let existing = record(type, externalID: externalID)
        if let existing {
            stored = NetSuiteSimulator.Record(
                type: type, internalID: existing.internalID, externalID: externalID, body: body, totalAmount: total,
                createdAt: existing.createdAt, updatedAt: now, writeCount: existing.writeCount + 1)
        } else {
            let internalID = String(nextInternalID)
            nextInternalID += 1
            internalIDsByExternalID[type, default: [:]][externalID] = internalID
            stored = NetSuiteSimulator.Record(
                type: type, internalID: internalID, externalID: externalID, body: body, totalAmount: total,
                createdAt: now, updatedAt: now, writeCount: 1)
        }
        records[type, default: [:]][stored.internalID] = stored
        if type == .customerPayment {
            for line in existing.map({ PaymentApplication.lines(of: $0.body) }) ?? [] {
                appliedToInvoices[line.invoiceID]?[externalID] = nil
            }
            for line in PaymentApplication.lines(of: body) {
                appliedToInvoices[line.invoiceID, default: [:]][externalID, default: .zero] += line.amount
            }
        }
        return stored
    }

    /// Removes the record ("Deleting a Record Instance"); what a payment applied goes with it.
    /// Returns the record removed, nil when there was none.
    mutating func delete(_ type: NetSuiteSimulator.RecordType, internalID: String) -> NetSuiteSimulator.Record? {
        guard let record = records[type]?.removeValue(forKey: internalID) else { return nil }
        internalIDsByExternalID[type]?[record.externalID] = nil
        if type == .customerPayment {
            for line in PaymentApplication.lines(of: record.body) {
                appliedToInvoices[line.invoiceID]?[record.externalID] = nil
            }
        }
        return record
    }

    /// What payments other than `excludingPayment` (an external id) have applied to the invoice.
    func appliedByPayments(toInvoice invoiceID: String, excludingPayment: String) -> ExactDecimal {
        (appliedToInvoices[invoiceID] ?? [:]).reduce(ExactDecimal.zero) { sum, entry in
            entry.key == excludingPayment ? sum : sum + entry.value
        }
    }
}

/// The lines of a payment's `apply` sublist that apply money (`"apply": false` lines do not).
/// Only stored payments are read this way; validation has already checked them.
enum PaymentApplication {
    struct Line {
        let invoiceID: String
        let amount: ExactDecimal
    }

    static func lines(of body: ExactJSON) -> [Line] {
        (body["apply"]?["items"]?.arrayValue ?? []).compactMap { line in
            guard line["apply"]?.boolValue != false,
                let invoiceID = line["doc"]?.referenceID,
                let amount = line["amount"]?.numberText.flatMap(ExactDecimal.init(literal:))
            else { return nil }
            return Line(invoiceID: invoiceID, amount: amount)
        }
    }
}
