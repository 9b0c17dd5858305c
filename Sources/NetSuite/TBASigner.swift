import Foundation
import LedgerCrypto
import Sync

/// Signs NetSuite requests with Token-Based Authentication: OAuth 1.0a, HMAC-SHA256,
/// exactly as PROVIDERS 2.1 lays it out (Oracle's "The Signature for Web Services and
/// RESTlets", RFC 5849).
///
/// The signing functions are pure: the same inputs give the same header, which is what
/// lets the tests hold them to answers computed by oauthlib and OpenSSL
/// (`scripts/tba-fixtures.py`). The convenience overload adds the clock and a fresh nonce.
///
/// JSON bodies are not signed (NetSuite signs only form-encoded bodies, which neither the
/// record API nor RESTlets accept), so no body goes in.
public enum TBASigner {
    public static let signatureMethod = "HMAC-SHA256"
    public static let oauthVersion = "1.0"
    /// NetSuite accepts 6–64 alphanumerics and rejects a nonce it has seen (`NonceRejected`).
    public static let nonceLength = 20

    /// The signature base string: `METHOD&enc(baseURL)&enc(parameters)`, where the base URL
    /// is the lower-case scheme and host (default port dropped) plus the path as given, and
    /// the parameters are the `oauth_*` ones plus every query parameter, each decoded then
    /// re-encoded per RFC 3986 and sorted by name, then value.
    public static func signatureBaseString(
        method: String,
        url: String,
        credentials: NetSuiteCredentials,
        timestamp: Int,
        nonce: String
    ) throws -> String {
        let parsed = try SignedURL(url)
        var parameters = parsed.queryParameters
        parameters.append(("oauth_consumer_key", credentials.consumerKey))
        parameters.append(("oauth_token", credentials.tokenID))
        parameters.append(("oauth_nonce", nonce))
        parameters.append(("oauth_timestamp", String(timestamp)))
        parameters.append(("oauth_signature_method", signatureMethod))
        parameters.append(("oauth_version", oauthVersion))
        let encoded: [(name: String, value: String)] = parameters.map { pair in
            (PercentEncoding.encode(pair.0), PercentEncoding.encode(pair.1))
        }
        // Encoded strings are ASCII, so String order is byte order here.
        let sorted = encoded.sorted { a, b in a.name != b.name ? a.name < b.name : a.value < b.value }
        let normalized = sorted.map { pair in pair.name + "=" + pair.value }.joined(separator: "&")
        return [method.uppercased(), PercentEncoding.encode(parsed.baseURL), PercentEncoding.encode(normalized)]
            .joined(separator: "&")
    }

    /// The `oauth_signature` value, Base64 (not yet percent-encoded):
    /// HMAC-SHA256 with key `enc(consumerSecret)&enc(tokenSecret)` over the base string.
    public static func signature(
        method: String,
        url: String,
        credentials: NetSuiteCredentials,
        timestamp: Int,
        nonce: String
    ) throws -> String {
        let baseString = try signatureBaseString(method: method, url: url, credentials: credentials, timestamp: timestamp, nonce: nonce)
        let key = PercentEncoding.encode(credentials.consumerSecret) + "&" + PercentEncoding.encode(credentials.tokenSecret)
        return HMACSHA256.base64(key: key, message: baseString)
    }

    /// The `Authorization` header value (`OAuth realm="…", oauth_consumer_key="…", …`), its
    /// fields in the order NetSuite documents, every value percent-encoded and quoted. The
    /// realm (`NetSuiteAccount.realm`) is sent but not signed.
    public static func authorizationHeader(
        method: String,
        url: String,
        credentials: NetSuiteCredentials,
        realm: String,
        timestamp: Int,
        nonce: String
    ) throws -> String {
        let signature = try signature(method: method, url: url, credentials: credentials, timestamp: timestamp, nonce: nonce)
        let fields: [(String, String)] = [
            ("realm", realm),
            ("oauth_consumer_key", credentials.consumerKey),
            ("oauth_token", credentials.tokenID),
            ("oauth_signature_method", signatureMethod),
            ("oauth_timestamp", String(timestamp)),
            ("oauth_nonce", nonce),
            ("oauth_version", oauthVersion),
            ("oauth_signature", signature),
        ]
        return "OAuth " + fields.map { "\($0.0)=\"\(PercentEncoding.encode($0.1))\"" }.joined(separator: ", ")
    }

