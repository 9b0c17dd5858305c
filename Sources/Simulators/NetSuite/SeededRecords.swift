import ExactJSON
import Foundation
import Sync

extension NetSuiteSimulator {
    /// Puts records into the account without validating them, for a benchmark that seeds
    /// many thousands (`ledgersync bench reconcile`): `addRecord` validates each body against
    /// the account (its references, its document number), which grows with the account. The
    /// caller vouches for the bodies (the sync's own payloads) and gives each one's total, as
    /// `addRecord`'s validation would compute it. Counted in no statistic.
    public func seedRecords(_ type: RecordType, _ records: [(externalID: String, body: ExactJSON, total: ExactDecimal?)]) -> [Record] {
        state.withLock { state in
            records.map { state.store.upsert(type, externalID: $0.externalID, body: $0.body, total: $0.total, now: Date()) }
        }
    }
}
