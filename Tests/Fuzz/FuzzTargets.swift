// libFuzzer targets over the JSON reader (ExactJSON) and the billing document decoder
// (Sources/Sync/Documents). scripts/fuzz.sh compiles this file with those sources into one
// module, with `swiftc -sanitize=fuzzer,address`, and picks the target with
// LEDGERSYNC_FUZZ_TARGET (json | documents). It is not a SwiftPM target: the fuzzer
// instruments every module it builds, and these sources need neither the queue nor libpq.
//
// A target fails (libFuzzer reports a crash and keeps the input) on any trap, sanitizer
// report, or broken property below; it never fails for input that is merely refused.

import Foundation

private enum Target: String {
    case json, documents
}

private let target: Target = {
    let name = ProcessInfo.processInfo.environment["LEDGERSYNC_FUZZ_TARGET"] ?? "json"
    guard let target = Target(rawValue: name) else { fatalError("LEDGERSYNC_FUZZ_TARGET must be json or documents, got \(name)") }
    return target
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ start: UnsafeRawPointer, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    switch target {
    case .json: fuzzJSON(bytes)
    case .documents: fuzzDocuments(bytes)
    }
    return 0
}

/// ExactJSON: never traps; what it reads, it writes back as a text that reads the same
/// (numbers exactly, member order kept); the bounds checks never trap either.
private func fuzzJSON(_ bytes: [UInt8]) {
    for limits in [ExactJSON.Limits.default, ExactJSON.Limits(maxDepth: 3, maxNumberLength: 5, maxStringBytes: 8)] {
        guard let value = try? ExactJSON.parse(bytes, limits: limits) else { continue }
        let written = value.description
        // Escapes lengthen the text, not the strings it holds: the same limits read it.
        guard let again = try? ExactJSON.parse(Array(written.utf8), limits: limits) else {
            fatalError("ExactJSON wrote a text it cannot read back: \(written.prefix(200))")
        }
        guard again == value else { fatalError("ExactJSON round trip changed the value: \(written.prefix(200))") }
        _ = ArgsBounds.check(value, root: "args")
    }
}

/// The billing document decoder: every input is a document of each kind or a DocumentError
/// naming a field; amounts that decode add up with checked arithmetic.
private func fuzzDocuments(_ bytes: [UInt8]) {
    let data = Data(bytes)
    func check<T: BillingDocument>(_ type: T.Type) -> T? {
        do {
            return try DocumentDecoder.decode(type, from: data)
        } catch {
            guard !error.field.isEmpty else { fatalError("a DocumentError without a field: \(error)") }
            return nil
        }
    }
    _ = check(BillingCustomer.self)
    _ = check(BillingPayment.self)
    _ = check(BillingCreditMemo.self)
    _ = check(BillingSalesOrder.self)
    if let invoice = check(BillingInvoice.self) {
        // What the NetSuite payload adds up: tax rows of every fee, and the document's total.
        let amounts = invoice.fees.flatMap { $0.taxes.map { Money(amountCents: $0.amountCents, currency: invoice.currency) } }
        if let sum = try? Money.sum(amounts, currency: invoice.currency) {
            _ = try? Money(amountCents: invoice.taxesAmountCents, currency: invoice.currency).subtracting(sum)
        }
        for credit in invoice.credits { _ = try? Money(amountCents: credit.amountCents, currency: invoice.currency).negated() }
    }
}
