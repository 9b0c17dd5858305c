import Foundation
import Sync

/// The checks every `AccountingProvider` must pass, run through a `ConformanceHarness` the
/// provider's test implements (docs/providers.md, "The conformance suite"):
///
/// - **idempotency** under each fault of `ConformanceFault.idempotencyFaults`, for every
///   object type: a write fails that way, the same call again leaves exactly one record, with
///   the same provider id, holding the latest document;
/// - **error classes**: a refused document is `permanent` with the provider's message, a 5xx,
///   a lost answer and a dropped connection are `transient` (a lost answer saying how long the
///   provider may still run the request, `providerMayStillRunFor`), a rate limit is `rate_limited`
///   with the provider's retry hint, refused credentials are `permanent` (SyncError: "the
///   provider rejected … our credentials: retrying will not help");
/// - **token expiry**: a write after the provider stopped taking the tokens it issued succeeds
///   by itself (skipped, with the reason, for a provider whose tokens do not expire);
/// - **existing provider id**: given `SyncTarget.existingProviderID` of a record it wrote, the
///   provider updates that record and creates no other.
///
/// Failures are returned, not asserted, so any test framework can use it:
///
/// ```swift
/// let report = await ProviderConformance.run(MyHarness())
/// #expect(report.failures.isEmpty, "\(report)")
/// ```
public enum ProviderConformance {
    /// Object types the idempotency and existing-id checks cover.
    public static let objectTypes: [ExternalRef.ObjectType] = [.customer, .invoice, .salesOrder, .creditMemo, .payment]

    /// Runs every check (or those whose name starts with one of `only`), one at a time.
    /// `prefix` starts every billing id, so two runs against one provider do not meet.
    public static func run(_ harness: some ConformanceHarness, prefix: String = "cf", only: [String]? = nil) async -> ConformanceReport {
        var results: [ConformanceResult] = []
        func wanted(_ name: String) -> Bool { only.map { $0.contains { name.hasPrefix($0) } } ?? true }
        func record(_ name: String, _ body: () async throws -> ConformanceResult.Outcome) async {
            guard wanted(name) else { return }
            let outcome: ConformanceResult.Outcome
            do { outcome = try await body() } catch { outcome = .failed("the check stopped on an error: \(describe(error))") }
            results.append(ConformanceResult(check: name, outcome: outcome))
        }
        let ids = { (name: String) in "\(prefix)-\(name.replacingOccurrences(of: ".", with: "-").replacingOccurrences(of: "_", with: "-"))"
        }

        for fault in ConformanceFault.idempotencyFaults {
            for type in objectTypes {
                let name = "idempotency.\(fault).\(type.rawValue)"
                await record(name) { try await idempotency(harness, fault: fault, type: type, id: ids(name)) }
            }
        }
        await record("errors.refused_document") { try await refused(harness, id: ids("errors.refused")) }
        for (fault, name) in [
            (ConformanceFault.serverErrorBeforeWrite, "errors.server_error"), (.answerLost, "errors.answer_lost"),
            (.connectionDropped, "errors.connection_dropped"),
        ] {
            await record(name) { try await transient(harness, fault: fault, id: ids(name)) }
        }
        await record("errors.rate_limited") { try await rateLimited(harness, id: ids("errors.rate")) }
        await record("errors.rejected_credentials") { try await rejectedCredentials(harness, id: ids("errors.auth")) }
        await record("tokens.expiry") { try await tokenExpiry(harness, id: ids("tokens.expiry")) }
        for type in objectTypes {
            let name = "existing_id.\(type.rawValue)"
            await record(name) { try await existingID(harness, type: type, id: ids(name)) }
        }
        return ConformanceReport(results: results)
    }

    // MARK: - Writes

    /// Makes one write from the provider ids written before it, by role ("customer", "invoice").
    typealias MakeWrite = @Sendable ([String: String]) throws -> ProviderWrite
    /// Makes a version (1 or 2) of the checked write.
    typealias MakeVersion = @Sendable (Int, [String: String]) throws -> ProviderWrite

