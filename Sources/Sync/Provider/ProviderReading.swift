import ExactJSON
import Foundation

// What a provider reads back (issue 15): the changes made at the provider since a cursor, the
// records as the provider holds them now (for reconciliation), and its reference data (for
// mappings). Each is an optional capability, like `RecordLookup`: a provider that cannot do
// one simply does not conform, and the feature says so by name.

// MARK: - Changes made at the provider

/// One record the provider created or changed, as a change poll reads it.
public struct ProviderChange: Sendable, Equatable {
    public let objectType: ExternalRef.ObjectType
    /// The provider's id of the record (NetSuite's internal id, Zoho's `invoice_id`).
    public let providerID: String
    /// The record's external id (NetSuite `externalId`, Zoho's unique custom field): the
    /// billing id when Ledgersync wrote the record, something else (or nil) when a person did.
    public let externalID: String?
    /// When the provider last changed the record, by its own clock. Polls order and resume by
    /// (`modifiedAt`, `providerID`).
    public let modifiedAt: Date
    /// When the provider created it, when it says (a change with `createdAt == modifiedAt`
    /// is a creation).
    public let createdAt: Date?
    /// The document number or the customer's name, for people.
    public let number: String?
    /// A payment's or document's amount as the provider wrote it (decimal text, never a
    /// floating point number) and its ISO currency code, when it has them.
    public let amount: String?
    public let currency: String?
    /// For a payment: the invoices it is applied to.
    public let applications: [ProviderPaymentApplication]
    /// The record as the provider answered (bounded by the provider: body fields, no
    /// sublists), passed on in the change event.
    public let record: ExactJSON?

    public init(
        objectType: ExternalRef.ObjectType, providerID: String, externalID: String?, modifiedAt: Date, createdAt: Date? = nil,
        number: String? = nil, amount: String? = nil, currency: String? = nil, applications: [ProviderPaymentApplication] = [],
        record: ExactJSON? = nil
    ) {
        self.objectType = objectType
        self.providerID = providerID
        self.externalID = externalID
        self.modifiedAt = modifiedAt
        self.createdAt = createdAt
        self.number = number
        self.amount = amount
        self.currency = currency
        self.applications = applications
        self.record = record
    }
}

/// One invoice a payment read back is applied to.
public struct ProviderPaymentApplication: Sendable, Equatable {
    public let providerInvoiceID: String
    /// Decimal text as the provider wrote it; nil when it does not say.
    public let amount: String?

    public init(providerInvoiceID: String, amount: String?) {
        self.providerInvoiceID = providerInvoiceID
        self.amount = amount
    }
}

/// One page of changes, oldest first by (`modifiedAt`, `providerID`).
public struct ProviderChangePage: Sendable, Equatable {
    public let changes: [ProviderChange]
    /// Where the next page of the same poll starts (an offset, a page number, a link: opaque
    /// to the caller); nil on the last page.
    public let next: String?

    public init(changes: [ProviderChange], next: String?) {
        self.changes = changes
        self.next = next
    }
}

/// A provider that lists the records of a type changed since a time: what the change polls
/// (`invoice.paid_in_provider`, the change events) read.
public protocol ChangeReading: AccountingProvider {
    /// The records of `objectType` the provider changed at or after `since` (inclusive, by its
    /// own clock), oldest first; `page` nil for the first page, then the previous page's
    /// `next`. The caller keeps its cursor and drops what it has already seen, so a provider
    /// whose times are coarse (whole seconds, whole minutes) may return a record again.
    func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?) async throws -> ProviderChangePage
}

// MARK: - Records as the provider holds them (reconciliation)

/// A provider record reduced to what reconciliation compares, in integer minor units of the
/// record's currency. Nil fields are not compared (a customer has no total).
public struct RecordSnapshot: Sendable, Equatable {
    public enum Status: String, Sendable, Equatable, Codable {
        /// Something is still due.
        case open
        /// Nothing is due.
        case paid
        case void
    }

    public struct Line: Sendable, Equatable {
        /// The provider's item id on the line, when it has one.
        public let itemID: String?
        /// The line's amount as the provider counts it (before or after tax, as the provider
        /// writes lines: the same on both sides of a comparison).
        public let amountCents: Int64

        public init(itemID: String?, amountCents: Int64) {
            self.itemID = itemID
            self.amountCents = amountCents
        }
    }

    public let objectType: ExternalRef.ObjectType
    public let providerID: String?
    public let externalID: String?
    /// The provider's id of the record's customer.
    public let customerProviderID: String?
    /// A customer's name (what `customer.sync` writes), nil for documents.
    public let name: String?
    public let currency: String?
    public let totalCents: Int64?
    public let taxCents: Int64?
    public let lines: [Line]?
    /// What was applied: a credit memo to its invoice, a payment to its invoices.
    public let appliedCents: Int64?
    /// What is still due on an invoice (or left on a credit memo).
    public let amountDueCents: Int64?
    public let status: Status?

