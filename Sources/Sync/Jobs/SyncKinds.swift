import Foundation
import Postgres

/// What one sync job kind means, in one place: the envelope key of its document, the object
/// type it writes, where the billing customer id is in its document, the invoice whose ref
/// knows the customer when the document names none, and what must be at the provider before
/// it writes. The handlers, the HTTP API's and the CLI's validation, `sync render` and the
/// job views read it from here; the SQL key derivation and dependency functions read the
/// same from `ledgersync.sync_kinds` (sql/sync/014_sync_kinds.sql), which `SyncKindTests`
/// holds equal to these values (a kind added on one side only fails it).
///
/// Paths are dotted, in the document after its envelope: `customer.lago_id`, `invoice_ids.0`.
/// Where several are given, the first present wins.
public struct SyncKindDescription: Sendable, Equatable {
    public let kind: SyncJobKind
    /// The keys its document may arrive under (`{"invoice": {...}}`), its own first: the
    /// envelope keys of its document type (`BillingDocument.envelopeKeys`). A bare document
    /// (one with a top-level `lago_id`) is read as it is.
    public let envelopes: [String]
    /// The type of the billing object it writes at the provider (`external_refs.object_type`).
    public let objectType: ExternalRef.ObjectType
    /// Whether it creates that object at the provider (a void does not): a job waiting for
    /// an object of `objectType` waits for a job of this kind.
    public let creates: Bool
    /// Where the billing customer id is in its document.
    public let customerPaths: [String]
    /// Where the invoice it applies to is, whose synced ref knows its customer when the
    /// document names none.
    public let invoicePaths: [String]
    /// What must be at the provider before it writes (the job waits for it).
    public let dependsOn: [ExternalRef.ObjectType]

    /// Its document's own envelope key (`credit_note` for `credit_memo.push`).
    public var envelope: String { envelopes.first ?? objectType.rawValue }

    /// The envelope its document sits under in `args` (a job's args as JSON): the first of
    /// `envelopes` that is a top-level key of an object, nil for a bare document (a
    /// top-level `lago_id`) or args that are not an object. As `ledgersync.sync_document`.
    public func envelope(in args: [String: Any]) -> String? {
        guard args["lago_id"] == nil else { return nil }
        return envelopes.first { args[$0] != nil }
    }
}

extension SyncJobKind {
    /// What the kind means (see `SyncKindDescription`).
    public var definition: SyncKindDescription {
        let customer = ["customer.lago_id", "lago_customer_id"]
        switch self {
        case .customerSync:
            return SyncKindDescription(
                kind: self, envelopes: BillingCustomer.envelopeKeys, objectType: .customer, creates: true,
                customerPaths: ["lago_id"], invoicePaths: [], dependsOn: [])
        case .invoicePush:
            return SyncKindDescription(
                kind: self, envelopes: BillingInvoice.envelopeKeys, objectType: .invoice, creates: true,
                customerPaths: customer, invoicePaths: [], dependsOn: [.customer])
        case .salesOrderPush:
            return SyncKindDescription(
                kind: self, envelopes: BillingSalesOrder.envelopeKeys, objectType: .salesOrder, creates: true,
                customerPaths: customer, invoicePaths: [], dependsOn: [.customer])
        case .creditMemoPush:
            return SyncKindDescription(
                kind: self, envelopes: BillingCreditMemo.envelopeKeys, objectType: .creditMemo, creates: true,
                customerPaths: customer, invoicePaths: ["lago_invoice_id"], dependsOn: [.customer, .invoice])
        case .paymentApply:
            return SyncKindDescription(
                kind: self, envelopes: BillingPayment.envelopeKeys, objectType: .payment, creates: true,
                customerPaths: customer, invoicePaths: ["invoice_ids.0", "invoice_id"], dependsOn: [.customer, .invoice])
        case .invoiceVoid:
            return SyncKindDescription(
                kind: self, envelopes: BillingInvoice.envelopeKeys, objectType: .invoice, creates: false,
                customerPaths: customer, invoicePaths: [], dependsOn: [.customer, .invoice])
        case .creditMemoVoid:
            return SyncKindDescription(
                kind: self, envelopes: BillingCreditMemo.envelopeKeys, objectType: .creditMemo, creates: false,
                customerPaths: customer, invoicePaths: ["lago_invoice_id"], dependsOn: [.customer, .invoice, .creditMemo])
        }
    }

    /// The kind that creates an object of `objectType` at the provider: what a job that
    /// needs that object waits for (as `ledgersync.dependency_creator`).
    public static func creator(of objectType: ExternalRef.ObjectType) -> SyncJobKind? {
        allCases.first { $0.definition.creates && $0.definition.objectType == objectType }
    }

    /// The kinds, comma-separated, in their order (for messages and help).
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

extension SyncKindDescription {
    /// The rows of `ledgersync.sync_kinds`, in their order, as descriptions; a row whose kind
    /// (or object type) Swift does not know is returned as its name in `unknown`. For `SyncKindTests` and
    /// for a deployment that wants to check its database against its binary.
    public static func stored(pool: ConnectionPool) async throws -> (descriptions: [SyncKindDescription], unknown: [String]) {
        let rows = try await pool.query(SyncSQL.syncKinds).rows
        var descriptions: [SyncKindDescription] = []
        var unknown: [String] = []
        func strings(_ row: Row, _ column: String) throws -> [String] {
            try JSONDecoder().decode([String].self, from: Data(try row.decode(column, as: String.self).utf8))
        }
        for row in rows {
            let name: String = try row.decode("kind")
            let dependsOn = try strings(row, "depends_on")
            let dependencies = dependsOn.compactMap(ExternalRef.ObjectType.init(rawValue:))
            guard let kind = SyncJobKind(rawValue: name),
                let objectType = ExternalRef.ObjectType(rawValue: try row.decode("object_type")),
                dependencies.count == dependsOn.count
            else {
                unknown.append(name)
                continue
            }
            descriptions.append(
                SyncKindDescription(
                    kind: kind, envelopes: try strings(row, "envelopes"), objectType: objectType, creates: try row.decode("creates"),
                    customerPaths: try strings(row, "customer_paths"), invoicePaths: try strings(row, "invoice_paths"),
                    dependsOn: dependencies))
        }
        return (descriptions, unknown)
    }
}
