import Foundation
import Sync

/// Setting a connection up: the grant code's exchange (`connections add --grant-code`) and
/// `connections test`.
extension ZohoBooksDriver {
    public func prepare(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection {
        connection
    }

    public func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck] {
        [ConnectionCheck("credentials", .skipped, "not built yet")]
    }
}
