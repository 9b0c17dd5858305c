import ExactJSON
import Foundation
import Sync

/// Writes billing documents to one Zoho Books organization, idempotently: every record is
/// upserted by a unique custom field holding the billing id (docs/zoho-books.md, "The
/// provider").
///
/// The upsert: every module the sync writes has Zoho's "Update … using a custom field's unique
/// value" (Zoho Books API pages "Contacts", "Invoices", "Sales Order", "Credit Notes" and
/// "Customer Payments", https://www.zoho.com/books/api/v3/contacts/ … /customer-payments/;
/// Zoho's OpenAPI operations `update_contact_using_custom_field`,
/// `update_invoice_using_custom_field`, … `update_customer_payment_using_custom_field`):
/// `PUT /<module>` with `X-Unique-Identifier-Key: <custom field api name>`,
/// `X-Unique-Identifier-Value: <value>` and `X-Upsert: true` "updates the record whose custom
/// field holds the value; if the X-Upsert header is true and the custom field's unique value is
/// not found in any of the existing records, a new one will be created". The custom field must
/// be "configured to not accept duplicate values" (set-up, docs/zoho-books.md). So the same
/// call after a lost answer finds the record it created: no fallback is needed for any module.
struct ZohoBooksProvider: AccountingProvider {
    let client: ZohoBooksClient
    /// The api name of the unique custom field holding the billing id (`settings.unique_field`).
    let uniqueField: String

    init(client: ZohoBooksClient) {
        self.client = client
        uniqueField = ZohoBooksDriver.uniqueField(client.connection.settings)
    }

    /// A module of the API the sync writes.
    struct Module: Sendable {
        let path: String
        /// The answer's member holding the record.
        let resource: String
        let idKey: String
        /// For people: "contact", "credit note".
        let label: String
        /// The document number's member: a body carrying one needs
        /// `ignore_auto_number_generation=true` ("Invoices": "this can be a custom number
        /// (requires `ignore_auto_number_generation=true` query parameter)"; the same
        /// parameter on "Sales Order" and "Credit Notes").
        let numberKey: String?

        static let contacts = Module(path: "contacts", resource: "contact", idKey: "contact_id", label: "contact", numberKey: nil)
        static let invoices = Module(
            path: "invoices", resource: "invoice", idKey: "invoice_id", label: "invoice", numberKey: "invoice_number")
        static let salesOrders = Module(
            path: "salesorders", resource: "salesorder", idKey: "salesorder_id", label: "sales order", numberKey: "salesorder_number")
        static let creditNotes = Module(
            path: "creditnotes", resource: "creditnote", idKey: "creditnote_id", label: "credit note", numberKey: "creditnote_number")
        static let payments = Module(
            path: "customerpayments", resource: "payment", idKey: "payment_id", label: "customer payment", numberKey: nil)
    }

    /// The contact's upsert. A contact written before (a recorded or linked ref) is read first
    /// (a further request): Zoho adds a contact person sent without its `contact_person_id`
    /// again ("Contacts", update-a-contact-request: `contact_persons[].contact_person_id`), so
    /// the persons it has are named by their ids (`ZohoPayloads.contact(…, existingPersons:)`).
    func upsertCustomer(_ customer: BillingCustomer, target: SyncTarget) async throws -> String {
        let pacer = ZohoRequestPacer(target: target)
        var existingPersons: ExactJSON?
        if let known = target.existingProviderID {
            do {
                let answer = try await client.send("GET", "contacts/\(try Self.pathID(known, .contacts))", pacer: pacer)
                existingPersons = answer["contact"]?["contact_persons"]
            } catch let error as SyncError where error.providerCode == "1002" {
                // Gone at Zoho: a linked one is refused by its update below; otherwise the
                // upsert by the billing id writes it again.
                existingPersons = nil
            }
        }
        let body = try ZohoPayloads.contact(customer, uniqueField: uniqueField, target: target, existingPersons: existingPersons)
        return try await upsert(.contacts, billingID: customer.lagoID, body: body, target: target, pacer: pacer).id
    }

    func upsertInvoice(_ invoice: BillingInvoice, customerRef: String, target: SyncTarget) async throws -> String {
        let body = try ZohoPayloads.invoice(invoice, customerID: customerRef, uniqueField: uniqueField, target: target)
        return try await upsert(.invoices, billingID: invoice.lagoID, body: body, target: target, pacer: ZohoRequestPacer(target: target))
            .id
    }

    func upsertSalesOrder(_ order: BillingSalesOrder, customerRef: String, target: SyncTarget) async throws -> String {
        let body = try ZohoPayloads.salesOrder(order, customerID: customerRef, uniqueField: uniqueField, target: target)
        return try await upsert(
            .salesOrders, billingID: order.lagoID, body: body, target: target, pacer: ZohoRequestPacer(target: target)
        ).id
    }

