import ExactJSON
import Foundation
import Hummingbird
import Sync

// Zoho Books API v3: authentication, organization_id, the limits, the envelope, contacts and
// invoices, and the upsert by a unique custom field.
//
// Zoho's pages each rule follows:
// - "Introduction" (https://www.zoho.com/books/api/v3/introduction/): the root
//   https://www.zohoapis.com/books/v3; "The parameter organization_id along with the
//   organization ID should be sent in with every API request"; requests carry
//   `Authorization: Zoho-oauthtoken <access token>`; data centres have their own domains
//   (.com, .eu, .in, .com.au, .jp, .ca, …) and the api_domain of the token answer names the one
//   to use.
// - The limits: 100 requests per minute per organization, a daily quota by plan (Free 1,000 …
//   10,000), a limit of concurrent calls (PROVIDERS 3). NO ZOHO PAGE stating the numbers was
//   found in the search corpus; Codat's "Zoho Books limits" page
//   (https://docs.codat.io/integrations/accounting/zoho-books/zoho-book-limits) lists the daily,
//   per-minute, concurrent and refresh-token limits, and Zoho's knowledge base "Is it possible
//   to increase the daily limit of API calls?"
//   (https://www.zoho.com/books/kb/automation/increase-daily-limit-api.html) confirms a daily
//   limit that support can raise. The window length, quota and concurrency are configuration.
// - "Errors" (https://www.zoho.com/books/api/v3/errors/, the same table as Zoho Invoice's
//   https://www.zoho.com/invoice/api/v3/errors/): HTTP 200/201 success, 400 bad request
//   ("malformed parameter or missing parameter"), 401 "invalid AuthToken", 404 URL not found,
//   405 method not allowed, 429 "Too many requests within a certain time frame", 500 server
//   error; every body is {"code", "message"} with code 0 on success; samples: 1002 "Invoice
//   does not exist.", 1000 "Internal error".
// - "Contacts" (https://www.zoho.com/books/api/v3/contacts/): create `POST /contacts` with
//   contact_name required (max 200), answer {"code": 0, "message": "The contact has been
//   added.", "contact": {…, "contact_id"}}; `GET /contacts/{id}`, `PUT /contacts/{id}`.
// - "Invoices" (https://www.zoho.com/books/api/v3/invoices/): create `POST /invoices` with
//   customer_id and line_items required, answer "The invoice has been created." with
//   {"invoice": {invoice_id, invoice_number, status "draft", total, balance, …}}; a line's
//   rate and quantity are decimals.
// - Zoho's published OpenAPI files, operations update_contact_using_custom_field and
//   update_invoice_using_custom_field (PROVIDERS 3): `PUT /contacts` and `PUT /invoices` with
//   X-Unique-Identifier-Key (cf_<api name> of a custom field configured to refuse duplicate
//   values), X-Unique-Identifier-Value, and X-Upsert: true creating the record when none holds
//   the value.
//
// NOT DOCUMENTED by any Zoho page found (assumptions, marked where used): the `code` inside a
// 401 (57 here), inside a 429 (sources disagree: 43, 44, 45, 1070; here 44 for the minute
// window, 45 for the daily quota, 1070 for concurrent calls: clients must act on the status),
// the code of a missing or unknown organization_id (2 here, HTTP 400), of a missing required
// field or bad value (4 here), of a duplicate invoice number or a duplicate value of a unique
// custom field (1001 here), and whether refused requests count against the windows (here: no).

extension ZohoBooksSimulator {
    static func envelope(code: Int, message: String, status: HTTPResponse.Status) -> Response {
        json(.object([("code", .number(String(code))), ("message", .string(message))]), status: status)
    }

    struct APIError: Error {
        let code: Int
        let message: String
        let status: HTTPResponse.Status

        static func invalid(_ field: String) -> APIError {
            APIError(code: 4, message: "Invalid value passed for \(field)", status: .badRequest)
        }

        var response: Response { ZohoBooksSimulator.envelope(code: code, message: message, status: status) }
    }

