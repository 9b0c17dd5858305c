import ExactJSON
import Foundation
import JobQueue
import Sync

/// Zoho Books behind the provider seam: a connection is one organization (`account_id` is
/// its organization id) in one data centre, reached through a self client's refresh token.
/// Registered once by the executable; nothing outside this module names Zoho Books.
///
/// Settings (`--setting key=value`, docs/zoho-books.md):
/// - `data_center`: `com` (default), `eu`, `in`, `com.au`, `jp`, `ca`, `sa`, `com.cn`;
/// - `api_domain`: the API host the token answer named (kept by `connections add`);
/// - `request_window`: the organization's request limit, `100/60s` by default;
/// - `daily_quota`: its plan's daily quota, `1000/1d` by default (Free; Standard 2000/1d,
///   Professional 5000/1d, higher plans 10000/1d);
/// - `unique_field`: the api name of the custom field (on every module the sync writes) that
///   holds the billing id and refuses duplicate values, `cf_ledgersync_id` by default: what the
///   upsert's `X-Unique-Identifier-Key` names.
public struct ZohoBooksDriver: ProviderDriver {
    public init() {}

    public var name: String { "zoho_books" }
    public var displayName: String { "Zoho Books" }

    public var credentialFields: [CredentialField] {
        [
            CredentialField(name: "client_id", environment: "ZOHO_CLIENT_ID", help: "the self client's client id (api-console.zoho.<dc>)"),
            CredentialField(name: "client_secret", environment: "ZOHO_CLIENT_SECRET", help: "the self client's client secret"),
            CredentialField(
                name: "grant_code", environment: "ZOHO_GRANT_CODE",
                help: "a code from the self client's \"Generate Code\" (or --grant-code), exchanged at once for a refresh token"),
            CredentialField(
                name: "refresh_token", environment: "ZOHO_REFRESH_TOKEN",
                help: "a refresh token of the self client, when one was obtained outside Ledgersync"),
        ]
    }

