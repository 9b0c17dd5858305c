import ExactJSON
import Foundation
import Hummingbird

// Deleting an invoice, a sales order or a customer payment (what a person does at Zoho when a
// record was made by mistake; reconciliation then reports the billing object as missing, or
// an invoice paid by hand as open again).
//
// Zoho's pages:
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/#delete-an-invoice): `DELETE
//   /invoices/{invoice_id}` deletes an existing invoice; "Invoices which have payment or
//   credits note applied cannot be deleted"; the answer {"code": 0, "message": "The invoice
//   has been deleted."}.
// - "Delete Invoice" (https://www.zoho.com/ca/books/help/invoice/delete-invoice.html): the
//   payments recorded for an invoice must be deleted before it can be.
// - "Sales Order" (https://www.zoho.com/books/api/v3/sales-order/#delete-a-sales-order):
//   `DELETE /salesorders/{salesorder_id}`, "The sales order has been deleted.".
// - "Customer Payments" (https://www.zoho.com/books/api/v3/customer-payments/#delete-a-payment):
//   `DELETE /customerpayments/{payment_id}`, "Delete an existing payment.", answered
//   "The payment has been deleted.". "Delete Invoice" above: a payment recorded for an invoice
//   is deleted so the invoice can be, so a payment's deletion takes its amounts off the
//   invoices it paid (their balances are due again).
//
// NOT DOCUMENTED: the code of the refusal of an invoice with payments or credits applied (4
// here, HTTP 400, like the simulator's other refused values). Contacts and credit notes are
// not deleted by the simulator (a credit note's deletion would have to undo its credits and
// refunds; nothing in Ledgersync needs it): 405 as before.
extension ZohoBooksSimulator {
    func delete(_ module: Module, id: String, organizationID: String) -> Outcome {
        guard ["invoices", "salesorders", "customerpayments"].contains(module.path) else {
            return .answer(Self.envelope(code: 5, message: "Method Not Allowed", status: .methodNotAllowed))
        }
        let fault = drawFault()
        if fault == .serverError { return .answer(Self.internalError) }
        let response = state.withLock { state -> Response in
            guard var records = state.organizations[organizationID]?.records[module.path],
                let index = records.firstIndex(where: { $0.id == id })
            else { return APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound).response }
            let body = records[index].body
            if module.path == "invoices", !Self.decimal(body["payment_made"]).isZero || !Self.decimal(body["credits_applied"]).isZero {
                return APIError(
                    code: 4, message: "Invoices which have payment or credits note applied cannot be deleted.", status: .badRequest
                ).response
            }
            if module.path == "customerpayments", var invoices = state.organizations[organizationID]?.records["invoices"] {
                Self.takeBackApplications(of: body, invoices: &invoices)
                state.organizations[organizationID]?.records["invoices"] = invoices
            }
            records.remove(at: index)
            state.organizations[organizationID]?.records[module.path] = records
            state.stats.writes += 1
            let message =
                switch module.path {
                case "invoices": "The invoice has been deleted."
                case "salesorders": "The sales order has been deleted."
                default: "The payment has been deleted."
                }
            return Self.envelope(code: 0, message: message, status: .ok)
        }
        return deliver(response, fault: fault)
    }
}
