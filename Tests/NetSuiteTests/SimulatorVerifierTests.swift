import Foundation
import NetSuite
import Testing

@testable import Simulators

/// The simulator's check of TBA signatures, held to oauthlib's answers (Fixtures/
/// tba_signatures.json) and never to the client's `TBASigner`: the headers verified here are
/// the ones oauthlib wrote, so a mistake shared by signer and verifier cannot pass.
@Suite(.timeLimit(.minutes(2))) struct SimulatorTBAVerifierTests {
    func verifier(_ fixture: TBAFixture, credentials: NetSuiteCredentials? = nil) -> TBAVerifier {
        TBAVerifier(realm: fixture.realm, credentials: [credentials ?? fixture.credentials], toleranceSeconds: 300)
    }

    @Test(arguments: TBAFixture.all)
    func ownBaseStringMatchesOauthlib(_ fixture: TBAFixture) throws {
        let oauth = [
            "oauth_consumer_key": fixture.consumer_key, "oauth_token": fixture.token_id, "oauth_nonce": fixture.nonce,
            "oauth_timestamp": String(fixture.timestamp), "oauth_signature_method": "HMAC-SHA256", "oauth_version": "1.0",
        ]
        let base = try #require(OAuth1Signature.baseString(method: fixture.method, url: fixture.url, oauthParameters: oauth))
        #expect(base == fixture.expected.signature_base_string)
        let signature = OAuth1Signature.hmacSHA256(
            method: fixture.method, url: fixture.url, oauthParameters: oauth,
            consumerSecret: fixture.consumer_secret, tokenSecret: fixture.token_secret)
        #expect(signature == fixture.expected.oauth_signature)
        #expect(signature == fixture.expected.openssl_signature)
    }

    @Test(arguments: TBAFixture.all)
    func acceptsOauthlibsHeader(_ fixture: TBAFixture) {
        let result = verifier(fixture).verify(
            authorization: fixture.expected.oauthlib_authorization_header, method: fixture.method, url: fixture.url, now: fixture.timestamp)
        #expect(throws: Never.self, "\(fixture.name)") { try result.get() }
    }

    /// Each part the signature covers, changed alone, makes the same header a bad signature.
    @Test(arguments: TBAFixture.all)
    func refusesWhatOauthlibDidNotSign(_ fixture: TBAFixture) {
        let header = fixture.expected.oauthlib_authorization_header
        var wrongSecret = fixture.credentials
        wrongSecret.tokenSecret += "x"
        let otherMethod = fixture.method == "POST" ? "PUT" : "POST"
        let otherURL = fixture.url.contains("?") ? fixture.url + "&extra=1" : fixture.url + "?extra=1"
        let attempts: [(String, Result<TBAVerifier.Verified, NetSuiteSimulator.LoginFailure>)] = [
            (
                "token secret",
                verifier(fixture, credentials: wrongSecret).verify(
                    authorization: header, method: fixture.method, url: fixture.url, now: fixture.timestamp)
            ),
            ("method", verifier(fixture).verify(authorization: header, method: otherMethod, url: fixture.url, now: fixture.timestamp)),
            ("query", verifier(fixture).verify(authorization: header, method: fixture.method, url: otherURL, now: fixture.timestamp)),
            (
                "path",
                verifier(fixture).verify(
                    authorization: header, method: fixture.method,
                    url: fixture.url.replacingOccurrences(of: "/v1/", with: "/v2/").replacingOccurrences(
                        of: "restlet.nl", with: "restlet.nm"), now: fixture.timestamp)
            ),
        ]
        for (what, result) in attempts {
            if case .failure(let reason) = result {
                #expect(reason == .badSignature, "\(fixture.name): changed \(what)")
            } else {
                Issue.record("\(fixture.name): a request with a changed \(what) passed")
            }
        }
    }

    @Test func encodingFollowsRFC5849() {
        // §3.6: unreserved characters stay, everything else is %XX in upper case, UTF-8 first.
        #expect(OAuth1Signature.encode("Az09-._~") == "Az09-._~")
        #expect(OAuth1Signature.encode("a b+c&d=e/f:g") == "a%20b%2Bc%26d%3De%2Ff%3Ag")
        #expect(OAuth1Signature.encode("Köln*") == "K%C3%B6ln%2A")
    }
}
