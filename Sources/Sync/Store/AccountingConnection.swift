import Foundation

/// One account at an accounting provider (`ledgersync.connections`). An installation may
/// have many; a job's args name the one it syncs to by `id`.
///
/// `secrets` are sealed with `SecretBox` before they reach the database and never appear in
/// `description`, `debugDescription` or `dump`.
public struct AccountingConnection: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    /// Names a provider the way `connections.provider` and drivers do (`netsuite`,
    /// `zoho_books`): lower-case letters, digits and `_`. Which names exist is the
    /// registry's business (`ProviderRegistry`), not this type's.
    public static func requireProviderName(_ text: String) throws {
        guard let first = text.first, first.isASCII, first.isLowercase, text.count <= 40,
            text.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
        else {
            throw StoreError.invalid("provider", "\"\(text.prefix(40))\" is not a provider name (lower-case letters, digits and _)")
        }
    }

    /// Non-secret configuration (the `settings` jsonb column): the keys every provider has,
    /// and the provider's own (`extra`, e.g. NetSuite's `default_subsidiary`), which only its
    /// driver reads and validates. One flat JSON object, as a DBA reads it.
    public struct Settings: Sendable, Equatable, Codable {
        /// Object types this connection syncs (e.g. customer, invoice, credit_memo, payment).
        public var objectsToSync: [String]
        /// The provider's API root; tests point it at the simulator.
        public var baseURL: String?
        /// How many requests the account accepts at once (NetSuite's account concurrency).
        public var concurrencyLimit: Int
        /// The provider's own settings, key → value (strings only).
        public var extra: [String: String]
        /// What this connection reads back from the provider (docs/changes.md): `paid_invoices`
        /// and record types (`customer`, `invoice`, …). Empty: nothing is polled.
        public var readChanges: [String] = []
        /// Seconds between two change polls of one record type; nil: the default (60).
        public var pollInterval: Double?

        public static let commonKeys: Set<String> = ["objects_to_sync", "base_url", "concurrency_limit", "read_changes", "poll_interval"]

        public init(objectsToSync: [String] = [], baseURL: String? = nil, concurrencyLimit: Int = 1, extra: [String: String] = [:]) {
            self.objectsToSync = objectsToSync
            self.baseURL = baseURL
            self.concurrencyLimit = concurrencyLimit
            self.extra = extra
        }

        public subscript(_ key: String) -> String? {
            get { extra[key] }
            set { extra[key] = newValue }
        }

        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: Key.self)
            objectsToSync = try container.decodeIfPresent([String].self, forKey: Key("objects_to_sync")) ?? []
            baseURL = try container.decodeIfPresent(String.self, forKey: Key("base_url"))
            concurrencyLimit = try container.decodeIfPresent(Int.self, forKey: Key("concurrency_limit")) ?? 1
            readChanges = try container.decodeIfPresent([String].self, forKey: Key("read_changes")) ?? []
            pollInterval = try container.decodeIfPresent(Double.self, forKey: Key("poll_interval"))
            extra = [:]
            for key in container.allKeys where !Self.commonKeys.contains(key.stringValue) {
                if let value = try? container.decodeNil(forKey: key), value { continue }
                extra[key.stringValue] = try container.decode(String.self, forKey: key)
            }
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: Key.self)
            try container.encode(objectsToSync, forKey: Key("objects_to_sync"))
            try container.encodeIfPresent(baseURL, forKey: Key("base_url"))
            try container.encode(concurrencyLimit, forKey: Key("concurrency_limit"))
            if !readChanges.isEmpty { try container.encode(readChanges, forKey: Key("read_changes")) }
            try container.encodeIfPresent(pollInterval, forKey: Key("poll_interval"))
            for (key, value) in extra.sorted(by: { $0.key < $1.key }) where !Self.commonKeys.contains(key) {
                try container.encode(value, forKey: Key(key))
            }
        }
    }

    /// Set by the store; nil for a connection not yet created.
    public internal(set) var id: UUID?
    /// The driver's name (`ProviderDriver.name`: `netsuite`, `zoho_books`).
    public var provider: String
    public var name: String
    /// The provider's account id, as its driver spells it.
    public var accountID: String
    public var settings: Settings
    /// The credentials, read only by the provider's driver.
    public var secrets: ConnectionSecrets
    public internal(set) var createdAt: Date?
    public internal(set) var updatedAt: Date?

    public init(provider: String, name: String, accountID: String, settings: Settings = Settings(), secrets: ConnectionSecrets) {
        self.provider = provider
        self.name = name
        self.accountID = accountID
        self.settings = settings
        self.secrets = secrets
    }

    /// Checks the fields every provider has, that the database cannot (or should not be the
    /// first to) check; the provider's own are its driver's (`ProviderRegistry.validate`).
    /// Errors name the field and never echo a secret.
    public func validate() throws {
        try Self.requireProviderName(provider)
        try StoreSupport.requireNotBlank(name, "name")
        try StoreSupport.requireNotBlank(accountID, "account_id")
        guard settings.concurrencyLimit >= 1 else {
            throw StoreError.invalid("settings.concurrency_limit", "must be at least 1, got \(settings.concurrencyLimit)")
        }
        if let baseURL = settings.baseURL {
            try StoreSupport.requireHTTPURL(baseURL, "settings.base_url")
        }
        for object in settings.objectsToSync where !ExternalRef.ObjectType.allCases.map(\.rawValue).contains(object) {
            throw StoreError.invalid(
                "settings.objects_to_sync",
                "unknown object type \"\(object.prefix(40))\" (expected: \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        try ChangeReadSettings.validate(settings)
    }

    public var description: String {
        let idText = id.map { $0.uuidString.lowercased() } ?? "new"
        return "AccountingConnection(id: \(idText), provider: \(provider), name: \"\(name)\", account_id: \(accountID), "
            + "base_url: \(settings.baseURL ?? "default"), concurrency_limit: \(settings.concurrencyLimit), secrets: redacted)"
    }

    public var debugDescription: String { description }

    /// Keeps the secrets out of `dump(_:)` and debugger summaries.
    public var customMirror: Mirror {
        Mirror(
            self,
            children: [
                "id": id as Any, "provider": provider, "name": name, "accountID": accountID,
                "settings": settings, "secrets": "redacted",
            ],
            displayStyle: .struct)
    }
}
