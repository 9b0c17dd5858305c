import ExactJSON
import Foundation
import HTTPClient
import Sync

/// `connections add --grant-code` (and `update --rotate-secrets`, `POST|PATCH /v1/connections`):
/// a self client's grant code exchanged for a refresh token at the data centre's accounts
/// server, then the organization checked with the new access token. What is kept: the client
/// id and secret, the refresh token and the answer's `api_domain`; never the code.
///
/// Every refusal is a `StoreError` naming the field to change, never a secret; nothing is
/// stored when one is thrown (the CLI and the API store after `prepare`). A code is spent by
/// a successful exchange: an error after it (an unknown organization) says to generate a new
/// one.
///
/// Zoho's pages: "Self Client - Authorization code flow"
/// (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html):
/// the code is made by "Generate Code" for chosen scopes and a time duration (3 minutes by
/// default), exchanged at the accounts server of the data centre "where the client is
/// registered"; the answer holds `refresh_token` and `api_domain`. Zoho Books API
/// "Introduction" (https://www.zoho.com/books/api/v3/introduction/): `GET /organizations`
/// (scope `ZohoBooks.settings.READ`). The error codes (`invalid_code`, `invalid_client`) are
/// not in a Zoho page found: they are what integrators report and the simulator answers
/// (docs/zoho-books.md, "Accounts server").
///
/// The exchange's access token is not put in the token store: a new connection has no id yet
/// (the store keys tokens by connection id and version), and a rotated one gets a new version
/// when it is stored, which makes any token stored now unusable. The first job asks for one.
enum ZohoBooksSetup {
    static func prepare(_ connection: AccountingConnection, context: ProviderContext) async throws -> AccountingConnection {
        guard let grantCode = connection.secrets["grant_code"]?.trimmingCharacters(in: .whitespacesAndNewlines), !grantCode.isEmpty
        else { return connection }
        let clientID = try connection.secrets.require("client_id")
        let clientSecret = try connection.secrets.require("client_secret")
        let dataCenter = try ZohoBooksDriver.dataCenter(connection.settings)
        let accountsURL = try ZohoBooksDriver.accountsURL(connection)
        // The field to change when the accounts server is the wrong one: the base URL when one
        // is set (it replaces the data centre's hosts), else the data centre.
        let serverField = connection.settings.baseURL == nil ? "settings.data_center" : "settings.base_url"

        // 1. The exchange.
        let exchanged: (response: HTTPResponse, sentAt: Date)
        do {
            exchanged = try await ZohoSetupRequests.token(
                [("grant_type", "authorization_code"), ("client_id", clientID), ("client_secret", clientSecret), ("code", grantCode)],
                accountsURL: accountsURL, http: context.http, timeout: context.requestTimeout)
        } catch let error as HTTPClientError {
            var text =
                "Zoho's accounts server could not be asked to exchange the grant code: "
                + ZohoSetupRequests.unreachable(accountsURL, error)
            if error.code == .timedOut || error.code == .connectionDropped {
                text += "; the code may have been spent without an answer: generate a new one"
            }
            throw StoreError.invalid(serverField, text + "; check \(serverField) and the network")
        }
        let answer: ZohoTokenAnswer
        do {
            answer = try ZohoAccounts.parseTokenAnswer(exchanged.response, sentAt: exchanged.sentAt)
        } catch let error as SyncError {
            throw refusal(error, dataCenter: dataCenter, accountsURL: accountsURL, serverField: serverField)
        }
        guard let refreshToken = answer.refreshToken else {
            throw StoreError.invalid(
                "secrets.grant_code",
                "Zoho's accounts server exchanged the grant code but answered no refresh_token; generate a new code with the self "
                    + "client's \"Generate Code\" (a self client's code gives one) and run this again")
        }

        // 2. The API host the answer names, kept only where the user pointed requests.
        var prepared = connection
        if let domain = answer.apiDomain.map(ZohoSetupRequests.trimmed), !domain.isEmpty {
            guard dataCenter.isAPIDomain(domain) || connection.settings.baseURL.map({ ZohoBooksDriver.sameOrigin(domain, $0) }) == true
            else {
                throw StoreError.invalid(
                    "settings.api_domain",
                    "Zoho's accounts server named the API host \(domain.prefix(80)), which is not data centre \(dataCenter.code)'s "
                        + "(\(dataCenter.apiDomain)) nor on settings.base_url; set --setting data_center= to the data centre of your "
                        + "Zoho login (\(dataCenterHints)) and generate a new code there (this one is spent)")
            }
            prepared.settings.extra["api_domain"] = domain
        }

        // 3. The organization, with the new access token.
        try await checkOrganization(prepared, accessToken: answer.accessToken, context: context)

        var secrets = ConnectionSecrets()
        secrets["client_id"] = clientID
        secrets["client_secret"] = clientSecret
        secrets["refresh_token"] = refreshToken
        prepared.secrets = secrets
        return prepared
    }

    /// Each data centre and the domain of its logins: how people tell theirs.
    static var dataCenterHints: String {
        ZohoDataCenter.all.map { "\($0.code): \(ZohoSetupRequests.hostName($0.accountsURL))" }.joined(separator: ", ")
    }

