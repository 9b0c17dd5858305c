import ExactJSON
import Foundation
import Sync

// The fake provider reads its changes back (`ChangeReading`), and a test plays the person at
// the provider: records entered and edited by hand, which Ledgersync did not write.

extension FakeLedger {
    /// What a person typed into a record entered by hand.
    public struct HandEntry: Sendable, Equatable {
        /// A customer's name, a document's number.
        public var number: String?
        /// Decimal text, as a provider writes amounts.
        public var amount: String?
        public var currency: String?
        /// A payment's invoices (provider ids) and the amount applied to each.
        public var applications: [ProviderPaymentApplication]

        public init(number: String? = nil, amount: String? = nil, currency: String? = nil, applications: [ProviderPaymentApplication] = [])
        {
            self.number = number
            self.amount = amount
            self.currency = currency
            self.applications = applications
        }
    }

    /// How many changes one page of `changes(of:since:page:)` holds.
    public static let changePageSize = 25

    /// A person creates a record of `type` at the provider (no Ledgersync job involved);
    /// `externalID` is what they type in the external id field (usually nothing). Returns
    /// its provider id.
    @discardableResult
    public func enterByHand(_ type: ExternalRef.ObjectType, _ entry: HandEntry, externalID: String? = nil, now: Date = Date()) -> String {
        state.withLock { state in
            state.nextID += 1
            var record = Record(providerID: "\(state.nextID)", recordType: type.rawValue, billingID: externalID ?? "", content: nil)
            record.createdAt = now
            record.modifiedAt = now
            record.byHand = entry
            state.records.append(record)
            return record.providerID
        }
    }

    /// A person edits record `providerID` (any record, also one Ledgersync wrote): its
    /// modification time moves to `now`; `change` edits what they typed.
    public func editByHand(providerID: String, now: Date = Date(), _ change: (inout HandEntry) -> Void = { _ in }) {
        state.withLock { state in
            guard let index = state.records.firstIndex(where: { $0.providerID == providerID }) else { return }
            var entry = state.records[index].byHand ?? HandEntry()
            change(&entry)
            if state.records[index].byHand != nil || entry != HandEntry() { state.records[index].byHand = entry }
            state.records[index].modifiedAt = now
            state.records[index].writeCount += 1
        }
    }

    /// The records of `type` changed at or after `since`, oldest first by (modification time,
    /// id), `changePageSize` a page; `page` is the offset of the page.
    func changes(of type: ExternalRef.ObjectType, since: Date, page: String?) throws(Failure) -> ProviderChangePage {
        let offset = Int(page ?? "0") ?? 0
        return try state.withLock { state throws(Failure) -> ProviderChangePage in
            state.stats.requests += 1
            if !state.faults.isEmpty, case .rateLimited(let retryAfter) = state.faults[0] {
                state.faults.removeFirst()
                state.stats.faultsInjected += 1
                throw .status(429, "Too many requests (fake): the account's request limit is reached", retryAfter: retryAfter)
            }
            let changed = state.records.filter { $0.recordType == type.rawValue && $0.modifiedAt >= since }
                .sorted { ($0.modifiedAt, Int($0.providerID) ?? 0) < ($1.modifiedAt, Int($1.providerID) ?? 0) }
            let slice = changed.dropFirst(offset).prefix(Self.changePageSize)
            let next = offset + slice.count < changed.count ? String(offset + slice.count) : nil
            return ProviderChangePage(changes: slice.map(Self.change), next: next)
        }
    }

    static func change(_ record: Record) -> ProviderChange {
        let type = ExternalRef.ObjectType(rawValue: record.recordType) ?? .invoice
        var number: String?
        var amount: String?
        var currency: String?
        var applications: [ProviderPaymentApplication] = []
        switch record.content {
        case .customer(let customer)?: number = customer.name
        case .invoice(let invoice, _)?:
            number = invoice.number
            amount = Money(amountCents: invoice.totalAmountCents, currency: invoice.currency).decimalString
            currency = invoice.currency.code
        case .salesOrder(let order, _)?:
            number = order.invoice.number
            currency = order.invoice.currency.code
        case .creditMemo(let memo, _, _)?:
            number = memo.number
            amount = Money(amountCents: memo.totalAmountCents, currency: memo.currency).decimalString
            currency = memo.currency.code
        case .payment(let payment, _, let invoiceRefs)?:
            amount = payment.amount.decimalString
            currency = payment.currency.code
            applications = payment.applications.compactMap { application in
                invoiceRefs[application.invoiceID].map {
                    ProviderPaymentApplication(
                        providerInvoiceID: $0,
                        amount: Money(amountCents: application.amountCents, currency: payment.currency).decimalString)
                }
            }
        case nil: break
        }
        if let entry = record.byHand {
            number = entry.number ?? number
            amount = entry.amount ?? amount
            currency = entry.currency ?? currency
            if !entry.applications.isEmpty { applications = entry.applications }
        }
        var fields: [(key: String, value: ExactJSON)] = [("id", .string(record.providerID))]
        if !record.billingID.isEmpty { fields.append(("external_id", .string(record.billingID))) }
        if let number { fields.append(("number", .string(number))) }
        if let amount { fields.append(("amount", .number(amount))) }
        if record.voided { fields.append(("voided", .bool(true))) }
        return ProviderChange(
            objectType: type, providerID: record.providerID, externalID: record.billingID.isEmpty ? nil : record.billingID,
            modifiedAt: record.modifiedAt, createdAt: record.createdAt, number: number, amount: amount, currency: currency,
            applications: applications, record: .object(fields))
    }
}

extension FakeProvider: ChangeReading {
    public func changes(of objectType: ExternalRef.ObjectType, since: Date, page: String?) async throws -> ProviderChangePage {
        do { return try ledger.changes(of: objectType, since: since, page: page) } catch let failure as FakeLedger.Failure {
            throw Self.classify(failure, flaws: flaws)
        }
    }
}
