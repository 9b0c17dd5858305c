import ExactJSON
import Foundation
import HTTPClient
import JobQueue
import Sync

/// `ledgersync connections test` for a Zoho Books connection: five checks, one line each, in
/// order. A check after a failed one is `skipped` (it could only fail the same way), except
/// `limits`, which reads only the settings. Never throws and never shows a secret.
///
/// 1. `reachability`: the accounts server answers HTTP at all (an unauthenticated GET of its
///    token endpoint; any status will do).
/// 2. `credentials`: an access token for the refresh token, through the shared token store
///    when the caller has one (a token the workers already hold is used, none is spent), else
///    one refresh ("Self Client - Authorization code flow", step 3,
///    https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html).
///    A refresh token gives only a few access tokens per window (PROVIDERS 3: 10 per 10
///    minutes), so running this in a loop without a store can use them up for a while.
/// 3. `organization`: `account_id` is an organization the token sees (`GET /organizations`,
///    Zoho Books API "Introduction", https://www.zoho.com/books/api/v3/introduction/; without
///    the scope ZohoBooks.settings.READ, a one-contact read naming it).
/// 4. `unique_field`: on each module the connection syncs, the custom field the upsert names
///    (`settings.unique_field`, default `cf_ledgersync_id`) exists and refuses duplicates.
///    No Zoho page found documents an endpoint listing custom fields with that setting, so it
///    is probed: `PUT /<module>` with `X-Unique-Identifier-Key: <field>`,
///    `X-Unique-Identifier-Value: <a value no record holds>`, no `X-Upsert` and an empty body
///    (Zoho Books API "Contacts", "Update a contact using a custom field's unique value",
///    https://www.zoho.com/books/api/v3/contacts/, and the same operation of the other modules
///    in Zoho's OpenAPI files). Without `X-Upsert` nothing is created, and with an empty body
///    nothing could be: "does not exist" (404, code 1002) means Zoho took the field as a unique
///    key; a 400 means it is no such field, or one that allows duplicates (Zoho's message is
///    shown). The status and code of either answer are NOT DOCUMENTED by a Zoho page found:
///    they are the simulator's (docs/zoho-books.md); a 2xx is taken as the key accepted too.
/// 5. `limits`: the windows the queue holds the connection's jobs to (`rateWindows`).
enum ZohoBooksConnectionTest {
    static let names = ["reachability", "credentials", "organization", "unique_field", "limits"]

    /// How long a token from the store must still work for the checks.
    static let tokenMinValidity: Duration = .seconds(300)

