/// How long a job waits before its next attempt: exponential in the attempt number,
/// capped, and jittered so that jobs which failed together (a provider outage) do not
/// all come back in the same second.
public struct Backoff: Sendable, Equatable {
    /// The delay after the first failed attempt, in seconds.
    public var base: Double
    /// The longest delay, in seconds.
    public var cap: Double
    /// Each delay is shortened by up to this fraction, at random. Jitter only ever
    /// shortens, so the cap holds and capped retries still spread out.
    public var jitter: Double

    public init(base: Double, cap: Double, jitter: Double = 0.25) {
        precondition(base > 0 && cap >= base && (0...1).contains(jitter), "invalid backoff")
        self.base = base
        self.cap = cap
        self.jitter = jitter
    }

    /// 5 s, 10 s, 20 s, … up to 30 min.
    public static let `default` = Backoff(base: 5, cap: 1800)

    /// The capped delay before jitter, after attempt `attempt` (1-based) failed.
    public func ceiling(afterAttempt attempt: Int) -> Double {
        let exponent = Double(attempt <= 1 ? 0 : min(attempt - 1, 62))
        return min(cap, base * pow2(exponent))
    }

    /// The delay to wait after attempt `attempt` failed.
    public func delay<R: RandomNumberGenerator>(afterAttempt attempt: Int, using random: inout R) -> Double {
        let ceiling = ceiling(afterAttempt: attempt)
        return ceiling * (1 - jitter * Double.random(in: 0..<1, using: &random))
    }

    public func delay(afterAttempt attempt: Int) -> Double {
        var random = SystemRandomNumberGenerator()
        return delay(afterAttempt: attempt, using: &random)
    }

    private func pow2(_ exponent: Double) -> Double {
        var value = 1.0
        for _ in 0..<Int(exponent) {
            value *= 2
            if value * base >= cap { break }
        }
        return value
    }
}
