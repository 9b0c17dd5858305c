import Foundation

/// The webhook a sync job sends after its provider write succeeded (docs/webhooks.md), so a
/// billing UI can show where the object is at the provider and link to it:
///
/// - `customer.accounting_provider_created` the first time a customer is written to a
///   connection, `customer.accounting_provider_synced` when it is written again;
/// - `invoice.accounting_provider_synced`, `sales_order.accounting_provider_synced`,
///   `credit_note.accounting_provider_synced`, `payment.accounting_provider_synced` for every
///   successful write;
/// - `invoice.accounting_provider_voided`, `credit_note.accounting_provider_voided` for the
///   void kinds (`invoice.void`, `credit_memo.void`).
///
/// One per success of a job and object: its id (`evt_synced_job<job id>_<object type>`) is the
/// delivery's unique key, and the job enqueues it in the transaction that records the success
/// in `ledgersync.sync_status`, so a job run again after a crash sends none a second time.
public struct AccountingSyncedEvent: Sendable, Equatable {
    public static let customerCreatedType = "customer.accounting_provider_created"

    /// Every type this event can have, for endpoint subscriptions (`WebhookDelivery.eventTypes`).
    public static let types = [
        customerCreatedType, "customer.accounting_provider_synced", "invoice.accounting_provider_synced",
        "sales_order.accounting_provider_synced", "credit_note.accounting_provider_synced", "payment.accounting_provider_synced",
        "invoice.accounting_provider_voided", "credit_note.accounting_provider_voided",
    ]

    public let jobID: Int64
    public let jobKind: String
    public let createdAt: Date
    public let connectionID: UUID
    public let connectionName: String?
    public let provider: String
    public let objectType: ExternalRef.ObjectType
    public let billingID: String
    public let number: String?
    public let customerID: String?
    public let providerID: String
    public let providerLink: String?
    /// The object was not at the provider before (no provider id was known).
    public let created: Bool
    /// The job voided it (`invoice.void`, `credit_memo.void`).
    public let voided: Bool

    public init(
        jobID: Int64, jobKind: String, createdAt: Date, connectionID: UUID, connectionName: String?, provider: String,
        objectType: ExternalRef.ObjectType, billingID: String, number: String?, customerID: String?, providerID: String,
        providerLink: String?, created: Bool, voided: Bool
    ) {
        self.jobID = jobID
        self.jobKind = jobKind
        self.createdAt = createdAt
        self.connectionID = connectionID
        self.connectionName = connectionName
        self.provider = provider
        self.objectType = objectType
        self.billingID = billingID
        self.number = number
        self.customerID = customerID
        self.providerID = providerID
        self.providerLink = providerLink
        self.created = created
        self.voided = voided
    }

    /// The billing system's name of the object type (a credit memo is Lago's credit note).
    public static func billingName(_ objectType: ExternalRef.ObjectType) -> String {
        objectType == .creditMemo ? "credit_note" : objectType.rawValue
    }

    public var type: String {
        let name = Self.billingName(objectType)
        if objectType == .customer && created { return Self.customerCreatedType }
        return voided ? "\(name).accounting_provider_voided" : "\(name).accounting_provider_synced"
    }

    /// Unique per job and object: the delivery's unique key and `webhook-id`.
    public var id: String { "evt_synced_job\(jobID)_\(objectType.rawValue)" }

    /// The exact bytes signed and sent.
    public func body() throws -> String {
        struct Body: Encodable {
            let id: String
            let type: String
            let createdAt: String
            let connectionID: String
            let connectionName: String?
            let provider: String
            let jobID: Int64
            let jobKind: String
            let object: Object
            struct Object: Encodable {
                let type: String
                let lagoID: String
                let number: String?
                let lagoCustomerID: String?
                let providerID: String
                let providerLink: String?
                enum CodingKeys: String, CodingKey {
                    case type
                    case lagoID = "lago_id"
                    case number
                    case lagoCustomerID = "lago_customer_id"
                    case providerID = "provider_id"
                    case providerLink = "provider_link"
                }
                func encode(to encoder: any Encoder) throws {
                    var container = encoder.container(keyedBy: CodingKeys.self)
                    try container.encode(type, forKey: .type)
                    try container.encode(lagoID, forKey: .lagoID)
                    try container.encode(number, forKey: .number)
                    try container.encode(lagoCustomerID, forKey: .lagoCustomerID)
                    try container.encode(providerID, forKey: .providerID)
                    try container.encode(providerLink, forKey: .providerLink)
                }
            }
            enum CodingKeys: String, CodingKey {
                case id, type, provider, object
                case createdAt = "created_at"
                case connectionID = "connection_id"
                case connectionName = "connection_name"
                case jobID = "job_id"
                case jobKind = "job_kind"
            }
        }
        let body = Body(
            id: id, type: type, createdAt: ProviderErrorEvent.timestamp(createdAt), connectionID: connectionID.uuidString.lowercased(),
            connectionName: connectionName, provider: provider, jobID: jobID, jobKind: jobKind,
            object: .init(
                type: Self.billingName(objectType), lagoID: billingID, number: number, lagoCustomerID: customerID, providerID: providerID,
                providerLink: providerLink))
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }
}
