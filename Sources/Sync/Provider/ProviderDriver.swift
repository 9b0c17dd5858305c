import Foundation
import HTTPClient
import JobQueue

/// One accounting provider as the rest of Ledgersync sees it: everything that differs from one
/// provider to the next, behind one seam. A provider module (`NetSuite`, `ZohoBooks`) defines
/// one driver; the executable registers each once (`ProviderRegistry`). `Sync`, the API and the
/// CLI call drivers and never name a provider.
///
/// A driver owns: the connection's credentials (one sealed JSON object of string fields that
/// only the driver reads), its provider settings (the `settings` keys beyond the common ones),
/// which mapping kinds and details it understands, the `AccountingProvider` that writes (built
/// once per connection version and cached by `ProviderRegistry`), its checks
/// (`connections test`) and its inbound events.
public protocol ProviderDriver: Sendable {
    /// The provider's name in `connections.provider`, URLs and `--provider` (`netsuite`).
    var name: String { get }
    /// For people: "Oracle NetSuite".
    var displayName: String { get }
    /// The credential fields, for `connections add` help and the environment variables the CLI
    /// reads them from. Fields of every auth kind the provider has.
    var credentialFields: [CredentialField] { get }

    /// The account id as the provider spells it (`1234567_sb1` → `1234567_SB1`); errors name
    /// `account_id`.
    func canonicalAccountID(_ text: String) throws -> String
    /// Checks the provider's own settings (the keys beyond the common ones); errors name `settings.<key>`.
    func validateSettings(_ settings: AccountingConnection.Settings) throws
    /// Checks the credentials; errors name `secrets.<field>` and never echo a value.
    func validateSecrets(_ secrets: ConnectionSecrets) throws
    /// What may be shown of the credentials: the auth kind and the first characters of ids,
    /// never a secret (`[("auth", "tba"), ("consumer_key", "3f9a1c…")]`).
    func secretHints(_ secrets: ConnectionSecrets) -> [(name: String, value: String)]
    /// Checks a mapping's provider-specific details (NetSuite: SuiteTax nexus/type/code);
    /// errors name the field.
    func validateMapping(_ mapping: Mapping) throws

    /// The provider of one version of a connection. Called once per (connection id,
    /// `updatedAt`) by `ProviderRegistry`, so it may keep state (an access token in memory,
    /// a connection pool) for as long as the connection is unchanged.
    func makeProvider(for connection: AccountingConnection, context: ProviderContext) throws -> any AccountingProvider

    /// `ledgersync connections test`: reachability, credentials, account id, limits. One check
    /// per line; never throws (a failure is a failed check naming what is wrong).
    func test(_ connection: AccountingConnection, context: ProviderContext) async -> [ConnectionCheck]

    /// Completes a connection before it is stored (a grant exchanged for a refresh token);
    /// default: unchanged. See the extension below.
    func prepare(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection
    /// The provider's rate windows for a connection's settings; default: none.
    func rateWindows(_ settings: AccountingConnection.Settings) -> [RateWindow]
    /// The address of a record in the provider's web UI, for people (sync status, webhooks,
    /// the dashboard); default: none.
    func recordLink(_ connection: AccountingConnection, _ objectType: ExternalRef.ObjectType, providerID: String) -> String?

    /// Reads an event the provider (or a script at the provider) posted to
    /// `/v1/inbound/<name>/<connection>/<event>`; errors name the field.
    func inboundEvent(_ event: String, body: Data) throws -> InboundEvent
}

/// What a driver may do besides the required members; each has a default that does nothing.
extension ProviderDriver {
    /// Completes a new connection (or one whose secrets are being replaced) before it is
    /// stored: a driver whose credentials start as a one-time grant exchanges it here
    /// (Zoho Books: a self client's grant code for a refresh token) and keeps only what it
    /// must. Called by `connections add|update` and `POST|PATCH /v1/connections` after
    /// `ProviderRegistry.validated`; the result is validated again. Errors name the field
    /// (`secrets.grant_code`, `settings.data_center`) and never echo a secret; nothing is
    /// stored when it throws.
    public func prepare(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection {
        connection
    }

    /// The rate windows the provider counts for a connection ("100 requests a minute, 1,000 a
    /// day"), set on its limit key besides the concurrency limit, so every worker together
    /// stays inside them (`ledgersync.set_rate_windows`). Empty: the provider counts none.
    public func rateWindows(_ settings: AccountingConnection.Settings) -> [RateWindow] { [] }

    /// No link: a driver that knows its web UI's addresses says so.
    public func recordLink(_ connection: AccountingConnection, _ objectType: ExternalRef.ObjectType, providerID: String) -> String? {
        nil
    }
}

/// What a provider needs from the process that runs it.
public struct ProviderContext: Sendable {
    public var http: HTTPClient
    /// How long one request may take before it counts as a (transient) timeout.
    public var requestTimeout: Duration
    /// How long the provider may go on processing a request the client stopped waiting for
    /// (its slot of the concurrency limit stays held this long); nil: the driver's default.
    public var serverTimeLimit: Duration?
    /// Access tokens shared by every process (`TokenStore`); nil where nothing may be stored
    /// (a driver that needs one then fails with a clear error).
    public var tokens: (any AccessTokenStore)?

