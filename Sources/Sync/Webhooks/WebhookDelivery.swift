import Foundation
import HTTPClient
import JobQueue
import LedgerCrypto
import Logging
import Postgres

/// Sends Ledgersync's webhooks. Each event becomes one `webhook.deliver` job per endpoint that
/// wants it, so a delivery survives crashes and retries on its own backoff, apart from the
/// sync job that caused it.
///
/// Each request is signed the Standard Webhooks way (`StandardWebhooks`) and carries:
/// - `webhook-id`: the event id, the same on every retry, for de-duplication
/// - `webhook-timestamp`: when this attempt was signed (Unix seconds)
/// - `webhook-signature`: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, twice (space-
///   separated) while the endpoint's secret is being rotated: once per active secret
/// - `X-Ledgersync-Event`: the event type
public enum WebhookDelivery {
    public static let kind = "webhook.deliver"
    public static let idHeader = StandardWebhooks.idHeader
    public static let timestampHeader = StandardWebhooks.timestampHeader
    public static let signatureHeader = StandardWebhooks.signatureHeader
    public static let eventHeader = "X-Ledgersync-Event"

    /// The event type of `ping`: a test delivery an operator asks for, sent to one endpoint
    /// whatever event types it subscribed to.
    public static let pingEventType = "webhook.ping"

    /// The event types Ledgersync emits; an endpoint subscribed to anything else would
    /// silently never receive a delivery.
    public static let eventTypes =
        [ProviderErrorEvent.customerErrorType, ProviderErrorEvent.integrationErrorType, InvoicePaidEvent.type, ReconciliationEvent.type]
        + AccountingSyncedEvent.types
        + ChangeEvent.eventTypes

    /// 32 random bytes as base64url without padding, safe in headers, env files, form bodies
    /// and URLs (API tokens use it). Webhook and inbound signing secrets are
    /// `StandardWebhooks.generateSecret()` (`whsec_…`).
    public static func generateSecret() -> String {
        Data(SecureRandom.bytes(32)).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    /// Enqueues one delivery to one endpoint, whatever event types it subscribed to (a ping,
    /// or an event meant for it alone). Returns the job id.
    @discardableResult
    public static func enqueue(
        eventID: String, eventType: String, body: String, to endpoint: WebhookEndpoint, queue: JobQueue
    ) async throws -> Int64 {
        let args = Args(endpointID: endpoint.id, eventID: eventID, eventType: eventType, body: body)
        return try await queue.enqueue(
            EnqueueRequest(
                kind: kind, args: try JSONText(encoding: args), uniqueKey: "webhook:\(endpoint.id.uuidString.lowercased()):\(eventID)"))
    }

    /// Enqueues a `webhook.ping` to `endpoint`; returns the job id and the event id.
    public static func ping(_ endpoint: WebhookEndpoint, queue: JobQueue, now: Date = Date()) async throws -> (
        jobID: Int64, eventID: String
    ) {
        let eventID = "evt_ping_" + UUID().uuidString.lowercased()
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let body = try JSONText(encoding: [
            "id": eventID, "type": pingEventType, "created_at": formatter.string(from: now),
            "endpoint_id": endpoint.id.uuidString.lowercased(),
        ]).text
        let jobID = try await enqueue(eventID: eventID, eventType: pingEventType, body: body, to: endpoint, queue: queue)
        return (jobID, eventID)
    }

    /// The delivery job's args. `body` is the exact text to sign and send.
    public struct Args: Codable, Sendable {
        public let endpointID: UUID
        public let eventID: String
        public let eventType: String
        public let body: String

        enum CodingKeys: String, CodingKey {
            case endpointID = "endpoint_id"
            case eventID = "event_id"
            case eventType = "event_type"
            case body
        }

        public init(endpointID: UUID, eventID: String, eventType: String, body: String) {
            self.endpointID = endpointID
            self.eventID = eventID
            self.eventType = eventType
            self.body = body
        }

        /// The endpoint id in lower case, as PostgreSQL prints a uuid, so that
        /// `args ->> 'endpoint_id' = id::text` finds an endpoint's deliveries.
        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(endpointID.uuidString.lowercased(), forKey: .endpointID)
            try container.encode(eventID, forKey: .eventID)
            try container.encode(eventType, forKey: .eventType)
            try container.encode(body, forKey: .body)
        }
    }

