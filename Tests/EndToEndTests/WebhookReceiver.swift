import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Sync
import Synchronization
import Testing

/// A billing system's webhook endpoint, for the tests: it checks every delivery's Standard
/// Webhooks signature (webhook-id, webhook-timestamp, webhook-signature) against the endpoint
/// secret and keeps what it received, headers included, so a test can also hand the
/// deliveries to an independent verifier (the `standardwebhooks` package). It can be stopped and started
/// again on the same port, to play a receiver that is down for a while.
final class WebhookReceiver: Sendable {
    struct Delivery: Sendable {
        let eventType: String?
        /// `webhook-id`: the event id, the same on every retry.
        let uniqueKey: String?
        let timestamp: String?
        let signature: String?
        /// By this receiver's check (the project's own `StandardWebhooks.verify`); tests also
        /// hold deliveries to the PyPI package (`verifyWithStandardWebhooksPackage`).
        let signatureValid: Bool
        let body: String
        /// The three Standard Webhooks headers as received.
        var headers: [String: String] {
            var all: [String: String] = [:]
            all[StandardWebhooks.idHeader] = uniqueKey
            all[StandardWebhooks.timestampHeader] = timestamp
            all[StandardWebhooks.signatureHeader] = signature
            return all
        }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:] }
    }

    let secret: String
    private let state = Mutex<(deliveries: [Delivery], server: Task<Void, any Error>?, port: Int)>(([], nil, 0))

    init(secret: String) { self.secret = secret }

    var deliveries: [Delivery] { state.withLock { $0.deliveries } }
    var port: Int { state.withLock { $0.port } }
    var url: String { "http://127.0.0.1:\(port)/hooks?token=receiver-query-token" }

    /// Starts listening (on `port`, or any free port the first time) and returns the port.
    @discardableResult
    func start(port requested: Int? = nil) async throws -> Int {
        let router = Router()
        router.post("/hooks") { [self] request, _ -> HTTPResponse.Status in
            let buffer = try await request.body.collect(upTo: 1 << 20)
            let body = String(buffer: buffer)
            let id = request.headers[HTTPField.Name(StandardWebhooks.idHeader)!]
            let timestamp = request.headers[HTTPField.Name(StandardWebhooks.timestampHeader)!]
            let signature = request.headers[HTTPField.Name(StandardWebhooks.signatureHeader)!]
            let valid =
                (try? StandardWebhooks.verify(
                    id: id, timestamp: timestamp, signatures: signature, body: Array(body.utf8), secrets: [secret])) != nil
            let delivery = Delivery(
                eventType: request.headers[HTTPField.Name(WebhookDelivery.eventHeader)!],
                uniqueKey: id, timestamp: timestamp, signature: signature, signatureValid: valid, body: body)
            state.withLock { $0.deliveries.append(delivery) }
            return valid ? .ok : .unauthorized
        }
        let ready = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test.webhook-receiver")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: requested ?? (port == 0 ? 0 : port))),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            },
            logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var bound = 0
        for await value in ready.stream { bound = value }
        state.withLock {
            $0.server = task
            $0.port = bound
        }
        return bound
    }

    /// Stops listening: deliveries are refused until `start` runs again.
    func stop() async {
        let task = state.withLock { state -> Task<Void, any Error>? in
            defer { state.server = nil }
            return state.server
        }
        task?.cancel()
        _ = await task?.result
    }
}

/// What the `standardwebhooks` package from PyPI (scripts/verify-standard-webhooks.py, in the
/// venv scripts/test.sh makes) says of each delivery: a check outside the code under test.
/// A secret that is not `whsec_…` is passed as `whsec_` + base64 of its UTF-8, the key
/// docs/security.md gives such a secret.
func verifyWithStandardWebhooksPackage(_ deliveries: [WebhookReceiver.Delivery], secret: String) async throws -> [Bool] {
    guard let python = ProcessInfo.processInfo.environment["LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON"] else {
        Issue.record(
            "LEDGERSYNC_WEBHOOK_VERIFIER_PYTHON is not set: run the tests with scripts/test.sh, which installs the standardwebhooks package"
        )
        return []
    }
    let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("scripts/verify-standard-webhooks.py")
    let packageSecret =
        secret.hasPrefix(StandardWebhooks.secretPrefix)
        ? secret : StandardWebhooks.secretPrefix + Data(secret.utf8).base64EncodedString()
    let input = deliveries.map { ["secret": packageSecret, "body": $0.body, "headers": $0.headers] as [String: Any] }
    let request = try JSONSerialization.data(withJSONObject: input)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: python)
    process.arguments = [script.path]
    let stdin = Pipe()
    let stdout = Pipe()
    process.standardInput = stdin
    process.standardOutput = stdout
    try process.run()
    // Blocking reads and waits on a thread of their own, not the shared cooperative pool.
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
