import Foundation

/// The webhook a sync job emits when it fails for good (PROVIDERS.md 1.7, Lago's shape, with
/// our own id fields): `customer.accounting_provider_error` when a customer is involved,
/// `integration.provider_error` when none is known.
public struct ProviderErrorEvent: Sendable, Equatable {
    public static let customerErrorType = "customer.accounting_provider_error"
    public static let integrationErrorType = "integration.provider_error"

    /// Who the failed job was about, as far as its args tell.
    public struct Subject: Sendable, Equatable {
        /// The billing system's customer id (`lago_id`) and its own external id.
        public var customerID: String?
        public var externalCustomerID: String?
        /// The document the job pushed (`invoice`, `credit_note`, …) and its billing id.
        public var objectType: String?
        public var objectID: String?
        /// The document's number in the billing system (an invoice's "INV-2026-0042"), when
        /// it has one.
        public var objectNumber: String?

        public init(
            customerID: String? = nil, externalCustomerID: String? = nil, objectType: String? = nil, objectID: String? = nil,
            objectNumber: String? = nil
        ) {
            self.customerID = customerID
            self.externalCustomerID = externalCustomerID
            self.objectType = objectType
            self.objectID = objectID
            self.objectNumber = objectNumber
        }
    }

    /// Unique per failed attempt: receivers de-duplicate on it (the unique-key header).
    public let id: String
    public let createdAt: Date
    public let connectionID: UUID
    public let connectionName: String?
    public let provider: String
    public let jobID: Int64
    public let jobKind: String
    public let subject: Subject
    /// The provider's (or our) message and code: `invalid_mapping`, `USER_ERROR`, …
    public let message: String
    public let errorCode: String

    public init(
        id: String, createdAt: Date, connectionID: UUID, connectionName: String?, provider: String,
        jobID: Int64, jobKind: String, subject: Subject, message: String, errorCode: String
    ) {
        self.id = id
        self.createdAt = createdAt
        self.connectionID = connectionID
        self.connectionName = connectionName
        self.provider = provider
        self.jobID = jobID
        self.jobKind = jobKind
        self.subject = subject
        self.message = message
        self.errorCode = errorCode
    }

    public var type: String { subject.customerID == nil ? Self.integrationErrorType : Self.customerErrorType }

    /// The exact bytes that are signed and sent. Built once, at emission, and carried in the
    /// delivery job's args as a string, so every retry sends (and signs) the same bytes.
    public func body() throws -> String {
        let providerError = Body.ProviderError(message: message, errorCode: errorCode)
        let body: Body
        if let customerID = subject.customerID {
            body = Body(
                webhookType: type, objectType: "accounting_provider_customer_error", eventID: id,
                createdAt: Self.timestamp(createdAt),
                customerError: .init(
                    lagoCustomerID: customerID, externalCustomerID: subject.externalCustomerID,
                    accountingProvider: provider, accountingProviderCode: connectionName,
                    connectionID: connectionID.uuidString.lowercased(), jobID: jobID, jobKind: jobKind,
                    objectType: subject.objectType, objectID: subject.objectID, objectNumber: subject.objectNumber,
                    providerError: providerError),
                integrationError: nil)
        } else {
            body = Body(
                webhookType: type, objectType: "provider_error", eventID: id, createdAt: Self.timestamp(createdAt),
                customerError: nil,
                integrationError: .init(
                    lagoIntegrationID: connectionID.uuidString.lowercased(), provider: provider, providerCode: connectionName,
                    jobID: jobID, jobKind: jobKind, objectType: subject.objectType, objectID: subject.objectID,
                    objectNumber: subject.objectNumber, providerError: providerError))
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return String(decoding: try encoder.encode(body), as: UTF8.self)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }

    private struct Body: Encodable {
        struct ProviderError: Encodable {
            let message: String
            let errorCode: String
            enum CodingKeys: String, CodingKey {
                case message
                case errorCode = "error_code"
            }
        }

        struct CustomerError: Encodable {
            let lagoCustomerID: String
            let externalCustomerID: String?
            let accountingProvider: String
            let accountingProviderCode: String?
            let connectionID: String
            let jobID: Int64
            let jobKind: String
            let objectType: String?
            let objectID: String?
            let objectNumber: String?
            let providerError: ProviderError
            enum CodingKeys: String, CodingKey {
                case lagoCustomerID = "lago_customer_id"
                case externalCustomerID = "external_customer_id"
                case accountingProvider = "accounting_provider"
                case accountingProviderCode = "accounting_provider_code"
                case connectionID = "connection_id"
                case jobID = "job_id"
                case jobKind = "job_kind"
                case objectType = "billing_object_type"
                case objectID = "billing_object_id"
                case objectNumber = "billing_object_number"
                case providerError = "provider_error"
            }
        }

        struct IntegrationError: Encodable {
            let lagoIntegrationID: String
            let provider: String
            let providerCode: String?
            let jobID: Int64
            let jobKind: String
            let objectType: String?
            let objectID: String?
            let objectNumber: String?
            let providerError: ProviderError
            enum CodingKeys: String, CodingKey {
                case lagoIntegrationID = "lago_integration_id"
                case provider
                case providerCode = "provider_code"
                case jobID = "job_id"
                case jobKind = "job_kind"
                case objectType = "billing_object_type"
                case objectID = "billing_object_id"
                case objectNumber = "billing_object_number"
                case providerError = "provider_error"
            }
        }

        let webhookType: String
        let objectType: String
        let eventID: String
        let createdAt: String
        let customerError: CustomerError?
        let integrationError: IntegrationError?

        enum CodingKeys: String, CodingKey {
            case webhookType = "webhook_type"
            case objectType = "object_type"
            case eventID = "event_id"
            case createdAt = "created_at"
            case customerError = "accounting_provider_customer_error"
            case integrationError = "provider_error"
        }
    }
}
