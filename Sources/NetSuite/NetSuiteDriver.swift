import ExactJSON
import Foundation
import Sync

/// Oracle NetSuite behind the provider seam: what a NetSuite connection's credentials and
/// settings are, which mappings it understands, its provider, checks and inbound events.
/// Registered once by the executable; nothing outside this module names NetSuite.
public struct NetSuiteDriver: ProviderDriver, RequestRendering {
    public init() {}

    public var name: String { "netsuite" }
    public var displayName: String { "NetSuite" }

    public var credentialFields: [CredentialField] {
        [
            CredentialField(
                name: "consumer_key", environment: "NETSUITE_CONSUMER_KEY", authKind: "tba", help: "the integration record's consumer key"),
            CredentialField(
                name: "consumer_secret", environment: "NETSUITE_CONSUMER_SECRET", authKind: "tba",
                help: "the integration record's consumer secret"),
            CredentialField(name: "token_id", environment: "NETSUITE_TOKEN_ID", authKind: "tba", help: "the access token's id"),
            CredentialField(name: "token_secret", environment: "NETSUITE_TOKEN_SECRET", authKind: "tba", help: "the access token's secret"),
            CredentialField(
                name: "client_id", environment: "NETSUITE_CLIENT_ID", authKind: "oauth2", help: "the integration record's client id"),
            CredentialField(
                name: "certificate_id", environment: "NETSUITE_CERTIFICATE_ID", authKind: "oauth2",
                help: "the certificate id of the OAuth 2.0 client credentials (M2M) mapping"),
            CredentialField(
                name: "private_key", environment: "NETSUITE_PRIVATE_KEY", authKind: "oauth2",
                help: "the PEM private key of the mapping's certificate (RSA 3072/4096 or EC P-256/384/521)", mayBeFile: true),
        ]
    }

    public func canonicalAccountID(_ text: String) throws -> String {
        do {
            return try NetSuiteAccount(accountID: text).accountID
        } catch let error as NetSuiteConfigError {
            throw StoreError.invalid("account_id", error.message)
        }
    }

    /// `default_subsidiary` and `default_location`: internal ids.
    public static let settingKeys = ["default_subsidiary", "default_location"]

    public func validateSettings(_ settings: AccountingConnection.Settings) throws {
        for key in settings.extra.keys.sorted() {
            guard Self.settingKeys.contains(key) else {
                throw StoreError.invalid(
                    "settings.\(key)",
                    "is not a NetSuite setting (expected: \((Array(AccountingConnection.Settings.commonKeys).sorted() + Self.settingKeys).joined(separator: ", ")))"
                )
            }
            let value = settings.extra[key] ?? ""
            guard !value.trimmingCharacters(in: .whitespaces).isEmpty else {
                throw StoreError.invalid("settings.\(key)", "must not be empty")
            }
            do {
                try ExternalRefStore.requireInternalID(value)
            } catch let error as StoreError {
                throw StoreError.invalid("settings.\(key)", "must be a NetSuite internal id: \(error.message)")
            }
        }
    }

    public func validateSecrets(_ secrets: ConnectionSecrets) throws {
        _ = try NetSuiteConnectionAuth(secrets)
    }

    /// The auth kind and the ids' first characters; never a secret or the key.
    public func secretHints(_ secrets: ConnectionSecrets) -> [(name: String, value: String)] {
        let hint = { (field: String) in (field, ConnectionSecrets.hint(secrets[field] ?? "")) }
        if secrets["client_id"] != nil || secrets["certificate_id"] != nil || secrets["private_key"] != nil {
            return [("auth", "oauth2"), hint("client_id"), hint("certificate_id")]
        }
        return [("auth", "tba"), hint("consumer_key"), hint("token_id")]
    }

    /// The SuiteTax details of a tax mapping (all three or none) or the legacy tax item.
    public static let suiteTaxDetails = ["nexus", "tax_type", "tax_code"]
    public static let taxDetails = suiteTaxDetails + ["legacy_tax_item"]

