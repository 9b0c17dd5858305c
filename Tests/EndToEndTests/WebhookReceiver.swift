import Foundation
import HTTPTypes
import Hummingbird
import Logging
import Sync
import Synchronization

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
        let signatureValid: Bool
        let body: String
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
            let valid = (try? StandardWebhooks.verify(
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
