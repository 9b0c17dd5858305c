extension NetSuiteSimulator {
    /// A failure the simulator injects into a write, the way NetSuite or the network fails.
    public enum Fault: String, CaseIterable, Sendable, Codable {
        /// 500 `UNEXPECTED_ERROR` before anything is written.
        case serverError
        /// The write happens, the answer comes after `timeoutDelay`: a client with a shorter
        /// timeout gives up on a write that did happen.
        case timeout
        /// The write happens, then the connection closes without an answer.
        case dropConnection
    }
}

/// Draws the fault (if any) of each write: one draw decides whether it fails, with
/// probability `rate`, a second picks the kind uniformly among the enabled ones.
struct FaultPlan: Sendable {
    var rate: Double
    let kinds: [NetSuiteSimulator.Fault]
    private var random: SplitMix64

    init(rate: Double, kinds: Set<NetSuiteSimulator.Fault>, seed: UInt64) {
        self.rate = rate
        // In declaration order, so a seed means the same thing whatever the set's hashing.
        self.kinds = NetSuiteSimulator.Fault.allCases.filter(kinds.contains)
        self.random = SplitMix64(seed: seed)
    }

    mutating func draw() -> NetSuiteSimulator.Fault? {
        guard random.nextUnit() < rate, !kinds.isEmpty else { return nil }
        return kinds[Int(random.next() % UInt64(kinds.count))]
    }
}