    /// What the NetSuite payload needs of a tax mapping's details (docs/netsuite.md), checked
    /// when the mapping is set rather than when an invoice fails on it. Errors name the
    /// detail as `details.<key>`.
    public func validateMapping(_ mapping: Mapping) throws {
        guard mapping.kind == .tax else { return }
        let details = mapping.details
        if let unknown = details.keys.sorted().first(where: { !Self.taxDetails.contains($0) }) {
            throw StoreError.invalid("details.\(unknown)", "is not a tax detail (expected \(Self.taxDetails.joined(separator: ", ")))")
        }
        if let empty = details.keys.sorted().first(where: { (details[$0] ?? "").isEmpty }) {
            throw StoreError.invalid("details.\(empty)", "must not be empty")
        }
        let suiteTax = Self.suiteTaxDetails.filter { details[$0] != nil }
        if !suiteTax.isEmpty && suiteTax.count < Self.suiteTaxDetails.count {
            let missing = Self.suiteTaxDetails.filter { details[$0] == nil }
            throw StoreError.invalid(
                "details.\(missing[0])", "a SuiteTax mapping needs nexus, tax_type and tax_code; missing \(missing.joined(separator: ", "))"
            )
        }
        guard !suiteTax.isEmpty || details["legacy_tax_item"] != nil else {
            throw StoreError.invalid("details", "a tax mapping needs nexus, tax_type and tax_code (SuiteTax) or legacy_tax_item")
        }
    }

    public func makeProvider(for connection: AccountingConnection, context: ProviderContext) throws -> any AccountingProvider {
        NetSuiteProvider(client: try client(for: connection, context: context))
    }

    func client(for connection: AccountingConnection, context: ProviderContext) throws -> NetSuiteClient {
        try NetSuiteClient(
            connection: connection, http: context.http, requestTimeout: context.requestTimeout,
            serverTimeLimit: context.serverTimeLimit ?? NetSuiteClient.defaultServerTimeLimit, tokens: context.tokens)
    }

    /// `NetSuiteConnectionTest`'s checks. An OAuth 2.0 connection tested where no token store
    /// is shared asks for a token of its own (one token request), kept by no one.
    public func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck] {
        var context = context
        if context.tokens == nil { context.tokens = UnsharedTokenStore() }
        let client: NetSuiteClient
        do {
            client = try self.client(for: connection, context: context)
        } catch let error as StoreError {
            return [ConnectionCheck("configuration", .failed, error.description)]
        } catch {
            return [ConnectionCheck("configuration", .failed, "\(error)")]
        }
        return await NetSuiteConnectionTest.run(client: client, concurrencyLimit: connection.settings.concurrencyLimit)
    }

    // MARK: Inbound events

    /// `payments`: a payment recorded in NetSuite on an invoice Ledgersync synced, posted by a
    /// script at the account (docs/api.md): `{"payment_id", "invoice_id", "amount": "129.00",
    /// "currency": "EUR", "paid_at": RFC 3339}`; the first two required.
    public func inboundEvent(_ event: String, body: Data) throws -> InboundEvent {
        guard event == "payments" else {
            throw StoreError(.notFound, field: "event", "NetSuite sends no \"\(event.prefix(40))\" events (expected: payments)")
        }
        let json = try EventFields(body)
        let allowed = ["payment_id", "invoice_id", "amount", "currency", "paid_at"]
        if let unknown = json.keys.first(where: { !allowed.contains($0) }) {
            throw StoreError.invalid(unknown, "is not a field of a payment event (expected: \(allowed.joined(separator: ", ")))")
        }
        let paymentID = try json.requiredString("payment_id", maxLength: 200)
        let invoiceID = try json.requiredString("invoice_id", maxLength: 200)
        let amount = try json.string("amount", maxLength: 40)
        if let amount, amount.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) == nil {
            throw StoreError.invalid("amount", "must be a decimal number as a string, e.g. \"129.00\"")
        }
        let currency = try json.string("currency", maxLength: 3)
        if let currency, currency.range(of: "^[A-Z]{3}$", options: .regularExpression) == nil {
            throw StoreError.invalid("currency", "must be an ISO 4217 code such as EUR")
        }
        var paidAt: Date?
        if let text = try json.string("paid_at", maxLength: 64) {
            paidAt = Self.rfc3339(text)
            guard paidAt != nil else { throw StoreError.invalid("paid_at", "must be an RFC 3339 time such as 2026-03-01T12:00:00Z") }
        }
        return .paymentRecorded(
            InboundPayment(providerInvoiceID: invoiceID, providerPaymentID: paymentID, amount: amount, currency: currency, paidAt: paidAt))
    }

    static func rfc3339(_ text: String) -> Date? {
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }

    // MARK: sync render

    public var renderableKinds: [String] { NetSuiteRender.kinds }

    public func render(
        kind: String, args: String, connection: AccountingConnection, target: SyncTarget,
        lookup: @escaping @Sendable (ExternalRef.ObjectType, String) async throws -> ExternalRef?
    ) async throws -> String {
        let account: NetSuiteAccount
        do {
            account = try NetSuiteAccount(accountID: connection.accountID, baseURLOverride: connection.settings.baseURL)
        } catch let error as NetSuiteConfigError {
            throw StoreError.invalid("account_id", error.message)
        }
        return try await NetSuiteRender.render(kind: kind, args: args, account: account, target: target, lookup: lookup).text
    }
}

