import ExactJSON
import Foundation
import HTTPClient
import LedgerCrypto
import NetSuite
import Sync
import Testing

@testable import Simulators

/// Issue 13, must-show 1: the JWT client assertions of NetSuite OAuth 2.0 M2M against another
/// implementation. Keys, certificates and tokens in Fixtures/jwt were made by
/// `make_fixtures.py` with PyJWT and `cryptography`; a Swift-made assertion is checked by
/// PyJWT at test time (`verify_with_pyjwt.py`, Debian's python3-jwt), and PyJWT-made ones by
/// the simulator's verifier.
@Suite("JWT assertions: Swift, PyJWT and the simulator", .timeLimit(.minutes(2)))
struct JWTInteropTests {
    struct Tokens: Decodable {
        let tokenURL: String
        let clientID: String
        let iat: Int
        let rsaKid: String
        let ecKid: String
        let ps256: String
        let es256: String
        let ps256WrongKey: String
        let ps256WrongAudience: String
        let ps256TooLong: String
        let rs256: String
    }

    static func fixtureURL(_ name: String) throws -> URL {
        guard let directory = Bundle.module.url(forResource: "Fixtures", withExtension: nil) else {
            throw FixtureError("the Fixtures directory is missing from the test bundle")
        }
        return directory.appendingPathComponent("jwt").appendingPathComponent(name)
    }

    static func fixture(_ name: String) throws -> String {
        try String(contentsOf: fixtureURL(name), encoding: .utf8)
    }

    static func tokens() throws -> Tokens {
        try JSONDecoder().decode(Tokens.self, from: Data(contentsOf: fixtureURL("tokens.json")))
    }

    struct FixtureError: Error, CustomStringConvertible {
        let description: String
        init(_ description: String) { self.description = description }
    }

