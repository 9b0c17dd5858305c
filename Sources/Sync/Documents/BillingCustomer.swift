/// A customer as Lago sends it (API `GET /customers/:id`, webhook `customer.created`, and
/// embedded in invoices and credit notes).
public struct BillingCustomer: BillingDocument, Hashable {
    public static let documentRoot = "customer"
    public static let envelopeKeys = ["customer"]

    public enum Kind: String, Sendable, Hashable, Decodable {
        case company, individual
    }

    public struct Address: Sendable, Hashable, Decodable {
        public let addressLine1: String?
        public let addressLine2: String?
        public let city: String?
        public let zipcode: String?
        public let state: String?
        /// ISO 3166-1 alpha-2, e.g. "FR".
        public let country: String?

        enum CodingKeys: String, CodingKey {
            case addressLine1 = "address_line1"
            case addressLine2 = "address_line2"
            case city, zipcode, state, country
        }

        public init(
            addressLine1: String? = nil, addressLine2: String? = nil, city: String? = nil,
            zipcode: String? = nil, state: String? = nil, country: String? = nil
        ) {
            self.addressLine1 = addressLine1
            self.addressLine2 = addressLine2
            self.city = city
            self.zipcode = zipcode
            self.state = state
            self.country = country
        }

        /// True when no field is set.
        public var isEmpty: Bool {
            [addressLine1, addressLine2, city, zipcode, state, country].allSatisfy { $0 == nil || $0!.isEmpty }
        }
    }

    public struct Metadata: Sendable, Hashable, Decodable {
        public let key: String
        public let value: String
        public let displayInInvoice: Bool?

        enum CodingKeys: String, CodingKey {
            case key, value
            case displayInInvoice = "display_in_invoice"
        }
    }

    /// Lago's customer uuid (`lago_id`).
    public let lagoID: String
    /// The billing side's own customer id (`external_id`; `external_customer_id` is accepted too).
    public let externalID: String
    public let name: String?
    public let firstname: String?
    public let lastname: String?
    public let legalName: String?
    public let legalNumber: String?
    public let customerType: Kind?
    /// May be a comma-separated list, as Lago allows.
    public let email: String?
    public let phone: String?
    public let url: String?
    /// The billing address (Lago sends its fields at the top level of the customer).
    public let address: Address
    public let shippingAddress: Address?
    public let currency: Currency?
    public let taxIdentificationNumber: String?
    public let timezone: String?
    public let metadata: [Metadata]
    /// The NetSuite subsidiary (internal id) the customer belongs to, over the connection's
    /// default: `netsuite_subsidiary`, else the `subsidiary_id` of Lago's NetSuite
    /// `integration_customers` entry. Nil when neither is given.
    public let netsuiteSubsidiary: String?

    /// Lago's `integration_customers` entry: only what the sync reads.
    struct IntegrationCustomer: Decodable {
        let integrationType: String?
        let subsidiaryID: String?
        enum CodingKeys: String, CodingKey {
            case integrationType = "integration_type"
            case subsidiaryID = "subsidiary_id"
        }
    }

    enum CodingKeys: String, CodingKey {
        case lagoID = "lago_id"
        case externalID = "external_id"
        case externalCustomerID = "external_customer_id"
        case name, firstname, lastname
        case legalName = "legal_name"
        case legalNumber = "legal_number"
        case customerType = "customer_type"
        case email, phone, url
        case shippingAddress = "shipping_address"
        case currency
        case taxIdentificationNumber = "tax_identification_number"
        case timezone, metadata
        case netsuiteSubsidiary = "netsuite_subsidiary"
        case integrationCustomers = "integration_customers"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lagoID = try c.decode(String.self, forKey: .lagoID)
        if !c.contains(.externalID), c.contains(.externalCustomerID) {
            externalID = try c.decode(String.self, forKey: .externalCustomerID)
        } else {
            externalID = try c.decode(String.self, forKey: .externalID)
        }
        name = try c.optional(.name)
        firstname = try c.optional(.firstname)
        lastname = try c.optional(.lastname)
        legalName = try c.optional(.legalName)
        legalNumber = try c.optional(.legalNumber)
        customerType = try c.optional(.customerType)
        email = try c.optional(.email)
        phone = try c.optional(.phone)
        url = try c.optional(.url)
        address = try Address(from: decoder)
        shippingAddress = try c.optional(.shippingAddress)
        currency = try c.optional(.currency)
        taxIdentificationNumber = try c.optional(.taxIdentificationNumber)
        timezone = try c.optional(.timezone)
        metadata = try c.array(.metadata)
        let integrations: [IntegrationCustomer] = try c.array(.integrationCustomers)
        netsuiteSubsidiary =
            try c.optional(.netsuiteSubsidiary)
            ?? integrations.first { $0.integrationType == "netsuite" && $0.subsidiaryID != nil }?.subsidiaryID
    }

    public func validate(root: String) throws(DocumentError) {
        let v = Validator(root: root)
        try v.nonEmpty(lagoID, "lago_id")
        try v.nonEmpty(externalID, "external_id")
        try Self.checkCountry(address.country, v, "country")
        try Self.checkCountry(shippingAddress?.country, v, "shipping_address.country")
        try v.nonEmpty(netsuiteSubsidiary, "netsuite_subsidiary")
        for (i, entry) in metadata.enumerated() {
            try v.nonEmpty(entry.key, "metadata[\(i)].key")
        }
    }

    private static func checkCountry(_ country: String?, _ v: Validator, _ suffix: String) throws(DocumentError) {
        guard let country, !country.isEmpty else { return }
        guard country.utf8.count == 2, country.utf8.allSatisfy({ $0 >= 65 && $0 <= 90 }) else {
            throw v.fail(suffix, "expected an ISO 3166-1 alpha-2 country code like \"US\", got \"\(country)\"")
        }
    }
}
