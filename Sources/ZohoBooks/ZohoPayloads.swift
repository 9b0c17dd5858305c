import ExactJSON
import Foundation
import Sync

// STUB (lead, issue 14): the interface between the provider (ZohoBooksProvider, which sends)
// and the payloads (which say what is sent). Every function is pure: a billing document and
// the connection's mappings in, the request body out, money as exact decimal text built from
// integer minor units. Filled in by the payloads work.

/// The request bodies of Zoho Books API v3, one per record the sync writes.
public enum ZohoPayloads {
    /// `POST|PUT /contacts`: the billing customer as a Zoho contact (`contact_type: customer`),
    /// with the unique custom field (`uniqueField`, e.g. `cf_ledgersync_id`) holding `customer.lagoID`.
    public static func contact(_ customer: BillingCustomer, uniqueField: String, target: SyncTarget) throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books contact payload not built yet")
    }

    /// `POST|PUT /invoices`.
    public static func invoice(_ invoice: BillingInvoice, customerID: String, uniqueField: String, target: SyncTarget) throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books invoice payload not built yet")
    }

    /// `POST|PUT /salesorders`.
    public static func salesOrder(_ order: BillingSalesOrder, customerID: String, uniqueField: String, target: SyncTarget) throws
        -> ExactJSON
    {
        throw SyncError(.permanent, "Zoho Books sales order payload not built yet")
    }

    /// `POST|PUT /creditnotes`.
    public static func creditNote(_ memo: BillingCreditMemo, customerID: String, uniqueField: String, target: SyncTarget) throws
        -> ExactJSON
    {
        throw SyncError(.permanent, "Zoho Books credit note payload not built yet")
    }

    /// `POST /creditnotes/{id}/invoices`: the credit note's amount applied to its invoice.
    public static func creditApplication(_ memo: BillingCreditMemo, invoiceID: String) throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books credit application payload not built yet")
    }

    /// `POST /creditnotes/{id}/refunds`: the refunded part of a credit note.
    public static func creditNoteRefund(_ memo: BillingCreditMemo, target: SyncTarget) throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books refund payload not built yet")
    }

    /// `POST|PUT /customerpayments`: one payment spread over its invoices (`invoiceRefs`: billing
    /// invoice id → Zoho invoice id).
    public static func payment(
        _ payment: BillingPayment, customerID: String, invoiceRefs: [String: String], uniqueField: String, target: SyncTarget
    ) throws -> ExactJSON {
        throw SyncError(.permanent, "Zoho Books payment payload not built yet")
    }
}

/// Zoho's mapping kinds (docs/zoho-books.md "Mappings"): what a mapping's provider id and
/// details must be at Zoho Books. Called by `ZohoBooksDriver.validateMapping`.
public enum ZohoMappings {
    public static func validate(_ mapping: Mapping) throws {}
}