    /// The organization id: digits, as Zoho Books shows it (Settings → Organization Profile,
    /// or `GET /organizations`).
    public func canonicalAccountID(_ text: String) throws -> String {
        guard !text.isEmpty else {
            throw StoreError.invalid(
                "account_id",
                "the Zoho Books organization id is required (--account-id; Zoho Books shows it under Settings → Organization Profile, and GET /books/v3/organizations lists it)"
            )
        }
        guard text.count <= 30, text.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw StoreError.invalid(
                "account_id", "a Zoho Books organization id is digits only (e.g. 10234695), got \"\(text.prefix(30))\"")
        }
        return text
    }

    public static let settingKeys = ["data_center", "api_domain", "request_window", "daily_quota", "unique_field"]

    /// The unique custom field's api name when `settings.unique_field` does not name one.
    public static let defaultUniqueField = "cf_ledgersync_id"

    /// The api name of the custom field holding the billing id (`settings.unique_field`).
    public static func uniqueField(_ settings: AccountingConnection.Settings) -> String {
        settings.extra["unique_field"] ?? defaultUniqueField
    }

    /// The defaults: 100 requests a minute (every plan), the Free plan's 1,000 a day.
    public static let defaultRequestWindow = RateWindow(maxStarts: 100, seconds: 60)
    public static let defaultDailyQuota = RateWindow(maxStarts: 1000, seconds: 86_400)

    public func validateSettings(_ settings: AccountingConnection.Settings) throws {
        for key in settings.extra.keys.sorted() where !Self.settingKeys.contains(key) {
            throw StoreError.invalid(
                "settings.\(key)",
                "is not a Zoho Books setting (expected: \((Array(AccountingConnection.Settings.commonKeys).sorted() + Self.settingKeys).joined(separator: ", ")))"
            )
        }
        let dataCenter = try Self.dataCenter(settings)
        if let domain = settings.extra["api_domain"] {
            // Requests go only where the user pointed them: Zoho's own host of the data
            // centre, or the base URL the user set (a stand-in).
            guard dataCenter.isAPIDomain(domain) || settings.baseURL.map({ Self.sameOrigin(domain, $0) }) == true else {
                throw StoreError.invalid(
                    "settings.api_domain",
                    "must be the data centre's API host \(dataCenter.apiDomain) (or on settings.base_url), got \(domain.prefix(80))")
            }
        }
        _ = try Self.window(settings, "request_window", default: Self.defaultRequestWindow)
        _ = try Self.window(settings, "daily_quota", default: Self.defaultDailyQuota)
        if let field = settings.extra["unique_field"] {
            // A custom field's api name at Zoho: `cf_` and lower-case letters, digits and `_`
            // (Zoho Books "Custom Fields" in the OpenAPI files: `api_name` "cf_…"; the upsert's
            // X-Unique-Identifier-Key is "Unique CustomField Api Name").
            guard field.hasPrefix("cf_"), field.count <= 100, field.count > 3,
                field.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "_") })
            else {
                throw StoreError.invalid(
                    "settings.unique_field",
                    "must be a custom field's api name: cf_ then lower-case letters, digits or _ (e.g. cf_ledgersync_id), got \"\(field.prefix(60))\""
                )
            }
        }
    }

    public func validateSecrets(_ secrets: ConnectionSecrets) throws {
        for field in ["client_id", "client_secret"] where (secrets[field] ?? "").isEmpty {
            throw StoreError.invalid(
                "secrets.\(field)", "is required: the self client's \(field.replacingOccurrences(of: "_", with: " ")) (docs/zoho-books.md)")
        }
        if let unknown = secrets.fields.keys.sorted().first(where: { !credentialFields.map(\.name).contains($0) }) {
            throw StoreError.invalid(
                "secrets.\(unknown)", "is not a Zoho Books credential (expected client_id, client_secret, grant_code or refresh_token)")
        }
        guard !(secrets["refresh_token"] ?? "").isEmpty || !(secrets["grant_code"] ?? "").isEmpty else {
            throw StoreError.invalid(
                "secrets.grant_code", "a grant code (--grant-code, from the self client's \"Generate Code\") or a refresh_token is required"
            )
        }
    }

    public func secretHints(_ secrets: ConnectionSecrets) -> [(name: String, value: String)] {
        [("auth", "self_client"), ("client_id", ConnectionSecrets.hint(secrets["client_id"] ?? ""))]
    }

    public func validateMapping(_ mapping: Mapping) throws { try ZohoMappings.validate(mapping) }

    /// The organization's windows on the connection's limit key. The queue counts a job when
    /// it starts; Zoho counts a request when it arrives, a few milliseconds (at worst a
    /// request timeout's connect) later. A window held one second longer than Zoho's keeps
    /// the two counts apart: never more than Zoho's number in any of Zoho's windows.
    public func rateWindows(_ settings: AccountingConnection.Settings) -> [RateWindow] {
        let request = (try? Self.window(settings, "request_window", default: Self.defaultRequestWindow)) ?? Self.defaultRequestWindow
        let daily = (try? Self.window(settings, "daily_quota", default: Self.defaultDailyQuota)) ?? Self.defaultDailyQuota
        return [RateWindow(maxStarts: request.maxStarts, seconds: request.seconds + 1), daily]
    }

    public func makeProvider(for connection: AccountingConnection, context: ProviderContext) throws -> any AccountingProvider {
        ZohoBooksProvider(client: try ZohoBooksClient(connection: connection, context: context))
    }

    public func inboundEvent(_ event: String, body: Data) throws -> InboundEvent {
        throw StoreError.invalid(
            "event", "Zoho Books posts no events to Ledgersync; payments recorded in Zoho Books are read back by polling (issue 15)")
    }

    // MARK: - Settings

    public static func dataCenter(_ settings: AccountingConnection.Settings) throws -> ZohoDataCenter {
        try ZohoDataCenter.named(settings.extra["data_center"] ?? "com")
    }

    static func window(_ settings: AccountingConnection.Settings, _ key: String, default fallback: RateWindow) throws -> RateWindow {
        guard let text = settings.extra[key] else { return fallback }
        do {
            return try RateWindow(parsing: text)
        } catch {
            throw StoreError.invalid("settings.\(key)", error.description)
        }
    }

    /// The accounts server to ask for tokens: the base URL when one is set (a stand-in serves
    /// both), else the data centre's.
    public static func accountsURL(_ connection: AccountingConnection) throws -> String {
        if let base = connection.settings.baseURL { return base }
        return try dataCenter(connection.settings).accountsURL
    }

    /// The API host: the base URL when one is set, else the `api_domain` the token answer
    /// named, else the data centre's. Requests go to `<this>/books/v3/…`.
    public static func apiDomain(_ connection: AccountingConnection) throws -> String {
        if let base = connection.settings.baseURL { return base }
        return try connection.settings.extra["api_domain"] ?? dataCenter(connection.settings).apiDomain
    }

    static func sameOrigin(_ left: String, _ right: String) -> Bool {
        guard let a = URLComponents(string: left), let b = URLComponents(string: right) else { return false }
        return a.scheme == b.scheme && a.host == b.host && a.port == b.port
    }
}
