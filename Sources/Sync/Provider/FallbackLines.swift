/// Which lines of a document land on the connection's `fallback_item` (PROVIDERS.md 1.4):
/// decided here, in Sync, by the same rules as `MappingSet.resolveItem`, so every provider's
/// jobs can warn about them (a `fallback_item` job warning, sync migration 012) without the
/// provider's payload builder reporting anything. The lines walked are the ones the
/// payload builders resolve an item for: an invoice's (or sales order's) non-zero fees
/// (every fee when all are zero), its credits, and its prepaid credit; a credit memo's items
/// and its coupon adjustment.
public struct FallbackLine: Sendable, Equatable {
    /// The billing code looked up (a fee's item code), or the fee category for lines
    /// without one ("coupon", "credit_note", "prepaid_credit").
    public let code: String
    /// What the billing system calls it ("Storage"), nil when it names nothing.
    public let name: String?

    public init(code: String, name: String?) {
        self.code = code
        self.name = name
    }

    /// "storage_gb (Storage)".
    public var description: String {
        guard let name, !name.isEmpty, name != code else { return code }
        return "\(code) (\(name))"
    }
}

extension MappingSet {
    /// Whether a line of `feeKind` with `code` resolves to the fallback item: no one-to-one
    /// item for its code and no default item for its kind, but a fallback item. False when
    /// it resolves to nothing at all (the job then fails as `invalid_mapping`).
    public func usesFallback(feeKind: Mapping.FeeKind, code: String? = nil) -> Bool {
        guard let item = try? resolveItem(feeKind: feeKind, code: code) else { return false }
        return item.kind == .fallbackItem
    }

    /// The connection's fallback item, nil when it has none.
    public var fallbackItem: Mapping? { mapping(.fallbackItem, "") }

    /// The lines of an invoice (or a sales order's invoice) that land on the fallback item,
    /// in document order.
    public func fallbackLines(_ invoice: BillingInvoice) -> [FallbackLine] {
        var lines: [FallbackLine] = []
        let fees = invoice.fees.allSatisfy { $0.amountCents == 0 } ? invoice.fees : invoice.fees.filter { $0.amountCents != 0 }
        for fee in fees where usesFallback(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode) {
            lines.append(FallbackLine(code: fee.itemCode, name: fee.invoiceDisplayName ?? fee.itemName))
        }
        for credit in invoice.credits where credit.amountCents != 0 {
            let kind: Mapping.FeeKind = credit.kind == .coupon ? .coupon : .creditNote
            if usesFallback(feeKind: kind) { lines.append(FallbackLine(code: kind.rawValue, name: credit.itemName)) }
        }
        if invoice.prepaidCreditAmountCents != 0, usesFallback(feeKind: .prepaidCredit) {
            lines.append(FallbackLine(code: Mapping.FeeKind.prepaidCredit.rawValue, name: "Prepaid credits"))
        }
        return lines
    }

    /// The lines of a credit memo that land on the fallback item, in document order.
    public func fallbackLines(_ memo: BillingCreditMemo) -> [FallbackLine] {
        var lines: [FallbackLine] = []
        for item in memo.items where item.amountCents != 0 || memo.items.allSatisfy({ $0.amountCents == 0 }) {
            if let fee = item.fee {
                if usesFallback(feeKind: Mapping.FeeKind(fee.kind), code: fee.itemCode) {
                    lines.append(FallbackLine(code: fee.itemCode, name: fee.invoiceDisplayName ?? fee.itemName))
                }
            } else if usesFallback(feeKind: .creditNote) {
                lines.append(FallbackLine(code: Mapping.FeeKind.creditNote.rawValue, name: "Credit"))
            }
        }
        if memo.couponsAdjustmentAmountCents != 0, usesFallback(feeKind: .coupon) {
            lines.append(FallbackLine(code: Mapping.FeeKind.coupon.rawValue, name: "Coupon adjustment"))
        }
        return lines
    }

    /// The `fallback_item` warning for `lines`: "2 lines on the fallback item 900 (Billing
    /// (fallback)): storage_gb (Storage), api_calls"; nil when there are none. Codes are
    /// listed once each, in order; at most 20, then "and N more".
    public func fallbackWarning(_ lines: [FallbackLine]) -> JobWarning? {
        guard !lines.isEmpty, let item = fallbackItem else { return nil }
        var seen: Set<String> = []
        var distinct: [String] = []
        for line in lines where seen.insert(line.code).inserted { distinct.append(line.description) }
        let shown = distinct.prefix(20).joined(separator: ", ") + (distinct.count > 20 ? ", and \(distinct.count - 20) more" : "")
        let itemText = item.providerID + (item.providerName.map { " (\($0))" } ?? "")
        let noun = lines.count == 1 ? "line" : "lines"
        return JobWarning(
            code: JobWarning.fallbackItem, message: "\(lines.count) \(noun) on the fallback item \(itemText): \(shown)",
            count: lines.count)
    }
}
