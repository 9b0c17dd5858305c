import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import Postgres

/// An error from the sync stores. Its message is one line, names the field at fault when
/// there is one, and never carries a secret: these errors end up in job errors and logs.
public struct StoreError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: Sendable, Equatable {
        /// A value failed validation; `field` names it.
        case invalidField
        /// The connection, mapping or endpoint does not exist.
        case notFound
        /// No mapping resolves for a fee (PROVIDERS.md 1.4): the job cannot succeed until
        /// someone adds one.
        case invalidMapping
        /// A sealed secret could not be opened: wrong `LEDGERSYNC_SECRET_KEY`, changed data, or
        /// a value moved from another row.
        case secretsUnreadable
    }

    public let code: Code
    /// The field at fault, e.g. `account_id`, `settings.concurrency_limit`.
    public let field: String?
    public let message: String

    public init(_ code: Code, field: String? = nil, _ message: String) {
        self.code = code
        self.field = field
        self.message = message.split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String {
        if let field { return "\(field): \(message)" }
        return message
    }

    /// As a job error: a missing mapping or bad configuration fails the job at once (class
    /// `invalid_mapping` / `invalid_config`); retrying cannot help until a person fixes it.
    public var jobError: JobError {
        switch code {
        case .invalidMapping: JobError(action: .fail, errorClass: "invalid_mapping", message: description)
        case .notFound, .invalidField, .secretsUnreadable:
            JobError(action: .fail, errorClass: "invalid_config", message: description)
        }
    }

    public static func invalid(_ field: String, _ message: String) -> StoreError {
        StoreError(.invalidField, field: field, message)
    }
}

enum StoreSupport {
    static func uuid(_ row: Row, _ column: String) throws -> UUID {
        let text: String = try row.decode(column)
        guard let id = UUID(uuidString: text) else {
            throw PostgresError(.decoding, "column \"\(column)\": expected a uuid, got '\(text)'")
        }
        return id
    }

    /// Seals an Encodable value's JSON for its place.
    static func seal<T: Encodable>(_ value: T, with box: SecretBox, for context: SealContext) throws -> String {
        try box.seal(JSONText(encoding: value).text, for: context)
    }

    /// Opens a sealed value; a failure says what could not be opened, never what it held.
    static func open(_ sealed: String, with box: SecretBox, for context: SealContext, what: String) throws -> String {
        do {
            return try box.open(sealed, for: context)
        } catch let error as CryptoError {
            throw StoreError(.secretsUnreadable, "cannot open the sealed secrets of \(what): \(error.message)")
        }
    }

    static func requireNotBlank(_ value: String, _ field: String) throws {
        if value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw StoreError.invalid(field, "must not be empty")
        }
    }

    /// An absolute http(s) URL with a host.
    static func requireHTTPURL(_ value: String, _ field: String) throws {
        // Lower-case scheme only, as the tables' CHECK (url ~ '^https?://') demands.
        guard value.hasPrefix("http://") || value.hasPrefix("https://"),
            let url = URL(string: value), let host = url.host, !host.isEmpty
        else {
            throw StoreError.invalid(field, "must be an http:// or https:// URL, got \"\(value.prefix(80))\"")
        }
        // URLs are stored and listed in plain text, so credentials in them would leak; the
        // error does not echo the URL for the same reason.
        guard url.user == nil, url.password == nil else {
            throw StoreError.invalid(
                field, "must not carry a user name or password (user:password@host): URLs are stored and shown in plain text")
        }
    }

    /// Refuses a URL whose host is (or resolves now to) a loopback, private, link-local or
    /// unique-local address, unless private networks are allowed: the workers would send
    /// requests there (SSRF). The worker's HTTP client checks again at connect time.
    static func requirePublicURL(_ value: String?, _ field: String, allowPrivateNetworks: Bool) async throws {
        guard !allowPrivateNetworks, let value else { return }
        // Resolving a name blocks (up to the resolver's timeouts): not on the cooperative pool.
        let refusal = await withCheckedContinuation { (continuation: CheckedContinuation<String?, Never>) in
            Thread.detachNewThread { continuation.resume(returning: NetworkGuard.refusal(forURL: value)) }
        }
        if let refusal { throw StoreError.invalid(field, NetworkGuard.explain(refusal)) }
    }

    /// Turns a foreign key violation on connection_id into a clear not-found error.
    static func mapForeignKey<T>(connection: UUID, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as PostgresError where error.sqlState == "23503" {
            throw StoreError(.notFound, field: "connection_id", "no connection \(connection.uuidString.lowercased())")
        }
    }
}