    static func run(_ connection: AccountingConnection, context: ProviderContext, driver: ZohoBooksDriver) async -> [ConnectionCheck] {
        var checks: [ConnectionCheck] = []
        let limits = limitsCheck(connection, driver: driver)
        func skipRest(after failed: String) -> [ConnectionCheck] {
            checks + names.dropFirst(checks.count).dropLast().map { ConnectionCheck($0, .skipped, "not checked: \(failed) failed") }
                + [limits]
        }

        let accountsURL: String
        let apiDomain: String
        let clientID: String
        let clientSecret: String
        let refreshToken: String
        do {
            try driver.validateSettings(connection.settings)
            accountsURL = try ZohoBooksDriver.accountsURL(connection)
            apiDomain = try ZohoBooksDriver.apiDomain(connection)
            clientID = try connection.secrets.require("client_id")
            clientSecret = try connection.secrets.require("client_secret")
            refreshToken = try connection.secrets.require("refresh_token")
        } catch {
            return [ConnectionCheck("configuration", .failed, "\(error)")]
        }

        // 1. The accounts server answers.
        do {
            let answer = try await context.http.execute(
                HTTPRequest(
                    method: "GET", url: ZohoSetupRequests.trimmed(accountsURL) + "/oauth/v2/token",
                    headers: [("Accept", "application/json")],
                    timeout: context.requestTimeout))
            checks.append(
                ConnectionCheck(
                    "reachability", .passed,
                    "Zoho's accounts server \(ZohoSetupRequests.hostName(accountsURL)) answers HTTP (\(answer.status) to an unauthenticated request)"
                ))
        } catch let error as HTTPClientError {
            let field = connection.settings.baseURL == nil ? "settings.data_center" : "settings.base_url"
            checks.append(
                ConnectionCheck(
                    "reachability", .failed, ZohoSetupRequests.unreachable(accountsURL, error) + "; check \(field) and the network"))
            return skipRest(after: "reachability")
        } catch {
            checks.append(ConnectionCheck("reachability", .failed, "the accounts server could not be asked: \(type(of: error))"))
            return skipRest(after: "reachability")
        }

        // 2. An access token for the refresh token.
        let http = context.http
        let timeout = context.requestTimeout
        let issue: @Sendable () async throws -> IssuedToken = {
            try await ZohoAccounts.refresh(
                refreshToken: refreshToken, clientID: clientID, clientSecret: clientSecret, accountsURL: accountsURL, http: http,
                timeout: timeout
            ).issued
        }
        func accessToken() async throws -> String {
            if let tokens = context.tokens {
                return try await tokens.accessToken(for: connection, minValidity: tokenMinValidity, issue: issue)
            }
            return try await issue().accessToken
        }
        var token: String
        do {
            token = try await accessToken()
            checks.append(
                ConnectionCheck(
                    "credentials", .passed,
                    context.tokens == nil
                        ? "Zoho's accounts server gave an access token for the refresh token (client \(ConnectionSecrets.hint(clientID)))"
                        : "an access token for the refresh token is at hand (the one the workers share, or a new one for them)"))
        } catch {
            checks.append(ConnectionCheck("credentials", .failed, refreshRefused(error, connection: connection)))
            return skipRest(after: "credentials")
        }

        // 3. The organization. A token from the store Zoho no longer takes (revoked) is
        // replaced once, as the workers do.
        var finding = await ZohoBooksSetup.organizationFinding(connection, accessToken: token, context: context)
        if case .tokenRefused = finding, let tokens = context.tokens {
            try? await tokens.invalidate(token, for: connection)
            if let fresh = try? await accessToken() {
                token = fresh
                finding = await ZohoBooksSetup.organizationFinding(connection, accessToken: token, context: context)
            }
        }
        switch finding {
        case .found(let detail):
            checks.append(ConnectionCheck("organization", .passed, detail))
        case .unknown(let detail), .tokenRefused(let detail), .inconclusive(let detail):
            checks.append(ConnectionCheck("organization", .failed, detail))
            return skipRest(after: "organization")
        }

        // 4. The unique custom field on each module synced.
        checks.append(await uniqueFieldCheck(connection, apiDomain: apiDomain, accessToken: token, context: context))
        if checks.last?.outcome == .failed { return skipRest(after: "unique_field") }

        // 5. The windows.
        checks.append(limits)
        return checks
    }

    /// What a refused refresh means, with Zoho's own code; never a token.
    static func refreshRefused(_ error: any Error, connection: AccountingConnection) -> String {
        let id = connection.id?.uuidString.lowercased() ?? "<id>"
        let rotate =
            "make a new grant code (API console → Self Client → Generate Code) and run ZOHO_CLIENT_ID=… ZOHO_CLIENT_SECRET=… "
            + "ledgersync connections update \(id) --rotate-secrets --grant-code <code>"
        guard let error = error as? SyncError else {
            return "could not get an access token: \(String(describing: type(of: error))); try again"
        }
        switch error.providerCode?.lowercased() {
        case "invalid_code"?:
            return "Zoho's accounts server refused the refresh token (invalid_code): it was revoked (API console → Self Client "
                + "→ Client Secret or the user's Connected Apps) or belongs to another client or data centre; \(rotate)"
        case "invalid_client"?:
            return "Zoho's accounts server does not know the client id and secret (invalid_client): check settings.data_center "
                + "(the data centre of the API console the self client was made in) and the client secret; \(rotate)"
        default:
            break
        }
        switch error.errorClass {
        case .rateLimited:
            return "Zoho allows a refresh token only a few access tokens in 10 minutes and this one has had them (\(error.message)); "
                + "wait 10 minutes and run this again (the workers share one token through the database and are not affected "
                + "once theirs is issued)"
        case .permanent:
            return "\(error.message); \(rotate)"
        default:
            return "could not get an access token: \(error.message); try again, and if it stays, look at Zoho's status"
        }
    }

