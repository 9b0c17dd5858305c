import Foundation

extension SyncSession {
    /// The target for writing billing object `billingID` of `objectType` (the document at
    /// `path` in the args), with the provider id of the record it became before, when there is
    /// one: a ref the workers recorded, or one a person linked (`ledgersync refs link`,
    /// `ledgersync.link_ref`), which the provider must update by id instead of upserting by the
    /// billing id and creating a second record (docs/linking.md).
    func target(
        recordType: String, at path: [String], writing objectType: ExternalRef.ObjectType, _ billingID: String
    ) async throws -> SyncTarget {
        var target = self.target(recordType: recordType, at: path)
        if let ref = try await sync.refs.lookup(connection: connectionID, objectType: objectType, billingID: billingID) {
            target.existingProviderID = ref.providerID
            target.existingIsLinked = ref.isLinked
        }
        return target
    }
}