    /// A python3 that has PyJWT and cryptography: Debian's (scripts/install-deps.sh installs
    /// python3-jwt and python3-cryptography), else the first on PATH. No PyJWT fails the test.
    static func python() throws -> String {
        var candidates = ["/usr/bin/python3"]
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            candidates.append("\(directory)/python3")
        }
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            if (try? run(candidate, ["-c", "import jwt, cryptography"]))?.status == 0 { return candidate }
        }
        throw FixtureError("no python3 with PyJWT and cryptography; run scripts/install-deps.sh (python3-jwt, python3-cryptography)")
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static let simulatorTokenURL = "http://127.0.0.1/services/rest/auth/oauth2/v1/token"

    /// A simulator configured with the fixture mappings (RSA and EC certificates).
    static func simulator(tokens: Tokens) throws -> NetSuiteSimulator {
        var configuration = NetSuiteSimulator.Configuration()
        configuration.m2mMappings = [
            .init(clientID: tokens.clientID, certificateID: tokens.rsaKid, publicKeyPEM: try fixture("rsa3072_certificate.pem")),
            .init(clientID: tokens.clientID, certificateID: tokens.ecKid, publicKeyPEM: try fixture("ec_p256_public.pem")),
        ]
        return NetSuiteSimulator(configuration: configuration)
    }

    static func form(_ assertion: String) -> String { NetSuiteM2M.tokenRequestBody(assertion: assertion) }

    // MARK: - (a) Swift signs, PyJWT verifies

    @Test(
        "an assertion made by the Swift code verifies with PyJWT, its header and claims as NetSuite's page lists them",
        arguments: [
            ("rsa3072_private_pkcs8.pem", "rsa3072_certificate.pem", JWTAlgorithm.ps256),
            ("rsa3072_private_traditional.pem", "rsa3072_public.pem", JWTAlgorithm.ps256),
            ("ec_p256_private_traditional.pem", "ec_p256_certificate.pem", JWTAlgorithm.es256),
            ("ec_p256_private_pkcs8.pem", "ec_p256_public.pem", JWTAlgorithm.es256),
        ])
    func swiftAssertionVerifiesWithPyJWT(privateKey: String, publicKey: String, algorithm: JWTAlgorithm) throws {
        let credentials = NetSuiteM2MCredentials(
            clientID: "client-123", certificateID: "cert-456", privateKeyPEM: try Self.fixture(privateKey))
        let now = Date()
        let assertion = try NetSuiteM2M.assertion(credentials: credentials, tokenURL: Self.simulatorTokenURL, now: now)
        let result = try Self.run(
            try Self.python(),
            [
                try Self.fixtureURL("verify_with_pyjwt.py").path, assertion, try Self.fixtureURL(publicKey).path, algorithm.rawValue,
                Self.simulatorTokenURL,
            ])
        #expect(result.status == 0, "PyJWT: \(result.output)")
        let decoded = try ExactJSON.parse(Array(result.output.utf8))
        #expect(decoded["header"]?["typ"]?.stringValue == "JWT")
        #expect(decoded["header"]?["alg"]?.stringValue == algorithm.rawValue)
        #expect(decoded["header"]?["kid"]?.stringValue == "cert-456")
        let claims = decoded["claims"]
        #expect(claims?["iss"]?.stringValue == "client-123")
        #expect(claims?["aud"]?.stringValue == Self.simulatorTokenURL)
        #expect(claims?["scope"]?.arrayValue?.compactMap(\.stringValue) == ["rest_webservices"])
        let iat = claims?["iat"]?.numberText.flatMap { Int($0) }
        let exp = claims?["exp"]?.numberText.flatMap { Int($0) }
        #expect(iat == Int(now.timeIntervalSince1970))
        #expect(exp.map { $0 - (iat ?? 0) } == NetSuiteM2M.assertionLifetimeSeconds)
    }

    @Test("PS384 and PS512 signed in Swift verify with PyJWT too", arguments: [JWTAlgorithm.ps384, .ps512])
    func otherRSAAlgorithms(algorithm: JWTAlgorithm) throws {
        let key = try JWTPrivateKey(pem: try Self.fixture("rsa3072_private_pkcs8.pem"))
        let now = Int(Date().timeIntervalSince1970)
        let token = try JWT.sign(
            headerJSON: #"{"typ":"JWT","alg":"\#(algorithm.rawValue)","kid":"k"}"#,
            payloadJSON: #"{"iss":"c","aud":"\#(Self.simulatorTokenURL)","iat":\#(now),"exp":\#(now + 60)}"#, key: key, algorithm: algorithm
        )
        let result = try Self.run(
            try Self.python(),
            [
                try Self.fixtureURL("verify_with_pyjwt.py").path, token, try Self.fixtureURL("rsa3072_certificate.pem").path,
                algorithm.rawValue, Self.simulatorTokenURL,
            ])
        #expect(result.status == 0, "PyJWT: \(result.output)")
        #expect(
            JWT.verify(try JWT.parts(of: token), key: try JWTPublicKey(pem: try Self.fixture("rsa3072_public.pem")), algorithm: algorithm))
    }

    @Test("PyJWT refuses a Swift assertion checked with another key: the test above can fail")
    func pyJWTRefusesWrongKey() throws {
        let credentials = NetSuiteM2MCredentials(
            clientID: "c", certificateID: "k", privateKeyPEM: try Self.fixture("rsa3072_private_pkcs8.pem"))
        let assertion = try NetSuiteM2M.assertion(credentials: credentials, tokenURL: Self.simulatorTokenURL)
        var parts = assertion.split(separator: ".").map(String.init)
        // Flip one signature character.
        parts[2] = String(parts[2].dropLast()) + (parts[2].hasSuffix("A") ? "B" : "A")
        let result = try Self.run(
            try Self.python(),
            [
                try Self.fixtureURL("verify_with_pyjwt.py").path, parts.joined(separator: "."),
                try Self.fixtureURL("rsa3072_certificate.pem").path, "PS256", Self.simulatorTokenURL,
            ])
        #expect(result.status == 1)
        #expect(result.output.contains("InvalidSignatureError"))
    }

    @Test("ES256 signatures are the 64-byte r‖s of RFC 7515 §3.4, not DER; PS256 ones are as long as the modulus")
    func signatureShapes() throws {
        let ec = try JWTPrivateKey(pem: try Self.fixture("ec_p256_private_pkcs8.pem"))
        let rsa = try JWTPrivateKey(pem: try Self.fixture("rsa3072_private_pkcs8.pem"))
        for _ in 0..<20 {
            #expect(try ec.sign(Array("message".utf8), algorithm: .es256).count == 64)
        }
        #expect(try rsa.sign(Array("message".utf8), algorithm: .ps256).count == 384)
        #expect(ec.defaultAlgorithm == .es256)
        #expect(rsa.defaultAlgorithm == .ps256)
        #expect(throws: CryptoError.self) { try rsa.sign([1], algorithm: .es256) }
        #expect(throws: CryptoError.self) { try ec.sign([1], algorithm: .ps256) }
    }

    // MARK: - PyJWT signs, Swift verifies

    @Test("PyJWT's PS256 and ES256 tokens verify in Swift with the certificate and with the public key; the wrong key's does not")
    func pyJWTTokensVerifyInSwift() throws {
        let tokens = try Self.tokens()
        let rsaCertificate = try JWTPublicKey(pem: try Self.fixture("rsa3072_certificate.pem"))
        let rsaPublic = try JWTPublicKey(pem: try Self.fixture("rsa3072_public.pem"))
        let ecCertificate = try JWTPublicKey(pem: try Self.fixture("ec_p256_certificate.pem"))
        let ecPublic = try JWTPublicKey(pem: try Self.fixture("ec_p256_public.pem"))
        let ps256 = try JWT.parts(of: tokens.ps256)
        let es256 = try JWT.parts(of: tokens.es256)
        #expect(JWT.verify(ps256, key: rsaCertificate, algorithm: .ps256))
        #expect(JWT.verify(ps256, key: rsaPublic, algorithm: .ps256))
        #expect(JWT.verify(es256, key: ecCertificate, algorithm: .es256))
        #expect(JWT.verify(es256, key: ecPublic, algorithm: .es256))
        #expect(!JWT.verify(try JWT.parts(of: tokens.ps256WrongKey), key: rsaCertificate, algorithm: .ps256))
        #expect(!JWT.verify(ps256, key: ecPublic, algorithm: .ps256))
        #expect(!JWT.verify(es256, key: rsaPublic, algorithm: .es256))
        #expect(!JWT.verify(es256, key: ecPublic, algorithm: .es384))
    }

    // MARK: - (b) the simulator accepts PyJWT's assertions

    @Test("the simulator's verifier accepts the committed PyJWT PS256 and ES256 assertions")
    func simulatorAcceptsPyJWTAssertions() throws {
        let tokens = try Self.tokens()
        let simulator = try Self.simulator(tokens: tokens)
        let now = Date(timeIntervalSince1970: TimeInterval(tokens.iat + 60))
        for token in [tokens.ps256, tokens.es256] {
            guard case .success(let clientID) = simulator.checkTokenRequest(Self.form(token), tokenURL: tokens.tokenURL, now: now) else {
                Issue.record("refused: \(simulator.checkTokenRequest(Self.form(token), tokenURL: tokens.tokenURL, now: now))")
                continue
            }
            #expect(clientID == tokens.clientID)
        }
    }

    @Test("over real HTTP, the simulator issues a token for an assertion PyJWT signs now, and refuses a Swift one with a wrong aud")
    func simulatorTokenEndpointOverHTTP() async throws {
        let tokens = try Self.tokens()
        let simulator = try Self.simulator(tokens: tokens)
        _ = try await simulator.start()
        let http = HTTPClient()
        do {
            let account = try NetSuiteAccount(accountID: simulator.configuration.accountID, baseURLOverride: simulator.baseURL)
            let tokenURL = NetSuiteM2M.tokenURL(account: account)
            let signed = try Self.run(
                try Self.python(),
                [
                    try Self.fixtureURL("sign_with_pyjwt.py").path, try Self.fixtureURL("rsa3072_private_pkcs8.pem").path, "PS256",
                    tokens.rsaKid, tokens.clientID, tokenURL,
                ])
            #expect(signed.status == 0, "PyJWT: \(signed.output)")
            let post = { (body: String) in
                try await http.execute(
                    HTTPRequest(
                        method: "POST", url: tokenURL, headers: [("Content-Type", "application/x-www-form-urlencoded")],
                        body: Data(body.utf8)))
            }
            let issued = try await post(Self.form(signed.output.trimmingCharacters(in: .whitespacesAndNewlines)))
            #expect(issued.status == 200)
            let answer = try ExactJSON.parse(issued.body)
            #expect(answer["token_type"]?.stringValue == "Bearer")
            #expect(answer["expires_in"]?.stringValue == "3600")
            #expect((answer["access_token"]?.stringValue?.count ?? 0) >= 32)

            let wrongAudience = try NetSuiteM2M.assertion(
                credentials: NetSuiteM2MCredentials(
                    clientID: tokens.clientID, certificateID: tokens.ecKid, privateKeyPEM: try Self.fixture("ec_p256_private_pkcs8.pem")),
                tokenURL: "https://1234567-sb1.suitetalk.api.netsuite.com" + NetSuiteM2M.tokenPath)
            let refused = try await post(Self.form(wrongAudience))
            #expect(refused.status == 401)
            #expect(try ExactJSON.parse(refused.body)["error"]?.stringValue == "invalid_client")
            #expect(simulator.tokenRequests.map(\.refusal) == [nil, .wrongAudience])
            #expect(simulator.tokenStats.issued == 1 && simulator.tokenStats.refused == 1)
        } catch {
            http.shutdown()
            await simulator.stop()
            throw error
        }
        http.shutdown()
        await simulator.stop()
    }

    // MARK: - (c) the simulator refuses

    @Test(
        "the simulator refuses a wrong key, an expired exp, a wrong aud, an hour-plus lifetime and RS256, each with invalid_client and its reason",
        arguments: [
            ("ps256WrongKey", 60, NetSuiteSimulator.TokenRefusal.badSignature),
            ("ps256", 301, .expired),
            ("es256", 300, .expired),
            ("ps256WrongAudience", 60, .wrongAudience),
            ("ps256TooLong", 60, .lifetimeTooLong),
            ("rs256", 60, .algorithmNotAllowed),
        ])
    func simulatorRefuses(token name: String, secondsAfterIAT: Int, expected: NetSuiteSimulator.TokenRefusal) throws {
        let tokens = try Self.tokens()
        let token: String =
            switch name {
            case "ps256WrongKey": tokens.ps256WrongKey
            case "ps256": tokens.ps256
            case "es256": tokens.es256
            case "ps256WrongAudience": tokens.ps256WrongAudience
            case "ps256TooLong": tokens.ps256TooLong
            default: tokens.rs256
            }
        let simulator = try Self.simulator(tokens: tokens)
        let now = Date(timeIntervalSince1970: TimeInterval(tokens.iat + secondsAfterIAT))
        guard case .failure(let refusal, _) = simulator.checkTokenRequest(Self.form(token), tokenURL: tokens.tokenURL, now: now) else {
            Issue.record("\(name) was accepted")
            return
        }
        #expect(refusal == expected)
        #expect(refusal.errorCode == "invalid_client")
    }

    @Test("the token request's form is checked: grant_type and client_assertion_type exactly, an unknown kid or issuer refused")
    func formAndMappingChecks() throws {
        let tokens = try Self.tokens()
        let simulator = try Self.simulator(tokens: tokens)
        let now = Date(timeIntervalSince1970: TimeInterval(tokens.iat + 60))
        func refusal(_ body: String) -> NetSuiteSimulator.TokenRefusal? {
            if case .failure(let refusal, _) = simulator.checkTokenRequest(body, tokenURL: tokens.tokenURL, now: now) { return refusal }
            return nil
        }
        let good = Self.form(tokens.ps256)
        #expect(refusal(good) == nil)
        #expect(refusal(good.replacingOccurrences(of: "grant_type=client_credentials", with: "grant_type=password")) == .wrongGrantType)
        #expect(refusal(good.replacingOccurrences(of: "jwt-bearer", with: "saml2-bearer")) == .wrongAssertionType)
        #expect(refusal("grant_type=client_credentials") == .malformedRequest)
        #expect(refusal(good + "&grant_type=client_credentials") == .malformedRequest)
        #expect(NetSuiteSimulator.TokenRefusal.wrongGrantType.errorCode == "invalid_request")

        var other = NetSuiteSimulator.Configuration()
        other.m2mMappings = [
            .init(clientID: "someone-else", certificateID: tokens.rsaKid, publicKeyPEM: try Self.fixture("rsa3072_public.pem"))
        ]
        if case .failure(let reason, _) = NetSuiteSimulator(configuration: other).checkTokenRequest(
            good, tokenURL: tokens.tokenURL, now: now)
        {
            #expect(reason == .unknownIssuer)
        } else {
            Issue.record("an assertion whose iss is not the mapping's client id was accepted")
        }
        other.m2mMappings = []
        if case .failure(let reason, _) = NetSuiteSimulator(configuration: other).checkTokenRequest(
            good, tokenURL: tokens.tokenURL, now: now)
        {
            #expect(reason == .unknownCertificate)
        } else {
            Issue.record("an assertion with an unknown kid was accepted")
        }
    }

    // MARK: - Keys

    @Test("bad keys get errors saying what is wrong, never showing the key")
    func keyErrors() throws {
        func message(_ pem: String) -> String? {
            do {
                _ = try JWTPrivateKey(pem: pem)
                return nil
            } catch let error as CryptoError {
                return error.message
            } catch {
                return "\(error)"
            }
        }
        let short = try Self.fixture("rsa1024_private_pkcs8.pem")
        #expect(message(short)?.contains("1024 bits, too short") == true)
        #expect(message("hello")?.contains("not PEM") == true)
        #expect(message(try Self.fixture("rsa3072_certificate.pem"))?.contains("CERTIFICATE, not a private key") == true)
        #expect(
            message("-----BEGIN ENCRYPTED PRIVATE KEY-----\nMIIB\n-----END ENCRYPTED PRIVATE KEY-----\n")?.contains("encrypted") == true)
        let damaged = try Self.fixture("rsa3072_private_pkcs8.pem").replacingOccurrences(of: "M", with: "*")
        let damagedMessage = message(damaged)
        #expect(damagedMessage?.contains("could not be read") == true)
        #expect(damagedMessage?.contains("*") == false)
        let key = try JWTPrivateKey(pem: try Self.fixture("ec_p256_private_pkcs8.pem"))
        #expect("\(key)" == "JWTPrivateKey(EC, redacted)")
        let credentials = NetSuiteM2MCredentials(
            clientID: "client-1234567", certificateID: "cert-7654321", privateKeyPEM: try Self.fixture("ec_p256_private_pkcs8.pem"))
        #expect(!"\(credentials)".contains("PRIVATE"))
        #expect(!String(reflecting: credentials).contains("PRIVATE"))
        do {
            _ = try NetSuiteM2M.assertion(
                credentials: NetSuiteM2MCredentials(clientID: "c", certificateID: "k", privateKeyPEM: short),
                tokenURL: Self.simulatorTokenURL)
            Issue.record("a 1024-bit key signed an assertion")
        } catch let error as SyncError {
            #expect(error.errorClass == .permanent)
            #expect(error.message.hasPrefix("private_key: "))
        }
    }

    @Test("base64url has no padding and refuses standard base64's + and /")
    func base64URL() {
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.decode("-_8=") == nil)
        #expect(Base64URL.encode([]) == "")
    }
}
