import Foundation

/// How a simulator draws the time each request spends being processed: a test device for
/// benches (the month-end run's skewed NetSuite answers), not a rule of any provider.
public enum LatencyDistribution: Sendable, Equatable {
    /// Uniform over the configured range (`NetSuiteSimulator.Configuration.latency`).
    case uniform
    /// Log-normal with this median and 99th percentile, in milliseconds: mu = ln(median),
    /// sigma = ln(p99 / median) / 2.326 (2.326 is the standard normal's 99th percentile).
    /// Most requests are quick and a few are very slow, as real answers are.
    case logNormal(medianMs: Double, p99Ms: Double)

    /// The standard normal's 99th percentile.
    static let z99 = 2.326_347_874

    /// One draw in milliseconds from `random` (two uniform draws for a log-normal, one for
    /// the range), so a seed gives the same sequence of latencies every run.
    public func draw(range: ClosedRange<Double>, _ random: inout SplitMix64) -> Double {
        switch self {
        case .uniform:
            return range.lowerBound + (range.upperBound - range.lowerBound) * random.nextUnit()
        case .logNormal(let median, let p99):
            guard median > 0, p99 >= median else { return max(0, median) }
            let mu = log(median)
            let sigma = log(p99 / median) / Self.z99
            // Box–Muller; 1 - u keeps the logarithm's argument in (0, 1].
            let u1 = 1 - random.nextUnit()
            let u2 = random.nextUnit()
            let z = (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
            return exp(mu + sigma * z)
        }
    }
}

/// One request a simulator admitted: when its processing started and ended (seconds since
/// 1970), what a bench turns into "requests in flight, second by second".
public struct RequestSpan: Sendable, Equatable {
    public let start: Double
    public let end: Double

    public init(start: Double, end: Double) {
        self.start = start
        self.end = end
    }

    /// The request-seconds of `spans` falling in each whole second from `origin`
    /// (`count` of them): the average number of requests in flight in that second. Their
    /// sum is the spans' total duration when every span lies within the `count` seconds.
    public static func busyPerSecond(_ spans: [RequestSpan], origin: Double, count: Int) -> [Double] {
        var busy = [Double](repeating: 0, count: max(0, count))
        guard count > 0 else { return busy }
        for span in spans {
            let from = max(0, span.start - origin)
            let to = min(Double(count), span.end - origin)
            guard to > from else { continue }
            var second = Int(from)
            while Double(second) < to, second < count {
                let lo = max(from, Double(second))
                let hi = min(to, Double(second + 1))
                if hi > lo { busy[second] += hi - lo }
                second += 1
            }
        }
        return busy
    }

    /// Requests started in each whole second from `origin` (`count` of them).
    public static func startsPerSecond(_ spans: [RequestSpan], origin: Double, count: Int) -> [Int] {
        var starts = [Int](repeating: 0, count: max(0, count))
        for span in spans {
            let offset = span.start - origin
            guard offset >= 0 else { continue }
            let second = Int(offset)
            if second < count { starts[second] += 1 }
        }
        return starts
    }
}
