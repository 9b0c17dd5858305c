import ExactJSON
import Foundation
import HTTPClient
import Sync

/// `ledgersync connections test` for a NetSuite connection: four checks, one line each, in
/// order; a check after a failed one is `skipped` (it could only fail the same way or say
/// nothing). Never throws and never shows a secret: a failure is a failed check saying what
/// is wrong and what to look at.
///
/// 1. `reachability`: the host answers HTTP at all (DNS, TCP, TLS), to an unsigned request.
/// 2. `account_id`: the account the host answers for is the connection's. The base URL's
///    host, when it is one of NetSuite's (`<account>.suitetalk.api.netsuite.com`), must name
///    the account; and a 401 names the account the host serves in `WWW-Authenticate`'s
///    `realm` (Oracle, "RESTlets and REST Web Services Authentication Errors": "the value of
///    the realm is the account ID for which the data are requested",
///    https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_158521885412.html).
///    It comes before `credentials` because a request signed for another account's realm is
///    refused like a wrong secret: with the account wrong, the credentials cannot be judged.
///    The unsigned request of the reachability check is refused the same way, so its 401's
///    realm names the account before any credential is sent: for an OAuth 2.0 connection,
///    whose requests name no account (only the host does), that is the only place it shows.
/// 3. `credentials`: a signed GET of a record by an external id nobody uses is accepted
///    (404 "does not exist" means the signature and the role were accepted; 401/403 not).
///    An OAuth 2.0 connection first asks the token endpoint for an access token (the client
///    id, the certificate id and the private key); a refusal there fails this check, naming
///    what to look at.
/// 4. `concurrency_limit`: `GET /services/rest/system/v1/governanceLimits` (Oracle,
///    "GovernanceLimits Operation",
///    https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/article_0625010817.html),
///    which answers only an administrator role: the limit this integration may use, compared
///    with the connection's `settings.concurrency_limit`. `skipped` when the role may not read it.
public enum NetSuiteConnectionTest {
    /// The external id the credentials check reads; no record has it, so the answer is a 404.
    static let probeExternalID = "ledgersync-connection-test"

    /// Runs the checks against `client`'s account; `concurrencyLimit` is the connection's
    /// `settings.concurrency_limit`.
    public static func run(client: NetSuiteClient, concurrencyLimit: Int) async -> [ConnectionCheck] {
        var checks: [ConnectionCheck] = []
        let names = ["reachability", "account_id", "credentials", "concurrency_limit"]
        func skipRest(after failed: String) -> [ConnectionCheck] {
            checks + names.dropFirst(checks.count).map { ConnectionCheck($0, .skipped, "not checked: \(failed) failed") }
        }

        let origin = client.account.suiteTalkOrigin
        let host = Self.host(of: origin)
        let probeURL = "\(client.account.restBaseURL)/customer/eid:\(probeExternalID)"

        // 1. Reachability: any HTTP answer will do.
        var unsignedRealm: String?
        do {
            let answer = try await client.http.execute(
                HTTPRequest(
                    method: "GET", url: probeURL, headers: [("Accept", "application/json")], body: nil, timeout: client.requestTimeout))
            if answer.status == 401 { unsignedRealm = realm(in: answer.header("WWW-Authenticate")) }
            checks.append(ConnectionCheck("reachability", .passed, "\(host) answers HTTP (\(answer.status) to an unsigned request)"))
        } catch let error as HTTPClientError {
            checks.append(ConnectionCheck("reachability", .failed, unreachable(host, error)))
            return skipRest(after: "reachability")
        } catch {
            checks.append(ConnectionCheck("reachability", .failed, "\(host) could not be asked: \(type(of: error))"))
            return skipRest(after: "reachability")
        }

        // 2. The account, from the host's name, then from a signed request's answer.
        if let named = namedAccount(host), canonical(named) != client.account.realm {
            checks.append(
                ConnectionCheck(
                    "account_id", .failed,
                    "the base URL's host \(host) is account \(canonical(named)), but account_id is \(client.account.realm); "
                        + "set account_id or settings.base_url so they name the same account"))
            return skipRest(after: "account_id")
        }
        // The realm of the unsigned request's 401, before any credential is sent.
        var accountConfirmed = false
        if let unsignedRealm {
            guard canonical(unsignedRealm) == client.account.realm else {
                checks.append(wrongRealm(unsignedRealm, host: host, account: client.account.realm))
                return skipRest(after: "account_id")
            }
            accountConfirmed = true
        }
        // OAuth 2.0: the access token first; its refusal is the credentials' (client id,
        // certificate id, key), and no record request can be judged without a token.
        do {
            try await client.connectionTestAccessToken()
        } catch {
            checks.append(
                accountConfirmed
                    ? ConnectionCheck("account_id", .passed, "\(host) answers for account \(client.account.realm) (the realm of its 401)")
                    : ConnectionCheck(
                        "account_id", .skipped, "no access token to ask \(host) with; the credentials check below says why"))
            checks.append(ConnectionCheck("credentials", .failed, tokenRefused(error)))
            return skipRest(after: "credentials")
        }
        let signed: HTTPResponse
        do {
            signed = try await client.send(method: "GET", url: probeURL, body: nil)
        } catch {
            // Reachable a moment ago; a signing or transport failure now.
            checks.append(ConnectionCheck("account_id", .failed, "the signed request to \(host) failed: \(describe(error))"))
            return skipRest(after: "account_id")
        }
        let accepted = (200...299).contains(signed.status) || signed.status == 404
        if signed.status == 401, let realm = realm(in: signed.header("WWW-Authenticate")) {
            guard canonical(realm) == client.account.realm else {
                checks.append(wrongRealm(realm, host: host, account: client.account.realm))
                return skipRest(after: "account_id")
            }
            checks.append(ConnectionCheck("account_id", .passed, "\(host) answers for account \(client.account.realm)"))
        } else if accountConfirmed {
            checks.append(
                ConnectionCheck("account_id", .passed, "\(host) answers for account \(client.account.realm) (the realm of its 401)"))
        } else if accepted {
            checks.append(ConnectionCheck("account_id", .passed, "\(host) accepted a request for account \(client.account.realm)"))
        } else {
            checks.append(
                ConnectionCheck(
                    "account_id", .skipped,
                    "\(host)'s answer (HTTP \(signed.status)) names no account; the credentials check below tells whether it accepts \(client.account.realm)"
                ))
        }

        // 3. Credentials: the signed request accepted.
        if accepted {
            let how = client.isOAuth2 ? "issued an OAuth 2.0 access token and accepted a request made with it" : "accepted a signed request"
            checks.append(ConnectionCheck("credentials", .passed, "NetSuite \(how) (HTTP \(signed.status) reading a customer)"))
        } else {
            checks.append(ConnectionCheck("credentials", .failed, refused(signed, oauth2: client.isOAuth2)))
            return skipRest(after: "credentials")
        }

        // 4. The concurrency limit, where the role may read it.
        checks.append(await concurrencyCheck(client: client, origin: origin, setting: concurrencyLimit))
        return checks
    }

