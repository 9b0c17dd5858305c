import API
import Foundation
import HTTPClient
import HTTPTypes
import Hummingbird
import JobQueue
import JobQueueTesting
import Logging
import ServiceLifecycle
import Sync
import Synchronization
import Testing

/// A NetSuite payment on a synced invoice, reported inbound, reaches the billing system as
/// one signed `invoice.paid_in_provider` webhook naming its own invoice.
@Suite(.timeLimit(.minutes(3)))
struct InboundTests {
    /// The billing system's webhook endpoint: keeps each delivery and whether its signature
    /// held under the endpoint secret.
    final class Receiver: Sendable {
        struct Delivery: Sendable {
            let eventType: String?
            let signatureValid: Bool
            let body: String
        }

        let secret: String
        private let state = Mutex<(deliveries: [Delivery], port: Int)>(([], 0))
        init(secret: String) { self.secret = secret }
        var deliveries: [Delivery] { state.withLock { $0.deliveries } }

        func serve() async throws -> (url: String, task: Task<Void, any Error>) {
            let router = Router()
            router.post("/hooks") { [self] request, _ -> HTTPResponse.Status in
                let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
                let signature = request.headers[HTTPField.Name(WebhookDelivery.signatureHeader)!]
                let valid = signature.map { HMACSHA256.verify(base64: $0, key: Array(secret.utf8), message: Array(body.utf8)) } ?? false
                state.withLock {
                    $0.deliveries.append(Delivery(eventType: request.headers[HTTPField.Name(WebhookDelivery.eventHeader)!], signatureValid: valid, body: body))
                }
                return valid ? .ok : .unauthorized
            }
            let ready = AsyncStream<Int>.makeStream()
            var logger = Logger(label: "test.receiver")
            logger.logLevel = .critical
            let app = Application(
                router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
                onServerRunning: { channel in
                    ready.continuation.yield(channel.localAddress?.port ?? 0)
                    ready.continuation.finish()
                }, logger: logger)
            let task = Task { try await app.runService(gracefulShutdownSignals: []) }
            var port = 0
            for await value in ready.stream { port = value }
            return ("http://127.0.0.1:\(port)/hooks", task)
        }
    }

    static func sign(_ body: String, _ secret: String) -> String { HMACSHA256.base64(key: secret, message: body) }

    @Test("a signed payment on a synced invoice becomes one signed invoice.paid_in_provider webhook naming the billing invoice")
    func paymentReachesTheReceiver() async throws {
        try await APIHarness.with { api in
            let receiver = Receiver(secret: "receiver-signing-secret")
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            let endpoint = try await api.post(
                "/v1/webhook-endpoints", "{\"url\": \"\(url)\", \"secret\": \"receiver-signing-secret\", \"event_types\": [\"invoice.paid_in_provider\"]}")
            #expect(endpoint.status == 201, "\(endpoint)")
            // An endpoint for other events only: it must not get this one.
            _ = try await api.post("/v1/webhook-endpoints", "{\"url\": \"\(url)\", \"secret\": \"x\", \"event_types\": [\"integration.provider_error\"]}")
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            try await ExternalRefStore(pool: api.pool).record(
                connection: UUID(uuidString: connection)!, objectType: .invoice, billingID: "inv_lago_1001", providerID: "5531", customerBillingID: "cus_42")
            let rotated = try await api.post("/v1/connections/\(connection)/inbound-secret")
            #expect(rotated.status == 201, "\(rotated)")
            let inboundSecret = try #require(rotated.object["secret"] as? String)

            let path = "/v1/inbound/netsuite/\(connection)/payments"
            let event = "{\"payment_id\": \"9917\", \"invoice_id\": \"5531\", \"amount\": \"129.00\", \"currency\": \"EUR\", \"paid_at\": \"2026-12-01T09:30:00Z\"}"

            // Refused without the token's help and without the right signature, changing nothing.
            let before = try await api.snapshot()
            for (signature, note) in [(nil, "none"), ("bm90IGl0", "wrong"), (Self.sign(event, "another secret"), "other key")] {
                let headers = signature.map { [(name: WebhookDelivery.signatureHeader, value: $0)] } ?? []
                let refused = try await api.request("POST", path, body: event, token: "", headers: headers)
                #expect(refused.status == 401 && refused.error["code"] as? String == "unauthorized", "\(note): \(refused)")
            }
            let unknownInvoice = "{\"payment_id\": \"1\", \"invoice_id\": \"no-such\"}"
            let notSynced = try await api.request(
                "POST", path, body: unknownInvoice, token: "", headers: [(WebhookDelivery.signatureHeader, Self.sign(unknownInvoice, inboundSecret))])
            #expect(notSynced.status == 422 && notSynced.error["field"] as? String == "invoice_id", "\(notSynced)")
            #expect(try await api.snapshot() == before)

            let accepted = try await api.request(
                "POST", path, body: event, token: "", headers: [(WebhookDelivery.signatureHeader, Self.sign(event, inboundSecret))])
            #expect(accepted.status == 202 && accepted.object["invoice_id"] as? String == "inv_lago_1001", "\(accepted)")
            #expect((accepted.object["job_ids"] as? [Int])?.count == 1)
            // NetSuite sending the same payment again while the delivery is pending: the same job.
            let again = try await api.request(
                "POST", path, body: event, token: "", headers: [(WebhookDelivery.signatureHeader, Self.sign(event, inboundSecret))])
            #expect(again.object["job_ids"] as? [Int] == accepted.object["job_ids"] as? [Int], "\(again)")

            // A worker delivers it, as in production.
            var registry = JobRegistry()
            let http = HTTPClient(maxConcurrentRequests: 4)
            registry.register(
                WebhookDeliverJob(
                    endpoints: WebhookEndpointStore(pool: api.pool, secretBox: api.secretBox), http: http,
                    options: JobKindOptions(maxAttempts: 3, timeout: .seconds(10), backoff: Backoff(base: 0.1, cap: 0.2))))
            var logger = Logger(label: "test.worker")
            logger.logLevel = .warning
            let worker = WorkerPool(
                pool: api.pool, registry: registry, options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(5)),
                logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let delivered = try await eventually(timeout: .seconds(20)) {
                    try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state = 'completed'") == 1
                }
                #expect(delivered)
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            http.shutdown()

            let deliveries = receiver.deliveries
            #expect(deliveries.count == 1, "one webhook, to the one subscribed endpoint: \(deliveries.map(\.body))")
            let delivery = try #require(deliveries.first)
            #expect(delivery.signatureValid && delivery.eventType == "invoice.paid_in_provider")
            let body = try #require(try JSONSerialization.jsonObject(with: Data(delivery.body.utf8)) as? [String: Any])
            let invoice = try #require(body["invoice"] as? [String: Any])
            #expect(invoice["lago_id"] as? String == "inv_lago_1001" && invoice["provider_id"] as? String == "5531" && invoice["lago_customer_id"] as? String == "cus_42")
            #expect((body["payment"] as? [String: Any])?["amount"] as? String == "129.00")
            // The inbound secret is sealed at rest.
            let sealed: String = try await api.pool.query("SELECT secret_sealed FROM ledgersync.inbound_secrets").rows[0].decode("secret_sealed")
            #expect(sealed.hasPrefix("v1:") && !sealed.contains(inboundSecret))
        }
    }
}
