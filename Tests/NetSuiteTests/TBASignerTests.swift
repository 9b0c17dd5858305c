import ExactJSON
import Foundation
import LedgerCrypto
import Sync
import Testing

@testable import NetSuite

/// One case of Fixtures/tba_signatures.json, written by scripts/tba-fixtures.py from
/// oauthlib and checked there against `openssl dgst -sha256 -hmac`. Its fields keep the
/// fixture's snake_case keys, so the file and the decoder read the same names.
// swift-format-ignore: AlwaysUseLowerCamelCase
struct TBAFixture: Decodable, Sendable, CustomTestStringConvertible {
    // swift-format-ignore: AlwaysUseLowerCamelCase
    struct Expected: Decodable, Sendable {
        let base_string_uri: String
        let normalized_parameters: String
        let signature_base_string: String
        let signing_key: String
        let oauth_signature: String
        let oauthlib_authorization_header: String
        let openssl_signature: String
        let openssl_agrees: Bool
    }

    let name: String
    let method: String
    let url: String
    let account_id: String
    let realm: String
    let consumer_key: String
    let consumer_secret: String
    let token_id: String
    let token_secret: String
    let timestamp: Int
    let nonce: String
    let expected: Expected

    var credentials: NetSuiteCredentials {
        NetSuiteCredentials(consumerKey: consumer_key, consumerSecret: consumer_secret, tokenID: token_id, tokenSecret: token_secret)
    }

    var testDescription: String { name }

    /// The file read once; a missing or unreadable file is kept as its error, which
    /// `fixturesLoad` reports (the parameterised tests then have no cases, and that test fails).
    static let loaded: Result<[TBAFixture], any Error> = Result {
        struct File: Decodable { let cases: [TBAFixture] }
        guard let url = Bundle.module.url(forResource: "tba_signatures", withExtension: "json", subdirectory: "Fixtures") else {
            throw CocoaError(
                .fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "Fixtures/tba_signatures.json is not in the test bundle"])
        }
        return try JSONDecoder().decode(File.self, from: Data(contentsOf: url)).cases
    }

    static var all: [TBAFixture] { (try? loaded.get()) ?? [] }
}

/// Splits `OAuth a="1", b="2"` into its fields, in order, values still percent-encoded.
func parseAuthorization(_ header: String) throws -> [(name: String, value: String)] {
    #expect(header.hasPrefix("OAuth "))
    return try header.dropFirst("OAuth ".count).components(separatedBy: ", ").map { field in
        let parts = field.split(separator: "=", maxSplits: 1)
        try #require(parts.count == 2, "field \(field)")
        let value = parts[1]
        try #require(value.hasPrefix("\"") && value.hasSuffix("\"") && value.count >= 2, "quoted value in \(field)")
        return (String(parts[0]), String(value.dropFirst().dropLast()))
    }
}

let sampleCredentials = NetSuiteCredentials(
    consumerKey: "ef40afdd8abaac111b13825dd5e5e2ddddb44f86d5a0dd6dcf38c20aae6b67e4",
    consumerSecret: "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8b5",
    tokenID: "2e4ab9ab0b4b2f0e9b74a7f66b6c4c0e1f7a3d2c7e9b8a6f5d4c3b2a1f0e9d8c",
    tokenSecret: "5b7c1f9e3d2a4b6c8e0f1a3b5c7d9e1f2a4b6c8d0e2f4a6b8c0d2e4f6a8b0c2d"
)

