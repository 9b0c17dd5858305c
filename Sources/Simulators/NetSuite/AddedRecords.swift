import ExactJSON
import Foundation
import Hummingbird

extension NetSuiteSimulator {
    /// Puts a record into the account as if someone had made it in NetSuite (a person, a CRM
    /// integration): validated as an upsert is, counted in no statistic. For tests and demos
    /// of linking. Returns the record, or the error NetSuite would give for the body.
    public func addRecord(_ type: RecordType, externalID: String, body: ExactJSON) throws -> Record {
        try state.withLock { state throws(NetSuiteErrorBody) -> Record in
            let validator = RecordValidator(
                store: state.store, items: state.items, catalogue: configuration.catalogue,
                locationRequired: state.locationRequired)
            let total = try validator.validate(type, externalID: externalID, body: body)
            return state.store.upsert(type, externalID: externalID, body: body, total: total, now: configuration.clock())
        }
    }
}

extension NetSuiteErrorBody: CustomStringConvertible {
    var description: String { "NetSuite \(status) \(code): \(detail)" }
}