    /// The plan for `type`, every id under `id`. Refs are read from the prerequisites' ids:
    /// "customer" and "invoice".
    static func plan(_ type: ExternalRef.ObjectType, id: String) throws -> (prerequisites: [(String, MakeWrite)], make: MakeVersion) {
        let customerID = "\(id)-cus"
        let invoiceID = "\(id)-inv"
        let customer: (String, MakeWrite) = ("customer", { _ in .customer(try ConformanceDocuments.customer(customerID)) })
        let invoice: (String, MakeWrite) = (
            "invoice",
            { refs in
                .invoice(try ConformanceDocuments.invoice(invoiceID, customerID: customerID), customerRef: refs["customer"] ?? "")
            }
        )
        switch type {
        case .customer:
            return ([], { version, _ in .customer(try ConformanceDocuments.customer(customerID, version: version)) })
        case .invoice:
            return (
                [customer],
                { version, refs in
                    .invoice(
                        try ConformanceDocuments.invoice(invoiceID, customerID: customerID, version: version),
                        customerRef: refs["customer"] ?? "")
                }
            )
        case .salesOrder:
            return (
                [customer],
                { version, refs in
                    .salesOrder(
                        try ConformanceDocuments.salesOrder("\(id)-so", customerID: customerID, version: version),
                        customerRef: refs["customer"] ?? "")
                }
            )
        case .creditMemo:
            return (
                [customer, invoice],
                { version, refs in
                    .creditMemo(
                        try ConformanceDocuments.creditNote("\(id)-cn", invoiceID: invoiceID, version: version),
                        customerRef: refs["customer"] ?? "", invoiceRef: refs["invoice"] ?? "")
                }
            )
        case .payment:
            return (
                [customer, invoice],
                { version, refs in
                    .payment(
                        try ConformanceDocuments.payment("\(id)-pay", invoiceID: invoiceID, version: version),
                        customerRef: refs["customer"] ?? "", invoiceRefs: [invoiceID: refs["invoice"] ?? ""])
                }
            )
        }
    }

    /// Writes the prerequisites cleanly and returns their provider ids by role.
    static func prerequisites(
        _ list: [(String, MakeWrite)], provider: any AccountingProvider, target: SyncTarget
    ) async throws -> [String: String] {
        var refs: [String: String] = [:]
        for (role, make) in list {
            let write = try make(refs)
            do {
                refs[role] = try await write.send(to: provider, target: target)
            } catch {
                throw ConformanceStop("writing the \(role) \(write.billingID) the check needs failed: \(describe(error))")
            }
        }
        return refs
    }

    // MARK: - Checks

    static func idempotency(_ harness: some ConformanceHarness, fault: ConformanceFault, type: ExternalRef.ObjectType, id: String)
        async throws -> ConformanceResult.Outcome
    {
        let provider = try await harness.provider()
        let target = harness.target()
        let (prerequisiteList, make) = try plan(type, id: id)
        let refs = try await prerequisites(prerequisiteList, provider: provider, target: target)
        let first = try make(1, refs)
        let latest = try make(2, refs)

        var problems: [String] = []
        let firstID: String
        do {
            firstID = try await first.send(to: provider, target: target)
        } catch {
            return .failed("the first, clean write of \(first.billingID) failed: \(describe(error))")
        }
        try await harness.inject(fault)
        do {
            _ = try await latest.send(to: provider, target: target)
            // A provider may retry by itself; then the call's success is fine.
        } catch let error as SyncError {
            if error.errorClass == .permanent {
                problems.append("the write under \(fault) failed as permanent (a job would not retry it): \(error)")
            }
        } catch {
            problems.append("the write under \(fault) threw \(describe(error)), not a SyncError")
        }
        let retriedID: String
        do {
            retriedID = try await latest.send(to: provider, target: target)
        } catch {
            return .failed((problems + ["the same call again failed: \(describe(error))"]).joined(separator: "; "))
        }
        if retriedID != firstID {
            problems.append("the retry answered provider id \(retriedID), the record written before is \(firstID)")
        }
        problems += try await oneRecord(harness, write: latest, expectedID: firstID, target: target)
        return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
    }

    /// Exactly one record for the write's billing id, with `expectedID`, equal to the write.
    static func oneRecord(_ harness: some ConformanceHarness, write: ProviderWrite, expectedID: String, target: SyncTarget) async throws
        -> [String]
    {
        let held = try await harness.records(of: write.objectType)
        let matching = held.filter { $0.billingID == write.billingID || $0.providerID == expectedID }
        guard matching.count == 1, let record = matching.first else {
            return [
                "the provider holds \(matching.count) \(write.objectType.rawValue) records for \(write.billingID) (ids \(matching.map(\.providerID).sorted().joined(separator: ", "))), expected exactly one"
            ]
        }
        var problems: [String] = []
        if record.providerID != expectedID {
            problems.append("the record of \(write.billingID) has id \(record.providerID), expected \(expectedID)")
        }
        let differences = try await harness.differences(record, from: write, target: target)
        if !differences.isEmpty {
            problems.append("the record does not hold the latest document: " + differences.joined(separator: "; "))
        }
        return problems
    }

