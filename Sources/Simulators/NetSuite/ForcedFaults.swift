extension NetSuiteSimulator {
    /// A failure forced on one particular write (`failNextWrites`), for tests that need it
    /// there and nowhere else (the provider conformance suite).
    public enum ForcedFault: Sendable, Equatable {
        /// One of the seeded faults (`Fault`), counted in `stats.faultsInjected` like them.
        case fault(Fault)
        /// 429 `CONCURRENCY_LIMIT_EXCEEDED` before anything is written, as when the account's
        /// other integrations hold its slots. Oracle, "Concurrency Governance and Session
        /// Management" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_1559222360.html):
        /// "Concurrency for REST web services is governed by an account limit, where each
        /// request counts toward the account limit. The account governance limit applies to
        /// the combined total of web services and RESTlet requests" — so a request can be
        /// refused while this client has fewer requests in flight than the limit (PROVIDERS
        /// 2.5). The answer is the one the simulator gives over its own limit; Oracle's
        /// "Errors Related to Concurrency Violations"
        /// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/bridgehead_1525252812.html)
        /// lists the RESTlet and SOAP answers only, so the REST status 429 and its body are
        /// not confirmed by an Oracle page (PROVIDERS 2.2 marks the body unverified). No Oracle
        /// page was found that documents a Retry-After on it, so none is sent. Not a seeded
        /// `Fault`: the demo's and the benchmark's fault mix stays as it was.
        case accountConcurrencyLimit

        var fault: Fault? {
            if case .fault(let fault) = self { return fault }
            return nil
        }
    }

    /// Makes the next write requests (PUT and PATCH on records) fail with `faults`, in order,
    /// one each, ahead of the seeded draws (which resume after them). `reset()` forgets those
    /// not yet used.
    public func failNextWrites(_ faults: [ForcedFault]) {
        state.withLock { $0.forcedFaults.append(contentsOf: faults) }
    }

    /// Forgets the forced faults not yet used.
    public func clearForcedFaults() {
        state.withLock { $0.forcedFaults.removeAll() }
    }
}