    /// The header for a request sent now: the current Unix time and a fresh random nonce.
    public static func authorizationHeader(
        method: String,
        url: String,
        credentials: NetSuiteCredentials,
        realm: String
    ) throws -> String {
        try authorizationHeader(
            method: method, url: url, credentials: credentials, realm: realm,
            timestamp: currentTimestamp(), nonce: makeNonce())
    }

    /// The header for a request to `account` sent now (realm from the account id).
    public static func authorizationHeader(
        method: String,
        url: String,
        credentials: NetSuiteCredentials,
        account: NetSuiteAccount
    ) throws -> String {
        try authorizationHeader(method: method, url: url, credentials: credentials, realm: account.realm)
    }

    /// A random 20-character alphanumeric nonce from the CSPRNG.
    public static func makeNonce() -> String {
        SecureRandom.alphanumeric(length: nonceLength)
    }

    /// Unix time in whole seconds; NetSuite wants it within ±5 minutes of its own clock.
    public static func currentTimestamp() -> Int {
        Int(time(nil))
    }
}

/// The parts of a request URL that go into the signature: the base URL and the decoded
/// query parameters. Parsed by hand so that nothing re-encodes the path or the query
/// behind the signer's back.
struct SignedURL {
    let baseURL: String
    let queryParameters: [(String, String)]

    init(_ url: String) throws {
        func invalid(_ why: String) -> NetSuiteConfigError {
            NetSuiteConfigError(.invalidURL, "cannot sign URL \"\(url)\": \(why)")
        }
        var rest = Substring(url)
        if let hash = rest.firstIndex(of: "#") { rest = rest[..<hash] }
        guard let schemeEnd = rest.range(of: "://") else { throw invalid("it is not absolute (no scheme://)") }
        let scheme = rest[..<schemeEnd.lowerBound].lowercased()
        guard scheme == "http" || scheme == "https" else { throw invalid("the scheme must be http or https") }
        rest = rest[schemeEnd.upperBound...]

        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        var authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }

        var host: Substring
        var port: Substring = ""
        if authority.hasPrefix("["), let close = authority.firstIndex(of: "]") {
            host = authority[...close]
            let after = authority[authority.index(after: close)...]
            if after.hasPrefix(":") { port = after.dropFirst() }
        } else if let colon = authority.lastIndex(of: ":") {
            host = authority[..<colon]
            port = authority[authority.index(after: colon)...]
        } else {
            host = authority
        }
        guard !host.isEmpty else { throw invalid("it has no host") }
        guard port.allSatisfy(\.isASCII) && port.allSatisfy(\.isNumber) else { throw invalid("the port is not a number") }
        var origin = "\(scheme)://\(host.lowercased())"
        if let number = Int(port), !(scheme == "http" && number == 80), !(scheme == "https" && number == 443) {
            origin += ":\(number)"
        }

        let queryStart = rest.firstIndex(of: "?") ?? rest.endIndex
        let path = rest[..<queryStart]
        baseURL = origin + (path.isEmpty ? "/" : String(path))

        var parameters: [(String, String)] = []
        if queryStart < rest.endIndex {
            for pair in rest[rest.index(after: queryStart)...].split(separator: "&", omittingEmptySubsequences: true) {
                let equals = pair.firstIndex(of: "=")
                let rawName = equals.map { pair[..<$0] } ?? pair
                let rawValue = equals.map { pair[pair.index(after: $0)...] } ?? ""
                guard let name = PercentEncoding.decodeFormComponent(rawName),
                    let value = PercentEncoding.decodeFormComponent(rawValue)
                else { throw invalid("the query is not valid percent-encoded UTF-8") }
                parameters.append((name, value))
            }
        }
        queryParameters = parameters
    }
}
