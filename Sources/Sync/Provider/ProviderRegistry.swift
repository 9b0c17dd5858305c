import Foundation

/// The providers this installation knows: one `ProviderDriver` per name, registered once by the
/// executable (`Ledgersync.providers`), and the providers built from them, one per connection
/// version, so a provider that keeps state (an access token, an HTTP connection) keeps it
/// across jobs and is rebuilt only when the connection changes.
public final class ProviderRegistry: Sendable {
    public let drivers: [String: any ProviderDriver]
    private let cache = ProviderCache()

    public init(_ drivers: [any ProviderDriver]) {
        var byName: [String: any ProviderDriver] = [:]
        for driver in drivers { byName[driver.name] = driver }
        self.drivers = byName
    }

    /// The registered names, sorted (for help texts and errors).
    public var names: [String] { drivers.keys.sorted() }

    /// The driver of `name`, or an error naming the `provider` field and the known names.
    /// A hyphen stands for an underscore (`--provider zoho-books` is `zoho_books`): provider
    /// names are SQL-identifier-like, people write hyphens.
    public func driver(_ name: String) throws -> any ProviderDriver {
        guard let driver = drivers[name] ?? drivers[name.replacingOccurrences(of: "-", with: "_")] else {
            throw StoreError.invalid(
                "provider",
                "unknown provider \"\(name.prefix(40))\" (this installation knows: \(names.joined(separator: ", ")))")
        }
        return driver
    }

    /// Every check of a connection: the common fields, then its driver's account id,
    /// settings and secrets. Returns the connection with the account id as the driver spells it.
    public func validated(_ connection: AccountingConnection) throws -> AccountingConnection {
        try AccountingConnection.requireProviderName(connection.provider)
        let driver = try driver(connection.provider)
        var connection = connection
        // The driver first: it says what a missing account id is called at its provider
        // (Zoho Books' organization id).
        connection.accountID = try driver.canonicalAccountID(connection.accountID.trimmingCharacters(in: .whitespaces))
        try connection.validate()
        try driver.validateSettings(connection.settings)
        try driver.validateSecrets(connection.secrets)
        return connection
    }

    /// A connection about to be stored: validated, completed by its driver (`prepare`: a grant
    /// exchanged at the provider), validated again.
    public func prepared(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection {
        let checked = try validated(connection)
        return try validated(try await driver(checked.provider).prepare(checked, context: context))
    }

    /// The provider of a stored connection, built once per version (`id`, `updatedAt`).
    public func provider(for connection: AccountingConnection, context: ProviderContext) async throws -> any AccountingProvider {
        let driver = try driver(connection.provider)
        guard let id = connection.id else {
            return try driver.makeProvider(for: connection, context: context)
        }
        return try await cache.provider(id: id, version: connection.updatedAt) {
            try driver.makeProvider(for: connection, context: context)
        }
    }
}

/// Providers by connection id, each kept with the connection version it was built from.
private actor ProviderCache {
    private var entries: [UUID: (version: Date?, provider: any AccountingProvider)] = [:]

    func provider(id: UUID, version: Date?, make: () throws -> any AccountingProvider) throws -> any AccountingProvider {
        if let entry = entries[id], entry.version == version { return entry.provider }
        let provider = try make()
        entries[id] = (version, provider)
        return provider
    }
}
