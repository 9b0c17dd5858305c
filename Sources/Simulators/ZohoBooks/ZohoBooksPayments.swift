import ExactJSON
import Foundation
import Hummingbird
import Sync

// What moves an invoice's balance: customer payments, credits applied from credit notes, voids;
// and what moves a credit note's: credits applied, refunds, its void.
//
// Zoho's pages each rule follows:
// - "Customer Payments" (https://www.zoho.com/books/api/v3/customer-payments/): `POST
//   /customerpayments` with customer_id, payment_mode ("check, cash, creditcard,
//   banktransfer, bankremittance, autotransaction or others. Max-length [100]"), amount, date
//   ("Format [yyyy-mm-dd]"), reference_number ("Max-length [100]"), account_id, invoices
//   [{invoice_id, amount_applied}]; `GET`/`PUT /customerpayments/{payment_id}`,
//   `GET /customerpayments`, and "Update a payment using a custom field's unique value" (the
//   upsert: `PUT /customerpayments` with X-Unique-Identifier-Key/-Value, X-Upsert). The
//   answer's resource is "payment", its invoices carry amount_applied. "Refund an excess
//   customer payment" exists, so a payment may exceed what it applies (`unused_amount` here).
// - Zoho Invoice "Customer Payments" (https://www.zoho.com/invoice/api/v3/customer-payments/,
//   the same API family): error 3004 "The Customer field can neither be blank nor incorrect.
//   Please enter a correct Customer", 24016 "The amount entered is more than the balance due
//   for this invoice".
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/), "Void an invoice": `POST
//   /invoices/{invoice_id}/status/void`, "Mark an invoice status as void. Upon voiding, the
//   payments and credits associated with the invoices will be unassociated and will be under
//   customer credits." The answer's message "Invoice status has been changed to Void." is
//   that of Zoho's SDKs.
// - "Credit Notes" (https://www.zoho.com/books/api/v3/credit-notes/): "Void a Credit Note"
//   (`POST /creditnotes/{creditnote_id}/status/void`), "Credit to an invoice"
//   (`POST /creditnotes/{creditnote_id}/invoices`), "Refund credit note"
//   (`POST /creditnotes/{creditnote_id}/refunds`, date and amount; refund_mode,
//   reference_number, from_account_id, description), "List refunds of a credit note"
//   (`creditnote_refunds`), "List invoices credited" (`GET /creditnotes/{id}/invoices`,
//   `invoices_credited`). "Invoices": "List invoice payments" (`GET /invoices/{id}/payments`,
//   `payments`) and "List credits applied" (`GET /invoices/{id}/creditsapplied`, `credits`):
//   what a client reads after a lost answer before it applies again. Zoho Invoice "Credit Notes"
//   (https://www.zoho.com/invoice/api/v3/credit-notes/): 12003 "Credit notes that are in
//   closed status cannot be applied to invoices", 12004 "… in void status cannot be applied",
//   12007 "Credits cannot be applied to invoices in the void status".
//
// NOT DOCUMENTED (what the simulator does, marked where used): the code when the amounts applied
// exceed the payment's amount (400 code 4 naming `invoices`), when an invoice of another
// customer or a void invoice is paid (400 code 4), when a credit note with credits applied or
// refunds is voided (refused, 400 code 4: unapply first), when a refund exceeds the balance
// (400 code 4 naming `amount`); what an update of a payment does to the invoices (here: the old
// applications are taken back and the new ones applied, all or nothing; an update that names no
// `invoices` keeps the applications); that a credit note's refund needs `from_account_id` (here
// optional, checked against the chart of accounts when given).

extension ZohoBooksSimulator {
    /// The fields of a payment (its applications are checked by `applyPayment`).
    static func validatePayment(_ body: ExactJSON, organization: OrganizationData?, reference: ReferenceData) throws(APIError) {
        guard let customer = body["customer_id"]?.stringValue, !customer.isEmpty,
            organization?.records["contacts"]?.contains(where: { $0.id == customer }) == true
        else {
            throw APIError(
                code: 3004, message: "The Customer field can neither be blank nor incorrect. Please enter a correct Customer",
                status: .badRequest)
        }
        guard let mode = body["payment_mode"]?.stringValue, !mode.isEmpty, mode.count <= 100 else {
            throw APIError.invalid("payment_mode")
        }
        guard let amount = body["amount"]?.numberText.flatMap(ExactDecimal.init(literal:)), !amount.isNegative, !amount.isZero else {
            throw APIError.invalid("amount")
        }
        guard let date = body["date"]?.stringValue, isDate(date) else { throw APIError.invalid("date") }
        if let reference = body["reference_number"], reference != .null {
            guard let text = reference.stringValue, text.count <= 100 else { throw APIError.invalid("reference_number") }
        }
        try checkReference(body["account_id"], field: "account_id", known: reference.accounts.map(\.id))
        if let invoices = body["invoices"], invoices != .null, invoices.arrayValue == nil { throw APIError.invalid("invoices") }
    }

