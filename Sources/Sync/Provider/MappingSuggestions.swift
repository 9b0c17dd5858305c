import Foundation
import Postgres

// `ledgersync mappings suggest` (docs/mappings.md): the billing codes seen in a connection's
// queued sync documents that have no mapping yet, each matched against the provider's
// reference data by exact code or name. Provider-neutral: the provider only lists its
// reference data (`ReferenceDataReading`) and checks a mapping (`ProviderDriver.validateMapping`).

/// One billing code seen in queued documents: an item code, a tax code or a currency.
public struct BillingCode: Sendable, Equatable, Hashable {
    /// `.item`, `.tax` or `.currency`.
    public let kind: Mapping.Kind
    /// The mapping's billing key: the fee's item code, the tax code, the ISO currency code.
    public let key: String
    /// What the billing platform calls it (the fee item's name, the tax's name), when it says.
    public var names: [String]
    /// The jobs whose documents carry it (the first few), oldest first.
    public var jobIDs: [Int64]
    /// How many jobs carry it.
    public var jobCount: Int

    public init(kind: Mapping.Kind, key: String, names: [String] = [], jobIDs: [Int64] = [], jobCount: Int = 0) {
        self.kind = kind
        self.key = key
        self.names = names
        self.jobIDs = jobIDs
        self.jobCount = jobCount
    }

    /// The reference data a mapping of `kind` points at.
    public static func referenceKind(of kind: Mapping.Kind) -> ReferenceDataKind? {
        switch kind {
        case .item: .items
        case .tax: .taxes
        case .currency: .currencies
        default: nil
        }
    }
}

/// What `mappings suggest` proposes for one billing code.
public struct MappingSuggestion: Sendable, Equatable {
    public enum Outcome: String, Sendable, Codable {
        /// Exactly one provider record matches; written with --apply.
        case proposed
        /// Written (--apply).
        case applied
        /// Two or more records match equally well: listed, never written.
        case ambiguous
        /// No record matches.
        case unmatched
        /// One record matches, but the provider refuses the mapping as it would be written
        /// (NetSuite: a tax mapping needs its SuiteTax nexus and type, or a legacy tax item).
        case incomplete
    }

    public let code: BillingCode
    public var outcome: Outcome
    /// How the match was made: `code` (the record's code is the billing code), `name` (its
    /// name is the billing code) or `billing_name` (its name is the billing item's name).
    public let matchedBy: String?
    /// The matching records: one when proposed, two or more when ambiguous.
    public let candidates: [ReferenceRecord]
    /// The mapping that is (or would be) written.
    public let mapping: Mapping?
    public var message: String?

    public init(
        code: BillingCode, outcome: Outcome, matchedBy: String? = nil, candidates: [ReferenceRecord] = [], mapping: Mapping? = nil,
        message: String? = nil
    ) {
        self.code = code
        self.outcome = outcome
        self.matchedBy = matchedBy
        self.candidates = candidates
        self.mapping = mapping
        self.message = message
    }
}

public enum MappingSuggestions {
    /// The sync kinds whose documents carry codes a mapping maps (voids write no lines).
    public static let kinds: [SyncJobKind] = [.customerSync, .invoicePush, .salesOrderPush, .creditMemoPush, .paymentApply]

