import ExactJSON
import Foundation

// Records of the types the sync does not use (`contact`, custom records `customrecord_…`, …),
// kept generically: the body as given (merged on update), an internal id from the account's one
// counter, an optional external id, `dateCreated` and `lastModifiedDate` from the simulator's
// clock. No validation beyond "a JSON object": the simulator knows no schema for them.
//
// Oracle NetSuite Help Center:
// - "Creating a Record Instance" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545141395.html):
//   `POST …/record/v1/<type>` with the body; 204 with no body and the new record's URL in
//   `Location`. "the id field is read-only": an `id` member in a body is not stored (the
//   simulator drops it; no page found that says whether NetSuite refuses or ignores it).
// - "Deleting a Record Instance" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/article_0624125335.html):
//   `DELETE …/record/v1/<type>/<id>`, 204 with no body.
// - "Using CRUD Operations on Custom Records, Custom Lists, and Custom Transactions v1"
//   (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_158100110171.html):
//   create, read, update and delete work on custom record instances; the record type is the
//   custom record type's script id (`customrecord_…`). Custom record TYPES cannot be created
//   through REST, so every `customrecord…` name is taken as an existing type here.
// - "Using Datetime Fields" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_157305090645.html):
//   REST answers datetime values in ISO 8601 in UTC, e.g. `2017-07-21T17:32:28Z`; that is the
//   format of `dateCreated` and `lastModifiedDate` on GET.
// - "Using External IDs" (…/section_156335203191.html, cited in RecordAPI.swift): `eid:<x>`
//   wherever an id goes.
//
// Which standard record types exist is the account's (the REST API Browser lists them); the
// simulator serves `GenericRecordTypes.standard` besides the sync's own types and custom
// records, and answers 404 for any other name (as for an unknown type in NetSuite).
extension NetSuiteSimulator {
    /// One record of a type outside `RecordType`.
    public struct GenericRecord: Sendable {
        /// The type as the REST API spells it (`contact`, `customrecord_project`).
        public let type: String
        public let internalID: String
        public let externalID: String?
        /// The body as stored: the create's body merged with every update, without `id`,
        /// `externalId`, `dateCreated`, `lastModifiedDate`.
        public let body: ExactJSON
        public let createdAt: Date
        public let updatedAt: Date

        public var fields: [String: ExactJSON] { body.objectValue ?? [:] }
        public func string(_ field: String) -> String? { body[field]?.stringValue }
    }

    /// Every record of a generic `type` (any spelling), in creation order.
    public func genericRecords(_ type: String) -> [GenericRecord] {
        guard let canonical = GenericRecordTypes.canonical(type) else { return [] }
        return state.withLock { $0.store.genericRecords(canonical) }
    }

    public func genericRecord(_ type: String, internalID: String) -> GenericRecord? {
        guard let canonical = GenericRecordTypes.canonical(type) else { return nil }
        return state.withLock { $0.store.genericRecord(canonical, internalID: internalID) }
    }

    public func genericRecord(_ type: String, externalID: String) -> GenericRecord? {
        guard let canonical = GenericRecordTypes.canonical(type) else { return nil }
        return state.withLock { $0.store.genericRecord(canonical, externalID: externalID) }
    }

    /// Deletes a record of a sync type as someone in NetSuite would (a test of drift):
    /// the same rules as `DELETE` over HTTP. False when there is no such record.
    @discardableResult
    public func deleteRecord(_ type: RecordType, externalID: String) throws -> Bool {
        try state.withLock { state throws(NetSuiteErrorBody) -> Bool in
            guard let record = state.store.record(type, externalID: externalID) else { return false }
            try state.store.checkDeletable(record)
            state.stats.deletes += 1
            return state.store.delete(type, internalID: record.internalID) != nil
        }
    }
}

/// The record types beyond `RecordType` the simulator keeps, and their REST spelling.
enum GenericRecordTypes {
    /// Standard types served generically (lower case → REST spelling).
    static let standard: [String: String] = [
        "contact": "contact", "vendor": "vendor", "employee": "employee", "partner": "partner", "task": "task",
        "phonecall": "phoneCall", "note": "note", "usernote": "userNote",
    ]

