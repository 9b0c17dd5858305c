import Foundation
import LedgerCrypto
import NetSuite

extension NetSuiteSimulator {
    /// Why a request failed Token-Based Authentication. NetSuite answers every one of them
    /// with the same 401 and keeps the reason for its Login Audit Trail; so does the simulator.
    public enum LoginFailure: String, CaseIterable, Sendable, Codable, Error {
        /// The signature recomputed over the request differs from `oauth_signature`.
        case badSignature
        /// `oauth_timestamp` is further from the simulator's clock than the tolerance.
        case staleTimestamp
        /// The nonce was already used with this token.
        case reusedNonce
        /// No configured credential set has this consumer key and token id.
        case unknownToken
        /// The realm is missing or is not the account's.
        case badRealm
        /// `oauth_signature_method` is not HMAC-SHA256.
        case unsupportedMethod
        /// No `Authorization: OAuth …` header, an unreadable one, or a required field missing.
        case malformed
        /// OAuth 2.0: a bearer token the token endpoint never issued (or forgot).
        case unknownAccessToken
        /// OAuth 2.0: a bearer token past its lifetime (Login Audit Trail: AccessTokenExpired).
        case expiredAccessToken
    }

    /// One failed login, as the Login Audit Trail shows it.
    public struct LoginAuditEntry: Sendable {
        public let time: Date
        public let reason: LoginFailure
        public let method: String
        /// The request path, without its query.
        public let path: String
    }
}

/// Checks the `Authorization: OAuth …` header of a request (PROVIDERS 2.1) against the
/// account's realm and token sets. Pure apart from the clock it is given: the nonce, which
/// needs the shared history, is checked by the caller once the signature holds.
struct TBAVerifier: Sendable {
    let realm: String
    let credentials: [NetSuiteCredentials]
    let toleranceSeconds: Int

    /// A request whose signature holds; its nonce is still to be checked against the history.
    struct Verified {
        let nonceKey: String
    }

    /// - Parameters:
    ///   - url: the URL the request was called with: `http://` + Host header + request target.
    ///   - now: Unix seconds.
    func verify(authorization: String?, method: String, url: String, now: Int) -> Result<Verified, NetSuiteSimulator.LoginFailure> {
        guard let authorization, let fields = OAuthHeader.parse(authorization) else { return .failure(.malformed) }
        guard let consumerKey = fields["oauth_consumer_key"], let tokenID = fields["oauth_token"],
            let signatureMethod = fields["oauth_signature_method"], let timestampText = fields["oauth_timestamp"],
            let nonce = fields["oauth_nonce"], !nonce.isEmpty, let signature = fields["oauth_signature"],
            fields["oauth_version"].map({ $0 == TBASigner.oauthVersion }) ?? true
        else { return .failure(.malformed) }
        guard fields["realm"] == realm else { return .failure(.badRealm) }
        guard signatureMethod == TBASigner.signatureMethod else { return .failure(.unsupportedMethod) }
        guard let matched = credentials.first(where: { $0.consumerKey == consumerKey && $0.tokenID == tokenID }) else {
            return .failure(.unknownToken)
        }
        guard let timestamp = Int(timestampText) else { return .failure(.malformed) }
        guard abs(now - timestamp) <= toleranceSeconds else { return .failure(.staleTimestamp) }
        // The signature is recomputed by this file's own RFC 5849 code over the fields the
        // header carries, never by the client's `TBASigner`: a mistake in the signer then
        // shows as a 401 here instead of being repeated on both sides.
        var oauthParameters = fields
        oauthParameters.removeValue(forKey: "realm")
        oauthParameters.removeValue(forKey: "oauth_signature")
        guard
            let expected = OAuth1Signature.hmacSHA256(
                method: method, url: url, oauthParameters: oauthParameters,
                consumerSecret: matched.consumerSecret, tokenSecret: matched.tokenSecret),
            Self.constantTimeEqual(expected, signature)
        else { return .failure(.badSignature) }
        return .success(Verified(nonceKey: tokenID + "\u{0}" + nonce))
    }

    /// Compares without stopping at the first difference, so timing tells nothing about
    /// how much of a forged signature was right.
    static func constantTimeEqual(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8)
        let y = Array(b.utf8)
        guard x.count == y.count else { return false }
        return zip(x, y).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }
}

/// OAuth 1.0a HMAC-SHA256 signatures written from RFC 5849 §3.4 and Oracle's "The
/// Signature for Web Services and RESTlets" page (TBA signs with HMAC-SHA256), apart from
/// the client's `TBASigner`: its own percent-encoding, URL reading and parameter sort; the
/// HMAC itself is LedgerCrypto's (held to RFC 4231's known answers in CryptoTests).
enum OAuth1Signature {
    /// The base64 signature, or nil when the URL cannot be read.
    static func hmacSHA256(
        method: String, url: String, oauthParameters: [String: String], consumerSecret: String, tokenSecret: String
    ) -> String? {
        guard let base = baseString(method: method, url: url, oauthParameters: oauthParameters) else { return nil }
        // §3.4.2: key = encode(consumer secret) & encode(token secret).
        let key = Array((encode(consumerSecret) + "&" + encode(tokenSecret)).utf8)
        return HMACSHA256.base64(key: key, message: Array(base.utf8))
    }