@Suite(.timeLimit(.minutes(2))) struct TBASignerKnownAnswerTests {
    @Test func fixturesLoad() throws {
        let names = try TBAFixture.loaded.get().map(\.name)
        #expect(names.count == 8, "\(names)")
        for prefix in ["a_", "b_", "c_", "d_", "e_", "f_"] {
            #expect(names.contains { $0.hasPrefix(prefix) }, "case \(prefix)")
        }
        #expect(TBAFixture.all.allSatisfy { $0.expected.openssl_agrees && $0.expected.openssl_signature == $0.expected.oauth_signature })
    }

    @Test(arguments: TBAFixture.all)
    func baseStringMatchesOauthlib(_ fixture: TBAFixture) throws {
        let base = try TBASigner.signatureBaseString(
            method: fixture.method, url: fixture.url, credentials: fixture.credentials,
            timestamp: fixture.timestamp, nonce: fixture.nonce)
        #expect(base == fixture.expected.signature_base_string)
        let parsed = try SignedURL(fixture.url)
        #expect(parsed.baseURL == fixture.expected.base_string_uri)
    }

    @Test(arguments: TBAFixture.all)
    func signatureMatchesOauthlibAndOpenSSL(_ fixture: TBAFixture) throws {
        let signature = try TBASigner.signature(
            method: fixture.method, url: fixture.url, credentials: fixture.credentials,
            timestamp: fixture.timestamp, nonce: fixture.nonce)
        #expect(signature == fixture.expected.oauth_signature)
        #expect(signature == fixture.expected.openssl_signature)
        // The signing key, too (secrets percent-encoded, joined by &).
        #expect(HMACSHA256.base64(key: fixture.expected.signing_key, message: fixture.expected.signature_base_string) == signature)
    }

    /// Our header and oauthlib's carry the same fields and values (oauthlib orders them
    /// differently); ours follows NetSuite's documented order.
    @Test(arguments: TBAFixture.all)
    func headerMatchesOauthlib(_ fixture: TBAFixture) throws {
        let header = try TBASigner.authorizationHeader(
            method: fixture.method, url: fixture.url, credentials: fixture.credentials,
            realm: fixture.realm, timestamp: fixture.timestamp, nonce: fixture.nonce)
        let ours = try parseAuthorization(header)
        #expect(
            ours.map(\.name) == [
                "realm", "oauth_consumer_key", "oauth_token", "oauth_signature_method",
                "oauth_timestamp", "oauth_nonce", "oauth_version", "oauth_signature",
            ])
        let theirs = try parseAuthorization(fixture.expected.oauthlib_authorization_header)
        #expect(
            Dictionary(uniqueKeysWithValues: ours.map { ($0.name, $0.value) })
                == Dictionary(uniqueKeysWithValues: theirs.map { ($0.name, $0.value) }))
        let fields = Dictionary(uniqueKeysWithValues: ours.map { ($0.name, $0.value) })
        #expect(fields["realm"] == fixture.realm)
        #expect(fields["oauth_signature_method"] == "HMAC-SHA256")
        #expect(fields["oauth_version"] == "1.0")
        #expect(fields["oauth_timestamp"] == String(fixture.timestamp))
        #expect(fields["oauth_nonce"] == fixture.nonce)
        #expect(fields["oauth_signature"]?.removingPercentEncoding == fixture.expected.oauth_signature)
        #expect(
            fields["oauth_signature"]?.contains("+") == false && fields["oauth_signature"]?.contains("=") == false,
            "the Base64 signature is percent-encoded in the header")
    }

    @Test func realmIsNotSigned() throws {
        let fixture = try #require(TBAFixture.all.first)
        func signature(realm: String) throws -> String? {
            let header = try TBASigner.authorizationHeader(
                method: fixture.method, url: fixture.url, credentials: fixture.credentials,
                realm: realm, timestamp: fixture.timestamp, nonce: fixture.nonce)
            return try parseAuthorization(header).first { $0.name == "oauth_signature" }?.value
        }
        #expect(try signature(realm: "1234567") == signature(realm: "OTHER_REALM"))
    }

    @Test func methodIsUpperCased() throws {
        let fixture = try #require(TBAFixture.all.first { $0.name.hasPrefix("f_") })
        let signature = try TBASigner.signature(
            method: fixture.method.lowercased(), url: fixture.url, credentials: fixture.credentials,
            timestamp: fixture.timestamp, nonce: fixture.nonce)
        #expect(signature == fixture.expected.oauth_signature)
    }

    @Test func fragmentAndQueryOrderDoNotMatter() throws {
        let fixture = try #require(TBAFixture.all.first { $0.name.hasPrefix("c_") })
        let reordered = "https://1234567.restlets.api.netsuite.com/app/site/hosting/restlet.nl?deploy=1&script=1234#top"
        let signature = try TBASigner.signature(
            method: "POST", url: reordered, credentials: fixture.credentials,
            timestamp: fixture.timestamp, nonce: fixture.nonce)
        #expect(signature == fixture.expected.oauth_signature)
    }

    @Test func changingAnyInputChangesTheSignature() throws {
        let fixture = try #require(TBAFixture.all.first)
        let c = fixture.credentials
        func sign(url: String, _ credentials: NetSuiteCredentials, _ timestamp: Int, _ nonce: String) throws -> String {
            try TBASigner.signature(method: "POST", url: url, credentials: credentials, timestamp: timestamp, nonce: nonce)
        }
        let base = try sign(url: fixture.url, c, fixture.timestamp, fixture.nonce)
        var otherSecret = c
        otherSecret.tokenSecret += "0"
        let variants = [
            try sign(url: fixture.url, c, fixture.timestamp + 1, fixture.nonce),
            try sign(url: fixture.url, c, fixture.timestamp, fixture.nonce + "x"),
            try sign(url: fixture.url, otherSecret, fixture.timestamp, fixture.nonce),
            try sign(url: fixture.url + "?limit=1", c, fixture.timestamp, fixture.nonce),
        ]
        #expect(variants.allSatisfy { $0 != base })
    }

    @Test func unsignableURLsFail() {
        for url in ["/services/rest/record/v1/customer", "ftp://host/x", "https:///path", "https://host:abc/x", "https://host/x?q=%zz"] {
            #expect(throws: NetSuiteConfigError.self, "\(url)") {
                try TBASigner.signatureBaseString(method: "GET", url: url, credentials: sampleCredentials, timestamp: 1, nonce: "abcdef")
            }
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct TBASignerConvenienceTests {
    @Test func twoCallsUseDifferentNoncesAndTheCurrentTime() throws {
        let account = try NetSuiteAccount(accountID: "1234567_sb1")
        let url = account.restBaseURL + "/customer"
        let before = Int(time(nil))
        let first = try parseAuthorization(
            TBASigner.authorizationHeader(method: "POST", url: url, credentials: sampleCredentials, account: account))
        let second = try parseAuthorization(
            TBASigner.authorizationHeader(method: "POST", url: url, credentials: sampleCredentials, realm: account.realm))
        let after = Int(time(nil))
        let f = Dictionary(uniqueKeysWithValues: first.map { ($0.name, $0.value) })
        let s = Dictionary(uniqueKeysWithValues: second.map { ($0.name, $0.value) })
        let nonce1 = try #require(f["oauth_nonce"])
        let nonce2 = try #require(s["oauth_nonce"])
        #expect(nonce1 != nonce2)
        #expect(f["oauth_signature"] != s["oauth_signature"])
        for nonce in [nonce1, nonce2] {
            #expect(nonce.count == 20)
            #expect(nonce.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        }
        let timestamp = try #require(f["oauth_timestamp"].flatMap { Int($0) })
        #expect(timestamp >= before && timestamp <= after)
        #expect(f["realm"] == "1234567_SB1")
        // The convenience header verifies like the pure one with the same timestamp and nonce.
        let pure = try TBASigner.signature(method: "POST", url: url, credentials: sampleCredentials, timestamp: timestamp, nonce: nonce1)
        #expect(f["oauth_signature"]?.removingPercentEncoding == pure)
    }
}

@Suite(.timeLimit(.minutes(2))) struct NetSuiteAccountTests {
    @Test(arguments: [
        ("1234567", "1234567", "1234567"),
        ("1234567_SB1", "1234567_SB1", "1234567-sb1"),
        ("1234567-sb1", "1234567_SB1", "1234567-sb1"),
        ("1234567_sb1", "1234567_SB1", "1234567-sb1"),
        ("tstdrv123", "TSTDRV123", "tstdrv123"),
        ("  TSTDRV123 ", "TSTDRV123", "tstdrv123"),
    ])
    func realmAndHost(accountID: String, realm: String, host: String) throws {
        let account = try NetSuiteAccount(accountID: accountID)
        #expect(account.realm == realm)
        #expect(account.hostLabel == host)
        #expect(account.restBaseURL == "https://\(host).suitetalk.api.netsuite.com/services/rest/record/v1")
        #expect(account.restletURL == "https://\(host).restlets.api.netsuite.com/app/site/hosting/restlet.nl")
    }

    @Test func sandboxURLsMatchTheFixture() throws {
        let account = try NetSuiteAccount(accountID: "1234567_SB1")
        let fixture = try #require(TBAFixture.all.first { $0.name.hasPrefix("e_") })
        #expect(account.realm == fixture.realm)
        #expect(account.restBaseURL + "/customer" == fixture.url)
        let restlet = try #require(TBAFixture.all.first { $0.name.hasPrefix("c_") })
        #expect(try NetSuiteAccount(accountID: "1234567").restletURL(script: "1234", deploy: "1") == restlet.url)
    }

    @Test func overrideRedirectsButKeepsTheRealm() throws {
        let account = try NetSuiteAccount(accountID: "1234567-sb1", baseURLOverride: "http://127.0.0.1:8089/")
        #expect(account.realm == "1234567_SB1")
        #expect(account.restBaseURL == "http://127.0.0.1:8089/services/rest/record/v1")
        #expect(account.restletURL == "http://127.0.0.1:8089/app/site/hosting/restlet.nl")
        #expect(
            account.restletURL(script: "customscript 7", deploy: "1")
                == "http://127.0.0.1:8089/app/site/hosting/restlet.nl?script=customscript%207&deploy=1")
        // The simulator case of the fixtures signs against exactly such a URL.
        let fixture = try #require(TBAFixture.all.first { $0.name.hasPrefix("h_") })
        #expect(fixture.url.hasPrefix(try NetSuiteAccount(accountID: "1234567", baseURLOverride: "http://127.0.0.1:8089").restBaseURL))
    }

    @Test func badAccountIDsAndOverridesFail() {
        for id in ["", "   ", "1234567.sb1", "acct/1", "1234567 SB1", "ümlaut"] {
            #expect(throws: NetSuiteConfigError.self, "\(id)") { try NetSuiteAccount(accountID: id) }
        }
        for override in ["", "127.0.0.1:8089", "ftp://x", "http://"] {
            #expect(throws: NetSuiteConfigError.self, "\(override)") { try NetSuiteAccount(accountID: "1", baseURLOverride: override) }
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct NetSuiteCredentialsTests {
    @Test func descriptionShowsNoSecret() {
        let c = sampleCredentials
        var dumped = ""
        dump(c, to: &dumped)
        for text in [
            String(describing: c), String(reflecting: c), "\(c)", dumped, String(describing: [c]), String(describing: Optional(c)),
        ] {
            #expect(!text.contains(c.consumerSecret))
            #expect(!text.contains(c.tokenSecret))
            #expect(!text.contains(String(c.consumerSecret.prefix(8))))
            #expect(!text.contains(String(c.tokenSecret.prefix(8))))
            #expect(!text.contains(c.consumerKey), "ids show only a hint")
        }
        #expect(String(describing: c).contains("<redacted>"))
        #expect(String(describing: c).contains("ef40af…"))
    }

    @Test func sealedRoundTripThroughSecretBox() throws {
        let box = try SecretBox(key: [UInt8](repeating: 3, count: 32))
        let json = String(decoding: try JSONEncoder().encode(sampleCredentials), as: UTF8.self)
        let sealed = try box.seal(json, for: SealContext(table: "connections", row: "c1", column: "secrets_sealed"))
        #expect(!sealed.contains(sampleCredentials.tokenSecret))
        let opened = try JSONDecoder().decode(
            NetSuiteCredentials.self,
            from: Data(try box.open(sealed, for: SealContext(table: "connections", row: "c1", column: "secrets_sealed")).utf8))
        #expect(opened == sampleCredentials)
    }
}

/// The `?replace=` of an upsert (issue 12) is a query parameter, so it is signed
/// (PROVIDERS 2.1 step 3): the comma is decoded, then re-encoded as `%2C` inside the
/// parameter string (`%252C` in the base string). Expected values computed independently
/// with Python's hmac/hashlib/urllib (RFC 5849 §3.4.1, HMAC-SHA256), not by this code.
@Suite(.timeLimit(.minutes(1))) struct TBAReplaceParameterTests {
    @Test("the replace parameter of an upsert URL is in the signature base string and the signature")
    func replaceIsSigned() throws {
        let credentials = NetSuiteCredentials(consumerKey: "ck", consumerSecret: "cs", tokenID: "tk", tokenSecret: "ts")
        let account = try NetSuiteAccount(accountID: "1234567_SB1")
        let request = NetSuiteRequest.upsert(
            account: account, recordType: "invoice", externalID: "inv_1",
            body: .object([("item", .sublist([])), ("taxDetails", .sublist([]))]))
        #expect(
            request.url
                == "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/invoice/eid:inv_1?replace=item,taxDetails")
        let base = try TBASigner.signatureBaseString(
            method: "PUT", url: request.url, credentials: credentials, timestamp: 1_700_000_000, nonce: "abcdef123456")
        #expect(
            base
                == "PUT&https%3A%2F%2F1234567-sb1.suitetalk.api.netsuite.com%2Fservices%2Frest%2Frecord%2Fv1%2Finvoice%2Feid%3Ainv_1&oauth_consumer_key%3Dck%26oauth_nonce%3Dabcdef123456%26oauth_signature_method%3DHMAC-SHA256%26oauth_timestamp%3D1700000000%26oauth_token%3Dtk%26oauth_version%3D1.0%26replace%3Ditem%252CtaxDetails"
        )
        let signature = try TBASigner.signature(
            method: "PUT", url: request.url, credentials: credentials, timestamp: 1_700_000_000, nonce: "abcdef123456")
        #expect(signature == "BVWxDOhJjXEUBnP9Smz02HVeVFiQSAPHRbbF0fVGXnc=")
        // Without the parameter the signature differs: it is really part of what is signed.
        let bare = try TBASigner.signature(
            method: "PUT", url: "https://1234567-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/invoice/eid:inv_1",
            credentials: credentials, timestamp: 1_700_000_000, nonce: "abcdef123456")
        #expect(bare != signature)
    }

    @Test("the replace set is the body's sublists, in body order; a body without sublists gets no replace")
    func replaceSetFromBody() throws {
        let account = try NetSuiteAccount(accountID: "1234567")
        let payment = ExactJSON.object([("payment", .number("5.00")), ("apply", .sublist([])), ("memo", .null)])
        #expect(NetSuiteRequest.replacedSublists(in: payment) == ["apply"])
        let none = NetSuiteRequest.upsert(account: account, recordType: "customer", externalID: "c", body: .object([("email", .null)]))
        #expect(!none.url.contains("?"))
        let off = NetSuiteRequest.upsert(
            account: account, recordType: "customerPayment", externalID: "p", body: payment, replaceSublists: false)
        #expect(!off.url.contains("replace"))
    }
}