    /// The upsert probe on each module the connection syncs.
    static func uniqueFieldCheck(
        _ connection: AccountingConnection, apiDomain: String, accessToken: String, context: ProviderContext
    ) async -> ConnectionCheck {
        let field = ZohoSetupRequests.uniqueField(connection.settings)
        let modules = ZohoSetupRequests.modules(connection.settings)
        guard !modules.isEmpty else {
            return ConnectionCheck("unique_field", .skipped, "the connection syncs no object type Zoho Books takes")
        }
        // A value no record holds: the probe finds nothing, and without X-Upsert makes nothing.
        let value = "ledgersync-connection-test-" + UUID().uuidString.lowercased()
        var accepted: [String] = []
        var problems: [String] = []
        for module in modules {
            let answer: ZohoSetupRequests.Answer
            do {
                answer = try await ZohoSetupRequests.api(
                    "PUT", module.path, apiDomain: apiDomain, accessToken: accessToken, organizationID: connection.accountID,
                    headers: [("X-Unique-Identifier-Key", field), ("X-Unique-Identifier-Value", value)], body: Data("{}".utf8),
                    http: context.http, timeout: context.requestTimeout)
            } catch let error as HTTPClientError {
                problems.append("\(module.path): \(ZohoSetupRequests.unreachable(apiDomain, error))")
                continue
            } catch {
                problems.append("\(module.path): the request failed (\(type(of: error)))")
                continue
            }
            switch answer.status {
            case 404 where answer.code == 1002, 200...299:
                accepted.append(module.path)
            case 400:
                problems.append(
                    "\(module.path): Zoho Books does not take \(field) as a unique key (\(answer.said)); in Zoho Books: Settings → "
                        + "\(module.settingsName) → Fields → New Custom Field, data type Text Box (Single Line), duplicate values not "
                        + "allowed, with the API name \(field)")
            case 401, 403:
                problems.append(
                    "\(module.path): the token may not update \(module.path) (\(answer.said)); generate the code with "
                        + "ZohoBooks.\(module.scope).CREATE, UPDATE and READ")
            case 429:
                problems.append("\(module.path): Zoho Books' limits are used up for now (\(answer.said)); run this again later")
            default:
                problems.append("\(module.path): Zoho Books answered \(answer.said)")
            }
        }
        guard problems.isEmpty else {
            let ok = accepted.isEmpty ? "" : "; \(field) is a unique key on \(accepted.joined(separator: ", "))"
            return ConnectionCheck(
                "unique_field", .failed, problems.joined(separator: "; ") + ok + " (docs/zoho-books.md, \"Set-up\")")
        }
        return ConnectionCheck(
            "unique_field", .passed,
            "\(field) is a custom field that refuses duplicates on \(accepted.joined(separator: ", ")) (an update by it, for a value "
                + "no record holds, answered \"does not exist\")")
    }

    /// The windows of the connection's limit key, and where they come from.
    static func limitsCheck(_ connection: AccountingConnection, driver: ZohoBooksDriver) -> ConnectionCheck {
        let settings = connection.settings
        let request = settings.extra["request_window"] ?? ZohoBooksDriver.defaultRequestWindow.text
        let daily = settings.extra["daily_quota"] ?? ZohoBooksDriver.defaultDailyQuota.text
        let windows = driver.rateWindows(settings).map(\.text).joined(separator: " and ")
        let key = connection.id.map { " on limit key \(SyncEnvironment.limitKey(provider: connection.provider, connection: $0))" } ?? ""
        return ConnectionCheck(
            "limits", .passed,
            "the queue starts at most \(windows) of this connection's jobs\(key), from request_window \(request) (Zoho: 100 a "
                + "minute per organization) and daily_quota \(daily) (set it to your plan's: Free 1000/1d, Standard 2000/1d, "
                + "Professional 5000/1d, higher plans 10000/1d), and runs at most \(settings.concurrencyLimit) at once")
    }
}
