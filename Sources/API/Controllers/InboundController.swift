import Foundation
import HTTPTypes
import Hummingbird
import JobQueue
import Sync

/// Inbound provider events: `POST /v1/inbound/{provider}/{connection_id}/{event}`, read by the
/// provider's driver (`ProviderDriver.inboundEvent`). A payment recorded at the provider on an
/// invoice Ledgersync synced (NetSuite: `…/netsuite/{connection_id}/payments`) becomes one
/// signed `invoice.paid_in_provider` webhook per subscribed endpoint (`webhook.deliver` jobs).
///
/// Not behind the bearer token: the provider signs each message the Standard Webhooks way
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of
/// "id.timestamp.body">`) under its connection's inbound secret, set with
/// `POST /v1/connections/{id}/inbound-secret`. The signature is checked first: an unsigned
/// request costs one read (the secret) and nothing else, and an unknown connection, one
/// without a secret and a wrong signature all get the same 401, so the route tells an
/// outsider nothing. A signed message more than 5 minutes old or ahead is refused (401), and
/// so is a message id already accepted on the connection (409, a replay): the id is recorded
/// in the transaction that enqueues the message's webhooks, so a refused message (422)
/// can be sent again and an accepted one cannot.
struct InboundController {
    let secrets: InboundSecretStore
    let connections: ConnectionStore
    let providers: ProviderRegistry
    let refs: ExternalRefStore
    let endpoints: WebhookEndpointStore
    let queue: JobQueue

    static let idHeader = HTTPField.Name(StandardWebhooks.idHeader)!
    static let timestampHeader = HTTPField.Name(StandardWebhooks.timestampHeader)!
    static let signatureHeader = HTTPField.Name(StandardWebhooks.signatureHeader)!

    func registerProtected(on group: RouterGroup<APIRequestContext>) {
        group.post("connections/:id/inbound-secret") { _, context -> Response in
            let id = try pathUUID(context)
            _ = try await connections.get(id)
            let secret = try await secrets.rotate(connection: id)
            return .json(
                .object([
                    ("connection_id", .string(id.uuidString.lowercased())),
                    // Shown this once; the previous secret stops working now.
                    ("secret", .string(secret)),
                    ("signature_header", .string(StandardWebhooks.signatureHeader)),
                    ("signature_scheme", .string("standard-webhooks-v1")),
                ]),
                status: .created)
        }
    }

    func registerPublic(on router: Router<APIRequestContext>) {
        router.post("v1/inbound/:provider/:connection_id/:event") { request, context -> Response in
            try await event(request, context)
        }
    }

    static let unauthorized = APIError(
        .unauthorized, code: "unauthorized",
        "sign the message the Standard Webhooks way under the connection's inbound secret: \(StandardWebhooks.idHeader), "
            + "\(StandardWebhooks.timestampHeader) and \(StandardWebhooks.signatureHeader): v1,<base64 HMAC-SHA256 of id.timestamp.body>")

    func event(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        // Headers first: an unsigned request reaches no table.
        guard let connectionID = UUID(uuidString: context.parameters.get("connection_id") ?? ""),
            let messageID = request.headers[Self.idHeader], !messageID.isEmpty, messageID.utf8.count <= 200,
            let timestampText = request.headers[Self.timestampHeader],
            let signatures = request.headers[Self.signatureHeader],
            let secret = try await secrets.secret(connection: connectionID)
        else { throw Self.unauthorized }
        let timestamp: Int
        do {
            timestamp = try StandardWebhooks.verify(
                id: messageID, timestamp: timestampText, signatures: signatures, body: bytes, secrets: [secret])
        } catch .noValidSignature, .missingHeaders {
            throw Self.unauthorized
        } catch {
            // Signed by the right secret, but late, early or malformed: say which.
            throw APIError(.unauthorized, code: "stale_message", error.description, field: StandardWebhooks.timestampHeader)
        }

        // Signed by the connection's secret: the connection exists. Its provider must be the
        // one in the path, so a URL names what it carries.
        let providerName = context.parameters.get("provider") ?? ""
        guard let provider = try await connections.provider(of: connectionID), provider == providerName else {
            throw APIError.notFound(
                "connection \(connectionID.uuidString.lowercased()) is not a \(providerName.prefix(40)) connection", field: "provider")
        }
        let inbound = try providers.driver(provider).inboundEvent(context.parameters.get("event") ?? "", body: Data(bytes))
        guard case .paymentRecorded(let payment) = inbound else {
            throw APIError.invalid("event", "is not an event this route handles")
        }
        guard let invoice = try await refs.lookup(connection: connectionID, objectType: .invoice, providerID: payment.providerInvoiceID)
        else {
            throw APIError.invalid(
                "invoice_id", "no invoice synced by this connection has the provider id \"\(payment.providerInvoiceID.prefix(80))\"")
        }
        let event = InvoicePaidEvent(
            connectionID: connectionID, provider: provider, invoiceID: invoice.billingID,
            providerInvoiceID: payment.providerInvoiceID, customerID: invoice.customerBillingID,
            providerPaymentID: payment.providerPaymentID,
            amount: payment.amount, currency: payment.currency, paidAt: payment.paidAt)
        let body = try event.body()
        let jobIDs = try await secrets.pool.withTransaction { connection -> [Int64] in
            guard try await secrets.recordMessage(connection: connectionID, messageID: messageID, timestamp: timestamp, on: connection)
            else {
                throw APIError(
                    .conflict, code: "replayed",
                    "message \(messageID.prefix(80)) was already accepted on this connection; send a new \(StandardWebhooks.idHeader) for a new message",
                    field: StandardWebhooks.idHeader)
            }
            return try await WebhookDelivery.enqueue(
                eventID: event.id, eventType: InvoicePaidEvent.type, body: body, endpoints: endpoints, queue: queue, on: connection)
        }
        return .json(
            .object([
                ("event_id", .string(event.id)), ("event_type", .string(InvoicePaidEvent.type)),
                ("invoice_id", .string(invoice.billingID)), ("job_ids", .array(jobIDs.map { JSON.int($0) })),
            ]),
            status: .accepted)
    }
}