    /// A module of the API: its path, the resource key of its answers and its rules.
    struct Module {
        let path: String
        let resource: String
        let idKey: String
        let label: String
        let created: String
        let updated: String

        static let all: [Module] = [
            Module(
                path: "contacts", resource: "contact", idKey: "contact_id", label: "Contact",
                created: "The contact has been added.", updated: "Contact has been updated successfully."),
            Module(
                path: "invoices", resource: "invoice", idKey: "invoice_id", label: "Invoice",
                created: "The invoice has been created.", updated: "Invoice information has been updated."),
            Module(
                path: "creditnotes", resource: "creditnote", idKey: "creditnote_id", label: "Credit note",
                created: "The credit note has been created.", updated: "Credit note information has been updated."),
        ]

        /// The document number's member, series prefix and the code refusing a number in use
        /// (nil for contacts). 12018 for credit notes is Zoho Invoice's documented code
        /// (PROVIDERS 3); 1001 for invoices is an assumption (see the file's header).
        var number: (key: String, prefix: String, duplicateCode: Int)? {
            switch path {
            case "invoices": ("invoice_number", "INV-", 1001)
            case "creditnotes": ("creditnote_number", "CN-", 12018)
            default: nil
            }
        }

    }

    static let maxBodyBytes = 1 << 20

    func api(_ request: Request, dataCenter: String, path: String) async -> Outcome {
        let now = Date()
        // Authentication, then the organization, then its limits.
        let admitted: Result<String, APIError> = state.withLock { state in
            state.stats.requests += 1
            let header = request.headers[.authorization] ?? ""
            let prefix = "Zoho-oauthtoken "
            guard header.hasPrefix(prefix), let token = state.accessTokens[String(header.dropFirst(prefix.count))],
                token.expires > now, token.dataCenter == dataCenter
            else {
                state.stats.authFailures += 1
                // Code undocumented (see the file's header); the status is Zoho's 401.
                return .failure(APIError(code: 57, message: "You are not authorized to perform this operation", status: .unauthorized))
            }
            guard let organizationID = request.uri.queryParameters["organization_id"].map(String.init),
                configuration.organizations.contains(where: { $0.id == organizationID && $0.dataCenter == dataCenter }),
                var data = state.organizations[organizationID]
            else {
                return .failure(APIError(code: 2, message: "Invalid value passed for organization_id", status: .badRequest))
            }
            defer { state.organizations[organizationID] = data }
            state.stats.maxInFlight = max(state.stats.maxInFlight, state.stats.inFlight + 1)
            guard data.inFlight < configuration.concurrencyLimit else {
                state.stats.rejectedConcurrent += 1
                return .failure(
                    APIError(code: 1070, message: "You have exceeded the maximum number of concurrent API calls.", status: .tooManyRequests)
                )
            }
            Self.turn(&data.windowStart, &data.windowCount, length: configuration.minuteWindow, now: now)
            guard data.windowCount < configuration.requestsPerWindow else {
                state.stats.rejectedMinuteWindow += 1
                return .failure(
                    APIError(
                        code: 44, message: "You have made too many requests. Please try again after some time.", status: .tooManyRequests))
            }
            Self.turn(&data.dayStart, &data.dayCount, length: configuration.dayLength, now: now)
            guard data.dayCount < configuration.dailyQuota else {
                state.stats.rejectedDailyQuota += 1
                return .failure(
                    APIError(
                        code: 45, message: "You have reached the maximum number of API calls allowed for a day.", status: .tooManyRequests))
            }
            data.windowCount += 1
            data.dayCount += 1
            data.inFlight += 1
            state.stats.inFlight += 1
            return .success(organizationID)
        }
        let organizationID: String
        switch admitted {
        case .failure(let error): return .answer(error.response)
        case .success(let id): organizationID = id
        }
        defer {
            state.withLock { state in
                state.stats.inFlight -= 1
                state.organizations[organizationID]?.inFlight -= 1
            }
        }
        if configuration.latency > .zero { try? await Task.sleep(for: configuration.latency) }
        return await route(request, organizationID: organizationID, path: path)
    }