    /// The account check's failure: the host answers for another account.
    static func wrongRealm(_ realm: String, host: String, account: String) -> ConnectionCheck {
        ConnectionCheck(
            "account_id", .failed,
            "\(host) answers for NetSuite account \(canonical(realm)) (the realm of its 401), but account_id is "
                + "\(account); set account_id to the account of the base URL, or settings.base_url to the account's")
    }

    /// What a refused OAuth 2.0 token request means (NetSuite's error code kept; never the key).
    static func tokenRefused(_ error: any Error) -> String {
        guard let error = error as? SyncError, error.errorClass == .permanent else {
            return "could not get an OAuth 2.0 access token: \(describe(error)); try again, and if it stays, look at NetSuite's status"
        }
        return
            "\(error.message.replacingOccurrences(of: "; check client_id, certificate_id, the private key and the M2M mapping in NetSuite", with: "")); "
            + "check client_id (the integration record's), certificate_id (the M2M mapping's, at Setup > Integration > Manage "
            + "Authentication > OAuth 2.0 Client Credentials (M2M) Setup), that private_key is the key of the certificate uploaded "
            + "to that mapping, and that the mapping is not revoked; the Login Audit Trail says why NetSuite refused"
    }

    /// What a refused signed request means, with NetSuite's own words.
    static func refused(_ response: HTTPResponse, oauth2: Bool = false) -> String {
        let said = netSuiteSays(response)
        switch response.status {
        case 401 where oauth2:
            return "NetSuite refused a fresh OAuth 2.0 access token (\(said)); check that the M2M mapping's entity and role are "
                + "active and the integration record is enabled, and the Login Audit Trail (Setup > Users/Roles > User Management "
                + "> View Login Audit Trail) for the reason"
        case 401:
            return "NetSuite refused the signed request (\(said)); check the consumer key and secret and the token id and "
                + "secret (a token of this account, for the integration record, which must be enabled), and the Login Audit "
                + "Trail (Setup > Users/Roles > User Management > View Login Audit Trail) for the reason"
        case 403:
            return "NetSuite accepted the credentials but the token's role may not read customers (\(said)); give the role "
                + "the permissions in docs/connections.md"
        default:
            return "NetSuite answered the signed request with an error (\(said)); try again, and if it stays, look at NetSuite's status"
        }
    }

    /// NetSuite's error text and code for an error answer (`NetSuite HTTP 401: Invalid login
    /// attempt. … [INVALID_LOGIN]`).
    static func netSuiteSays(_ response: HTTPResponse) -> String {
        let error = NetSuiteErrorParser.parse(response)
        guard let code = error.providerCode, !error.message.contains(code) else { return error.message }
        return "\(error.message) [\(code)]"
    }