    /// `yyyy-mm-dd` with a month 01–12 and a day 01–31.
    static func isDate(_ text: String) -> Bool {
        let parts = text.split(separator: "-", omittingEmptySubsequences: false)
        guard parts.count == 3, parts[0].count == 4, parts[1].count == 2, parts[2].count == 2,
            parts.allSatisfy({ $0.allSatisfy { $0.isASCII && $0.isNumber } }), let month = Int(parts[1]), let day = Int(parts[2])
        else { return false }
        return (1...12).contains(month) && (1...31).contains(day)
    }

    /// Takes back the applications of `previous` (an update) and applies those of `body`, all
    /// or nothing, to `invoices`; sets the payment's `invoices` (with each invoice's number)
    /// and `unused_amount`.
    static func applyPayment(
        _ body: inout ExactJSON, previous: ExactJSON?, paymentID: String, invoices: inout [StoredRecord]
    ) throws(APIError) {
        var working = invoices
        if let previous { takeBackApplications(of: previous, invoices: &working) }
        let customer = body["customer_id"]?.stringValue
        let amount = decimal(body["amount"])
        var total = ExactDecimal.zero
        var applied: [ExactJSON] = []
        for (at, line) in (body["invoices"]?.arrayValue ?? []).enumerated() {
            guard case .object = line else { throw APIError.invalid("invoices[\(at)]") }
            guard let invoiceID = line["invoice_id"]?.stringValue, !invoiceID.isEmpty else {
                throw APIError.invalid("invoices[\(at)].invoice_id")
            }
            guard let index = working.firstIndex(where: { $0.id == invoiceID }) else {
                throw APIError(code: 1002, message: "Invoice does not exist.", status: .badRequest)
            }
            guard let value = line["amount_applied"]?.numberText.flatMap(ExactDecimal.init(literal:)), !value.isNegative else {
                throw APIError.invalid("invoices[\(at)].amount_applied")
            }
            let invoice = working[index].body
            guard invoice["customer_id"]?.stringValue == customer else {
                throw APIError(code: 4, message: "invoices[\(at)]: the invoice belongs to another customer", status: .badRequest)
            }
            guard invoice["status"]?.stringValue != "void" else {
                throw APIError(code: 4, message: "invoices[\(at)]: payments cannot be applied to a void invoice", status: .badRequest)
            }
            guard !(decimal(invoice["balance"]) < value) else {
                throw APIError(
                    code: 24016, message: "The amount entered is more than the balance due for this invoice", status: .badRequest)
            }
            guard let sum = checkedSum(total, value) else { throw APIError.invalid("invoices") }
            total = sum
            guard !(amount < total) else {
                throw APIError(
                    code: 4, message: "invoices: the amounts applied (\(text(total))) exceed the payment's amount (\(text(amount)))",
                    status: .badRequest)
            }
            guard !value.isZero else { continue }
            let paid = decimal(invoice["payment_made"]) + value
            set(&working[index], [("payment_made", .number(text(paid)))])
            settle(&working[index].body, module: "invoices")
            applied.append(
                .object([
                    ("invoice_id", .string(invoiceID)),
                    ("invoice_number", working[index].body["invoice_number"] ?? .string("")),
                    ("amount_applied", .number(text(value))),
                ]))
        }
        var members = body.objectMembers.filter { !["invoices", "unused_amount"].contains($0.key) }
        members += [("invoices", .array(applied)), ("unused_amount", .number(text(amount - total)))]
        body = .object(members)
        invoices = working
    }

    /// What a payment applied goes back onto the invoices' balances (an update's old
    /// applications, a deleted payment's). A void invoice's were taken back at its void.
    static func takeBackApplications(of payment: ExactJSON, invoices: inout [StoredRecord]) {
        for old in payment["invoices"]?.arrayValue ?? [] {
            guard let invoiceID = old["invoice_id"]?.stringValue, let index = invoices.firstIndex(where: { $0.id == invoiceID }),
                invoices[index].body["status"]?.stringValue != "void"
            else { continue }
            let paid = decimal(invoices[index].body["payment_made"]) - decimal(old["amount_applied"])
            set(&invoices[index], [("payment_made", .number(text(paid)))])
            settle(&invoices[index].body, module: "invoices")
        }
    }