    /// The REST spelling of a generic type, nil for a name the simulator does not serve.
    /// Custom records: `customrecord` followed by letters, digits or `_` (script ids are
    /// lower case in NetSuite; the URL matches any case, as for the other types).
    static func canonical(_ name: some StringProtocol) -> String? {
        let lowered = name.lowercased()
        if let known = standard[lowered] { return known }
        if lowered.hasPrefix("customrecord"), lowered.count > "customrecord".count, lowered.count <= 100,
            lowered.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_") })
        {
            return lowered
        }
        return nil
    }
}

extension RecordStore {
    func genericRecords(_ type: String) -> [NetSuiteSimulator.GenericRecord] {
        (generic[type] ?? [:]).values.sorted { ($0.internalID.count, $0.internalID) < ($1.internalID.count, $1.internalID) }
    }

    func genericRecord(_ type: String, internalID: String) -> NetSuiteSimulator.GenericRecord? {
        generic[type]?[internalID]
    }

    func genericRecord(_ type: String, externalID: String) -> NetSuiteSimulator.GenericRecord? {
        genericIDsByExternalID[type]?[externalID].flatMap { generic[type]?[$0] }
    }

    /// Every generic type that holds records.
    var genericTypes: [String] { generic.keys.sorted() }

    /// The members a client cannot set: NetSuite gives them.
    static let readOnlyMembers: Set<String> = ["id", "externalId", "dateCreated", "lastModifiedDate", "links"]

    /// Creates (`existing` nil) or replaces a generic record with `body` (already merged).
    mutating func storeGeneric(
        _ type: String, existing: NetSuiteSimulator.GenericRecord?, externalID: String?, body: ExactJSON, now: Date
    ) -> NetSuiteSimulator.GenericRecord {
        let kept = ExactJSON.object(body.objectMembers.filter { !Self.readOnlyMembers.contains($0.key) })
        let stored: NetSuiteSimulator.GenericRecord
        if let existing {
            if let old = existing.externalID, old != externalID { genericIDsByExternalID[type]?[old] = nil }
            stored = NetSuiteSimulator.GenericRecord(
                type: type, internalID: existing.internalID, externalID: externalID, body: kept, createdAt: existing.createdAt,
                updatedAt: now)
        } else {
            let internalID = String(nextInternalID)
            nextInternalID += 1
            stored = NetSuiteSimulator.GenericRecord(
                type: type, internalID: internalID, externalID: externalID, body: kept, createdAt: now, updatedAt: now)
        }
        if let externalID { genericIDsByExternalID[type, default: [:]][externalID] = stored.internalID }
        generic[type, default: [:]][stored.internalID] = stored
        return stored
    }

    mutating func deleteGeneric(_ type: String, internalID: String) -> NetSuiteSimulator.GenericRecord? {
        guard let record = generic[type]?.removeValue(forKey: internalID) else { return nil }
        if let externalID = record.externalID { genericIDsByExternalID[type]?[externalID] = nil }
        return record
    }

    /// Refuses to delete a record other records depend on: a customer named by a
    /// transaction, an invoice or credit memo a payment, credit memo or refund applies to.
    /// NetSuite refuses such deletes in its UI with "This record cannot be deleted because it
    /// has dependent records"; no Oracle REST page found that gives the REST error, so the
    /// simulator answers 400 USER_ERROR with that text.
    func checkDeletable(_ record: NetSuiteSimulator.Record) throws(NetSuiteErrorBody) {
        let dependent: Bool
        switch record.type {
        case .customer:
            dependent = NetSuiteSimulator.RecordType.allCases.filter { $0 != .customer }.contains { type in
                records(type).contains { $0.reference("entity") == record.internalID || $0.reference("customer") == record.internalID }
            }
        case .invoice, .creditMemo:
            dependent = [NetSuiteSimulator.RecordType.customerPayment, .creditMemo, .customerRefund].contains { type in
                records(type).contains { other in
                    other.internalID != record.internalID
                        && ["apply", "credit"].contains { sublist in
                            other.sublist(sublist).contains { line in
                                line["apply"]?.boolValue != false && line["doc"]?.referenceID == record.internalID
                            }
                        }
                }
            }
        default:
            dependent = false
        }
        if dependent { throw .userError("This record cannot be deleted because it has dependent records.") }
    }
}