extension NetSuiteProvider: RecordLookup, CustomerFinding {
    /// The NetSuite record type of an object type (the REST record API's spelling).
    public static func recordType(_ type: ExternalRef.ObjectType) -> String {
        switch type {
        case .customer: "customer"
        case .invoice: "invoice"
        case .salesOrder: "salesOrder"
        case .creditMemo: "creditMemo"
        case .payment: "customerPayment"
        }
    }

    public func lookUp(_ objectType: ExternalRef.ObjectType, providerID: String) async throws -> FoundRecord? {
        let recordType = Self.recordType(objectType)
        guard let found = try await client.get(recordType: recordType, internalID: providerID) else { return nil }
        return FoundRecord(
            recordType: recordType, providerID: providerID,
            name: found["companyName"]?.stringValue ?? found["entityId"]?.stringValue ?? found["tranId"]?.stringValue,
            email: found["email"]?.stringValue, externalID: found["externalId"]?.stringValue)
    }

    public func findCustomers(by field: CustomerField, _ value: String) async throws -> [FoundRecord] {
        try await CustomerMatch.candidates(field, value, client: client).map {
            FoundRecord(recordType: "customer", providerID: $0.internalID, name: $0.companyName, email: $0.email, externalID: $0.externalID)
        }
    }
}

/// The fields of an inbound event's JSON object, read with errors naming the field.
struct EventFields {
    let members: [String: ExactJSON]
    var keys: [String] { members.keys.sorted() }

    init(_ body: Data) throws {
        let parsed: ExactJSON
        do {
            parsed = try ExactJSON.parse(body)
        } catch {
            throw StoreError.invalid("body", "is not JSON: \(error)")
        }
        guard let members = parsed.objectValue else { throw StoreError.invalid("body", "must be a JSON object") }
        self.members = members
    }

    func string(_ key: String, maxLength: Int) throws -> String? {
        guard let value = members[key], value != .null else { return nil }
        guard let text = value.stringValue else { throw StoreError.invalid(key, "must be a string") }
        guard text.count <= maxLength else { throw StoreError.invalid(key, "must be at most \(maxLength) characters") }
        return text
    }

    func requiredString(_ key: String, maxLength: Int) throws -> String {
        guard let text = try string(key, maxLength: maxLength), !text.trimmingCharacters(in: .whitespaces).isEmpty else {
            throw StoreError.invalid(key, "is required")
        }
        return text
    }
}

/// A token store for one `connections test`: the token lives as long as the check, in this
/// process, and nothing else uses it.
actor UnsharedTokenStore: AccessTokenStore {
    private var token: IssuedToken?

    func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String {
        if let token, token.expiresAt.timeIntervalSinceNow > Double(minValidity.components.seconds) { return token.accessToken }
        let issued = try await issue()
        token = issued
        return issued.accessToken
    }

    func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws {
        if token?.accessToken == accessToken { token = nil }
    }
}
