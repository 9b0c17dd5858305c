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
            // "Sales Order" (https://www.zoho.com/books/api/v3/sales-order/); the create message
            // is PROVIDERS 3's, the update message NOT DOCUMENTED.
            Module(
                path: "salesorders", resource: "salesorder", idKey: "salesorder_id", label: "Sales Order",
                created: "Sales Order Created Successfully.", updated: "Sales Order has been updated."),
            // "Customer Payments" (https://www.zoho.com/books/api/v3/customer-payments/): the
            // answer's key is "payment"; the messages are NOT DOCUMENTED.
            Module(
                path: "customerpayments", resource: "payment", idKey: "payment_id", label: "Payment",
                created: "The payment has been made.", updated: "The payment has been updated."),
        ]

        /// The document number's member, series prefix and the code refusing a number in use
        /// (nil for contacts). 12018 for credit notes is Zoho Invoice's documented code
        /// (PROVIDERS 3); 1001 for invoices is an assumption (see the file's header).
        var number: (key: String, prefix: String, duplicateCode: Int)? {
            switch path {
            case "invoices": ("invoice_number", "INV-", 1001)
            case "creditnotes": ("creditnote_number", "CN-", 12018)
            // "Sales Order": salesorder_number "Must be unique within the organization"; the code
            // of the refusal is NOT DOCUMENTED (1001, like invoices).
            case "salesorders": ("salesorder_number", "SO-", 1001)
            default: nil
            }
        }

    }

    static let maxBodyBytes = 1 << 20

    func api(_ request: Request, dataCenter: String, path: String) async -> Outcome {
        let now = Date()
        // Authentication, then the organization, then its limits.
        let admitted: Result<String?, APIError> = state.withLock { state in
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
            if path == "/organizations" && request.method == .get { return .success(nil) }
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
        case .success(nil): return .answer(organizationsResponse(dataCenter: dataCenter))
        case .success(let id?): organizationID = id
        }
        let start = Date().timeIntervalSince1970
        defer {
            let end = Date().timeIntervalSince1970
            state.withLock { state in
                state.stats.inFlight -= 1
                state.organizations[organizationID]?.inFlight -= 1
                if state.requestLog.count < Self.requestLogCapacity { state.requestLog.append(RequestSpan(start: start, end: end)) }
            }
        }
        if configuration.latency > .zero { try? await Task.sleep(for: configuration.latency) }
        guard request.method != .get else { return await route(request, organizationID: organizationID, path: path) }
        // A write may change other records than its own (ZohoBooksRecordTimes.swift): their
        // last_modified_time moves too.
        let before = state.withLock { $0.organizations[organizationID]?.records ?? [:] }
        let outcome = await route(request, organizationID: organizationID, path: path)
        state.withLock { state in
            guard var after = state.organizations[organizationID]?.records else { return }
            Self.stampSideChanges(before: before, after: &after, now: Self.recordTime(state))
            state.organizations[organizationID]?.records = after
        }
        return outcome
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
        if request.method == .get,
            let response = referenceList(
                parts, organizationID: organizationID, query: request.uri.queryParameters.map { (String($0.key), String($0.value)) })
        {
            return .answer(response)
        }
        guard let first = parts.first, let module = Module.all.first(where: { $0.path == first }), parts.count <= 4 else {
            return .answer(Self.envelope(code: 5, message: "Invalid URL Passed", status: .notFound))
        }
        let id = parts.count >= 2 ? parts[1] : nil
        if parts.count >= 3, let id {
            switch (request.method, module.path, Array(parts.dropFirst(2))) {
            case (.post, "creditnotes", ["invoices"]):
                return await applyCredit(request, creditNoteID: id, organizationID: organizationID)
            case (.post, "creditnotes", ["refunds"]):
                return await refundCreditNote(request, creditNoteID: id, organizationID: organizationID)
            case (.post, "invoices", ["status", "void"]), (.post, "creditnotes", ["status", "void"]):
                return void(module, id: id, organizationID: organizationID)
            case (.get, "creditnotes", ["invoices"]), (.get, "creditnotes", ["refunds"]), (.get, "invoices", ["payments"]),
                (.get, "invoices", ["creditsapplied"]):
                return .answer(applications(module, id: id, of: parts[2], organizationID: organizationID))
            default:
                return .answer(Self.envelope(code: 5, message: "Invalid URL Passed", status: .notFound))
            }
        }
        switch (request.method, id) {
        case (.get, let id?):
            return .answer(get(module, id: id, organizationID: organizationID))
        case (.get, nil):
            return .answer(list(module, request: request, organizationID: organizationID))
        case (.post, nil), (.put, _):
            return await write(request, module: module, id: id, organizationID: organizationID)
        case (.delete, let id?):
            return delete(module, id: id, organizationID: organizationID)
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

    /// The query parameters a list filters on (an exact match of the record's member), as the
    /// modules' "List …" sections name them ("Search … by reference number", by customer, by
    /// number, by status); the `_startswith`/`_contains` variants and dates are not simulated.
    static let listFilters = [
        "customer_id", "reference_number", "status", "invoice_number", "creditnote_number", "salesorder_number",
        "contact_name", "payment_mode",
    ]

    /// A list: filtered, in creation order, paged with `page` and `per_page` (default 200, at
    /// most 200) and `page_context.has_more_page`. Page: "Pagination"
    /// (https://www.zoho.com/books/api/v3/pagination/).
    private func list(_ module: Module, request: Request, organizationID: String) -> Response {
        let query = request.uri.queryParameters
        var page = 1
        var perPage = 200
        if let text = query["page"] {
            guard let value = Int(String(text)), value >= 1 else { return APIError.invalid("page").response }
            page = value
        }
        if let text = query["per_page"] {
            guard let value = Int(String(text)), (1...200).contains(value) else { return APIError.invalid("per_page").response }
            perPage = value
        }
        let filters: [(String, String)] = Self.listFilters.compactMap { key in query[Substring(key)].map { (key, String($0)) } }
        return state.withLock { state in
            let filtered = (state.organizations[organizationID]?.records[module.path] ?? []).map(\.body).filter { body in
                filters.allSatisfy { body[$0.0]?.stringValue == $0.1 }
            }
            let records: [ExactJSON]
            switch Self.timeFilteredAndSorted(filtered, module: module.path, query: { key in query[Substring(key)].map(String.init) }) {
            case .success(let chosen): records = chosen
            case .failure(let error): return error.response
            }
            let (skip, overflow) = (page - 1).multipliedReportingOverflow(by: perPage)
            let start = overflow ? records.count : min(records.count, skip)
            let end = min(records.count, start + perPage)
            return Self.json(
                .object([
                    ("code", .number("0")), ("message", .string("success")), (module.path, .array(Array(records[start..<end]))),
                    (
                        "page_context",
                        .object([
                            ("page", .number(String(page))), ("per_page", .number(String(perPage))),
                            ("has_more_page", .bool(end < records.count)),
                        ])
                    ),
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

    /// Draws the fault of one write (none, or one of `configuration.faults` at the fault rate).
    func drawFault() -> Fault? {
        state.withLock { state in
            guard !configuration.faults.isEmpty, state.random.nextUnit() < state.faultRate else { return nil }
            let kinds = Fault.allCases.filter(configuration.faults.contains)
            let fault = kinds[Int(state.random.next() % UInt64(kinds.count))]
            state.stats.faultsInjected[fault, default: 0] += 1
            return fault
        }
    }

    /// The answer of a write that drew `fault` (the write itself happened unless serverError).
    func deliver(_ response: Response, fault: Fault?) -> Outcome {
        switch fault {
        case .timeout?: return .answerLate(response, configuration.timeoutDelay)
        case .dropConnection?: return .dropConnection
        case .serverError?, nil: return .answer(response)
        }
    }

    static let internalError = envelope(code: 1000, message: "Internal error", status: .internalServerError)

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
        // "ignore_auto_number_generation … This mandates the … number" ("Invoices", "Sales Order").
        let ownNumber = request.uri.queryParameters["ignore_auto_number_generation"].map { $0.lowercased() == "true" } ?? false
        let fault = drawFault()
        if fault == .serverError { return .answer(Self.internalError) }

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
            let context = WriteContext(
                uniqueKeys: configuration.uniqueCustomFields[module.path] ?? [], reference: configuration.referenceData,
                ownNumber: ownNumber, baseCurrency: configuration.organizations.first { $0.id == organizationID }?.currencyCode)
            response = try state.withLock { state throws(APIError) in
                try Self.store(
                    body, module: module, target: target, context: context, organizationID: organizationID, now: now, state: &state)
            }
        } catch let error as APIError {
            response = error.response
        } catch {
            response =
                APIError(code: 4, message: "The request body is larger than \(Self.maxBodyBytes) bytes", status: .badRequest).response
        }
        return deliver(response, fault: fault)
    }

    /// What a write is checked against besides the records.
    struct WriteContext {
        let uniqueKeys: Set<String>
        let reference: ReferenceData
        /// `ignore_auto_number_generation=true`: the document number must be given.
        let ownNumber: Bool
        /// The organization's base currency code (a document without `currency_id` is in it).
        var baseCurrency: String? = nil
    }

    /// The value of custom field `apiName` in a record's `custom_fields`.
    static func customField(_ body: ExactJSON, _ apiName: String) -> String? {
        body["custom_fields"]?.arrayValue?.first { $0["api_name"]?.stringValue == apiName }?["value"]?.stringValue
    }

    static func store(
        _ update: ExactJSON, module: Module, target: Target, context: WriteContext, organizationID: String, now: Date,
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
        let previous = index.map { records[$0].body }
        var members = previous?.objectMembers ?? []
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
        try validate(&body, module: module, id: id, records: records, organization: organization, context: context)
        for key in context.uniqueKeys.sorted() {
            if let value = customField(body, key), records.contains(where: { $0.id != id && customField($0.body, key) == value }) {
                throw APIError(code: 1001, message: "The value \(value) of \(key) already exists.", status: .badRequest)
            }
        }
        var invoices: [StoredRecord]?
        if module.path == "customerpayments" {
            var changed = organization?.records["invoices"] ?? []
            try applyPayment(&body, previous: previous, paymentID: id, invoices: &changed)
            invoices = changed
        }
        Self.stamp(&body, previous: previous, now: Self.recordTime(state))
        body = .object([(module.idKey, .string(id))] + body.objectMembers.filter { $0.key != module.idKey })
        if let index {
            records[index].body = body
        } else {
            records.append(StoredRecord(id: id, body: body))
            state.nextID += 1
        }
        state.organizations[organizationID]?.records[module.path] = records
        if let invoices { state.organizations[organizationID]?.records["invoices"] = invoices }
        state.stats.writes += 1
        let created = index == nil
        return json(
            .object([
                ("code", .number("0")), ("message", .string(created ? module.created : module.updated)), (module.resource, body),
            ]), status: created ? .created : .ok)
    }

    /// Required fields and values per module; sets the fields Zoho computes.
    static func validate(
        _ body: inout ExactJSON, module: Module, id: String, records: [StoredRecord], organization: OrganizationData?,
        context: WriteContext
    ) throws(APIError) {
        let reference = context.reference
        switch module.path {
        case "contacts":
            guard let name = body["contact_name"]?.stringValue, !name.isEmpty, name.count <= 200 else {
                throw APIError.invalid("contact_name")
            }
            try checkReference(body["currency_id"], field: "currency_id", known: reference.currencies.map(\.id))
        case "customerpayments":
            try validatePayment(body, organization: organization, reference: reference)
        default:
            guard let customer = body["customer_id"]?.stringValue, !customer.isEmpty else { throw APIError.invalid("customer_id") }
            guard organization?.records["contacts"]?.contains(where: { $0.id == customer }) == true else {
                throw APIError(code: 1002, message: "Contact does not exist.", status: .badRequest)
            }
            try checkReference(body["currency_id"], field: "currency_id", known: reference.currencies.map(\.id))
            guard let lines = body["line_items"]?.arrayValue, !lines.isEmpty else { throw APIError.invalid("line_items") }
            for (at, line) in lines.enumerated() {
                guard case .object = line else { throw APIError.invalid("line_items[\(at)]") }
                guard line["item_id"]?.stringValue != nil || line["name"]?.stringValue != nil else {
                    throw APIError.invalid("line_items[\(at)].item_id")
                }
                try checkReference(line["item_id"], field: "line_items[\(at)].item_id", known: reference.items.map(\.id))
                try checkReference(line["tax_id"], field: "line_items[\(at)].tax_id", known: reference.taxes.map(\.id))
                try checkReference(line["account_id"], field: "line_items[\(at)].account_id", known: reference.accounts.map(\.id))
            }
            // Sub total, discount, taxes, adjustment and total as Zoho computes them
            // (ZohoBooksTotals.swift, with the pages they follow).
            let precision = Self.precision(of: body, reference: reference, baseCurrency: context.baseCurrency)
            let totals = try Self.totals(body, precision: precision, reference: reference)
            // Number: the one given, or the next of the series; a number in use is refused.
            guard let series = module.number else { return }
            var number = body[series.key]?.stringValue ?? ""
            if number.isEmpty {
                if context.ownNumber { throw APIError.invalid(series.key) }
                number = series.prefix + String(format: "%06d", records.count + 1)
                while records.contains(where: { $0.body[series.key]?.stringValue == number }) { number += "-1" }
            }
            if records.contains(where: { $0.id != id && $0.body[series.key]?.stringValue == number }) {
                throw APIError(
                    code: series.duplicateCode, message: "\(module.label) \"\(number)\" already exists.", status: .badRequest)
            }
            guard let amount = ExactDecimal(units: totals.total, scale: precision) else { throw APIError.invalid("line_items") }
            // What was applied (credits and payments to an invoice, credits and refunds from a
            // credit note) stays applied: the new total must cover it.
            let used: ExactDecimal
            switch module.path {
            case "invoices": used = decimal(body["credits_applied"]) + decimal(body["payment_made"])
            case "creditnotes": used = decimal(body["credits_applied"]) + refunded(body)
            default: used = .zero
            }
            guard !(amount < used) else {
                throw APIError(code: 4, message: "The total must not be less than what was applied (\(used))", status: .badRequest)
            }
            var members = body.objectMembers.filter { $0.key != series.key && !["total", "sub_total", "balance"].contains($0.key) }
            members += [(series.key, .string(number))]
            body = .object(members)
            Self.apply(totals, to: &body, precision: precision)
            settle(&body, module: module.path)
        }
    }

    /// A decimal as Zoho's JSON number, without trailing zeros (0.0 → 0).
    static func text(_ value: ExactDecimal) -> String {
        ExactDecimal(value.description)?.description ?? value.description
    }

    /// A JSON number member as a decimal (zero when absent: computed members start at zero).
    static func decimal(_ json: ExactJSON?) -> ExactDecimal {
        json?.numberText.flatMap { ExactDecimal($0) } ?? .zero
    }

    /// Members Zoho computes: never taken from a request (an update keeps the stored ones).
    static let computedMembers: Set<String> = [
        "total", "sub_total", "balance", "status", "credits_applied", "payment_made", "invoices_credited",
        "creditnote_refunds", "unused_amount", "tax_total", "taxes", "discount_amount",
    ]

    /// Sets `balance` and `status` of an invoice, credit note or sales order from its `total`
    /// and what was applied. Invoices: "Invoices" lists the statuses draft, sent, paid,
    /// partially_paid, void…; a payment or credit makes an invoice partially_paid, or paid at a
    /// zero balance (the transitions are NOT DOCUMENTED in words; this is what Zoho's UI shows).
    /// Credit notes: "Credit Notes": open, closed (used up) or void. A void document keeps
    /// status void and balance 0.
    static func settle(_ body: inout ExactJSON, module: String) {
        let total = decimal(body["total"])
        let current = body["status"]?.stringValue
        var members = body.objectMembers.filter { !["balance", "status"].contains($0.key) }
        let balance: ExactDecimal
        let status: String
        switch module {
        case _ where current == "void":
            (balance, status) = (.zero, "void")
        case "invoices":
            let credits = decimal(body["credits_applied"])
            let paid = decimal(body["payment_made"])
            balance = total - credits - paid
            if credits.isZero && paid.isZero {
                status = current.flatMap { ["paid", "partially_paid"].contains($0) ? nil : $0 } ?? "draft"
            } else {
                status = balance.isZero ? "paid" : "partially_paid"
            }
            if !members.contains(where: { $0.key == "credits_applied" }) { members.append(("credits_applied", .number("0"))) }
            if !members.contains(where: { $0.key == "payment_made" }) { members.append(("payment_made", .number("0"))) }
        case "creditnotes":
            balance = total - decimal(body["credits_applied"]) - refunded(body)
            status = balance.isZero ? "closed" : "open"
            if !members.contains(where: { $0.key == "credits_applied" }) { members.append(("credits_applied", .number("0"))) }
        default:
            (balance, status) = (total, current ?? "draft")
        }
        members += [("balance", .number(text(balance))), ("status", .string(status))]
        body = .object(members)
    }

    /// Σ amount of a credit note's `creditnote_refunds`.
    static func refunded(_ body: ExactJSON) -> ExactDecimal {
        (body["creditnote_refunds"]?.arrayValue ?? []).reduce(.zero) { $0 + decimal($1["amount"]) }
    }

    /// Replaces (or adds) members of a stored record.
    static func set(_ record: inout StoredRecord, _ values: [(String, ExactJSON)]) {
        var members = record.body.objectMembers
        for (key, value) in values {
            if let at = members.firstIndex(where: { $0.key == key }) { members[at].value = value } else { members.append((key, value)) }
        }
        record.body = .object(members)
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

    /// a + b, nil on Int128 overflow (the checked sum of request-controlled amounts).
    static func checkedSum(_ left: ExactDecimal, _ right: ExactDecimal) -> ExactDecimal? {
        let scale = max(left.scale, right.scale)
        func units(_ value: ExactDecimal) -> Int128? {
            var units = value.units
            for _ in value.scale..<scale {
                let (next, over) = units.multipliedReportingOverflow(by: 10)
                guard !over else { return nil }
                units = next
            }
            return units
        }
        guard let a = units(left), let b = units(right) else { return nil }
        let (sum, overflow) = a.addingReportingOverflow(b)
        return overflow ? nil : ExactDecimal(units: sum, scale: scale)
    }
}
