import Foundation
import HTTPClient
import Testing

/// Every request below has its own timeout and the suite a time limit, so a broken client
/// fails the run instead of hanging it. Serialized: the tests measure durations (timeouts,
/// prompt cancellation), which a machine busy with twenty Python servers at once blurs.
@Suite(.serialized, .timeLimit(.minutes(1)))
final class HTTPClientTests {
    let server: TestServer
    let client: HTTPClient

    init() async throws {
        server = try await TestServer.start()
        client = HTTPClient()
    }

    deinit {
        client.shutdown()
    }

    private func url(_ path: String) -> String { server.baseURL + path }

    private func expectError(
        _ code: HTTPClientError.Code, _ request: HTTPRequest, on client: HTTPClient? = nil,
        sourceLocation: SourceLocation = #_sourceLocation
    ) async -> HTTPClientError? {
        do {
            let response = try await (client ?? self.client).execute(request)
            Issue.record("expected \(code), got status \(response.status)", sourceLocation: sourceLocation)
            return nil
        } catch let error as HTTPClientError {
            #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
            return error
        } catch {
            Issue.record("expected HTTPClientError, got \(error)", sourceLocation: sourceLocation)
            return nil
        }
    }

    @Test func getEchoesMethodAndHeader() async throws {
        let response = try await client.execute(HTTPRequest(method: "GET", url: url("/echo"), headers: [("X-Custom", "hello")]))
        #expect(response.status == 200)
        #expect(response.header("x-echo-method") == "GET")
        #expect(response.header("X-ECHO-CUSTOM") == "hello")
        #expect(response.header("X-Echo-Length") == "0")
        #expect(response.body.isEmpty)
    }

    @Test func postRoundTripsABinaryBody() async throws {
        // Every byte value, NULs and invalid UTF-8 included, and larger than curl's
        // `Expect: 100-continue` threshold.
        let body = Data((0..<5000).map { UInt8($0 % 256) })
        let response = try await client.execute(
            HTTPRequest(
                method: "POST", url: url("/echo"),
                headers: [(name: "X-Custom", value: "posted"), (name: "Content-Type", value: "application/octet-stream")],
                body: body
            ))
        #expect(response.status == 200)
        #expect(response.header("X-Echo-Method") == "POST")
        #expect(response.header("X-Echo-Custom") == "posted")
        #expect(response.header("X-Echo-Length") == "5000")
        #expect(response.body == body)
    }

    @Test func putAndPatchAndDeleteSendTheirMethod() async throws {
        for method in ["PUT", "PATCH", "DELETE"] {
            let response = try await client.execute(HTTPRequest(method: method, url: url("/echo"), body: Data("{}".utf8)))
            #expect(response.header("X-Echo-Method") == method)
            #expect(response.body == Data("{}".utf8))
        }
    }

    @Test func noContentCarriesItsLocationHeader() async throws {
        let response = try await client.execute(HTTPRequest(method: "POST", url: url("/status/204"), body: Data("{}".utf8)))
        #expect(response.status == 204)
        #expect(response.header("location") == "/things/42")
        #expect(response.body.isEmpty)
    }

    @Test(arguments: [404, 500, 503])
    func errorStatusesAreResponses(status: Int) async throws {
        let response = try await client.execute(HTTPRequest(method: "GET", url: url("/status/\(status)")))
        #expect(response.status == status)
        #expect(String(decoding: response.body, as: UTF8.self) == "status \(status)")
    }

    @Test func slowServerTimesOutWithinTheTimeout() async throws {
        let started = ContinuousClock.now
        let error = await expectError(.timedOut, HTTPRequest(method: "GET", url: url("/sleep/5000"), timeout: .milliseconds(500)))
        let elapsed = ContinuousClock.now - started
        #expect(elapsed >= .milliseconds(450))
        // Well before the server's 5 s answer; the margin above 0.5 s absorbs a loaded
        // machine running other suites at once (2.26 s was seen in a CI run).
        #expect(elapsed < .seconds(4))
        #expect(error?.isTransient == true)
    }

    @Test func connectionClosedMidBodyIsDropped() async throws {
        let error = await expectError(.connectionDropped, HTTPRequest(method: "GET", url: url("/partial"), timeout: .seconds(5)))
        #expect(error?.isTransient == true)
    }

    @Test func connectionClosedWithoutReplyIsDropped() async throws {
        let error = await expectError(.connectionDropped, HTTPRequest(method: "GET", url: url("/empty"), timeout: .seconds(5)))
        #expect(error?.isTransient == true)
    }

