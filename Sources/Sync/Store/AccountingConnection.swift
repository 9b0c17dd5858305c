import Foundation

/// One account at an accounting provider (`ledgersync.connections`). An installation may
/// have many; a job's args name the one it syncs to by `id`.
///
/// `secrets` are sealed with `SecretBox` before they reach the database and never appear in
/// `description`, `debugDescription` or `dump`.
public struct AccountingConnection: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible,
    CustomReflectable
{
    public enum Provider: String, Sendable, Equatable, Codable, CaseIterable {
        case netsuite
        case zohoBooks = "zoho_books"

        /// Reads a provider name, failing with an error naming the `provider` field.
        public static func parse(_ text: String) throws -> Provider {
            guard let provider = Provider(rawValue: text) else {
                throw StoreError.invalid(
                    "provider", "unknown provider \"\(text.prefix(40))\" (expected one of: \(allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return provider
        }
    }

    /// Non-secret configuration (the `settings` jsonb column).
    public struct Settings: Sendable, Equatable, Codable {
        /// The subsidiary a customer gets when the billing side names none.
        public var defaultSubsidiary: String?
        /// Object types this connection syncs (e.g. customer, invoice, credit_memo, payment).
        public var objectsToSync: [String]
        /// The provider's API root; tests point it at the simulator.
        public var baseURL: String?
        /// How many requests the account accepts at once (NetSuite's account concurrency).
        public var concurrencyLimit: Int
        /// The location put on transactions, for accounts whose forms require one.
        public var defaultLocation: String?

        public init(
            defaultSubsidiary: String? = nil, objectsToSync: [String] = [], baseURL: String? = nil, concurrencyLimit: Int = 1,
            defaultLocation: String? = nil
        ) {
            self.defaultSubsidiary = defaultSubsidiary
            self.objectsToSync = objectsToSync
            self.baseURL = baseURL
            self.concurrencyLimit = concurrencyLimit
            self.defaultLocation = defaultLocation
        }

        enum CodingKeys: String, CodingKey {
            case defaultSubsidiary = "default_subsidiary"
            case objectsToSync = "objects_to_sync"
            case baseURL = "base_url"
            case concurrencyLimit = "concurrency_limit"
            case defaultLocation = "default_location"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            defaultSubsidiary = try container.decodeIfPresent(String.self, forKey: .defaultSubsidiary)
            objectsToSync = try container.decodeIfPresent([String].self, forKey: .objectsToSync) ?? []
            baseURL = try container.decodeIfPresent(String.self, forKey: .baseURL)
            concurrencyLimit = try container.decodeIfPresent(Int.self, forKey: .concurrencyLimit) ?? 1
            defaultLocation = try container.decodeIfPresent(String.self, forKey: .defaultLocation)
        }
    }

    /// The credentials (NetSuite token-based authentication: the four TBA values of one
    /// integration and access token, PROVIDERS 2.1). Stored as one sealed JSON object.
    /// Tokens do not expire, so these live as long as the connection.
    ///
    /// The secrets never show in a description, a debug description or a dump; the key and
    /// token ids show only their first characters, enough to tell two connections apart.
    public struct Secrets: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
        CustomReflectable
    {
        public var consumerKey: String
        public var consumerSecret: String
        public var tokenID: String
        public var tokenSecret: String

        public init(consumerKey: String, consumerSecret: String, tokenID: String, tokenSecret: String) {
            self.consumerKey = consumerKey
            self.consumerSecret = consumerSecret
            self.tokenID = tokenID
            self.tokenSecret = tokenSecret
        }

        enum CodingKeys: String, CodingKey {
            case consumerKey = "consumer_key"
            case consumerSecret = "consumer_secret"
            case tokenID = "token_id"
            case tokenSecret = "token_secret"
        }

        public var description: String {
            "Secrets(consumerKey: \(Self.hint(consumerKey)), tokenID: \(Self.hint(tokenID)), consumerSecret: <redacted>, tokenSecret: <redacted>)"
        }

        public var debugDescription: String { description }

        /// Keeps the secrets out of `dump(_:)` and debugger summaries.
        public var customMirror: Mirror {
            Mirror(self, children: ["consumerKey": Self.hint(consumerKey), "tokenID": Self.hint(tokenID)], displayStyle: .struct)
        }

        /// The first 6 characters of an id, then an ellipsis.
        static func hint(_ id: String) -> String {
            id.count <= 6 ? String(repeating: "*", count: id.count) : String(id.prefix(6)) + "…"
        }
    }

    /// Set by the store; nil for a connection not yet created.
    public internal(set) var id: UUID?
    public var provider: Provider
    public var name: String
    /// The provider's account id (NetSuite: `1234567` or `1234567_SB1`).
    public var accountID: String
    public var settings: Settings
    public var secrets: Secrets
    public internal(set) var createdAt: Date?
    public internal(set) var updatedAt: Date?

    public init(provider: Provider, name: String, accountID: String, settings: Settings = Settings(), secrets: Secrets) {
        self.provider = provider
        self.name = name
        self.accountID = accountID
        self.settings = settings
        self.secrets = secrets
    }

    /// Checks every field the database cannot (or should not be the first to) check. Errors
    /// name the field and never echo a secret.
    public func validate() throws {
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
                "unknown object type \"\(object.prefix(40))\" (expected: \(ExternalRef.ObjectType.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        try StoreSupport.requireNotBlank(secrets.consumerKey, "secrets.consumer_key")
        try StoreSupport.requireNotBlank(secrets.consumerSecret, "secrets.consumer_secret")
        try StoreSupport.requireNotBlank(secrets.tokenID, "secrets.token_id")
        try StoreSupport.requireNotBlank(secrets.tokenSecret, "secrets.token_secret")
    }

    public var description: String {
        let idText = id.map { $0.uuidString.lowercased() } ?? "new"
        return "AccountingConnection(id: \(idText), provider: \(provider.rawValue), name: \"\(name)\", account_id: \(accountID), "
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
