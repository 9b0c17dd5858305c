import Foundation
import HTTPClient
import Testing

/// Which addresses the private-network guard refuses, as text and as bytes.
@Suite(.timeLimit(.minutes(2))) struct NetworkGuardClassificationTests {
    @Test(arguments: [
        "127.0.0.1", "127.255.0.9", "10.0.0.1", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
        "100.64.0.1", "100.127.255.254", "0.0.0.0", "::1", "[::1]", "::", "fe80::1", "fe80::1%eth0", "fc00::1", "fd12:3456::1",
        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "64:ff9b::a00:1", "224.0.0.1", "ff02::1",
    ])
    func refused(_ address: String) throws {
        let (family, bytes) = try #require(NetworkGuard.parseAddress(address))
        #expect(NetworkGuard.classify(family: family, bytes: bytes) != nil, "\(address)")
        #expect(NetworkGuard.refusal(forHost: address) != nil)
    }

    @Test(arguments: [
        "8.8.8.8", "1.1.1.1", "172.15.255.255", "172.32.0.1", "100.63.255.255", "100.128.0.1", "192.169.0.1",
        "2606:4700:4700::1111", "::ffff:8.8.8.8", "2001:4860:4860::8888",
    ])
    func allowed(_ address: String) throws {
        let (family, bytes) = try #require(NetworkGuard.parseAddress(address))
        #expect(NetworkGuard.classify(family: family, bytes: bytes) == nil, "\(address)")
    }

    @Test func urlsAtCreation() {
        for url in [
            "http://127.0.0.1/hooks", "http://localhost:8080/hooks", "https://LOCALHOST./x", "http://api.localhost/x",
            "http://10.0.0.1/hooks", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9000/hooks",
            "http://[::ffff:127.0.0.1]/x",
        ] {
            let refusal = NetworkGuard.refusal(forURL: url)
            #expect(refusal != nil, "\(url)")
            #expect(refusal.map { !$0.contains("/hooks") } ?? true, "the path is not echoed")
        }
        // A name that does not resolve now is left to the connect-time check.
        #expect(NetworkGuard.refusal(forURL: "http://hooks.rebind.invalid/x") == nil)
        #expect(NetworkGuard.refusal(forURL: "https://8.8.8.8/x") == nil)
    }

    @Test func settingIsExplicit() {
        #expect(!NetworkGuard.privateNetworksAllowed(environment: [:]))
        #expect(!NetworkGuard.privateNetworksAllowed(environment: ["LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "0"]))
        #expect(NetworkGuard.privateNetworksAllowed(environment: ["LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "1"]))
        #expect(NetworkGuard.privateNetworksAllowed(environment: ["LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "true"]))
    }
}

/// The guard at connect time: it judges the address curl connects to, not the URL's name.
@Suite(.serialized, .timeLimit(.minutes(1)))
final class NetworkGuardConnectTests {
    let server: TestServer

    init() async throws {
        server = try await TestServer.start()
    }

    @Test func loopbackIsRefusedWhenTheGuardIsOn() async throws {
        // The server counts the TCP connections it accepted; an unguarded client keeps its
        // one connection alive between the two counts.
        let open = HTTPClient(maxConcurrentRequests: 1, allowPrivateNetworks: true)
        defer { open.shutdown() }
        let countURL = server.baseURL + "/connections"
        let before = try await open.execute(HTTPRequest(method: "GET", url: countURL, timeout: .seconds(5))).body

        let guarded = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: false)
        defer { guarded.shutdown() }
        do {
            let response = try await guarded.execute(HTTPRequest(method: "GET", url: countURL, timeout: .seconds(5)))
            Issue.record("expected a refusal, got HTTP \(response.status)")
        } catch let error as HTTPClientError {
            #expect(error.code == .addressNotAllowed, "\(error)")
            #expect(
                error.message.contains("127.0.0.1") && error.message.contains("loopback")
                    && error.message.contains("LEDGERSYNC_ALLOW_PRIVATE_NETWORK"))
            #expect(!error.isTransient)
        }
        let after = try await open.execute(HTTPRequest(method: "GET", url: countURL, timeout: .seconds(5))).body
        #expect(before == after, "the refused request never connected")
    }

    /// DNS rebinding: a name that passed the check at creation (it did not resolve, or
    /// resolved to a public address) resolves to loopback at delivery time. CURLOPT_RESOLVE
    /// plays the resolver; the guard must refuse the connection it would make.
    @Test func aNameResolvingToLoopbackAtConnectTimeIsRefused() async throws {
        let name = "hooks.rebind.invalid"
        let url = "http://\(name):\(server.port)/echo"
        #expect(NetworkGuard.refusal(forURL: url) == nil, "at creation the name resolves to nothing private")
        let pin = ["\(name):\(server.port):127.0.0.1"]

        let guarded = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: false, resolve: pin)
        defer { guarded.shutdown() }
        do {
            let response = try await guarded.execute(HTTPRequest(method: "POST", url: url, body: Data("{}".utf8), timeout: .seconds(5)))
            Issue.record("expected a refusal, got HTTP \(response.status)")
        } catch let error as HTTPClientError {
            #expect(error.code == .addressNotAllowed, "\(error)")
            #expect(error.message.contains("goes to 127.0.0.1"), "\(error)")
        }
        // The same pin with the guard off reaches the server: the pin works, the guard refused.
        let open = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true, resolve: pin)
        defer { open.shutdown() }
        let response = try await open.execute(HTTPRequest(method: "POST", url: url, body: Data("{}".utf8), timeout: .seconds(5)))
        #expect(response.status == 200 && response.header("X-Echo-Method") == "POST")
    }

    @Test func redirectsAreNeverFollowed() async throws {
        let client = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true)
        defer { client.shutdown() }
        let response = try await client.execute(HTTPRequest(method: "GET", url: server.baseURL + "/redirect", timeout: .seconds(5)))
        #expect(response.status == 302)
        #expect(response.header("Location") == "http://169.254.169.254/latest/meta-data/")
    }
}
