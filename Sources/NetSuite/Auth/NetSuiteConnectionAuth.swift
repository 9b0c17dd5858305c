import LedgerCrypto
import Sync

/// What a NetSuite connection's sealed secrets hold: one of NetSuite's two auth kinds, told
/// apart by their fields. Token-based authentication (PROVIDERS 2.1): `consumer_key`,
/// `consumer_secret`, `token_id`, `token_secret`. OAuth 2.0 client credentials (PROVIDERS 2.5,
/// the only kind a new integration can use from NetSuite 2027.1): `client_id`,
/// `certificate_id`, `private_key` (PEM). A connection moves from one to the other by
/// replacing its secrets (`connections update --rotate-secrets`).
public enum NetSuiteConnectionAuth: Sendable, Equatable {
    case tba(NetSuiteCredentials)
    case oauth2(NetSuiteM2MCredentials)

    public static let tbaFields = NetSuiteCredentials.fieldNames
    public static let oauth2Fields = ["client_id", "certificate_id", "private_key"]

    /// The kind's name in hints and docs: `tba`, `oauth2`.
    public var kind: String {
        switch self {
        case .tba: "tba"
        case .oauth2: "oauth2"
        }
    }

    /// Reads the secrets; errors name `secrets.<field>` and never quote a value. A private key
    /// that does not load (not PEM, encrypted, RSA under 2048 bits, another curve) is refused
    /// here, when the connection is saved, not at its first job.
    public init(_ secrets: ConnectionSecrets) throws {
        let names = Set(secrets.fields.keys)
        let known = Set(Self.tbaFields + Self.oauth2Fields)
        if let unknown = names.subtracting(known).sorted().first {
            throw StoreError.invalid(
                "secrets.\(unknown)",
                "is not a NetSuite credential (token-based authentication: \(Self.tbaFields.joined(separator: ", ")); OAuth 2.0: \(Self.oauth2Fields.joined(separator: ", ")))"
            )
        }
        let isOAuth2 = !names.isDisjoint(with: Self.oauth2Fields)
        if isOAuth2, let mixed = names.intersection(Self.tbaFields).sorted().first {
            throw StoreError.invalid(
                "secrets.\(mixed)",
                "is a token-based authentication field; an OAuth 2.0 connection has only \(Self.oauth2Fields.joined(separator: ", "))")
        }
        guard isOAuth2 else {
            self = .tba(try NetSuiteCredentials(secrets))
            return
        }
        let credentials = NetSuiteM2MCredentials(
            clientID: try secrets.require("client_id"), certificateID: try secrets.require("certificate_id"),
            privateKeyPEM: try secrets.require("private_key"))
        do {
            _ = try JWTPrivateKey(pem: credentials.privateKeyPEM)
        } catch let error as CryptoError {
            throw StoreError.invalid("secrets.private_key", error.message)
        }
        self = .oauth2(credentials)
    }
}
