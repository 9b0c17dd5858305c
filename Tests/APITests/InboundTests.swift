import API
import Foundation
import HTTPClient
import HTTPTypes
import Hummingbird
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import ServiceLifecycle
import Sync
import Synchronization
import Testing

/// A NetSuite payment on a synced invoice, reported inbound, reaches the billing system as
/// one signed `invoice.paid_in_provider` webhook naming its own invoice.
@Suite(.timeLimit(.minutes(3)))
struct InboundTests {
    /// The billing system's webhook endpoint: keeps each delivery, its Standard Webhooks
    /// headers, and whether its signature held under the endpoint secret.
    final class Receiver: Sendable {
        struct Delivery: Sendable {
            let eventType: String?
            let signatureValid: Bool
            let body: String
            /// webhook-id, webhook-timestamp and webhook-signature as received.
            let headers: [String: String]
        }

        let secret: String
        /// Answer 200 even when the signature does not hold under `secret` (for tests that
        /// check signatures elsewhere and want each delivery exactly once).
        let acceptUnverified: Bool
        private let state = Mutex<(deliveries: [Delivery], port: Int)>(([], 0))
        init(secret: String, acceptUnverified: Bool = false) {
            self.secret = secret
            self.acceptUnverified = acceptUnverified
        }
        var deliveries: [Delivery] { state.withLock { $0.deliveries } }