    /// Moves a fixed window forward to the one holding `now`, emptying its count.
    static func turn(_ start: inout Date, _ count: inout Int, length: Duration, now: Date) {
        let seconds = Self.seconds(length)
        guard seconds > 0, now.timeIntervalSince(start) >= seconds else { return }
        let windows = (now.timeIntervalSince(start) / seconds).rounded(.down)
        start = start.addingTimeInterval(windows * seconds)
        count = 0
    }

    private func route(_ request: Request, organizationID: String, path: String) async -> Outcome {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true).map(String.init)
        guard let first = parts.first, let module = Module.all.first(where: { $0.path == first }), parts.count <= 3 else {
            return .answer(Self.envelope(code: 5, message: "Invalid URL Passed", status: .notFound))
        }
        let id = parts.count >= 2 ? parts[1] : nil
        if parts.count == 3 {
            guard module.path == "creditnotes", parts[2] == "invoices", request.method == .post, let id else {
                return .answer(Self.envelope(code: 5, message: "Invalid URL Passed", status: .notFound))
            }
            return await applyCredit(request, creditNoteID: id, organizationID: organizationID)
        }
        switch (request.method, id) {
        case (.get, let id?):
            return .answer(get(module, id: id, organizationID: organizationID))
        case (.get, nil):
            return .answer(list(module, organizationID: organizationID))
        case (.post, nil), (.put, _):
            return await write(request, module: module, id: id, organizationID: organizationID)
        default:
            return .answer(Self.envelope(code: 5, message: "Method Not Allowed", status: .methodNotAllowed))
        }
    }

    private func get(_ module: Module, id: String, organizationID: String) -> Response {
        state.withLock { state in
            guard let record = state.organizations[organizationID]?.records[module.path]?.first(where: { $0.id == id }) else {
                return APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound).response
            }
            return Self.json(.object([("code", .number("0")), ("message", .string("success")), (module.resource, record.body)]))
        }
    }

    private func list(_ module: Module, organizationID: String) -> Response {
        state.withLock { state in
            let records = state.organizations[organizationID]?.records[module.path]?.map(\.body) ?? []
            return Self.json(
                .object([
                    ("code", .number("0")), ("message", .string("success")), (module.path, .array(records)),
                    ("page_context", .object([("page", .number("1")), ("has_more_page", .bool(false))])),
                ]))
        }
    }

    /// How a write finds its record.
    enum Target {
        case create
        case id(String)
        /// X-Unique-Identifier-Key / -Value; `upsert`: create when no record holds the value.
        case unique(key: String, value: String, upsert: Bool)
    }

    private func write(_ request: Request, module: Module, id: String?, organizationID: String) async -> Outcome {
        let target: Target
        if request.method == .post {
            target = .create
        } else if let id {
            target = .id(id)
        } else {
            func header(_ name: String) -> String? {
                request.headers.first { $0.name.canonicalName == name }?.value
            }
            guard let key = header("x-unique-identifier-key"), !key.isEmpty else {
                return .answer(APIError.invalid("X-Unique-Identifier-Key").response)
            }
            guard let value = header("x-unique-identifier-value"), !value.isEmpty else {
                return .answer(APIError.invalid("X-Unique-Identifier-Value").response)
            }
            guard configuration.uniqueCustomFields[module.path]?.contains(key) == true else {
                return .answer(
                    APIError(
                        code: 4, message: "The custom field \(key) does not exist or is not configured to refuse duplicate values.",
                        status: .badRequest
                    ).response)
            }
            let upsert = header("x-upsert")?.lowercased() == "true"
            target = .unique(key: key, value: value, upsert: upsert)
        }
        let fault: Fault? = state.withLock { state in
            guard !configuration.faults.isEmpty, state.random.nextUnit() < state.faultRate else { return nil }
            let kinds = Fault.allCases.filter(configuration.faults.contains)
            let fault = kinds[Int(state.random.next() % UInt64(kinds.count))]
            state.stats.faultsInjected[fault, default: 0] += 1
            return fault
        }
        if fault == .serverError { return .answer(Self.envelope(code: 1000, message: "Internal error", status: .internalServerError)) }

        let response: Response
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
            let body: ExactJSON
            do {
                body = try ExactJSON.parse(buffer.readableBytesView)
            } catch {
                throw APIError.invalid("JSONString")
            }
            guard case .object = body else { throw APIError.invalid("JSONString") }
            let now = Date()
            response = try state.withLock { state throws(APIError) in
                try Self.store(
                    body, module: module, target: target, uniqueKeys: configuration.uniqueCustomFields[module.path] ?? [],
                    organizationID: organizationID, now: now, state: &state)
            }
        } catch let error as APIError {
            response = error.response
        } catch {
            response =
                APIError(code: 4, message: "The request body is larger than \(Self.maxBodyBytes) bytes", status: .badRequest).response
        }
        switch fault {
        case .timeout?: return .answerLate(response, configuration.timeoutDelay)
        case .dropConnection?: return .dropConnection
        case .serverError?, nil: return .answer(response)
        }
    }

    /// The value of custom field `apiName` in a record's `custom_fields`.
    static func customField(_ body: ExactJSON, _ apiName: String) -> String? {
        body["custom_fields"]?.arrayValue?.first { $0["api_name"]?.stringValue == apiName }?["value"]?.stringValue
    }

    static func store(
        _ update: ExactJSON, module: Module, target: Target, uniqueKeys: Set<String>, organizationID: String, now: Date,
        state: inout State
    ) throws(APIError) -> Response {
        var records = state.organizations[organizationID]?.records[module.path] ?? []
        var index: Int?
        var uniqueField: (key: String, value: String)?
        switch target {
        case .create:
            index = nil
        case .id(let id):
            guard let found = records.firstIndex(where: { $0.id == id }) else {
                throw APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound)
            }
            index = found
        case .unique(let key, let value, let upsert):
            index = records.firstIndex { customField($0.body, key) == value }
            if index == nil && !upsert {
                throw APIError(code: 1002, message: "\(module.label) does not exist.", status: .notFound)
            }
            uniqueField = (key, value)
        }

        // An update replaces the members it names (line_items as a whole), keeps the others.
        var members = index.map { records[$0].body.objectMembers } ?? []
        for (key, value) in update.objectMembers where key != module.idKey && !computedMembers.contains(key) {
            if let at = members.firstIndex(where: { $0.key == key }) { members[at].value = value } else { members.append((key, value)) }
        }
        if let uniqueField, index == nil, customField(.object(members), uniqueField.key) == nil {
            // The upsert's create holds the identifying value, as Zoho's OpenAPI describes.
            var fields = members.first { $0.key == "custom_fields" }?.value.arrayValue ?? []
            fields.append(.object([("api_name", .string(uniqueField.key)), ("value", .string(uniqueField.value))]))
            members.removeAll { $0.key == "custom_fields" }
            members.append(("custom_fields", .array(fields)))
        }
        let id = index.map { records[$0].id } ?? String(state.nextID)
        var body = ExactJSON.object(members)
        let organization = state.organizations[organizationID]
        try validate(&body, module: module, id: id, records: records, organization: organization)
        for key in uniqueKeys.sorted() {
            if let value = customField(body, key), records.contains(where: { $0.id != id && customField($0.body, key) == value }) {
                throw APIError(code: 1001, message: "The value \(value) of \(key) already exists.", status: .badRequest)
            }
        }
        body = .object([(module.idKey, .string(id))] + body.objectMembers.filter { $0.key != module.idKey })
        if let index {
            records[index].body = body
        } else {
            records.append(StoredRecord(id: id, body: body))
            state.nextID += 1
        }
        state.organizations[organizationID]?.records[module.path] = records
        state.stats.writes += 1
        let created = index == nil
        return json(
            .object([
                ("code", .number("0")), ("message", .string(created ? module.created : module.updated)), (module.resource, body),
            ]), status: created ? .created : .ok)
    }

    /// Required fields and values per module; sets the fields Zoho computes.
    static func validate(
        _ body: inout ExactJSON, module: Module, id: String, records: [StoredRecord], organization: OrganizationData?
    ) throws(APIError) {
        switch module.path {
        case "contacts":
            guard let name = body["contact_name"]?.stringValue, !name.isEmpty, name.count <= 200 else {
                throw APIError.invalid("contact_name")
            }
        default:
            guard let customer = body["customer_id"]?.stringValue, !customer.isEmpty else { throw APIError.invalid("customer_id") }
            guard organization?.records["contacts"]?.contains(where: { $0.id == customer }) == true else {
                throw APIError(code: 1002, message: "Contact does not exist.", status: .badRequest)
            }
            guard let lines = body["line_items"]?.arrayValue, !lines.isEmpty else { throw APIError.invalid("line_items") }
            var total: Int128 = 0
            let scale = 6
            for (at, line) in lines.enumerated() {
                guard case .object = line else { throw APIError.invalid("line_items[\(at)]") }
                guard line["item_id"]?.stringValue != nil || line["name"]?.stringValue != nil else {
                    throw APIError.invalid("line_items[\(at)].item_id")
                }
                guard let rate = line["rate"]?.numberText.flatMap(ExactDecimal.init(literal:)) else {
                    throw APIError.invalid("line_items[\(at)].rate")
                }
                let quantity: ExactDecimal
                if let given = line["quantity"] {
                    guard let parsed = given.numberText.flatMap(ExactDecimal.init(literal:)) else {
                        throw APIError.invalid("line_items[\(at)].quantity")
                    }
                    quantity = parsed
                } else {
                    quantity = ExactDecimal(1)
                }
                guard let product = multiply(rate, quantity, scale: scale) else { throw APIError.invalid("line_items[\(at)].rate") }
                let (sum, overflow) = total.addingReportingOverflow(product)
                guard !overflow else { throw APIError.invalid("line_items") }
                total = sum
            }
            // Number: the one given, or the next of the series; a number in use is refused.
            guard let series = module.number else { return }
            var number = body[series.key]?.stringValue ?? ""
            if number.isEmpty {
                number = series.prefix + String(format: "%06d", records.count + 1)
                while records.contains(where: { $0.body[series.key]?.stringValue == number }) { number += "-1" }
            }
            if records.contains(where: { $0.id != id && $0.body[series.key]?.stringValue == number }) {
                throw APIError(
                    code: series.duplicateCode, message: "\(module.label) \"\(number)\" already exists.", status: .badRequest)
            }
            // What was applied (credits to an invoice, or from a credit note) stays applied.
            let applied = body["credits_applied"]?.numberText.flatMap { ExactDecimal($0) } ?? .zero
            guard let amount = ExactDecimal(units: total, scale: scale).flatMap({ ExactDecimal($0.description) }), !(amount < applied)
            else {
                throw APIError(code: 4, message: "The total must not be less than the credits applied (\(applied))", status: .badRequest)
            }
            let balance = amount - applied
            let status = module.path == "creditnotes" ? (balance.isZero ? "closed" : "open") : "draft"
            var members = body.objectMembers.filter {
                ![series.key, "credits_applied"].contains($0.key) && !computedMembers.contains($0.key)
            }
            members += [
                (series.key, .string(number)), ("status", .string(status)), ("sub_total", .number(Self.text(amount))),
                ("total", .number(Self.text(amount))), ("balance", .number(Self.text(balance))),
                ("credits_applied", .number(Self.text(applied))),
            ]
            body = .object(members)
        }
    }

    /// A decimal as Zoho's JSON number, without trailing zeros (0.0 → 0).
    static func text(_ value: ExactDecimal) -> String {
        ExactDecimal(value.description)?.description ?? value.description
    }

    /// Members Zoho computes: never taken from a request.
    static let computedMembers: Set<String> = ["total", "sub_total", "balance", "status", "credits_applied"]

    /// `POST /creditnotes/{id}/invoices` {"invoices": [{"invoice_id", "amount_applied"}]}: takes the
    /// amounts off the credit note's balance and the invoices' balances, all or nothing. Page:
    /// Zoho Books "Credit Notes", "Apply credit to invoices"
    /// (https://www.zoho.com/books/api/v3/credit-notes/, PROVIDERS 3 [path UNVERIFIED there]).
    /// The refusal codes 12003–12007 (credit note closed/void/draft) are Zoho Invoice's; here an
    /// amount over a balance is 400 code 4 naming the field (NOT DOCUMENTED), and the state
    /// rules (draft or void documents) are not simulated.
    func applyCredit(_ request: Request, creditNoteID: String, organizationID: String) async -> Outcome {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: Self.maxBodyBytes),
            let body = try? ExactJSON.parse(buffer.readableBytesView), let lines = body["invoices"]?.arrayValue, !lines.isEmpty
        else { return .answer(APIError.invalid("invoices").response) }
        let response = state.withLock { state -> Response in
            guard var records = state.organizations[organizationID]?.records, var notes = records["creditnotes"],
                let noteIndex = notes.firstIndex(where: { $0.id == creditNoteID })
            else { return APIError(code: 1002, message: "Credit note does not exist.", status: .notFound).response }
            var invoices = records["invoices"] ?? []
            func decimal(_ json: ExactJSON?) -> ExactDecimal { json?.numberText.flatMap { ExactDecimal($0) } ?? .zero }
            var noteBalance = decimal(notes[noteIndex].body["balance"])
            var changed: [(index: Int, amount: ExactDecimal)] = []
            for (at, line) in lines.enumerated() {
                guard let invoiceID = line["invoice_id"]?.stringValue,
                    let index = invoices.firstIndex(where: { $0.id == invoiceID })
                else { return APIError(code: 1002, message: "Invoice does not exist.", status: .badRequest).response }
                guard let amount = line["amount_applied"]?.numberText.flatMap(ExactDecimal.init(literal:)), !amount.isNegative,
                    !amount.isZero
                else { return APIError.invalid("invoices[\(at)].amount_applied").response }
                let invoiceBalance =
                    decimal(invoices[index].body["balance"]) - changed.filter { $0.index == index }.reduce(.zero) { $0 + $1.amount }
                guard !(invoiceBalance < amount), !(noteBalance < amount) else {
                    return APIError(
                        code: 4, message: "invoices[\(at)].amount_applied is more than the balance of the invoice or the credit note",
                        status: .badRequest
                    ).response
                }
                noteBalance = noteBalance - amount
                changed.append((index, amount))
            }
            func set(_ record: inout StoredRecord, _ values: [(String, ExactJSON)]) {
                var members = record.body.objectMembers
                for (key, value) in values {
                    if let at = members.firstIndex(where: { $0.key == key }) {
                        members[at].value = value
                    } else {
                        members.append((key, value))
                    }
                }
                record.body = .object(members)
            }
            for (index, amount) in changed {
                let balance = decimal(invoices[index].body["balance"]) - amount
                let applied = decimal(invoices[index].body["credits_applied"]) + amount
                set(&invoices[index], [("balance", .number(Self.text(balance))), ("credits_applied", .number(Self.text(applied)))])
            }
            let used = decimal(notes[noteIndex].body["total"]) - noteBalance
            set(
                &notes[noteIndex],
                [
                    ("balance", .number(Self.text(noteBalance))), ("credits_applied", .number(Self.text(used))),
                    ("status", .string(noteBalance.isZero ? "closed" : "open")),
                ])
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
        return .answer(response)
    }

    /// rate × quantity in units of 10^-scale, nil on overflow or a finer result.
    static func multiply(_ left: ExactDecimal, _ right: ExactDecimal, scale: Int) -> Int128? {
        let (product, overflow) = left.units.multipliedReportingOverflow(by: right.units)
        guard !overflow, left.scale + right.scale <= scale else { return nil }
        var units = product
        for _ in (left.scale + right.scale)..<scale {
            let (next, over) = units.multipliedReportingOverflow(by: 10)
            guard !over else { return nil }
            units = next
        }
        return units
    }
}
