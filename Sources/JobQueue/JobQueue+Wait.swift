import Postgres

extension JobQueue {
    /// Wakes `key`: every job parked on it (a handler threw `JobError.wait(for:…)`) rejoins
    /// its serial lane now, behind every job that exists at this moment, and the workers
    /// are told. A job that is still finishing the run in which it decided to wait for
    /// `key` is not parked at all when this comes first (queue migration 009): no wake is
    /// lost. Returns how many parked jobs were woken. The SQL is `ledgersync.wake(key)`; an
    /// empty key is refused (SQLSTATE 22023).
    @discardableResult
    public func wake(key: String) async throws -> Int {
        let row = try await pool.query(QueueSQL.wake, [key]).rows.first
        return try row?.decode("woken", as: Int.self) ?? 0
    }
}