    /// `POST /creditnotes/{id}/invoices` {"invoices": [{"invoice_id", "amount_applied"}]}: takes the
    /// amounts off the credit note's balance and the invoices' balances, all or nothing, and
    /// records them in the credit note's `invoices_credited`.
    func applyCredit(_ request: Request, creditNoteID: String, organizationID: String) async -> Outcome {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: Self.maxBodyBytes),
            let body = try? ExactJSON.parse(buffer.readableBytesView), let lines = body["invoices"]?.arrayValue, !lines.isEmpty
        else { return .answer(APIError.invalid("invoices").response) }
        let fault = drawFault()
        if fault == .serverError { return .answer(Self.internalError) }
        let response = state.withLock { state -> Response in
            guard var records = state.organizations[organizationID]?.records, var notes = records["creditnotes"],
                let noteIndex = notes.firstIndex(where: { $0.id == creditNoteID })
            else { return APIError(code: 1002, message: "Credit note does not exist.", status: .notFound).response }
            switch notes[noteIndex].body["status"]?.stringValue {
            case "void":
                return APIError(
                    code: 12004, message: "Credit notes that are in void status cannot be applied to invoices", status: .badRequest
                )
                .response
            case "closed":
                return APIError(
                    code: 12003, message: "Credit notes that are in closed status cannot be applied to invoices", status: .badRequest
                )
                .response
            default: break
            }
            var invoices = records["invoices"] ?? []
            var noteBalance = Self.decimal(notes[noteIndex].body["balance"])
            var changed: [(index: Int, amount: ExactDecimal)] = []
            for (at, line) in lines.enumerated() {
                guard let invoiceID = line["invoice_id"]?.stringValue,
                    let index = invoices.firstIndex(where: { $0.id == invoiceID })
                else { return APIError(code: 1002, message: "Invoice does not exist.", status: .badRequest).response }
                guard invoices[index].body["status"]?.stringValue != "void" else {
                    return APIError(code: 12007, message: "Credits cannot be applied to invoices in the void status", status: .badRequest)
                        .response
                }
                guard let amount = line["amount_applied"]?.numberText.flatMap(ExactDecimal.init(literal:)), !amount.isNegative,
                    !amount.isZero
                else { return APIError.invalid("invoices[\(at)].amount_applied").response }
                let invoiceBalance =
                    Self.decimal(invoices[index].body["balance"]) - changed.filter { $0.index == index }.reduce(.zero) { $0 + $1.amount }
                guard !(invoiceBalance < amount), !(noteBalance < amount) else {
                    return APIError(
                        code: 4, message: "invoices[\(at)].amount_applied is more than the balance of the invoice or the credit note",
                        status: .badRequest
                    ).response
                }
                noteBalance = noteBalance - amount
                changed.append((index, amount))
            }
            var credited = notes[noteIndex].body["invoices_credited"]?.arrayValue ?? []
            for (index, amount) in changed {
                let applied = Self.decimal(invoices[index].body["credits_applied"]) + amount
                Self.set(&invoices[index], [("credits_applied", .number(Self.text(applied)))])
                Self.settle(&invoices[index].body, module: "invoices")
                credited.append(
                    .object([
                        ("invoice_id", .string(invoices[index].id)),
                        ("invoice_number", invoices[index].body["invoice_number"] ?? .string("")),
                        ("amount_applied", .number(Self.text(amount))),
                    ]))
            }
            let used = changed.reduce(Self.decimal(notes[noteIndex].body["credits_applied"])) { $0 + $1.amount }
            Self.set(&notes[noteIndex], [("credits_applied", .number(Self.text(used))), ("invoices_credited", .array(credited))])
            Self.settle(&notes[noteIndex].body, module: "creditnotes")
            records["invoices"] = invoices
            records["creditnotes"] = notes
            state.organizations[organizationID]?.records = records
            state.stats.writes += 1
            let applied = ExactJSON.array(
                changed.map {
                    .object([("invoice_id", .string(invoices[$0.index].id)), ("amount_applied", .number(Self.text($0.amount)))])
                })
            return Self.json(
                .object([
                    ("code", .number("0")), ("message", .string("Credits have been applied to the invoice(s).")),
                    ("apply_to_invoices", .object([("invoices", applied)])),
                ]), status: .created)
        }
        return deliver(response, fault: fault)
    }

    /// The reads of what was applied: `GET /creditnotes/{id}/invoices` (`invoices_credited`),
    /// `GET /creditnotes/{id}/refunds` (`creditnote_refunds`), `GET /invoices/{id}/payments`
    /// (`payments`: each payment's application to the invoice) and
    /// `GET /invoices/{id}/creditsapplied` (`credits`: each credit note's).
    func applications(_ module: Module, id: String, of kind: String, organizationID: String) -> Response {
        state.withLock { state in
            let records = state.organizations[organizationID]?.records ?? [:]
            guard let record = records[module.path]?.first(where: { $0.id == id }) else {
                return APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound).response
            }
            let key: String
            let list: [ExactJSON]
            switch kind {
            case "invoices":
                key = "invoices_credited"
                list = record.body["invoices_credited"]?.arrayValue ?? []
            case "refunds":
                key = "creditnote_refunds"
                list = record.body["creditnote_refunds"]?.arrayValue ?? []
            case "payments":
                key = "payments"
                list = (records["customerpayments"] ?? []).flatMap { payment in
                    (payment.body["invoices"]?.arrayValue ?? []).filter { $0["invoice_id"]?.stringValue == id }.map { line in
                        ExactJSON.object([
                            ("payment_id", .string(payment.id)), ("invoice_id", .string(id)),
                            ("amount_applied", line["amount_applied"] ?? .number("0")),
                            ("date", payment.body["date"] ?? .null), ("payment_mode", payment.body["payment_mode"] ?? .null),
                            ("reference_number", payment.body["reference_number"] ?? .null),
                        ])
                    }
                }
            default:
                key = "credits"
                list = (records["creditnotes"] ?? []).flatMap { note in
                    (note.body["invoices_credited"]?.arrayValue ?? []).filter { $0["invoice_id"]?.stringValue == id }.map { line in
                        ExactJSON.object([
                            ("creditnote_id", .string(note.id)), ("creditnote_number", note.body["creditnote_number"] ?? .null),
                            ("amount_applied", line["amount_applied"] ?? .number("0")),
                        ])
                    }
                }
            }
            return Self.json(.object([("code", .number("0")), ("message", .string("success")), (key, .array(list))]))
        }
    }

    /// `POST /invoices/{id}/status/void` and `POST /creditnotes/{id}/status/void`.
    func void(_ module: Module, id: String, organizationID: String) -> Outcome {
        let fault = drawFault()
        if fault == .serverError { return .answer(Self.internalError) }
        let response = state.withLock { state -> Response in
            guard var records = state.organizations[organizationID]?.records,
                let index = records[module.path]?.firstIndex(where: { $0.id == id })
            else { return APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound).response }
            if module.path == "invoices" {
                Self.voidInvoice(at: index, records: &records)
            } else {
                let note = records["creditnotes"]?[index].body ?? .null
                guard Self.decimal(note["credits_applied"]).isZero, Self.refunded(note).isZero else {
                    return APIError(
                        code: 4, message: "The credit note has credits applied or refunds; remove them before voiding it",
                        status: .badRequest
                    ).response
                }
                if var notes = records["creditnotes"] {
                    Self.set(&notes[index], [("status", .string("void"))])
                    Self.settle(&notes[index].body, module: "creditnotes")
                    records["creditnotes"] = notes
                }
            }
            state.organizations[organizationID]?.records = records
            state.stats.writes += 1
            let message = module.path == "invoices" ? "Invoice status has been changed to Void." : "The credit note has been voided."
            return Self.envelope(code: 0, message: message, status: .ok)
        }
        return deliver(response, fault: fault)
    }

    /// Voids an invoice: its payments' applications and the credits applied to it are taken
    /// back ("will be unassociated and will be under customer credits": a payment's
    /// `unused_amount` and a credit note's `balance` grow again).
    static func voidInvoice(at index: Int, records: inout [String: [StoredRecord]]) {
        guard var invoices = records["invoices"] else { return }
        let invoiceID = invoices[index].id
        var payments = records["customerpayments"] ?? []
        for at in payments.indices {
            let lines = payments[at].body["invoices"]?.arrayValue ?? []
            let kept = lines.filter { $0["invoice_id"]?.stringValue != invoiceID }
            guard kept.count != lines.count else { continue }
            let released = lines.filter { $0["invoice_id"]?.stringValue == invoiceID }.reduce(ExactDecimal.zero) {
                $0 + decimal($1["amount_applied"])
            }
            let unused = decimal(payments[at].body["unused_amount"]) + released
            set(&payments[at], [("invoices", .array(kept)), ("unused_amount", .number(text(unused)))])
        }
        var notes = records["creditnotes"] ?? []
        for at in notes.indices {
            let lines = notes[at].body["invoices_credited"]?.arrayValue ?? []
            let kept = lines.filter { $0["invoice_id"]?.stringValue != invoiceID }
            guard kept.count != lines.count else { continue }
            let released = lines.filter { $0["invoice_id"]?.stringValue == invoiceID }.reduce(ExactDecimal.zero) {
                $0 + decimal($1["amount_applied"])
            }
            let used = decimal(notes[at].body["credits_applied"]) - released
            set(&notes[at], [("invoices_credited", .array(kept)), ("credits_applied", .number(text(used)))])
            settle(&notes[at].body, module: "creditnotes")
        }
        set(&invoices[index], [("credits_applied", .number("0")), ("payment_made", .number("0")), ("status", .string("void"))])
        settle(&invoices[index].body, module: "invoices")
        records["invoices"] = invoices
        if !payments.isEmpty { records["customerpayments"] = payments }
        if !notes.isEmpty { records["creditnotes"] = notes }
    }

    /// `POST /creditnotes/{id}/refunds` {"date", "amount", "refund_mode"?, "reference_number"?,
    /// "from_account_id"?, "description"?}: refunds part of the credit note's balance.
    func refundCreditNote(_ request: Request, creditNoteID: String, organizationID: String) async -> Outcome {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: Self.maxBodyBytes),
            let body = try? ExactJSON.parse(buffer.readableBytesView), case .object = body
        else { return .answer(APIError.invalid("JSONString").response) }
        let fault = drawFault()
        if fault == .serverError { return .answer(Self.internalError) }
        let accounts = configuration.referenceData.accounts.map(\.id)
        let response = state.withLock { state -> Response in
            do throws(APIError) {
                guard var notes = state.organizations[organizationID]?.records["creditnotes"],
                    let index = notes.firstIndex(where: { $0.id == creditNoteID })
                else { throw APIError(code: 1002, message: "Credit note does not exist.", status: .notFound) }
                guard let date = body["date"]?.stringValue, Self.isDate(date) else { throw APIError.invalid("date") }
                guard let amount = body["amount"]?.numberText.flatMap(ExactDecimal.init(literal:)), !amount.isNegative, !amount.isZero
                else { throw APIError.invalid("amount") }
                try Self.checkReference(body["from_account_id"], field: "from_account_id", known: accounts)
                if let mode = body["refund_mode"], mode != .null {
                    guard let text = mode.stringValue, text.count <= 100 else { throw APIError.invalid("refund_mode") }
                }
                let note = notes[index].body
                guard note["status"]?.stringValue != "void" else {
                    throw APIError(code: 4, message: "A void credit note cannot be refunded", status: .badRequest)
                }
                guard !(Self.decimal(note["balance"]) < amount) else {
                    throw APIError(code: 4, message: "amount is more than the balance of the credit note", status: .badRequest)
                }
                let refundID = String(state.nextID)
                state.nextID += 1
                var refund: [(String, ExactJSON)] = [
                    ("creditnote_refund_id", .string(refundID)), ("creditnote_id", .string(creditNoteID)), ("date", .string(date)),
                    ("amount", .number(Self.text(amount))),
                ]
                for key in ["refund_mode", "reference_number", "from_account_id", "description"] {
                    if let value = body[key], value != .null { refund.append((key, value)) }
                }
                let refunds = (note["creditnote_refunds"]?.arrayValue ?? []) + [.object(refund)]
                Self.set(&notes[index], [("creditnote_refunds", .array(refunds))])
                Self.settle(&notes[index].body, module: "creditnotes")
                state.organizations[organizationID]?.records["creditnotes"] = notes
                state.stats.writes += 1
                return Self.json(
                    .object([
                        ("code", .number("0")), ("message", .string("The refund information for this credit note has been saved.")),
                        ("creditnote_refund", .object(refund)),
                    ]), status: .created)
            } catch {
                return error.response
            }
        }
        return deliver(response, fault: fault)
    }
}