    /// Enqueues one delivery per enabled endpoint that wants `eventType`; returns the job ids.
    /// The unique key makes a second emission of the same event to the same endpoint a no-op
    /// while the first is still being delivered.
    @discardableResult
    public static func enqueue(
        eventID: String, eventType: String, body: String, endpoints: WebhookEndpointStore, queue: JobQueue, on connection: Connection? = nil
    ) async throws -> [Int64] {
        var ids: [Int64] = []
        for endpoint in try await endpoints.endpoints(for: eventType) {
            let args = Args(endpointID: endpoint.id, eventID: eventID, eventType: eventType, body: body)
            let request = EnqueueRequest(
                kind: kind, args: try JSONText(encoding: args), uniqueKey: "webhook:\(endpoint.id.uuidString.lowercased()):\(eventID)")
            if let connection {
                ids.append(try await queue.enqueue(request, on: connection))
            } else {
                ids.append(try await queue.enqueue(request))
            }
        }
        return ids
    }

    /// The `webhook-signature` of one attempt: one `v1,` signature per active secret.
    public static func signature(eventID: String, timestamp: Int, body: String, secrets: [String]) -> String {
        StandardWebhooks.signatureHeaderValue(id: eventID, timestamp: timestamp, body: Array(body.utf8), secrets: secrets)
    }

    /// `https://host/path` of a URL: a webhook URL may carry a token in its query or user
    /// info, and job errors must not.
    static func redacted(_ url: String) -> String {
        guard var parts = URLComponents(string: url) else { return "(the endpoint URL)" }
        parts.query = nil
        parts.fragment = nil
        parts.user = nil
        parts.password = nil
        return parts.string ?? "(the endpoint URL)"
    }
}

/// Runs `webhook.deliver` jobs: signs the stored body with the endpoint's secrets (the event
/// id and the attempt's time signed with it) and POSTs it.
/// 2xx is delivered; anything else (refused, timeout, 4xx, 5xx) retries with the kind's
/// backoff, because a receiver that is down or misconfigured today may be fixed tomorrow.
public struct WebhookDeliverJob: JobHandler {
    public typealias Args = WebhookDelivery.Args
    public static let kind = WebhookDelivery.kind

    let endpoints: WebhookEndpointStore
    let http: HTTPClient
    public let options: JobKindOptions
    /// How long one delivery may take.
    let requestTimeout: Duration

    public init(endpoints: WebhookEndpointStore, http: HTTPClient, options: JobKindOptions, requestTimeout: Duration = .seconds(10)) {
        self.endpoints = endpoints
        self.http = http
        self.options = options
        self.requestTimeout = requestTimeout
    }

    public func run(_ args: Args, context: JobContext) async throws {
        guard let endpoint = try await endpoints.get(args.endpointID) else {
            throw JobError(
                action: .fail, errorClass: "invalid_config",
                message: "webhook endpoint \(args.endpointID.uuidString.lowercased()) no longer exists")
        }
        guard !endpoint.disabled else {
            throw JobError(
                action: .fail, errorClass: "invalid_config", message: "webhook endpoint \(endpoint.id.uuidString.lowercased()) is disabled")
        }
        let now = Date()
        let timestamp = Int(now.timeIntervalSince1970)
        let request = HTTPRequest(
            method: "POST", url: endpoint.url,
            headers: [
                ("Content-Type", "application/json"),
                ("User-Agent", "ledgersync-webhooks"),
                (WebhookDelivery.eventHeader, args.eventType),
                (WebhookDelivery.idHeader, args.eventID),
                (WebhookDelivery.timestampHeader, String(timestamp)),
                (
                    WebhookDelivery.signatureHeader,
                    WebhookDelivery.signature(
                        eventID: args.eventID, timestamp: timestamp, body: args.body, secrets: endpoint.signingSecrets(at: now))
                ),
            ],
            body: Data(args.body.utf8), timeout: requestTimeout)
        let response: HTTPResponse
        do {
            response = try await http.execute(request)
        } catch let error as HTTPClientError where error.code == .addressNotAllowed {
            // The URL passed the check at creation; its name now resolves into the private
            // network (a changed record, or DNS rebinding). Retrying would not make it safe.
            throw JobError(action: .fail, errorClass: "invalid_config", message: "webhook delivery: \(error.message)")
        } catch let error as HTTPClientError {
            throw JobError(action: .retry, errorClass: "transient", message: "webhook delivery: \(error.description)")
        }
        guard (200...299).contains(response.status) else {
            throw JobError(
                action: .retry, errorClass: "transient",
                message: "webhook endpoint \(WebhookDelivery.redacted(endpoint.url)) answered HTTP \(response.status)",
                code: String(response.status))
        }
        context.logger.debug("webhook delivered", metadata: ["event": "\(args.eventID)", "endpoint": "\(endpoint.id)"])
    }
}