    func upsertPayment(_ payment: BillingPayment, customerRef: String, invoiceRefs: [String: String], target: SyncTarget) async throws
        -> String
    {
        // One payment spread over its invoices: the body's `invoices` list carries each
        // application (ZohoPayloads.payment); an update replaces them.
        let body = try ZohoPayloads.payment(
            payment, customerID: customerRef, invoiceRefs: invoiceRefs, uniqueField: uniqueField, target: target)
        return try await upsert(.payments, billingID: payment.lagoID, body: body, target: target, pacer: ZohoRequestPacer(target: target))
            .id
    }

    /// A Zoho contact has one currency (`currency_id`, "Contacts": set when it is created), so
    /// there is no list of currencies to add to: nothing to do.
    func addCustomerCurrency(_ customer: BillingCustomer, currency: Currency, target: SyncTarget) async throws -> String? { nil }

    // MARK: - Writing one record

    /// Writes one record and returns its id and the record as Zoho answered it: by the upsert
    /// on the unique custom field, or by its id when a person linked the billing object to an
    /// existing record (`PUT /<module>/{id}`, docs/linking.md: update that record, never match
    /// or create another). A recorded (not linked) ref is not used: the upsert by the billing id
    /// finds the same record and is safe to repeat.
    func upsert(_ module: Module, billingID: String, body: ExactJSON, target: SyncTarget, pacer: ZohoRequestPacer) async throws
        -> (id: String, record: ExactJSON)
    {
        var query: [(String, String)] = []
        if let numberKey = module.numberKey, body[numberKey] != nil { query.append(("ignore_auto_number_generation", "true")) }
        let answer: ExactJSON
        if target.existingIsLinked, let linked = target.existingProviderID {
            do {
                answer = try await client.send(
                    "PUT", "\(module.path)/\(try Self.pathID(linked, module))", query: query, body: body, pacer: pacer)
            } catch let error as SyncError where error.providerCode == "1002" {
                throw SyncError(
                    .permanent,
                    "the linked Zoho Books \(module.label) \(linked) is gone (\(error.message)); link the object to another record with `ledgersync refs link`, or `refs unlink` it to create one",
                    providerCode: error.providerCode)
            }
        } else {
            guard !billingID.isEmpty, billingID.count <= 255 else {
                throw DocumentError(
                    field: "lago_id", message: "must be 1 to 255 characters to be the value of \(uniqueField) at Zoho Books")
            }
            do {
                answer = try await client.send(
                    "PUT", module.path, query: query, body: body,
                    headers: [("X-Unique-Identifier-Key", uniqueField), ("X-Unique-Identifier-Value", billingID), ("X-Upsert", "true")],
                    pacer: pacer)
            } catch let error as SyncError where error.errorClass == .permanent && Self.refusesUniqueField(error) {
                throw SyncError(
                    .permanent,
                    "\(error.message); the \(module.label)s' custom field \(uniqueField) must exist and refuse duplicate values (docs/zoho-books.md, \"Set-up\"; `ledgersync connections test` checks it)",
                    providerCode: error.providerCode)
            }
        }
        return try Self.record(answer, module)
    }

    /// The record in an answer and its id. A missing id: the write may have happened (the
    /// retry's upsert finds it), so transient.
    static func record(_ answer: ExactJSON, _ module: Module) throws -> (id: String, record: ExactJSON) {
        guard let record = answer[module.resource], let id = idText(record[module.idKey]), !id.isEmpty else {
            throw SyncError(
                .transient,
                "Zoho Books answered the \(module.label) write without \(module.resource).\(module.idKey) (it may have been applied)")
        }
        return (id, record)
    }

    /// An id as Zoho writes it: a string of digits (or a JSON number in some answers).
    static func idText(_ value: ExactJSON?) -> String? {
        guard let value else { return nil }
        return value.stringValue ?? value.numberText
    }

    /// An id we put in a path: digits, as every Zoho record id is.
    static func pathID(_ id: String, _ module: Module) throws -> String {
        guard !id.isEmpty, id.count <= 40, id.allSatisfy({ $0.isASCII && $0.isNumber }) else {
            throw SyncError(.permanent, "a Zoho Books \(module.label) id is digits, got \"\(id.prefix(40))\"")
        }
        return id
    }

    /// Whether a refusal of the upsert is about its custom field (unknown, or not set to refuse
    /// duplicates). Zoho documents no code for it; its message names the field.
    static func refusesUniqueField(_ error: SyncError) -> Bool {
        let text = error.message.lowercased()
        return text.contains("x-unique-identifier") || (text.contains("custom field") && text.contains("unique"))
            || text.contains("duplicate value")
    }
}
