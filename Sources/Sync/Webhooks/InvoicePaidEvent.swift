import Foundation
import Postgres

/// The webhook sent when the provider reports a payment on an invoice Ledgersync synced
/// (`invoice.paid_in_provider`): someone recorded it in NetSuite, and the billing system
/// should mark its own invoice paid. Names the billing invoice, not only NetSuite's ids.
public struct InvoicePaidEvent: Sendable, Equatable {
    public static let type = "invoice.paid_in_provider"

    public let connectionID: UUID
    public let provider: String
    /// The billing system's invoice id and the provider's.
    public let invoiceID: String
    public let providerInvoiceID: String
    public let customerID: String?
    public let providerPaymentID: String
    /// As the provider sent them: a decimal string and an ISO currency code.
    public let amount: String?
    public let currency: String?
    public let paidAt: Date?

    public init(
        connectionID: UUID, provider: String, invoiceID: String, providerInvoiceID: String, customerID: String?,
        providerPaymentID: String, amount: String?, currency: String?, paidAt: Date?
    ) {
        self.connectionID = connectionID
        self.provider = provider
        self.invoiceID = invoiceID
        self.providerInvoiceID = providerInvoiceID
        self.customerID = customerID
        self.providerPaymentID = providerPaymentID
        self.amount = amount
        self.currency = currency
        self.paidAt = paidAt
    }

    /// The same for every report of one payment on one invoice, so a provider that sends it
    /// twice while the first delivery is pending yields one webhook (the delivery's unique
    /// key), and a payment applied to two invoices yields one webhook per invoice.
    public var id: String {
        "evt_paid_\(connectionID.uuidString.lowercased())_\(providerPaymentID)_\(providerInvoiceID)"
    }

    /// The exact bytes signed and sent.
    public func body(now: Date = Date()) throws -> String {
        struct Body: Encodable {
            let id: String
            let type: String
            let createdAt: String
            let connectionID: String
            let provider: String
            let invoice: Invoice
            let payment: Payment
            struct Invoice: Encodable {
                let lagoID: String
                let providerID: String
                let lagoCustomerID: String?
                enum CodingKeys: String, CodingKey {
                    case lagoID = "lago_id"
                    case providerID = "provider_id"
                    case lagoCustomerID = "lago_customer_id"
                }
            }
            struct Payment: Encodable {
                let providerID: String
                let amount: String?
                let currency: String?
                let paidAt: String?
                enum CodingKeys: String, CodingKey {
                    case providerID = "provider_id"
                    case amount, currency
                    case paidAt = "paid_at"
                }
            }
            enum CodingKeys: String, CodingKey {
                case id, type
                case createdAt = "created_at"
                case connectionID = "connection_id"
                case provider, invoice, payment
            }
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return try JSONText(
            encoding: Body(
                id: id, type: Self.type, createdAt: formatter.string(from: now), connectionID: connectionID.uuidString.lowercased(),
                provider: provider,
                invoice: .init(lagoID: invoiceID, providerID: providerInvoiceID, lagoCustomerID: customerID),
                payment: .init(
                    providerID: providerPaymentID, amount: amount, currency: currency, paidAt: paidAt.map { formatter.string(from: $0) }))
        ).text
    }
}