    static func refused(_ harness: some ConformanceHarness, id: String) async throws -> ConformanceResult.Outcome {
        let provider = try await harness.provider()
        let target = harness.target()
        let customerRef =
            try await prerequisites(
                [("customer", { _ in .customer(try ConformanceDocuments.customer("\(id)-cus")) })], provider: provider, target: target)[
                "customer"] ?? ""
        let refusal = try await harness.refusal(billingID: "\(id)-bad", customerRef: customerRef)
        do {
            let answered = try await refusal.write.send(to: provider, target: refusal.target)
            return .failed("the provider accepted a document it refuses (answered id \(answered))")
        } catch let error as SyncError {
            var problems: [String] = []
            if error.errorClass != .permanent {
                problems.append("a refused document failed as \(error.errorClass.rawValue), expected permanent: \(error)")
            }
            if !error.message.contains(refusal.providerMessage) {
                problems.append("the error does not carry the provider's message \"\(refusal.providerMessage)\": \(error)")
            }
            let held = try await harness.records(of: refusal.write.objectType).filter { $0.billingID == refusal.write.billingID }
            if !held.isEmpty { problems.append("a refused document left \(held.count) record(s) at the provider") }
            return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
        } catch let error as DocumentError {
            return .failed("the provider refused the document before sending it (\(error)); the refusal must come from the provider")
        } catch {
            return .failed("a refused document threw \(describe(error)), not a SyncError")
        }
    }

    static func transient(_ harness: some ConformanceHarness, fault: ConformanceFault, id: String) async throws -> ConformanceResult.Outcome
    {
        let provider = try await harness.provider()
        let write = ProviderWrite.customer(try ConformanceDocuments.customer("\(id)-cus"))
        try await harness.inject(fault)
        do {
            _ = try await write.send(to: provider, target: harness.target())
            return .failed("the write under \(fault) succeeded; the fault must reach the caller as an error (was it injected?)")
        } catch let error as SyncError {
            guard error.errorClass == .transient else {
                return .failed("\(fault) failed as \(error.errorClass.rawValue), expected transient: \(error)")
            }
            // Limit handling: the provider may still be working on a request whose answer the
            // client stopped waiting for, so the job keeps its concurrency slot that long.
            if fault == .answerLost && error.providerMayStillRunFor == nil {
                return .failed(
                    "a lost answer does not say how long the provider may still run the request (SyncError.providerMayStillRunFor): \(error)"
                )
            }
            return .passed
        } catch {
            return .failed("\(fault) threw \(describe(error)), not a SyncError")
        }
    }

    static func rateLimited(_ harness: some ConformanceHarness, id: String) async throws -> ConformanceResult.Outcome {
        let provider = try await harness.provider()
        let target = harness.target()
        let write = ProviderWrite.customer(try ConformanceDocuments.customer("\(id)-cus"))
        try await harness.inject(.rateLimited)
        do {
            _ = try await write.send(to: provider, target: target)
            return .failed("the write under a rate limit succeeded; the limit must reach the caller (was it injected?)")
        } catch let error as SyncError {
            var problems: [String] = []
            if error.errorClass != .rateLimited {
                problems.append("a rate limit failed as \(error.errorClass.rawValue), expected rate_limited: \(error)")
            }
            if error.retryAfter != harness.rateLimitRetryHint {
                problems.append(
                    "retry hint \(error.retryAfter.map { "\($0)" } ?? "none"), the provider sent \(harness.rateLimitRetryHint.map { "\($0)" } ?? "none")"
                )
            }
            // Nothing was written: the next write creates the record, once.
            let written = try await write.send(to: provider, target: target)
            problems += try await oneRecord(harness, write: write, expectedID: written, target: target)
            return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
        } catch {
            return .failed("a rate limit threw \(describe(error)), not a SyncError")
        }
    }

