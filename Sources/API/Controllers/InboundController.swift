import Foundation
import HTTPTypes
import Hummingbird
import JobQueue
import Sync

/// Inbound provider events: `POST /v1/inbound/netsuite/{connection_id}/payments`, a payment
/// recorded in NetSuite on an invoice Ledgersync synced, becomes one signed
/// `invoice.paid_in_provider` webhook per subscribed endpoint (`webhook.deliver` jobs).
///
/// Not behind the bearer token: the provider signs the exact body with HMAC-SHA256 under its
/// connection's inbound secret (`X-Ledgersync-Signature: base64`), set with
/// `POST /v1/connections/{id}/inbound-secret`. An unknown connection, one without a secret and
/// a wrong signature all get the same 401, so the route tells an outsider nothing.
struct InboundController {
    let secrets: InboundSecretStore
    let connections: ConnectionStore
    let refs: ExternalRefStore
    let endpoints: WebhookEndpointStore
    let queue: JobQueue

    static let signatureHeader = HTTPField.Name(WebhookDelivery.signatureHeader)!

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
                    ("signature_header", .string(WebhookDelivery.signatureHeader)),
                ]),
                status: .created)
        }
    }

    func registerPublic(on router: Router<APIRequestContext>) {
        router.post("v1/inbound/netsuite/:connection_id/payments") { request, context -> Response in
            try await payment(request, context)
        }
    }

    static let unauthorized = APIError(
        .unauthorized, code: "unauthorized",
        "sign the exact body with HMAC-SHA256 under the connection's inbound secret and send it base64 in \(WebhookDelivery.signatureHeader)")

    func payment(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        var request = request
        let buffer = try await request.collectBody(upTo: context.maxUploadSize)
        let bytes = Array(buffer.readableBytesView)
        guard let connectionID = UUID(uuidString: context.parameters.get("connection_id") ?? ""),
              let signature = request.headers[Self.signatureHeader],
              let secret = try await secrets.secret(connection: connectionID),
              HMACSHA256.verify(base64: signature.trimmingCharacters(in: .whitespaces), key: Array(secret.utf8), message: bytes)
        else { throw Self.unauthorized }

        let body = try ObjectReader(try parseJSONBody(bytes), allowed: ["payment_id", "invoice_id", "amount", "currency", "paid_at"])
        let paymentID = try body.require("payment_id") { try body.string($0, maxLength: 200) }
        let providerInvoiceID = try body.require("invoice_id") { try body.string($0, maxLength: 200) }
        let amount = try body.string("amount", maxLength: 40)
        if let amount, amount.range(of: #"^-?[0-9]+(\.[0-9]+)?$"#, options: .regularExpression) == nil {
            throw APIError.invalid("amount", "must be a decimal number as a string, e.g. \"129.00\"")
        }
        let currency = try body.string("currency", maxLength: 3)
        if let currency, currency.range(of: "^[A-Z]{3}$", options: .regularExpression) == nil {
            throw APIError.invalid("currency", "must be an ISO 4217 code such as EUR")
        }
        let paidAt = try body.date("paid_at")

        guard let invoice = try await refs.lookup(connection: connectionID, objectType: .invoice, providerID: providerInvoiceID) else {
            throw APIError.invalid("invoice_id", "no invoice synced by this connection has NetSuite id \"\(providerInvoiceID.prefix(80))\"")
        }
        let event = InvoicePaidEvent(
            connectionID: connectionID, provider: AccountingConnection.Provider.netsuite.rawValue, invoiceID: invoice.billingID,
            providerInvoiceID: providerInvoiceID, customerID: invoice.customerBillingID, providerPaymentID: paymentID,
            amount: amount, currency: currency, paidAt: paidAt)
        let jobIDs = try await WebhookDelivery.enqueue(
            eventID: event.id, eventType: InvoicePaidEvent.type, body: try event.body(), endpoints: endpoints, queue: queue)
        return .json(
            .object([
                ("event_id", .string(event.id)), ("event_type", .string(InvoicePaidEvent.type)),
                ("invoice_id", .string(invoice.billingID)), ("job_ids", .array(jobIDs.map { JSON.int($0) })),
            ]),
            status: .accepted)
    }
}