    public init(
        objectType: ExternalRef.ObjectType, providerID: String?, externalID: String?, customerProviderID: String? = nil,
        name: String? = nil, currency: String? = nil, totalCents: Int64? = nil, taxCents: Int64? = nil, lines: [Line]? = nil,
        appliedCents: Int64? = nil, amountDueCents: Int64? = nil, status: Status? = nil
    ) {
        self.objectType = objectType
        self.providerID = providerID
        self.externalID = externalID
        self.customerProviderID = customerProviderID
        self.name = name
        self.currency = currency
        self.totalCents = totalCents
        self.taxCents = taxCents
        self.lines = lines
        self.appliedCents = appliedCents
        self.amountDueCents = amountDueCents
        self.status = status
    }
}

/// A billing document of any synced type, as reconciliation passes it to a provider.
public enum SyncedDocument: Sendable {
    case customer(BillingCustomer)
    case invoice(BillingInvoice)
    case salesOrder(BillingSalesOrder)
    case creditMemo(BillingCreditMemo)
    case payment(BillingPayment)

    public var objectType: ExternalRef.ObjectType {
        switch self {
        case .customer: .customer
        case .invoice: .invoice
        case .salesOrder: .salesOrder
        case .creditMemo: .creditMemo
        case .payment: .payment
        }
    }
}

/// A page of the records at the provider that carry an external id (any: the caller keeps
/// those that are billing ids of this connection's kind).
public struct ExternalIDPage: Sendable, Equatable {
    public let records: [(providerID: String, externalID: String)]
    public let next: String?

    public init(records: [(providerID: String, externalID: String)], next: String?) {
        self.records = records
        self.next = next
    }

    public static func == (lhs: ExternalIDPage, rhs: ExternalIDPage) -> Bool {
        lhs.next == rhs.next
            && lhs.records.map { "\($0.providerID)/\($0.externalID)" } == rhs.records.map { "\($0.providerID)/\($0.externalID)" }
    }
}

/// A provider whose records can be read back and compared with their billing documents
/// (`ledgersync reconcile`).
public protocol RecordReconciling: AccountingProvider {
    /// The record as the provider holds it now; nil when it does not exist (any more).
    func snapshot(of objectType: ExternalRef.ObjectType, providerID: String) async throws -> RecordSnapshot?
    /// What the provider's record of `document` should be, built by the same payload code
    /// the sync writes with, so lines, totals and taxes compare exactly whatever the
    /// provider's line shape. References (customer, applied invoices) and what depends on
    /// other documents (amount due, status) are left nil: reconciliation fills them from
    /// the refs and the other documents.
    func expectedSnapshot(of document: SyncedDocument, target: SyncTarget) throws -> RecordSnapshot
    /// The records of `objectType` at the provider that carry an external id, page by page.
    func recordsWithExternalIDs(of objectType: ExternalRef.ObjectType, page: String?) async throws -> ExternalIDPage
}

// MARK: - Reference data (mappings)

/// The reference data a mapping points at.
public enum ReferenceDataKind: String, Sendable, CaseIterable, Codable {
    case items, taxes, accounts, subsidiaries, currencies, locations
}

/// One item, tax code, account… at the provider.
public struct ReferenceRecord: Sendable, Equatable, Codable {
    /// The provider's id: what a mapping's `provider_id` takes.
    public let id: String
    public let name: String
    /// The record's code or number when it has one besides its name (an item's SKU, an
    /// account number, a currency's ISO code, a tax code).
    public let code: String?
    /// Whether the provider marks it inactive.
    public let inactive: Bool

    public init(id: String, name: String, code: String? = nil, inactive: Bool = false) {
        self.id = id
        self.name = name
        self.code = code
        self.inactive = inactive
    }
}

/// A provider that lists its reference data (`ledgersync provider list …`, `mappings suggest`).
public protocol ReferenceDataReading: AccountingProvider {
    /// Every record of `kind`; a kind the provider does not have (Zoho Books has no
    /// subsidiaries) throws a permanent `SyncError` saying so.
    func referenceData(_ kind: ReferenceDataKind) async throws -> [ReferenceRecord]
}

extension ReferenceDataReading {
    /// Every record of `kind`, read again after a transient failure or a rate limit, up to
    /// `attempts` reads in all (`SyncError.retryingTransient`): the CLI and the API list
    /// reference data for a person waiting, not as a job with its own backoff.
    public func referenceData(_ kind: ReferenceDataKind, attempts: Int) async throws -> [ReferenceRecord] {
        try await SyncError.retryingTransient(attempts: attempts) { try await referenceData(kind) }
    }
}