    /// What a refused exchange means, naming the field to change.
    static func refusal(_ error: SyncError, dataCenter: ZohoDataCenter, accountsURL: String, serverField: String) -> StoreError {
        let host = ZohoSetupRequests.hostName(accountsURL)
        switch error.providerCode?.lowercased() {
        case "invalid_code"?:
            return StoreError.invalid(
                "secrets.grant_code",
                "Zoho's accounts server \(host) refused the grant code (invalid_code): it is mistyped, expired or already used; "
                    + "generate a new code (API console → Self Client → Generate Code) and run this again at once: a code works once, "
                    + "for the minutes chosen when it was made (3 by default)")
        case "invalid_client"?:
            // The data centre, even with a base URL: a stand-in serves each data centre at
            // its own URL, as Zoho does at its own hosts; the client belongs to one of them.
            let server = serverField == "settings.data_center" ? "data centre \(dataCenter.code) (\(host))" : host
            return StoreError.invalid(
                "settings.data_center",
                "Zoho's accounts server of \(server) does not know this client id and secret (invalid_client): a self client, "
                    + "and its codes, belong to the data centre of the API console it was made in (the domain you log in to: "
                    + "\(dataCenterHints)); set --setting data_center= to that one"
                    + (serverField == "settings.base_url" ? " (and --base-url to its accounts server)" : "")
                    + ", or check ZOHO_CLIENT_ID and ZOHO_CLIENT_SECRET")
        default:
            if error.errorClass == .permanent, let code = error.providerCode {
                return StoreError.invalid(
                    "secrets.grant_code",
                    "Zoho's accounts server \(host) refused the exchange (\(code)); generate a new code and run this again")
            }
            return StoreError.invalid(
                serverField,
                "\(error.message); nothing was stored: try again with a new code, and if it stays, look at Zoho's status")
        }
    }

    /// The organization `account_id` is one the token sees: from `GET /organizations` when
    /// the token may read it (the error then lists the ones it sees), else from a one-row read
    /// of contacts naming it. Only a definite answer refuses: an unreachable host, a 5xx or a
    /// 429 lets the connection be stored (`connections test` checks it again).
    static func checkOrganization(_ connection: AccountingConnection, accessToken: String, context: ProviderContext) async throws {
        switch await organizationFinding(connection, accessToken: accessToken, context: context) {
        case .found, .inconclusive:
            return
        case .unknown(let detail):
            throw StoreError.invalid("account_id", detail + "; nothing was stored and the grant code is spent: generate a new one")
        case .tokenRefused(let detail):
            throw StoreError.invalid("secrets.grant_code", detail + "; nothing was stored: generate a new code with those scopes")
        }
    }

    enum OrganizationFinding: Equatable {
        /// The token sees it; the detail says how.
        case found(String)
        /// Zoho says the token cannot reach it; the detail names it and what the token sees.
        case unknown(String)
        /// Zoho refused the token itself (scopes, or the token of another data centre).
        case tokenRefused(String)
        /// No definite answer (unreachable, 5xx, 429).
        case inconclusive(String)
    }

    static func organizationFinding(
        _ connection: AccountingConnection, accessToken: String, context: ProviderContext
    ) async -> OrganizationFinding {
        let organizationID = connection.accountID
        let apiDomain: String
        do {
            apiDomain = try ZohoBooksDriver.apiDomain(connection)
        } catch {
            return .inconclusive("the API host is not known: \(error)")
        }
        let host = ZohoSetupRequests.hostName(apiDomain)
        var listed: [ZohoSetupRequests.Organization]?
        do {
            let answer = try await ZohoSetupRequests.api(
                "GET", "organizations", apiDomain: apiDomain, accessToken: accessToken, organizationID: nil, http: context.http,
                timeout: context.requestTimeout)
            listed = ZohoSetupRequests.organizations(answer)
        } catch let error as HTTPClientError {
            return .inconclusive(ZohoSetupRequests.unreachable(apiDomain, error))
        } catch {
            return .inconclusive("GET /organizations failed: \(type(of: error))")
        }
        if let listed {
            if let found = listed.first(where: { $0.id == organizationID }) {
                return .found("the token sees organization \(found.text)")
            }
            let seen = listed.isEmpty ? "none" : listed.prefix(20).map(\.text).joined(separator: ", ")
            return .unknown(
                "Zoho Books at \(host) has no organization \(organizationID) for this token; the organizations it sees: \(seen) "
                    + "(set --account-id to one of them; Zoho Books shows the id under Settings → Organization Profile)")
        }
        // The token may not read the organizations (no ZohoBooks.settings.READ): ask for one
        // contact of the organization instead.
        let probe: ZohoSetupRequests.Answer
        do {
            probe = try await ZohoSetupRequests.api(
                "GET", "contacts", apiDomain: apiDomain, accessToken: accessToken, organizationID: organizationID,
                query: [("per_page", "1")], http: context.http, timeout: context.requestTimeout)
        } catch let error as HTTPClientError {
            return .inconclusive(ZohoSetupRequests.unreachable(apiDomain, error))
        } catch {
            return .inconclusive("GET /contacts failed: \(type(of: error))")
        }
        switch probe.status {
        case 200...299:
            return .found(
                "Zoho Books at \(host) answers for organization \(organizationID) (read one contact; GET /organizations, which "
                    + "names it, needs the scope ZohoBooks.settings.READ)")
        case 401, 403:
            return .tokenRefused(
                "Zoho Books at \(host) refused the new access token (\(probe.said)): the code must be generated with the scopes "
                    + "in docs/zoho-books.md (ZohoBooks.settings.READ and, per module, CREATE, UPDATE and READ)")
        case 400:
            return .unknown(
                "Zoho Books at \(host) does not know organization \(organizationID) for this token (\(probe.said)); Zoho Books "
                    + "shows the id under Settings → Organization Profile, and an organization of another data centre is "
                    + "unknown here (give the code the scope ZohoBooks.settings.READ and this error lists the ones it sees)")
        default:
            return .inconclusive("Zoho Books at \(host) answered \(probe.said)")
        }
    }
}
