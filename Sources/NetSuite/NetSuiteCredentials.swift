import Sync

/// The four TBA values of one integration and access token (PROVIDERS 2.1): what a NetSuite
/// connection with token-based authentication keeps in its sealed `ConnectionSecrets`, under
/// the same field names, so what is stored is exactly what signs requests. Tokens do not
/// expire, so these live as long as the connection.
///
/// The secrets never show in a description, a debug description or a dump; the key and token
/// ids show only their first characters, enough to tell two connections apart.
public struct NetSuiteCredentials: Sendable, Equatable, Codable, CustomStringConvertible, CustomDebugStringConvertible,
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

    /// The field names in `ConnectionSecrets`.
    public static let fieldNames = ["consumer_key", "consumer_secret", "token_id", "token_secret"]

    /// Reads the four values from a connection's secrets; errors name `secrets.<field>`.
    public init(_ secrets: ConnectionSecrets) throws {
        self.init(
            consumerKey: try secrets.require("consumer_key"), consumerSecret: try secrets.require("consumer_secret"),
            tokenID: try secrets.require("token_id"), tokenSecret: try secrets.require("token_secret"))
    }

    /// What a connection stores.
    public var connectionSecrets: ConnectionSecrets {
        ConnectionSecrets([
            "consumer_key": consumerKey, "consumer_secret": consumerSecret, "token_id": tokenID, "token_secret": tokenSecret,
        ])
    }

    public var description: String {
        "NetSuiteCredentials(consumerKey: \(ConnectionSecrets.hint(consumerKey)), tokenID: \(ConnectionSecrets.hint(tokenID)), consumerSecret: <redacted>, tokenSecret: <redacted>)"
    }

    public var debugDescription: String { description }

    /// Keeps the secrets out of `dump(_:)` and debugger summaries.
    public var customMirror: Mirror {
        Mirror(
            self, children: ["consumerKey": ConnectionSecrets.hint(consumerKey), "tokenID": ConnectionSecrets.hint(tokenID)],
            displayStyle: .struct)
    }
}

extension AccountingConnection.Settings {
    /// NetSuite: the subsidiary a customer gets when the billing side names none
    /// (`default_subsidiary`; OneWorld accounts require one).
    public var defaultSubsidiary: String? {
        get { extra["default_subsidiary"] }
        set { extra["default_subsidiary"] = newValue }
    }

    /// NetSuite: the location put on transactions, for accounts whose forms require one
    /// (`default_location`).
    public var defaultLocation: String? {
        get { extra["default_location"] }
        set { extra["default_location"] = newValue }
    }

    /// A NetSuite connection's settings.
    public init(
        defaultSubsidiary: String?, objectsToSync: [String] = [], baseURL: String? = nil, concurrencyLimit: Int = 1,
        defaultLocation: String? = nil
    ) {
        self.init(objectsToSync: objectsToSync, baseURL: baseURL, concurrencyLimit: concurrencyLimit)
        self.defaultSubsidiary = defaultSubsidiary
        self.defaultLocation = defaultLocation
    }
}
