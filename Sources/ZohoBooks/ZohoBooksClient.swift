import ExactJSON
import Foundation
import HTTPClient
import Sync
import Synchronization

// Requests to Zoho Books API v3, as Zoho's pages describe them:
//
// - "Introduction" (https://www.zoho.com/books/api/v3/introduction/): the root
//   `https://www.zohoapis.<dc>/books/v3` (the token answer's `api_domain` names the host);
//   "The parameter organization_id along with the organization ID should be sent in with every
//   API request"; every request carries `Authorization: Zoho-oauthtoken <access token>`.
// - The request bodies: every module's page ("Contacts", "Invoices", "Sales Order", "Credit
//   Notes", "Customer Payments") shows its request example as
//   `curl … --header 'content-type: application/json' --data '{…}'`, and Zoho's published
//   OpenAPI files declare `requestBody: content: application/json` for the writes. The old
//   `JSONString=` form field of the v3 pages' first versions is not what they document now:
//   the body is the JSON object itself.
// - "Errors" (https://www.zoho.com/books/api/v3/errors/): HTTP 200/201 success, 400 bad
//   request, 401 "invalid AuthToken", 404, 405, 429 "Too many requests within a certain time
//   frame", 500; every answer is `{"code", "message", …}` with code 0 on success.
// - "Self Client - Authorization code flow"
//   (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html):
//   access tokens are valid for one hour and renewed with the refresh token (`ZohoAccounts`).
//   A refresh token allows only a few access tokens per window (PROVIDERS 3: 10 per 10
//   minutes; no Zoho page found states the number): tokens live in the shared store
//   (`ProviderContext.tokens`), which issues one for every process, single-flight.

