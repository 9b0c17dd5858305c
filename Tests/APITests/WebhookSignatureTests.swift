import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import Logging
import ServiceLifecycle
import Sync
import Testing

/// Outgoing requests (webhook deliveries) as a receiver and an attacker see them: signed the
/// Standard Webhooks way and checked by the `standardwebhooks` package from PyPI, before and
/// during a secret rotation; URLs into the private network refused at creation and, for a
/// name that resolves there only later, at delivery.
@Suite(.timeLimit(.minutes(3)))
struct WebhookSignatureTests {
    /// Runs webhook deliveries with `http` in an in-process worker until `done` holds.
    static func deliver(_ api: APIHarness, http: HTTPClient, until done: @escaping @Sendable () async throws -> Bool) async throws {
        var registry = JobRegistry()
        registry.register(
            WebhookDeliverJob(
                endpoints: WebhookEndpointStore(pool: api.pool, secretBox: api.secretBox), http: http,
                options: JobKindOptions(maxAttempts: 3, timeout: .seconds(10), backoff: Backoff(base: 0.1, cap: 0.2))))
        var logger = Logger(label: "test.worker")
        logger.logLevel = .critical
        let worker = WorkerPool(
            pool: api.pool, registry: registry, options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(5)),
            logger: logger)
        let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            let reached = try await eventually(timeout: .seconds(30)) { try await done() }
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(reached, "the deliveries reached their end state")
        }
    }

    /// What the `standardwebhooks` package says of each delivery under `secret`.
    static func verifyWithStandardWebhooksPackage(_ deliveries: [InboundTests.Receiver.Delivery], secret: String) async throws -> [Bool] {
        guard let python = ProcessInfo.processInfo.environment["LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON"] else {
            Issue.record(
                "LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON is not set: run the tests with scripts/test.sh, which installs the standardwebhooks package"
            )
            return []
        }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("scripts/verify-standard-webhooks.py")
        let input = deliveries.map { ["secret": secret, "body": $0.body, "headers": $0.headers] as [String: Any] }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script.path]
        let stdin = Pipe()
        let stdout = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        let request = try JSONSerialization.data(withJSONObject: input)
        try process.run()
        // Writing, reading and waiting block: on a thread of their own, not the cooperative pool
        // every other suite of this process shares.
        let answer = await withCheckedContinuation { (continuation: CheckedContinuation<Data, Never>) in
            Thread.detachNewThread {
                stdin.fileHandleForWriting.write(request)
                try? stdin.fileHandleForWriting.close()
                let data = stdout.fileHandleForReading.readDataToEndOfFile()
                process.waitUntilExit()
                continuation.resume(returning: data)
            }
        }
        #expect(process.terminationStatus == 0)
        let results = try #require(try JSONSerialization.jsonObject(with: answer) as? [[String: Any]])
        return results.map { $0["valid"] as? Bool ?? false }
    }

    @Test("deliveries verify with the standardwebhooks package before, during and after a secret rotation")
    func deliveriesVerifyWithTheStandardWebhooksPackage() async throws {
        try await APIHarness.with { api in
            // The receiver's own check is not what is tested here; the package is.
            let receiver = InboundTests.Receiver(secret: "unused", acceptUnverified: true)
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            let created = try await api.post("/v1/webhook-endpoints", "{\"url\": \"\(url)\"}")
            #expect(created.status == 201, "\(created)")
            let id = try #require((created.object["webhook_endpoint"] as? [String: Any])?["id"] as? String)
            let oldSecret = try #require(created.object["secret"] as? String)
            #expect(oldSecret.hasPrefix("whsec_"))
            let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
            defer { http.shutdown() }
            func ping() async throws {
                let count = receiver.deliveries.count
                #expect(try await api.post("/v1/webhook-endpoints/\(id)/ping").status == 202)
                try await Self.deliver(api, http: http) { receiver.deliveries.count == count + 1 }
            }

            try await ping()
            // Rotation with a one-hour overlap: the new secret is returned once, the old one
            // keeps signing beside it.
            let rotated = try await api.post("/v1/webhook-endpoints/\(id)/rotate-secret", "{\"overlap_seconds\": 3600}")
            #expect(rotated.status == 200, "\(rotated)")
            let newSecret = try #require(rotated.object["secret"] as? String)
            #expect(newSecret != oldSecret && rotated.object["previous_secret_expires_at"] is String)
            try await ping()
            // The overlap ends (as if an hour had passed): only the new secret signs.
            try await api.pool.query(
                "UPDATE ledgersync.webhook_endpoints SET previous_secret_expires_at = now() - interval '1 second' WHERE id = $1::uuid", [id]
            )
            try await ping()

            let deliveries = receiver.deliveries
            #expect(deliveries.count == 3)
            #expect(deliveries.map { $0.headers["webhook-signature"]?.split(separator: " ").count } == [1, 2, 1])
            #expect(Set(deliveries.compactMap { $0.headers["webhook-id"] }).count == 3)
            #expect(try await Self.verifyWithStandardWebhooksPackage(deliveries, secret: oldSecret) == [true, true, false])
            #expect(try await Self.verifyWithStandardWebhooksPackage(deliveries, secret: newSecret) == [false, true, true])
            // A tampered body fails under either secret.
            let tampered = deliveries.map {
                InboundTests.Receiver.Delivery(eventType: $0.eventType, signatureValid: false, body: $0.body + " ", headers: $0.headers)
            }
            #expect(try await Self.verifyWithStandardWebhooksPackage(tampered, secret: newSecret) == [false, false, false])
        }
    }

    @Test("webhook and base URLs on loopback, private and link-local addresses are refused at creation; nothing is stored")
    func privateURLsAreRefusedAtCreation() async throws {
        try await APIHarness.with(allowPrivateNetworks: false) { api in
            let before = try await api.snapshot()
            for url in [
                "http://127.0.0.1:8080/hooks", "http://localhost/hooks", "http://10.0.0.1/hooks",
                "http://169.254.169.254/latest/meta-data/", "http://[::1]:9000/hooks", "http://[::ffff:192.168.0.10]/hooks",
            ] {
                let refused = try await api.post("/v1/webhook-endpoints", "{\"url\": \"\(url)\"}")
                #expect(refused.status == 422 && refused.error["field"] as? String == "url", "\(url): \(refused)")
                // The API's URL reader refuses IPv6 literals before the guard sees them.
                if !url.contains("[") {
                    #expect((refused.error["message"] as? String)?.contains("LEDGERSYNC_ALLOW_PRIVATE_NETWORK") == true, "\(refused)")
                }
            }
            let body = APIHarness.connectionBody().replacingOccurrences(
                of: "http://127.0.0.1:9/netsuite", with: "http://169.254.169.254/netsuite")
            let connection = try await api.post("/v1/connections", body)
            #expect(connection.status == 422 && connection.error["field"] as? String == "settings.base_url", "\(connection)")
            #expect(try await api.snapshot() == before)
            // A public address is accepted.
            #expect(try await api.post("/v1/webhook-endpoints", "{\"url\": \"https://8.8.8.8/hooks\"}").status == 201)
        }
    }

    @Test("a name that resolves to loopback only at delivery time is refused at delivery; the receiver gets nothing")
    func rebindingIsRefusedAtDelivery() async throws {
        try await APIHarness.with(allowPrivateNetworks: false) { api in
            let receiver = InboundTests.Receiver(secret: "unused")
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            let port = try #require(URLComponents(string: url)?.port)
            // At creation the name resolves to nothing private (here: to nothing at all).
            let name = "hooks.rebind.invalid"
            let created = try await api.post("/v1/webhook-endpoints", "{\"url\": \"http://\(name):\(port)/hooks\"}")
            #expect(created.status == 201, "\(created)")
            let id = try #require((created.object["webhook_endpoint"] as? [String: Any])?["id"] as? String)
            // At delivery it resolves to 127.0.0.1 (CURLOPT_RESOLVE plays the rebinding resolver).
            let http = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: false, resolve: ["\(name):\(port):127.0.0.1"])
            defer { http.shutdown() }
            let job = try #require(try await api.post("/v1/webhook-endpoints/\(id)/ping").object["job_id"] as? Int)
            try await Self.deliver(api, http: http) {
                try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE id = \(job) AND state = 'failed'") == 1
            }
            #expect(receiver.deliveries.isEmpty)
            let errors: String = try await api.pool.query("SELECT errors::text AS e FROM ledgersync.jobs WHERE id = $1", [Int64(job)]).rows[
                0
            ].decode("e")
            #expect(errors.contains("127.0.0.1") && errors.contains("loopback") && errors.contains("invalid_config"), "\(errors)")
        }
    }
}
