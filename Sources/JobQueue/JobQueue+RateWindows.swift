import Foundation
import Postgres

/// One rate window of a limit key: at most `maxStarts` jobs of the key start in any span of
/// `seconds` (a sliding window, queue migration 011; 010's were aligned to the epoch). Up to
/// 200 starts per window the count is exact; above, starts are counted in groups of
/// ceil(maxStarts / 200), conservatively (never over, at most about 0.5% of the budget idle).
public struct RateWindow: Sendable, Equatable, Codable {
    public var maxStarts: Int
    public var seconds: Int

    public init(maxStarts: Int, seconds: Int) {
        self.maxStarts = maxStarts
        self.seconds = seconds
    }

    /// Reads `100/60s`, `1000/1d`, `50/2s`, `10/5m`, `3/1h`: starts, a slash, a length with
    /// its unit (s, m, h, d). The error names what is wrong.
    public init(parsing text: String) throws(RateWindowError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else {
            throw RateWindowError("'\(text)' is not STARTS/LENGTH, e.g. 100/60s or 1000/1d")
        }
        guard let starts = Int(parts[0]), starts >= 1 else {
            throw RateWindowError("'\(text)': the starts before the slash must be a whole number from 1, got '\(parts[0])'")
        }
        let length = parts[1]
        let units: [Character: Int] = ["s": 1, "m": 60, "h": 3600, "d": 86_400]
        guard let unit = length.last, let factor = units[unit], let count = Int(length.dropLast()), count >= 1,
            count <= 366 * 86_400 / factor
        else {
            throw RateWindowError(
                "'\(text)': the length after the slash must be a whole number with a unit s, m, h or d (1s to 366d), got '\(length)'")
        }
        self.init(maxStarts: starts, seconds: count * factor)
    }

    /// `100/60s`, `1000/1d`: the form `init(parsing:)` reads.
    public var text: String {
        if seconds % 86_400 == 0 { return "\(maxStarts)/\(seconds / 86_400)d" }
        if seconds % 3600 == 0 { return "\(maxStarts)/\(seconds / 3600)h" }
        if seconds % 60 == 0 && seconds >= 300 { return "\(maxStarts)/\(seconds / 60)m" }
        return "\(maxStarts)/\(seconds)s"
    }
}

public struct RateWindowError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// A rate window as it stands now.
public struct RateWindowStatus: Sendable, Equatable, Codable {
    public let limitKey: String
    public let seconds: Int
    public let maxStarts: Int
    /// Starts counted in the last `seconds` (a provider's 429 counts as all of them).
    public let used: Int
    public let left: Int
    /// When `left` next rises: when a start is free again if none is left, else when the
    /// oldest counted start leaves the window; now when nothing is counted.
    public let turnsAt: Date
    public let turnsInSeconds: Double
}

extension JobQueue {
    /// Sets the rate windows of a limit key (an empty list removes them): at most
    /// `maxStarts` jobs of the key start in any span of `seconds`, across every worker,
    /// besides its concurrency limit. A window kept at the same length keeps the starts it
    /// counted (the newest `maxStarts` of them when lowered).
    public func setRateWindows(_ limitKey: String, _ windows: [RateWindow]) async throws {
        try await pool.query(
            "SELECT ledgersync.set_rate_windows($1::text, $2::integer[], $3::integer[])",
            [limitKey, windows.map(\.maxStarts), windows.map(\.seconds)])
    }

    /// Spends one start of every rate window of `key` at once, for a request a job makes
    /// besides the one its own start paid for (a second call under the same budget). Nil
    /// when it spent one, or when the key has no windows (nothing to spend); otherwise
    /// nothing was spent and the result is how long until every window has a start again
    /// (try again then: another process may take it first). One round trip, under the same
    /// lock per key as fetch (queue migration 011).
    public func takeRateWindowStart(key: String) async throws -> Duration? {
        let row = try await pool.query(QueueSQL.takeRateWindowStart, [key]).rows.first
        guard let wait = try row?.decodeIfPresent("wait_seconds", as: Double.self), wait.isFinite, wait > 0 else { return nil }
        return .seconds(min(wait, 366 * 86_400))
    }

    /// Every rate window with its starts used and left now, by key and length.
    public func rateWindows() async throws -> [RateWindowStatus] {
        try await pool.query(QueueSQL.rateWindowStatus).rows.map { row in
            RateWindowStatus(
                limitKey: try row.decode("limit_key"), seconds: try row.decode("seconds"), maxStarts: try row.decode("max_starts"),
                used: try row.decode("used"), left: try row.decode("left_starts"), turnsAt: try row.decode("turns_at"),
                turnsInSeconds: try row.decode("turns_in_seconds"))
        }
    }
}