    /// §3.4.1: METHOD & encode(base string URI) & encode(normalized parameters), where the
    /// parameters are the query's (decoded, form style) and the header's oauth_* fields
    /// (without realm and oauth_signature), each encoded, sorted by name then value.
    static func baseString(method: String, url: String, oauthParameters: [String: String]) -> String? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host?.lowercased()
        else { return nil }
        // §3.4.1.2: scheme and host in lower case; the port only when it is not the default.
        var baseURI = scheme + "://" + host
        if let port = components.port, !(scheme == "http" && port == 80) && !(scheme == "https" && port == 443) {
            baseURI += ":\(port)"
        }
        baseURI += components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        var pairs: [(String, String)] = []
        if let query = components.percentEncodedQuery, !query.isEmpty {
            for item in query.split(separator: "&", omittingEmptySubsequences: false) {
                let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
                guard let name = decode(parts[0]), let value = parts.count > 1 ? decode(parts[1]) : "" else { return nil }
                pairs.append((encode(name), encode(value)))
            }
        }
        for (name, value) in oauthParameters { pairs.append((encode(name), encode(value))) }
        // §3.4.1.3.2: byte order of the encoded names, then values (encoded text is ASCII).
        pairs.sort {
            Array($0.0.utf8).lexicographicallyPrecedes(Array($1.0.utf8))
                || ($0.0 == $1.0 && Array($0.1.utf8).lexicographicallyPrecedes(Array($1.1.utf8)))
        }
        let normalized = pairs.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
        return method.uppercased() + "&" + encode(baseURI) + "&" + encode(normalized)
    }

    /// §3.6: every byte but ALPHA, DIGIT, "-", ".", "_", "~" as %XX with upper-case hex.
    static func encode(_ text: String) -> String {
        var out = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(Character(Unicode.Scalar(byte)))
            default:
                out += "%" + String(byte >> 4, radix: 16).uppercased() + String(byte & 0x0F, radix: 16).uppercased()
            }
        }
        return out
    }

    /// A query name or value as sent (`+` is a space in a form-encoded query, §3.4.1.3.1).
    private static func decode(_ text: Substring) -> String? {
        OAuthHeader.percentDecode(Substring(text.replacingOccurrences(of: "+", with: " ")))
    }
}

/// Reads `OAuth realm="…", oauth_consumer_key="…", …`: comma-separated `name="value"`
/// pairs, values percent-decoded (RFC 5849 §3.5.1).
enum OAuthHeader {
    /// Nil unless the scheme is OAuth and every pair is well formed and named once.
    static func parse(_ header: String) -> [String: String]? {
        var rest = Substring(header).drop { $0 == " " }
        guard rest.prefix(6).lowercased() == "oauth ", !rest.isEmpty else { return nil }
        rest = rest.dropFirst(6)
        var fields: [String: String] = [:]
        while true {
            rest = rest.drop { $0 == " " || $0 == "\t" }
            if rest.isEmpty { break }
            guard let equals = rest.firstIndex(of: "=") else { return nil }
            let name = rest[..<equals].trimmingCharacters(in: .whitespaces)
            rest = rest[rest.index(after: equals)...]
            guard rest.first == "\"", let close = rest.dropFirst().firstIndex(of: "\"") else { return nil }
            guard !name.isEmpty, fields[name] == nil, let value = percentDecode(rest[rest.index(after: rest.startIndex)..<close]) else {
                return nil
            }
            fields[name] = value
            rest = rest[rest.index(after: close)...].drop { $0 == " " || $0 == "\t" }
            if rest.isEmpty { break }
            guard rest.first == "," else { return nil }
            rest = rest.dropFirst()
        }
        return fields.isEmpty ? nil : fields
    }

    /// `%XX` escapes to bytes, then UTF-8; nil for a broken escape. (`+` stays a plus: header
    /// values are not form-encoded.)
    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}

/// The nonces seen recently. A nonce only needs remembering while its timestamp could still
/// pass the tolerance check; twice the tolerance covers a timestamp at either edge. Entries
/// leave in arrival order, so memory follows the request rate, with a hard cap on top.
struct NonceHistory {
    let retention: Int
    static let capacity = 1_000_000

    private var seen: Set<String> = []
    private var arrivals: [(key: String, time: Int)] = []
    private var head = 0

    init(retentionSeconds: Int) { retention = retentionSeconds }

    /// Records `key` at `now`; false if it was already there.
    mutating func insert(_ key: String, now: Int) -> Bool {
        while head < arrivals.count, arrivals[head].time < now - retention || seen.count >= Self.capacity {
            seen.remove(arrivals[head].key)
            head += 1
        }
        if head > 1024 && head * 2 > arrivals.count {
            arrivals.removeFirst(head)
            head = 0
        }
        guard seen.insert(key).inserted else { return false }
        arrivals.append((key, now))
        return true
    }
}