    static func concurrencyCheck(client: NetSuiteClient, origin: String, setting: Int) async -> ConnectionCheck {
        let response: HTTPResponse
        do {
            response = try await client.send(method: "GET", url: origin + "/services/rest/system/v1/governanceLimits", body: nil)
        } catch {
            return ConnectionCheck(
                "concurrency_limit", .skipped,
                "could not read NetSuite's limits (\(describe(error))); settings.concurrency_limit is \(setting)")
        }
        guard (200...299).contains(response.status) else {
            return ConnectionCheck(
                "concurrency_limit", .skipped,
                "NetSuite did not give its limits (\(netSuiteSays(response))): governanceLimits answers only an "
                    + "administrator role; compare settings.concurrency_limit (\(setting)) by hand with Setup > Integration > "
                    + "Integration Management > Integration Governance")
        }
        guard let limits = try? ExactJSON.parse(String(decoding: response.body, as: UTF8.self)),
            let account = int(limits["accountConcurrencyLimit"]), let unallocated = int(limits["accountUnallocatedConcurrencyLimit"])
        else {
            return ConnectionCheck(
                "concurrency_limit", .skipped,
                "NetSuite's governanceLimits answer is not the documented object; settings.concurrency_limit is \(setting)")
        }
        let type = limits["integrationLimitType"]?.stringValue ?? ""
        let allowed: Int
        let source: String
        switch type {
        case "integrationSpecific":
            guard let limit = int(limits["integrationConcurrencyLimit"]) else {
                return ConnectionCheck(
                    "concurrency_limit", .skipped, "NetSuite says a limit is allocated to this integration but not which")
            }
            allowed = limit
            source = "allocated to this integration"
        case "internal":
            allowed = account
            source = "the account's limit (an internal application)"
        default:
            allowed = unallocated
            source = "the account's unallocated limit (\(account) in all), shared with every integration without a limit of its own"
        }
        if setting > allowed {
            return ConnectionCheck(
                "concurrency_limit", .failed,
                "settings.concurrency_limit is \(setting), but NetSuite allows \(allowed) (\(source)); lower it to \(allowed), or "
                    + "allocate more at Setup > Integration > Integration Management > Integration Governance")
        }
        return ConnectionCheck(
            "concurrency_limit", .passed, "NetSuite allows \(allowed) (\(source)); settings.concurrency_limit is \(setting)")
    }

    /// An unreachable host, named, with the kind of failure.
    static func unreachable(_ host: String, _ error: HTTPClientError) -> String {
        let what: String
        switch error.code {
        case .connectionFailed: what = "no connection (the name does not resolve, or the port refuses or is closed)"
        case .timedOut: what = "no answer in time"
        case .tls: what = "the TLS handshake failed (certificate or protocol)"
        case .connectionDropped: what = "the connection closed without an answer"
        case .addressNotAllowed: what = "the address is on a private network, which this installation refuses"
        default: what = "the request failed"
        }
        return "cannot reach \(host): \(what): \(error.message); check settings.base_url (or account_id) and the network"
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? SyncError { return error.message }
        if let error = error as? HTTPClientError { return error.message }
        return String(describing: type(of: error))
    }

    /// `https://1234567-sb1.suitetalk.api.netsuite.com` → `1234567-sb1.suitetalk.api.netsuite.com`;
    /// ports kept.
    static func host(of origin: String) -> String {
        guard let schemeEnd = origin.range(of: "://") else { return origin }
        let rest = origin[schemeEnd.upperBound...]
        return String(rest.prefix { $0 != "/" })
    }

    /// The account a NetSuite host names (`1234567-sb1.suitetalk.api.netsuite.com` →
    /// `1234567-sb1`); nil for another host (a simulator, a proxy).
    static func namedAccount(_ host: String) -> String? {
        let name = host.lowercased().split(separator: ":").first.map(String.init) ?? ""
        let suffix = ".suitetalk.api.netsuite.com"
        guard name.hasSuffix(suffix), name.count > suffix.count else { return nil }
        return String(name.dropLast(suffix.count))
    }

    /// An account id as a realm: upper-case, `-` → `_`.
    static func canonical(_ account: String) -> String {
        String(account.map { $0 == "-" ? "_" : $0 }).uppercased()
    }

    /// The `realm` parameter of a `WWW-Authenticate` value, whatever the scheme.
    static func realm(in header: String?) -> String? {
        guard let header, let start = header.range(of: "realm=\"", options: .caseInsensitive) else { return nil }
        let rest = header[start.upperBound...]
        guard let end = rest.firstIndex(of: "\"") else { return nil }
        let realm = String(rest[..<end])
        // An account id: letters, digits, `_` and `-`, and short; anything else is not read.
        guard !realm.isEmpty, realm.count <= 40,
            realm.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            })
        else { return nil }
        return realm
    }

    static func int(_ value: ExactJSON?) -> Int? {
        value?.numberText.flatMap { Int($0) }
    }
}

extension NetSuiteClient {
    var isOAuth2: Bool {
        if case .oauth2 = auth { return true }
        return false
    }

    /// For an OAuth 2.0 connection, gets an access token through the client's token store the
    /// way `send` does (the next request reuses it); nothing for token-based authentication.
    func connectionTestAccessToken() async throws {
        guard case .oauth2(let credentials, let connection, let tokens) = auth else { return }
        let account = account
        let http = http
        let timeout = requestTimeout
        _ = try await tokens.accessToken(for: connection, minValidity: tokenMinValidity) {
            try await NetSuiteM2M.requestToken(credentials: credentials, account: account, http: http, timeout: timeout)
        }
    }
}
