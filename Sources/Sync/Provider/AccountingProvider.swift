import Foundation

/// What a sync job writes to, resolved once per job: the connection, its mappings, and the
/// provider ids of the records a document references.
public struct SyncTarget: Sendable {
    public let connectionID: UUID
    public let connection: AccountingConnection
    public let mappings: MappingSet
    /// The custom field values of the record being written (custom_field mappings of its
    /// record type, read from its document), provider field id → value.
    public var customFields: [CustomFieldValue]
    /// The provider's id of the record this billing object became before: the ref the
    /// workers recorded after an earlier write, or the record a person linked it to
    /// (`ledgersync refs link`, docs/linking.md). A provider without an upsert by external id
    /// updates this record instead of creating one. Nil: no write of this object was ever
    /// recorded (one may still have happened, its answer lost: the provider's own idempotent
    /// write must find it).
    public var existingProviderID: String? = nil
    /// Whether `existingProviderID` is a link a person made: the provider must update that
    /// record by its id and never match or create another by the billing id.
    public var existingIsLinked = false
    /// A provider that sends more than one request for one job (Zoho Books: a credit note,
    /// then its application to the invoice) calls this before each request after the first.
    /// The job's start spent one start of the connection's rate windows; this spends another,
    /// waiting until one is free, so a provider that counts requests per window never sees
    /// more than the windows allow. Set by the job runner; does nothing elsewhere.
    public var beforeFurtherRequest: @Sendable () async throws -> Void = {}

    public init(connectionID: UUID, connection: AccountingConnection, mappings: MappingSet, customFields: [CustomFieldValue] = []) {
        self.connectionID = connectionID
        self.connection = connection
        self.mappings = mappings
        self.customFields = customFields
    }
}

/// One custom field of a provider record (`custbody_region` = "EMEA").
public struct CustomFieldValue: Sendable, Equatable {
    public let fieldID: String
    public let value: String

    public init(fieldID: String, value: String) {
        self.fieldID = fieldID
        self.value = value
    }

    /// The values for the document at `path` in a job's args text (the path's first key is
    /// the envelope; a bare document is the args themselves). Shared by the sync jobs and
    /// `ledgersync sync render`, so both resolve the same values.
    public static func resolve(_ mappings: MappingSet, recordType: String, args: String, at path: [String]) -> [CustomFieldValue] {
        guard !mappings.customFields(recordType: recordType).isEmpty else { return [] }
        let root = (try? JSONSerialization.jsonObject(with: Data(args.utf8))) as? [String: Any] ?? [:]
        var document = root["lago_id"] != nil ? root : (path.first.flatMap { root[$0] as? [String: Any] } ?? [:])
        for key in path.dropFirst() { document = document[key] as? [String: Any] ?? [:] }
        return resolve(mappings, recordType: recordType, document: document)
    }

    /// The values of the `custom_field` mappings of `recordType` (an object type: customer,
    /// invoice, sales_order, credit_memo, payment) found in `document`, the document's JSON
    /// object. A mapping's billing key is `metadata.<key>` (Lago's metadata list of
    /// `{key, value}`) or a dotted path of JSON keys (`external_id`, `customer.legal_number`).
    /// Keys the document does not have are left out; only strings, numbers and booleans count.
    public static func resolve(_ mappings: MappingSet, recordType: String, document: [String: Any]) -> [CustomFieldValue] {
        mappings.customFields(recordType: recordType).compactMap { mapping in
            let value: Any?
            if mapping.billingKey.hasPrefix("metadata.") {
                let key = String(mapping.billingKey.dropFirst("metadata.".count))
                let entries = document["metadata"] as? [[String: Any]] ?? []
                value = entries.first { ($0["key"] as? String) == key }?["value"]
            } else {
                var current: Any? = document
                for part in mapping.billingKey.split(separator: ".") {
                    current = (current as? [String: Any])?[String(part)]
                }
                value = current
            }
            switch value {
            case let text as String where !text.isEmpty: return CustomFieldValue(fieldID: mapping.fieldID, value: text)
            case let number as NSNumber: return CustomFieldValue(fieldID: mapping.fieldID, value: number.stringValue)
            default: return nil
            }
        }
    }
}

/// One accounting provider (NetSuite, Zoho Books): turns billing documents into its own
/// records and returns the provider's id of each.
///
/// Every write must be idempotent at the provider (NetSuite: upsert by external id), because a
/// job may run again after a timeout or a crash that happened after the provider wrote.
///
/// Errors: `SyncError` for the provider's answers (sorted into the four classes),
/// `StoreError.invalidMapping` when a line cannot be mapped, `DocumentError` when a document
/// cannot be expressed at the provider (e.g. an id with characters it refuses).
public protocol AccountingProvider: Sendable {
    func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String
    func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String
    func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String
    func upsertCreditMemo(
        _ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget
    ) async throws -> String
    /// A payment applied to every invoice it pays (`payment.applications`); `invoiceRefs`
    /// maps each billing invoice id to the provider's.
    func upsertPayment(
        _ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget
    ) async throws -> String
    /// The refunded part of a credit note (`memo.refundCents` > 0), applied to its credit memo.
    func upsertCustomerRefund(
        _ memo: BillingCreditMemo, customerRef: String, creditMemoRef: String, target: SyncTarget
    ) async throws -> String
    /// Makes sure the provider's customer may take transactions in `currency` (adds it to
    /// the customer's currencies); nil when the provider has nothing to do.
    func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String?
    /// Voids the provider's invoice of `invoice` (already pushed); returns its id.
    func voidInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String
    /// Voids the provider's credit memo of `memo` (already pushed); returns its id.
    func voidCreditMemo(
        _ memo: BillingCreditMemo, customerRef: String, invoiceRef: String, target: SyncTarget
    ) async throws -> String
}