    @Test("a body is never resent on its own when a kept-alive connection closes unanswered")
    func droppedReusedConnectionIsNotReplayed() async throws {
        // curl resends such a request by itself unless it cannot rewind the body; a resent
        // OAuth-signed request reuses its nonce, which NetSuite refuses. The first request
        // opens the connection that the second one reuses.
        let warmUp = try await client.execute(HTTPRequest(method: "GET", url: url("/echo")))
        #expect(warmUp.status == 200)
        let error = await expectError(
            .connectionDropped,
            HTTPRequest(
                method: "PUT", url: url("/drop-counted/put"), body: Data(#"{"externalId":"inv-1"}"#.utf8), timeout: .seconds(5)))
        #expect(error?.isTransient == true)
        let hits = try await client.execute(HTTPRequest(method: "GET", url: url("/hits/put")))
        #expect(String(decoding: hits.body, as: UTF8.self) == "1", "the server received the request once")
    }

    @Test func nothingListeningIsConnectionFailed() async throws {
        let port = try TestServer.unusedPort()
        let error = await expectError(.connectionFailed, HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)/", timeout: .seconds(5)))
        #expect(error?.isTransient == true)
    }

    @Test(arguments: ["http://[::1/", "ht tp://example.com/", "", "file:///etc/passwd", "gopher://127.0.0.1/"])
    func malformedURLIsInvalid(url: String) async throws {
        let error = await expectError(.invalidURL, HTTPRequest(method: "GET", url: url, timeout: .seconds(5)))
        #expect(error?.isTransient == false)
    }

    @Test func headerWithLineBreakIsRefusedWithoutEchoingItsValue() async throws {
        let secret = "Bearer s3cr3t\r\nX-Injected: 1"
        let error = await expectError(.invalidRequest, HTTPRequest(method: "GET", url: url("/echo"), headers: [("Authorization", secret)]))
        #expect(error.map { !$0.description.contains("s3cr3t") } == true)
    }

    @Test func errorsNeverContainHeadersOrQuery() async throws {
        let port = try TestServer.unusedPort()
        let error = await expectError(
            .connectionFailed,
            HTTPRequest(
                method: "GET", url: "http://user:pw@127.0.0.1:\(port)/path?token=s3cr3t",
                headers: [("Authorization", "Bearer s3cr3t")], timeout: .seconds(5)
            ))
        let text = error?.description ?? ""
        #expect(!text.contains("s3cr3t"))
        #expect(!text.contains("pw@"))
        #expect(text.contains("/path"))
        #expect(!text.contains("\n"))
    }

    @Test func bodyOverTheLimitIsTooLarge() async throws {
        let small = HTTPClient(maxResponseBytes: 1000)
        defer { small.shutdown() }
        #expect(try await small.execute(HTTPRequest(method: "GET", url: url("/bytes/1000"))).body.count == 1000)
        // With Content-Length (curl refuses before reading) and chunked (the write callback stops it).
        for path in ["/bytes/1001", "/chunked/200000"] {
            let error = await expectError(.responseTooLarge, HTTPRequest(method: "GET", url: url(path), timeout: .seconds(5)), on: small)
            #expect(error?.isTransient == false)
        }
        // The handle and the client stay usable afterwards.
        #expect(try await small.execute(HTTPRequest(method: "GET", url: url("/bytes/10"))).body.count == 10)
    }

    /// Waits until the server has received the request counted under `key`: the signal that
    /// a request is in flight (a fixed sleep only guesses it).
    func waitUntilArrived(_ key: String) async throws {
        let deadline = ContinuousClock.now + .seconds(20)
        while true {
            let hits = try await client.execute(HTTPRequest(method: "GET", url: url("/hits/\(key)")))
            if String(decoding: hits.body, as: UTF8.self) != "0" { return }
            guard ContinuousClock.now < deadline else { throw TestServerError("the request \(key) never reached the server") }
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func cancellingTheTaskAbortsASlowRequestPromptly() async throws {
        let key = "slow-\(UUID().uuidString)"
        let request = HTTPRequest(method: "GET", url: url("/sleep/10000/\(key)"), timeout: .seconds(10))
        let task = Task { [client] in try await client.execute(request) }
        try await waitUntilArrived(key)
        let cancelled = ContinuousClock.now
        task.cancel()
        let result = await task.result
        #expect(ContinuousClock.now - cancelled < .seconds(1))
        switch result {
        case .success(let response): Issue.record("expected cancellation, got status \(response.status)")
        case .failure(let error):
            #expect((error as? HTTPClientError)?.code == .cancelled, "\(error)")
            #expect((error as? HTTPClientError)?.isTransient == false)
        }
        // The client is still fine.
        #expect(try await client.execute(HTTPRequest(method: "GET", url: url("/echo"))).status == 200)
    }

    @Test func alreadyCancelledTaskDoesNotSend() async throws {
        // The server counts every request that reaches /drop-counted/KEY; "does not send"
        // is read from that count, not inferred from how fast the call returned.
        let key = "cancelled-\(UUID().uuidString)"
        let task = Task { [client, request = HTTPRequest(method: "GET", url: url("/drop-counted/\(key)"), timeout: .seconds(5))] in
            withUnsafeCurrentTask { $0?.cancel() }
            return try await client.execute(request)
        }
        let result = await task.result
        #expect((result.failure as? HTTPClientError)?.code == .cancelled)
        let hits = try await client.execute(HTTPRequest(method: "GET", url: url("/hits/\(key)")))
        #expect(String(decoding: hits.body, as: UTF8.self) == "0", "the cancelled request reached the server")

        // The same request from a task that is not cancelled is counted, so the count above
        // could have been non-zero.
        let control = "control-\(UUID().uuidString)"
        _ = try? await client.execute(HTTPRequest(method: "GET", url: url("/drop-counted/\(control)"), timeout: .seconds(5)))
        let controlHits = try await client.execute(HTTPRequest(method: "GET", url: url("/hits/\(control)")))
        #expect(Int(String(decoding: controlHits.body, as: UTF8.self)) ?? 0 >= 1)
    }

    @Test func fiftyConcurrentRequestsAllSucceed() async throws {
        let statuses = try await withThrowingTaskGroup(of: (Int, Int, Data).self) { group in
            for index in 0..<50 {
                group.addTask { [client, url = url("/echo")] in
                    let body = Data("request \(index)".utf8)
                    let response = try await client.execute(HTTPRequest(method: "POST", url: url, body: body, timeout: .seconds(20)))
                    return (index, response.status, response.body)
                }
            }
            var all: [(Int, Int, Data)] = []
            for try await result in group { all.append(result) }
            return all
        }
        #expect(statuses.count == 50)
        for (index, status, body) in statuses {
            #expect(status == 200)
            #expect(body == Data("request \(index)".utf8))
        }
    }

    @Test func requestsBeyondTheThreadLimitWaitTheirTurn() async throws {
        let narrow = HTTPClient(maxConcurrentRequests: 2)
        defer { narrow.shutdown() }
        let started = ContinuousClock.now
        try await withThrowingTaskGroup(of: Int.self) { group in
            for _ in 0..<6 {
                group.addTask { [url = url("/sleep/200")] in
                    try await narrow.execute(HTTPRequest(method: "GET", url: url, timeout: .seconds(10))).status
                }
            }
            for try await status in group { #expect(status == 200) }
        }
        // Three rounds of two.
        #expect(ContinuousClock.now - started >= .milliseconds(550))
    }

    @Test func sequentialRequestsReuseConnections() async throws {
        for index in 0..<20 {
            let response = try await client.execute(HTTPRequest(method: "GET", url: url("/echo"), headers: [("X-Custom", "\(index)")]))
            #expect(response.header("X-Echo-Custom") == "\(index)")
        }
        let response = try await client.execute(HTTPRequest(method: "GET", url: url("/connections")))
        let connections = Int(String(decoding: response.body, as: UTF8.self)) ?? -1
        // TestServer's readiness probe is one connection; the 21 requests should share one more.
        #expect(connections >= 1)
        #expect(connections <= 5, "the server saw \(connections) connections for 21 requests")
    }

    @Test func shutdownRefusesNewRequests() async throws {
        let other = HTTPClient()
        #expect(try await other.execute(HTTPRequest(method: "GET", url: url("/echo"))).status == 200)
        other.shutdown()
        other.shutdown()
        _ = await expectError(.cancelled, HTTPRequest(method: "GET", url: url("/echo")), on: other)
    }

    @Test func shutdownAbortsARunningRequest() async throws {
        let other = HTTPClient()
        let key = "shutdown-\(UUID().uuidString)"
        let task = Task { [url = url("/sleep/10000/\(key)")] in
            try await other.execute(HTTPRequest(method: "GET", url: url, timeout: .seconds(10)))
        }
        try await waitUntilArrived(key)
        let started = ContinuousClock.now
        other.shutdown()
        let result = await task.result
        #expect(ContinuousClock.now - started < .seconds(1))
        #expect((result.failure as? HTTPClientError)?.code == .cancelled)
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
