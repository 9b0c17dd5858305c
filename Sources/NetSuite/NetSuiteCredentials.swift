/// The four TBA values of one integration + access token (PROVIDERS 2.1). Tokens do not
/// expire, so these live as long as the connection: store them sealed (`SecretBox`).
///
/// The secrets never show in a description, a debug description or a dump; the key and
/// token ids show only their first characters, enough to tell two connections apart.
public struct NetSuiteCredentials: Sendable, Equatable, Codable {
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
}

extension NetSuiteCredentials: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String {
        "NetSuiteCredentials(consumerKey: \(Self.hint(consumerKey)), tokenID: \(Self.hint(tokenID)), consumerSecret: <redacted>, tokenSecret: <redacted>)"
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
