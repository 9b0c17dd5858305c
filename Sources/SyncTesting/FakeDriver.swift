import Foundation
import Sync

/// The `ProviderDriver` of the fake provider (`fake`): one credential (`api_key`), no settings
/// of its own, any mapping, providers writing to one `FakeLedger`, and one inbound event
/// (`payment`). A model of what a provider module defines, small enough to read at once, and
/// what a user's test registers to run jobs without any real provider.
///
/// ```swift
/// let ledger = FakeLedger()
/// let registry = ProviderRegistry([FakeDriver(ledger: ledger)])
/// // a connection with provider "fake", account id ledger.accountID, secrets ["api_key": "fake-api-key"]
/// ```
public struct FakeDriver: ProviderDriver {
    public let ledger: FakeLedger
    public let flaws: FakeProvider.Flaws
    public let name: String

    /// `flaws` are deliberate bugs for tests that prove a check catches them; leave empty.
    public init(ledger: FakeLedger, name: String = "fake", flaws: FakeProvider.Flaws = []) {
        self.ledger = ledger
        self.name = name
        self.flaws = flaws
    }

    public var displayName: String { "Fake provider (in memory)" }

    public var credentialFields: [CredentialField] {
        [CredentialField(name: "api_key", environment: "FAKE_API_KEY", help: "The fake account's API key (FakeLedger's apiKeys).")]
    }

    /// Letters, digits, `-` and `_`, lower-cased.
    public func canonicalAccountID(_ text: String) throws -> String {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 64,
            trimmed.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "-" || $0 == "_")
            })
        else {
            throw StoreError(
                .invalidField, field: "account_id", "a fake account id is letters, digits, '-' and '_' (at most 64), e.g. fake-account")
        }
        return trimmed.lowercased()
    }

    /// The fake has no settings of its own.
    public func validateSettings(_ settings: AccountingConnection.Settings) throws {}

    public func validateSecrets(_ secrets: ConnectionSecrets) throws {
        let key = try secrets.require("api_key")
        guard key.count >= 8 else { throw StoreError(.invalidField, field: "secrets.api_key", "must be at least 8 characters") }
        let unknown = secrets.fields.keys.filter { $0 != "api_key" }.sorted()
        if let first = unknown.first {
            throw StoreError(
                .invalidField, field: "secrets.\(first.prefix(40))", "is not a credential of the fake provider (it takes api_key)")
        }
    }

    public func secretHints(_ secrets: ConnectionSecrets) -> [(name: String, value: String)] {
        [
            ("auth", ledger.tokenLifetime == nil ? "api_key" : "api_key+token"),
            ("api_key", ConnectionSecrets.hint(secrets["api_key"] ?? "")),
        ]
    }

    /// Any mapping: the fake writes documents as they are.
    public func validateMapping(_ mapping: Mapping) throws {}

    public func makeProvider(for connection: AccountingConnection, context: ProviderContext) throws -> any AccountingProvider {
        let secrets = Self.secrets(of: connection)
        try validateSecrets(secrets)
        let apiKey = try secrets.require("api_key")
        if ledger.tokenLifetime != nil && context.tokens == nil {
            throw StoreError(
                .invalidField, field: "secrets",
                "the fake account uses expiring access tokens; this process has no token store (ProviderContext.tokens)")
        }
        return FakeProvider(ledger: ledger, connection: connection, apiKey: apiKey, tokens: context.tokens, flaws: flaws)
    }

    /// The connection's credentials as this driver reads them.
    static func secrets(of connection: AccountingConnection) -> ConnectionSecrets {
        connection.secrets
    }

    public func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck] {
        var checks = [ConnectionCheck("reachability", .passed, "in process")]
        let key = Self.secrets(of: connection)["api_key"] ?? ""
        checks.append(
            ledger.accepts(apiKey: key)
                ? ConnectionCheck("credentials", .passed, "the API key \(ConnectionSecrets.hint(key)) opens the account")
                : ConnectionCheck(
                    "credentials", .failed, "the account refuses the API key \(ConnectionSecrets.hint(key)); check secrets.api_key"))
        let accountID = (try? canonicalAccountID(connection.accountID)) ?? connection.accountID
        checks.append(
            accountID == ledger.accountID
                ? ConnectionCheck("account_id", .passed, "account \(accountID)")
                : ConnectionCheck(
                    "account_id", .failed, "no fake account \"\(accountID.prefix(64))\" here; the ledger's is \(ledger.accountID)"))
        return checks
    }

    /// `payment`: `{"invoice_id": "<provider id>", "payment_id": "<provider id>", "currency": "USD"}`.
    public func inboundEvent(_ event: String, body: Data) throws -> InboundEvent {
        guard event == "payment" else {
            throw StoreError(.invalidField, field: "event", "unknown event \"\(event.prefix(40))\" (the fake provider posts: payment)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] else {
            throw StoreError(.invalidField, field: "body", "must be a JSON object")
        }
        func field(_ name: String) throws -> String {
            guard let value = object[name] as? String, !value.isEmpty else {
                throw StoreError(.invalidField, field: name, "is required (a non-empty string)")
            }
            return value
        }
        let currency = object["currency"] as? String
        return .paymentRecorded(
            InboundPayment(providerInvoiceID: try field("invoice_id"), providerPaymentID: try field("payment_id"), currency: currency))
    }
}