/// The self client's credentials a connection holds (sealed): client id and secret, and the
/// refresh token `connections add --grant-code` obtained. Its description shows no secret.
public struct ZohoSelfClientCredentials: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let clientID: String
    public let clientSecret: String
    public let refreshToken: String

    public init(clientID: String, clientSecret: String, refreshToken: String) {
        self.clientID = clientID
        self.clientSecret = clientSecret
        self.refreshToken = refreshToken
    }

    /// Reads the connection's secrets; errors name the field and never quote a value.
    public init(_ secrets: ConnectionSecrets) throws {
        let clientID = try secrets.require("client_id")
        let clientSecret = try secrets.require("client_secret")
        guard let refreshToken = secrets["refresh_token"], !refreshToken.isEmpty else {
            throw StoreError.invalid(
                "secrets.refresh_token",
                "the connection holds no refresh token: its grant code was never exchanged (run `ledgersync connections update --rotate-secrets --grant-code …` with a new code)"
            )
        }
        self.init(clientID: clientID, clientSecret: clientSecret, refreshToken: refreshToken)
    }

    public var description: String { "ZohoSelfClientCredentials(client_id: \(clientID.prefix(9))…, secret and refresh token redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// Paces the requests of one provider call inside a job whose connection counts requests per
/// window (`SyncTarget.beforeFurtherRequest`): the job's start spent one start of the windows,
/// so the call's first request goes out at once; every later one (a further request of the
/// same call, or the resend after a 401) first spends another start, waiting until one is free.
public final class ZohoRequestPacer: Sendable {
    private let further: @Sendable () async throws -> Void
    private let sent: Mutex<Int>

    /// `alreadySent`: requests this job sent before this call (so even its first is a further one).
    public init(_ further: @escaping @Sendable () async throws -> Void, alreadySent: Int = 0) {
        self.further = further
        sent = Mutex(alreadySent)
    }

    public convenience init(target: SyncTarget, alreadySent: Int = 0) {
        self.init(target.beforeFurtherRequest, alreadySent: alreadySent)
    }

    /// Called right before each request is sent.
    func beforeRequest() async throws {
        let earlier = sent.withLock { count in
            defer { count += 1 }
            return count
        }
        if earlier > 0 { try await further() }
    }

    /// Requests sent (or about to be) so far, those before this call included.
    public var requests: Int { sent.withLock { $0 } }
}

/// Requests to one organization's Zoho Books API v3: `Authorization: Zoho-oauthtoken`, the
/// `organization_id` on every call, the `{code, message}` envelope read, errors sorted into
/// the four classes (`ZohoErrorParser`).
public final class ZohoBooksClient: Sendable {
    public let connection: AccountingConnection
    /// The organization (`connection.accountID`), sent as `organization_id` on every call.
    public let organizationID: String
    /// `<api domain>/books/v3`.
    public let apiBase: String
    let accountsURL: String
    let credentials: ZohoSelfClientCredentials
    let http: HTTPClient
    let tokens: any AccessTokenStore
    /// How long one request may take before it counts as a (transient) timeout.
    public let requestTimeout: Duration
    /// How long Zoho may go on processing a request this client stopped waiting for (its
    /// concurrency slot stays held that long, `SyncError.providerMayStillRunFor`).
    public let serverTimeLimit: Duration
    /// The lifetime of the last access token issued for each connection (organization and
    /// client id) in this process: a token is replaced when less than
    /// `minValidity(forLifetime:)` of it is left. Process-wide, so a provider built again for a
    /// new version of the connection does not take the store's token for an hour's one.
    private static let lifetimes = Mutex<[String: Duration]>([:])
    private var lifetimeKey: String { "\(organizationID)/\(credentials.clientID)" }

    /// NOT DOCUMENTED by Zoho: how long Zoho Books goes on with a request whose caller went
    /// away. Two minutes: longer than any answer seen takes, short enough that a timed-out
    /// request does not hold one of the organization's ~10 concurrent calls for long.
    public static let defaultServerTimeLimit: Duration = .seconds(120)
    /// A token with less than this left is replaced before a request (PROVIDERS 3: "refresh
    /// ~5 min before expiry"), or half its life when it lives shorter (a simulator's 20 s).
    public static let refreshMargin: Duration = .seconds(300)
    /// Zoho's documented access token lifetime ("Validity: 1 hour"), assumed until a token
    /// answer says otherwise.
    public static let documentedLifetime: Duration = .seconds(3600)
    /// At most this many characters of Zoho's own message are kept in an error.
    public static let maxMessageLength = 300

    public init(connection: AccountingConnection, context: ProviderContext) throws {
        organizationID = try ZohoBooksDriver().canonicalAccountID(connection.accountID)
        credentials = try ZohoSelfClientCredentials(connection.secrets)
        guard let tokens = context.tokens else {
            throw StoreError.invalid(
                "secrets", "a Zoho Books connection needs the shared token store for its access tokens (this process has none)")
        }
        self.connection = connection
        self.tokens = tokens
        http = context.http
        requestTimeout = context.requestTimeout
        serverTimeLimit = context.serverTimeLimit ?? Self.defaultServerTimeLimit
        accountsURL = try ZohoBooksDriver.accountsURL(connection)
        apiBase = try ZohoBooksDriver.apiDomain(connection).trimmingCharacters(in: CharacterSet(charactersIn: "/")) + "/books/v3"
    }

    /// How much validity a stored token must have left to be used: 5 minutes, or half the
    /// token's life when that is shorter.
    static func minValidity(forLifetime lifetime: Duration) -> Duration {
        min(refreshMargin, lifetime / 2)
    }

    /// A valid access token from the shared store; the store calls `issue` (the refresh at
    /// Zoho's accounts server) once for every process when none is left.
    func accessToken() async throws -> String {
        let credentials = credentials
        let accountsURL = accountsURL
        let http = http
        let timeout = requestTimeout
        let issue: @Sendable () async throws -> IssuedToken = { [self] in
            let sentAt = Date()
            let answer: ZohoTokenAnswer
            do {
                answer = try await ZohoAccounts.refresh(
                    refreshToken: credentials.refreshToken, clientID: credentials.clientID, clientSecret: credentials.clientSecret,
                    accountsURL: accountsURL, http: http, timeout: timeout)
            } catch var error as SyncError {
                if error.errorClass == .rateLimited {
                    // The refresh token's own limit, not the organization's request windows:
                    // none of those is emptied (the job only waits).
                    error.exhaustsWindowsUpTo = .zero
                } else if error.errorClass == .permanent {
                    error = SyncError(
                        .permanent,
                        "\(error.message); the self client's refresh token or client was refused: obtain a new grant code and run `ledgersync connections update --rotate-secrets --grant-code …`",
                        providerCode: error.providerCode)
                }
                throw error
            }
            let seconds = max(1, answer.expiresAt.timeIntervalSince(sentAt))
            Self.lifetimes.withLock { $0[self.lifetimeKey] = .milliseconds(Int64(seconds * 1000)) }
            return answer.issued
        }
        let known = Self.lifetimes.withLock { $0[lifetimeKey] } ?? Self.documentedLifetime
        return try await tokens.accessToken(for: connection, minValidity: Self.minValidity(forLifetime: known), issue: issue)
    }

    /// Sends `method` to `/books/v3/<path>` with `organization_id` and `query`, `body` as JSON,
    /// extra `headers` (the upsert's `X-Unique-Identifier-*`); returns the answer's envelope
    /// (code 0) or throws a classified `SyncError` (`ZohoErrorParser`). `pacer`: the job's
    /// rate-window pacing (nil outside a job); every request this sends (the resend after a
    /// 401 included) goes through it.
    ///
    /// A 401 marks the token bad in the shared store and sends the request once more with a
    /// new one (Zoho did not run a request it refused with 401, so sending it again cannot
    /// duplicate it); a second 401 is permanent.
    public func send(
        _ method: String, _ path: String, query: [(String, String)] = [], body: ExactJSON? = nil, headers: [(String, String)] = [],
        pacer: ZohoRequestPacer? = nil
    ) async throws -> ExactJSON {
        let url = self.url(path, query: query)
        var allHeaders: [(name: String, value: String)] = [("Accept", "application/json")]
        if body != nil { allHeaders.append(("Content-Type", "application/json")) }
        for header in headers { allHeaders.append((header.0, header.1)) }
        let data = body.map { Data($0.description.utf8) }
        var attempt = 0
        while true {
            attempt += 1
            // Paced first: a wait for the window must not age the token it then sends.
            try await pacer?.beforeRequest()
            let token = try await accessToken()
            let request = HTTPRequest(
                method: method, url: url, headers: [("Authorization", "Zoho-oauthtoken " + token)] + allHeaders, body: data,
                timeout: requestTimeout)
            let response: HTTPResponse
            do {
                response = try await http.execute(request)
            } catch let error as HTTPClientError {
                throw SyncError(from: error, serverTimeLimit: serverTimeLimit)
            }
            if response.status == 401 && attempt == 1 {
                try await tokens.invalidate(token, for: connection)
                continue
            }
            return try ZohoErrorParser.envelope(response, method: method, path: Self.resourcePath(path))
        }
    }

    /// `<apiBase>/<path>?organization_id=<id>&<query>`, every name and value percent-encoded.
    func url(_ path: String, query: [(String, String)]) -> String {
        let trimmed = path.hasPrefix("/") ? String(path.dropFirst()) : path
        let encodedPath = trimmed.split(separator: "/", omittingEmptySubsequences: false).map { Self.encode(String($0)) }
            .joined(separator: "/")
        let parameters = [("organization_id", organizationID)] + query
        return apiBase + "/" + encodedPath + "?" + parameters.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&")
    }

    /// The path without ids, for messages: `creditnotes/460…/invoices` → `creditnotes/{id}/invoices`.
    static func resourcePath(_ path: String) -> String {
        path.split(separator: "/").map { part in part.allSatisfy(\.isNumber) ? "{id}" : String(part) }.joined(separator: "/")
    }

    /// RFC 3986 percent-encoding: unreserved characters stay, every other byte is `%XX`.
    static func encode(_ text: String) -> String { ZohoAccounts.formEncode(text) }
}
