import ExactJSON
import Foundation
import HTTPClient
import Sync

// STUB (lead, issue 14): filled in by the client work. The interface the provider uses.

/// Requests to one organization's Zoho Books API v3: `Authorization: Zoho-oauthtoken`, the
/// `organization_id` on every call, the `{code, message}` envelope read, errors sorted into
/// the four classes.
public final class ZohoBooksClient: Sendable {
    public let connection: AccountingConnection

    public init(connection: AccountingConnection, context: ProviderContext) throws {
        self.connection = connection
    }

    /// Sends `method` to `/books/v3/<path>` with `organization_id` and `query`, `body` as JSON,
    /// extra `headers` (the upsert's `X-Unique-Identifier-*`); returns the answer's envelope
    /// (code 0 or 201 created) or throws a `SyncError`.
    public func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: ExactJSON? = nil, headers: [(String, String)] = []
    ) async throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books client not built yet")
    }
}