    /// The billing codes in the documents of the connection's unfinished sync jobs (waiting,
    /// running, retryable, or failed on a missing mapping), read `pageSize` jobs at a time, at
    /// most `maxJobs`; a document that does not decode is skipped (its job fails on its own).
    /// Sorted by kind (item, tax, currency) and key.
    public static func billingCodes(
        connection: AccountingConnection, pool: ConnectionPool, pageSize: Int = 500, maxJobs: Int = 100_000
    ) async throws -> [BillingCode] {
        guard let id = connection.id else { return [] }
        let limitKey = SyncEnvironment.limitKey(provider: connection.provider, connection: id)
        var codes: [String: BillingCode] = [:]
        var order: [String] = []
        func note(_ kind: Mapping.Kind, _ key: String, name: String?, job: Int64) {
            let key = key.trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { return }
            let id = "\(kind.rawValue)\u{0}\(key)"
            var code = codes[id] ?? BillingCode(kind: kind, key: key)
            if codes[id] == nil { order.append(id) }
            if let name = name?.trimmingCharacters(in: .whitespaces), !name.isEmpty, !code.names.contains(name), code.names.count < 5 {
                code.names.append(name)
            }
            if code.jobIDs.last != job {
                code.jobCount += 1
                if code.jobIDs.count < 5 { code.jobIDs.append(job) }
            }
            codes[id] = code
        }
        func invoice(_ invoice: BillingInvoice, job: Int64) {
            for fee in invoice.fees {
                note(.item, fee.itemCode, name: fee.itemName, job: job)
                for tax in fee.taxes { note(.tax, tax.code, name: tax.name, job: job) }
            }
            for tax in invoice.taxes { note(.tax, tax.code, name: tax.name, job: job) }
            note(.currency, invoice.currency.code, name: nil, job: job)
        }
        var after: Int64 = 0
        var read = 0
        let kinds = kinds.map(\.rawValue)
        while read < maxJobs {
            let limit = min(pageSize, maxJobs - read)
            let rows = try await pool.query(SyncSQL.mappingSuggestionJobs, [limitKey, id.uuidString.lowercased(), kinds, after, limit]).rows
            for row in rows {
                let job: Int64 = try row.decode("id")
                after = job
                let args: String = try row.decode("args")
                switch SyncJobKind(rawValue: try row.decode("kind")) {
                case .customerSync:
                    if let customer = try? DocumentDecoder.decode(BillingCustomer.self, from: args), let currency = customer.currency {
                        note(.currency, currency.code, name: nil, job: job)
                    }
                case .invoicePush:
                    if let document = try? DocumentDecoder.decode(BillingInvoice.self, from: args) { invoice(document, job: job) }
                case .salesOrderPush:
                    if let document = try? DocumentDecoder.decode(BillingSalesOrder.self, from: args) {
                        invoice(document.invoice, job: job)
                    }
                case .creditMemoPush:
                    if let memo = try? DocumentDecoder.decode(BillingCreditMemo.self, from: args) {
                        for item in memo.items {
                            if let fee = item.fee {
                                note(.item, fee.itemCode, name: fee.itemName, job: job)
                                for tax in fee.taxes { note(.tax, tax.code, name: tax.name, job: job) }
                            }
                        }
                        for tax in memo.taxes { note(.tax, tax.code, name: tax.name, job: job) }
                        note(.currency, memo.currency.code, name: nil, job: job)
                    }
                case .paymentApply:
                    if let payment = try? DocumentDecoder.decode(BillingPayment.self, from: args) {
                        note(.currency, payment.currency.code, name: nil, job: job)
                    }
                default:
                    break
                }
            }
            read += rows.count
            if rows.count < limit { break }
        }
        let rank: [Mapping.Kind: Int] = [.item: 0, .tax: 1, .currency: 2]
        return order.compactMap { codes[$0] }.sorted {
            (rank[$0.kind] ?? 9, $0.key) < (rank[$1.kind] ?? 9, $1.key)
        }
    }

    /// The suggestions for the codes that have no mapping of their kind in `existing`: for
    /// each, the active records of the provider whose code equals the billing code exactly,
    /// else whose name does, else whose name equals one of the billing names (case included,
    /// as the sync compares codes). One match is proposed (checked by `validate`, the
    /// driver's `validateMapping`); two or more are ambiguous; none unmatched. An inactive
    /// record is matched only when no active one is.
    public static func suggest(
        codes: [BillingCode], existing: [Mapping], connectionID: UUID, reference: [ReferenceDataKind: [ReferenceRecord]],
        validate: (Mapping) throws -> Void
    ) -> [MappingSuggestion] {
        let mapped = Set(existing.map { "\($0.kind.rawValue)\u{0}\($0.billingKey)" })
        return codes.compactMap { code in
            guard !mapped.contains("\(code.kind.rawValue)\u{0}\(code.key)"), let kind = BillingCode.referenceKind(of: code.kind) else {
                return nil
            }
            let records = reference[kind] ?? []
            var found: (by: String, records: [ReferenceRecord])?
            let tests: [(String, (ReferenceRecord) -> Bool)] = [
                ("code", { $0.code == code.key }),
                ("name", { $0.name == code.key }),
                ("billing_name", { !code.names.isEmpty && code.names.contains($0.name) }),
            ]
            search: for active in [true, false] {
                for (by, test) in tests {
                    let matches = records.filter { $0.inactive != active && test($0) }
                    if !matches.isEmpty {
                        found = (by, matches)
                        break search
                    }
                }
            }
            guard let found else { return MappingSuggestion(code: code, outcome: .unmatched) }
            guard found.records.count == 1, let record = found.records.first else {
                return MappingSuggestion(code: code, outcome: .ambiguous, matchedBy: found.by, candidates: found.records)
            }
            let mapping = Mapping(
                connectionID: connectionID, kind: code.kind, billingKey: code.key, providerID: record.id,
                providerName: record.name.isEmpty ? nil : String(record.name.prefix(200)))
            var suggestion = MappingSuggestion(
                code: code, outcome: .proposed, matchedBy: found.by, candidates: [record], mapping: mapping,
                message: record.inactive ? "the provider marks it inactive" : nil)
            do {
                try mapping.validate()
                try validate(mapping)
            } catch {
                suggestion.outcome = .incomplete
                suggestion.message = "\(error)"
            }
            return suggestion
        }
    }
}