        func serve() async throws -> (url: String, task: Task<Void, any Error>) {
            let router = Router()
            router.post("/hooks") { [self] request, _ -> HTTPResponse.Status in
                let body = String(buffer: try await request.body.collect(upTo: 1 << 20))
                var headers: [String: String] = [:]
                for name in [StandardWebhooks.idHeader, StandardWebhooks.timestampHeader, StandardWebhooks.signatureHeader] {
                    headers[name] = request.headers[HTTPField.Name(name)!]
                }
                let valid =
                    (try? StandardWebhooks.verify(
                        id: headers[StandardWebhooks.idHeader], timestamp: headers[StandardWebhooks.timestampHeader],
                        signatures: headers[StandardWebhooks.signatureHeader], body: Array(body.utf8), secrets: [secret])) != nil
                state.withLock {
                    $0.deliveries.append(
                        Delivery(
                            eventType: request.headers[HTTPField.Name(WebhookDelivery.eventHeader)!], signatureValid: valid, body: body,
                            headers: headers))
                }
                return valid || acceptUnverified ? .ok : .unauthorized
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

    /// Standard Webhooks headers for an inbound message: a fresh id unless given, signed now
    /// (or `age` seconds ago) under `secret`.
    static func signed(_ body: String, _ secret: String, id: String = "msg_" + UUID().uuidString.lowercased(), age: Int = 0) -> [(
        name: String, value: String
    )] {
        let timestamp = Int(Date().timeIntervalSince1970) - age
        return [
            (StandardWebhooks.idHeader, id), (StandardWebhooks.timestampHeader, String(timestamp)),
            (
                StandardWebhooks.signatureHeader,
                StandardWebhooks.signature(id: id, timestamp: timestamp, body: Array(body.utf8), secret: secret)
            ),
        ]
    }

    @Test("a signed payment on a synced invoice becomes one signed invoice.paid_in_provider webhook naming the billing invoice")
    func paymentReachesTheReceiver() async throws {
        try await APIHarness.with { api in
            let receiver = Receiver(secret: "whsec_cmVjZWl2ZXItc2lnbmluZy1zZWNyZXQtMzJieXRlcyE=")
            let (url, server) = try await receiver.serve()
            defer { server.cancel() }
            let endpoint = try await api.post(
                "/v1/webhook-endpoints",
                "{\"url\": \"\(url)\", \"secret\": \"whsec_cmVjZWl2ZXItc2lnbmluZy1zZWNyZXQtMzJieXRlcyE=\", \"event_types\": [\"invoice.paid_in_provider\"]}"
            )
            #expect(endpoint.status == 201, "\(endpoint)")
            // An endpoint for other events only: it must not get this one.
            _ = try await api.post(
                "/v1/webhook-endpoints", "{\"url\": \"\(url)\", \"secret\": \"x\", \"event_types\": [\"integration.provider_error\"]}")
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            try await ExternalRefStore(pool: api.pool).record(
                connection: UUID(uuidString: connection)!, objectType: .invoice, billingID: "inv_lago_1001", providerID: "5531",
                customerBillingID: "cus_42")
            let rotated = try await api.post("/v1/connections/\(connection)/inbound-secret")
            #expect(rotated.status == 201, "\(rotated)")
            let inboundSecret = try #require(rotated.object["secret"] as? String)

            let path = "/v1/inbound/netsuite/\(connection)/payments"
            let event =
                "{\"payment_id\": \"9917\", \"invoice_id\": \"5531\", \"amount\": \"129.00\", \"currency\": \"EUR\", \"paid_at\": \"2026-12-01T09:30:00Z\"}"

            // Refused without the token's help and without the right signature, changing nothing.
            let before = try await api.snapshot()
            let wrongSignature = Self.signed(event, inboundSecret).map {
                $0.name == StandardWebhooks.signatureHeader ? ($0.name, "v1,bm90IGl0") : $0
            }
            let bodyOnly = [(name: "X-Ledgersync-Signature", value: HMACSHA256.base64(key: inboundSecret, message: event))]
            let attempts: [([(name: String, value: String)], String)] = [
                ([], "none"), (wrongSignature, "wrong"), (Self.signed(event, "whsec_YW5vdGhlciBzZWNyZXQ="), "other key"),
                (bodyOnly, "the old body-only scheme"),
            ]
            for (headers, note) in attempts {
                let refused = try await api.request("POST", path, body: event, token: "", headers: headers)
                #expect(refused.status == 401 && refused.error["code"] as? String == "unauthorized", "\(note): \(refused)")
            }
            let unknownInvoice = "{\"payment_id\": \"1\", \"invoice_id\": \"no-such\"}"
            let notSynced = try await api.request(
                "POST", path, body: unknownInvoice, token: "", headers: Self.signed(unknownInvoice, inboundSecret))
            #expect(notSynced.status == 422 && notSynced.error["field"] as? String == "invoice_id", "\(notSynced)")
            #expect(try await api.snapshot() == before)

            let accepted = try await api.request("POST", path, body: event, token: "", headers: Self.signed(event, inboundSecret))
            #expect(accepted.status == 202 && accepted.object["invoice_id"] as? String == "inv_lago_1001", "\(accepted)")
            #expect((accepted.object["job_ids"] as? [Int])?.count == 1)
            // NetSuite sending the same payment again (a new message) while the delivery is
            // pending: the same job.
            let again = try await api.request("POST", path, body: event, token: "", headers: Self.signed(event, inboundSecret))
            #expect(again.object["job_ids"] as? [Int] == accepted.object["job_ids"] as? [Int], "\(again)")

            // A worker delivers it, as in production.
            var registry = JobRegistry()
            let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
            registry.register(
                WebhookDeliverJob(
                    endpoints: WebhookEndpointStore(pool: api.pool, secretBox: api.secretBox), http: http,
                    options: JobKindOptions(maxAttempts: 3, timeout: .seconds(10), backoff: Backoff(base: 0.1, cap: 0.2))))
            var logger = Logger(label: "test.worker")
            logger.logLevel = .warning
            let worker = WorkerPool(
                pool: api.pool, registry: registry,
                options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(5)),
                logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }
                let delivered = try await eventually(timeout: .seconds(20)) {
                    try await api.database.count(
                        "SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state = 'completed'") == 1
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
            #expect(
                invoice["lago_id"] as? String == "inv_lago_1001" && invoice["provider_id"] as? String == "5531"
                    && invoice["lago_customer_id"] as? String == "cus_42")
            #expect((body["payment"] as? [String: Any])?["amount"] as? String == "129.00")
            // The inbound secret is sealed at rest.
            let sealed: String = try await api.pool.query("SELECT secret_sealed FROM ledgersync.inbound_secrets").rows[0].decode(
                "secret_sealed")
            #expect(sealed.hasPrefix("v2:\(api.secretBox.keyID):") && !sealed.contains(inboundSecret))
        }
    }

    @Test("a replayed inbound message and one older than 5 minutes are refused and change nothing")
    func replayedAndStaleMessagesAreRefused() async throws {
        try await APIHarness.with { api in
            let created = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String)
            try await ExternalRefStore(pool: api.pool).record(
                connection: UUID(uuidString: connection)!, objectType: .invoice, billingID: "inv_lago_2002", providerID: "7741",
                customerBillingID: "cus_7")
            _ = try await api.post(
                "/v1/webhook-endpoints", "{\"url\": \"https://hooks.example.com/ls\", \"event_types\": [\"invoice.paid_in_provider\"]}")
            let inboundSecret = try #require(try await api.post("/v1/connections/\(connection)/inbound-secret").object["secret"] as? String)
            #expect(inboundSecret.hasPrefix("whsec_"))
            let path = "/v1/inbound/netsuite/\(connection)/payments"
            let event = "{\"payment_id\": \"88\", \"invoice_id\": \"7741\", \"amount\": \"10.00\", \"currency\": \"EUR\"}"
            func seen() async throws -> Int {
                try await api.database.count("SELECT count(*) FROM ledgersync.inbound_seen_messages")
            }

            let first = Self.signed(event, inboundSecret, id: "msg_payment_88")
            let accepted = try await api.request("POST", path, body: event, token: "", headers: first)
            #expect(accepted.status == 202, "\(accepted)")
            let afterFirst = try await api.snapshot()
            #expect(afterFirst["jobs"] == "1")
            #expect(try await seen() == 1)

            // The same message again, byte for byte (a captured request replayed): refused.
            let replayed = try await api.request("POST", path, body: event, token: "", headers: first)
            #expect(replayed.status == 409 && replayed.error["code"] as? String == "replayed", "\(replayed)")
            #expect(replayed.error["field"] as? String == "webhook-id")
            // Signed correctly but 6 minutes old, or 6 minutes ahead: refused by its timestamp.
            for (age, note) in [(360, "old"), (-360, "ahead")] {
                let stale = try await api.request(
                    "POST", path, body: event, token: "", headers: Self.signed(event, inboundSecret, age: age))
                #expect(stale.status == 401 && stale.error["code"] as? String == "stale_message", "\(note): \(stale)")
                #expect((stale.error["message"] as? String)?.contains("5 minutes") == true)
            }
            // The captured message with a fresh timestamp: its signature no longer holds.
            let now = String(Int(Date().timeIntervalSince1970) + 1)
            let forged = first.map { $0.name == StandardWebhooks.timestampHeader ? ($0.name, now) : $0 }
            let refused = try await api.request("POST", path, body: event, token: "", headers: forged)
            #expect(refused.status == 401 && refused.error["code"] as? String == "unauthorized", "\(refused)")
            // None of them changed anything.
            #expect(try await api.snapshot() == afterFirst)
            #expect(try await seen() == 1)

            // A message refused for its content (422) did not use up its id: once the invoice
            // is synced, the provider's retry of that very message is accepted.
            let early = "{\"payment_id\": \"89\", \"invoice_id\": \"7742\"}"
            let earlyHeaders = Self.signed(early, inboundSecret, id: "msg_payment_89")
            let notYet = try await api.request("POST", path, body: early, token: "", headers: earlyHeaders)
            #expect(notYet.status == 422, "\(notYet)")
            try await ExternalRefStore(pool: api.pool).record(
                connection: UUID(uuidString: connection)!, objectType: .invoice, billingID: "inv_lago_2003", providerID: "7742",
                customerBillingID: "cus_7")
            let retried = try await api.request("POST", path, body: early, token: "", headers: earlyHeaders)
            #expect(retried.status == 202, "\(retried)")
        }
    }
}
