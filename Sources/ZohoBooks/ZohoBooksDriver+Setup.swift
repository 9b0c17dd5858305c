import Foundation
import Sync

/// Setting a connection up: the grant code's exchange (`connections add --grant-code`,
/// `ZohoBooksSetup`) and `connections test` (`ZohoBooksConnectionTest`).
extension ZohoBooksDriver {
    public func prepare(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection {
        try await ZohoBooksSetup.prepare(connection, context: context)
    }

    public func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck] {
        await ZohoBooksConnectionTest.run(connection, context: context, driver: self)
    }
}