    public init(
        http: HTTPClient, requestTimeout: Duration = .seconds(60), serverTimeLimit: Duration? = nil, tokens: (any AccessTokenStore)? = nil
    ) {
        self.http = http
        self.requestTimeout = requestTimeout
        self.serverTimeLimit = serverTimeLimit
        self.tokens = tokens
    }
}

/// One credential field of a provider (`consumer_key`), read by the CLI from `environment`.
public struct CredentialField: Sendable, Equatable {
    public let name: String
    /// The environment variable `connections add` reads it from (`NETSUITE_CONSUMER_KEY`).
    public let environment: String
    /// The auth kind the field belongs to (`tba`, `oauth2`); nil: every kind.
    public let authKind: String?
    public let help: String
    /// A file's path may be given instead (`NETSUITE_PRIVATE_KEY_FILE` for a PEM key).
    public let mayBeFile: Bool

    public init(name: String, environment: String, authKind: String? = nil, help: String, mayBeFile: Bool = false) {
        self.name = name
        self.environment = environment
        self.authKind = authKind
        self.help = help
        self.mayBeFile = mayBeFile
    }
}

/// One line of `connections test`.
public struct ConnectionCheck: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case passed, failed, skipped
    }

    /// `reachability`, `credentials`, `account_id`, `concurrency_limit`…
    public let name: String
    public let outcome: Outcome
    /// What was found, or what is wrong and what to do about it; never a secret.
    public let detail: String

    public init(_ name: String, _ outcome: Outcome, _ detail: String) {
        self.name = name
        self.outcome = outcome
        self.detail = detail
    }
}

/// An event read back from a provider. Today one kind: a payment recorded at the provider
/// on an invoice Ledgersync synced.
public enum InboundEvent: Sendable, Equatable {
    case paymentRecorded(InboundPayment)
}

public struct InboundPayment: Sendable, Equatable {
    /// The provider's id of the invoice paid.
    public let providerInvoiceID: String
    /// The provider's id of the payment.
    public let providerPaymentID: String
    /// What the payment applied to the invoice, as the provider wrote it (decimal text such as
    /// "129.00": passed on exactly, never through a floating point number), when it says.
    public let amount: String?
    /// ISO 4217, when the event says.
    public let currency: String?
    public let paidAt: Date?

    public init(providerInvoiceID: String, providerPaymentID: String, amount: String? = nil, currency: String? = nil, paidAt: Date? = nil) {
        self.providerInvoiceID = providerInvoiceID
        self.providerPaymentID = providerPaymentID
        self.amount = amount
        self.currency = currency
        self.paidAt = paidAt
    }
}

/// An access token and when it stops working.
public struct IssuedToken: Sendable, Equatable {
    public let accessToken: String
    public let expiresAt: Date

    public init(accessToken: String, expiresAt: Date) {
        self.accessToken = accessToken
        self.expiresAt = expiresAt
    }
}

/// Access tokens of connections whose tokens expire (NetSuite OAuth 2.0, Zoho Books), shared by
/// every worker process: one token per connection version, issued single-flight (a lock, not a
/// race: a Zoho refresh token allows only a few access tokens per window).
public protocol AccessTokenStore: Sendable {
    /// A token valid for at least `minValidity` more; `issue` is called (by one process at a
    /// time, across every process) only when the stored one is missing, expiring, invalidated
    /// or from an older version of the connection.
    func accessToken(
        for connection: AccountingConnection, minValidity: Duration, issue: @escaping @Sendable () async throws -> IssuedToken
    ) async throws -> String
    /// Marks `accessToken` bad (the provider answered 401 invalid_token), so the next
    /// `accessToken` issues a new one; a token already replaced is left alone, so many jobs
    /// seeing the same 401 cause one new token, not many.
    func invalidate(_ accessToken: String, for connection: AccountingConnection) async throws
}

// MARK: - What some providers can do besides writing

/// A provider that reads one record by its id: `ledgersync refs link` checks that the record a
/// person names exists before linking to it.
public protocol RecordLookup: AccountingProvider {
    /// The record of `objectType` with the provider's id `providerID`, or nil when there is none.
    func lookUp(_ objectType: ExternalRef.ObjectType, providerID: String) async throws -> FoundRecord?
}

/// A record a provider found.
public struct FoundRecord: Sendable, Equatable {
    /// The provider's record type (`customer`, `customerPayment`).
    public let recordType: String
    public let providerID: String
    /// What a person calls it (company name, document number), when it has one.
    public let name: String?
    public let email: String?
    public let externalID: String?

    public init(recordType: String, providerID: String, name: String? = nil, email: String? = nil, externalID: String? = nil) {
        self.recordType = recordType
        self.providerID = providerID
        self.name = name
        self.email = email
        self.externalID = externalID
    }
}

/// A provider that finds customers by email or name: `ledgersync refs match` proposes links
/// of billing customers to customers that already exist at the provider.
public protocol CustomerFinding: AccountingProvider {
    /// The customers whose `field` is exactly `value` (case included), at most 1,000.
    func findCustomers(by field: CustomerField, _ value: String) async throws -> [FoundRecord]
}

public enum CustomerField: String, Sendable, CaseIterable {
    /// The customer's email (the first of a billing customer's comma-separated list).
    case email
    /// The customer's company name: the billing customer's legal name, else its name (what
    /// `customer.sync` writes).
    case name
}

/// A driver that shows the requests a sync job would send, without sending them
/// (`ledgersync sync render`).
public protocol RequestRendering: ProviderDriver {
    /// The job kinds it renders.
    var renderableKinds: [String] { get }
    /// The requests of job `kind` for `args` (the job's args text) as text: method, URL,
    /// headers and body per request, notes first as `# …` lines; never an `Authorization`.
    func render(
        kind: String, args: String, connection: AccountingConnection, target: SyncTarget,
        lookup: @escaping @Sendable (ExternalRef.ObjectType, String) async throws -> ExternalRef?
    ) async throws -> String
}