    static func rejectedCredentials(_ harness: some ConformanceHarness, id: String) async throws -> ConformanceResult.Outcome {
        guard let provider = try await harness.providerWithRejectedCredentials() else {
            return .skipped("the harness cannot make a provider with refused credentials")
        }
        do {
            _ = try await ProviderWrite.customer(try ConformanceDocuments.customer("\(id)-cus")).send(
                to: provider, target: harness.target())
            return .failed("a provider with refused credentials wrote a record")
        } catch let error as SyncError {
            return error.errorClass == .permanent
                ? .passed
                : .failed(
                    "refused credentials failed as \(error.errorClass.rawValue), expected permanent (SyncError: retrying will not help): \(error)"
                )
        } catch {
            return .failed("refused credentials threw \(describe(error)), not a SyncError")
        }
    }

    static func tokenExpiry(_ harness: some ConformanceHarness, id: String) async throws -> ConformanceResult.Outcome {
        if case .never(let reason) = harness.tokenExpiry { return .skipped(reason) }
        let provider = try await harness.provider()
        let target = harness.target()
        let customerID = "\(id)-cus"
        let first = try await ProviderWrite.customer(try ConformanceDocuments.customer(customerID)).send(to: provider, target: target)
        try await harness.inject(.tokenExpired)
        let latest = ProviderWrite.customer(try ConformanceDocuments.customer(customerID, version: 2))
        do {
            let again = try await latest.send(to: provider, target: target)
            var problems = try await oneRecord(harness, write: latest, expectedID: first, target: target)
            if again != first { problems.append("the write after expiry answered id \(again), expected \(first)") }
            return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
        } catch {
            return .failed("the first write after the tokens expired failed (a job would fail or retry): \(describe(error))")
        }
    }

    static func existingID(_ harness: some ConformanceHarness, type: ExternalRef.ObjectType, id: String) async throws
        -> ConformanceResult.Outcome
    {
        let provider = try await harness.provider()
        var target = harness.target()
        let (prerequisiteList, make) = try plan(type, id: id)
        let refs = try await prerequisites(prerequisiteList, provider: provider, target: target)
        let first = try make(1, refs)
        let written = try await first.send(to: provider, target: target)
        target.existingProviderID = written
        let latest = try make(2, refs)
        let updated: String
        do {
            updated = try await latest.send(to: provider, target: target)
        } catch {
            return .failed("the write with existingProviderID \(written) failed: \(describe(error))")
        }
        var problems: [String] = []
        if updated != written { problems.append("the write with existingProviderID \(written) answered \(updated)") }
        problems += try await oneRecord(harness, write: latest, expectedID: written, target: target)
        return problems.isEmpty ? .passed : .failed(problems.joined(separator: "; "))
    }

    static func describe(_ error: any Error) -> String {
        "\(type(of: error)): \(error)"
    }
}

/// A check could not get to what it checks (a prerequisite write failed).
struct ConformanceStop: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The outcome of one check.
public struct ConformanceResult: Sendable, CustomStringConvertible {
    public enum Outcome: Sendable, Equatable {
        case passed
        case failed(String)
        case skipped(String)
    }

    /// `idempotency.answer_lost.invoice`, `errors.rate_limited`, `tokens.expiry`…
    public let check: String
    public let outcome: Outcome

    public var description: String {
        switch outcome {
        case .passed: "PASS \(check)"
        case .failed(let why): "FAIL \(check): \(why)"
        case .skipped(let why): "SKIP \(check): \(why)"
        }
    }
}

/// Every check's outcome, in the order they ran.
public struct ConformanceReport: Sendable, CustomStringConvertible {
    public let results: [ConformanceResult]

    public var failures: [ConformanceResult] { results.filter { if case .failed = $0.outcome { true } else { false } } }
    public var skipped: [ConformanceResult] { results.filter { if case .skipped = $0.outcome { true } else { false } } }
    public var passed: [ConformanceResult] { results.filter { $0.outcome == .passed } }

    /// The outcome of the check named `check`, nil when it did not run.
    public func outcome(_ check: String) -> ConformanceResult.Outcome? {
        results.first { $0.check == check }?.outcome
    }

    public var description: String {
        // Not "N passed, N failed": a test runner's closing line reads that way.
        "conformance checks: \(passed.count) pass, \(failures.count) fail, \(skipped.count) skip\n"
            + results.map(\.description).joined(separator: "\n")
    }
}
