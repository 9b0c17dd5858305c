import Foundation

extension SyncSession {
    /// The target for writing billing object `billingID` of `objectType` (the document at
    /// `path` in the args): with the internal id of the provider record a person linked it to
    /// (`ledgersync refs link`, `ledgersync.link_ref`), so the provider updates that record by
    /// id instead of upserting by the billing id and creating a second one (docs/linking.md).
    /// A ref the workers recorded is not a link: the upsert by external id finds that record.
    func target(
        recordType: String, at path: [String], writing objectType: ExternalRef.ObjectType, _ billingID: String
    ) async throws -> SyncTarget {
        var target = self.target(recordType: recordType, at: path)
        if let ref = try await sync.refs.lookup(connection: connectionID, objectType: objectType, billingID: billingID), ref.isLinked {
            target.existingProviderID = ref.providerID
        }
        return target
    }
}
