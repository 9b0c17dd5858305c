import ExactJSON
import Foundation
import HTTPClient
import Sync

/// The few requests that set a connection up and check it (`connections add`, `connections
/// test`): the accounts server's token endpoint, `GET /organizations`, a one-row read of
/// contacts and the upsert probe. Each is one plain request with the access token it is given,
/// outside the sync's client: a check must see exactly what Zoho answered (the status, the
/// envelope's code and message), not a retried or classified error.
///
/// Zoho's pages:
/// - "Self Client - Authorization code flow"
///   (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html):
///   the token endpoint and its parameters, the answer's `api_domain`.
/// - Zoho Books API "Introduction" (https://www.zoho.com/books/api/v3/introduction/):
///   "The organization_id can be obtained from the GET /organizations API's JSON response.
///   oauthscope : ZohoBooks.settings.READ" (its request example names no organization_id);
///   `Authorization: Zoho-oauthtoken …` and `organization_id` on every other request. The
///   answer's shape, `{"code": 0, "organizations": [{"organization_id": "10234695", "name":
///   …}]}`: Zoho's Deluge page "Get organizations from Zoho Books"
///   (https://www.zoho.com/deluge/help/books/get-organizations.html), "based on Zoho Books API".
/// - Zoho Books API "Contacts", "Update a contact using a custom field's unique value"
///   (https://www.zoho.com/books/api/v3/contacts/): `PUT /contacts` with
///   `X-Unique-Identifier-Key` and `X-Unique-Identifier-Value`, `X-Upsert` optional; "A custom
///   field will have unique values if it's configured to not accept duplicate values". The
///   same operation exists for the other modules in Zoho's published OpenAPI files
///   (`update_invoice_using_custom_field` and so on; PROVIDERS 3).
enum ZohoSetupRequests {
    /// What an API request answered: the status and the envelope (`code`, `message`) when
    /// the body is one.
    struct Answer: Sendable {
        let status: Int
        let json: ExactJSON?

        /// The envelope's `code` (0 on success), when there is one.
        var code: Int? { json?["code"]?.numberText.flatMap { Int($0) } }

        /// Zoho's message, cleaned and capped: shown to people, never the raw body.
        var message: String? { json?["message"]?.stringValue.map { ZohoAccounts.clean($0, 200) } }

        /// `HTTP 400, code 2: Invalid value passed for organization_id`.
        var said: String {
            var text = "HTTP \(status)"
            if let code { text += ", code \(code)" }
            if let message, !message.isEmpty { text += ": \(message)" }
            return text
        }
    }

    /// `POST {accounts}/oauth/v2/token` for `parameters`, as `ZohoAccounts` sends it (a form
    /// body); a transport failure comes back as the `HTTPClientError` itself, so that the
    /// caller can say which host could not be reached and how.
    static func token(
        _ parameters: [(String, String)], accountsURL: String, http: HTTPClient, timeout: Duration
    ) async throws -> (response: HTTPResponse, sentAt: Date) {
        try await ZohoAccounts.post(parameters, accountsURL: accountsURL, http: http, timeout: timeout)
    }

    /// A request to `/books/v3/<path>` of `apiDomain` with the access token; `organizationID`
    /// (when given) and `query` in the query string.
    static func api(
        _ method: String, _ path: String, apiDomain: String, accessToken: String, organizationID: String?,
        query: [(String, String)] = [], headers: [(String, String)] = [], body: Data? = nil, http: HTTPClient, timeout: Duration
    ) async throws -> Answer {
        var parameters = query
        if let organizationID { parameters.insert(("organization_id", organizationID), at: 0) }
        var url = trimmed(apiDomain) + "/books/v3/" + path
        if !parameters.isEmpty {
            url += "?" + parameters.map { "\(ZohoAccounts.formEncode($0.0))=\(ZohoAccounts.formEncode($0.1))" }.joined(separator: "&")
        }
        var all: [(name: String, value: String)] = [("Authorization", "Zoho-oauthtoken \(accessToken)"), ("Accept", "application/json")]
        if body != nil { all.append(("Content-Type", "application/json")) }
        all += headers.map { (name: $0.0, value: $0.1) }
        let response = try await http.execute(HTTPRequest(method: method, url: url, headers: all, body: body, timeout: timeout))
        return Answer(status: response.status, json: try? ExactJSON.parse(response.body))
    }

    /// An organization the token sees.
    struct Organization: Sendable, Equatable {
        let id: String
        let name: String?

        var text: String { name.map { "\(id) (\(ZohoAccounts.clean($0, 60)))" } ?? id }
    }

    /// The organizations of a `GET /organizations` answer; nil when the answer is not a
    /// successful list (no scope for it, an older stand-in without the endpoint, an error).
    static func organizations(_ answer: Answer) -> [Organization]? {
        guard (200...299).contains(answer.status), answer.code == 0, let list = answer.json?["organizations"]?.arrayValue else {
            return nil
        }
        return list.compactMap { organization in
            guard let id = organization["organization_id"]?.stringValue ?? organization["organization_id"]?.numberText else {
                return nil
            }
            return Organization(id: id, name: organization["name"]?.stringValue)
        }
    }

    /// `https://accounts.zoho.eu/` → `accounts.zoho.eu`; `http://127.0.0.1:8090/dc/eu` →
    /// `127.0.0.1:8090/dc/eu`: how a host is named in messages.
    static func hostName(_ url: String) -> String {
        let text = trimmed(url)
        guard let schemeEnd = text.range(of: "://") else { return text }
        return String(text[schemeEnd.upperBound...])
    }

    /// What a transport failure means, for people.
    static func unreachable(_ url: String, _ error: HTTPClientError) -> String {
        let what: String
        switch error.code {
        case .connectionFailed: what = "no connection (the name does not resolve, or the port refuses or is closed)"
        case .timedOut: what = "no answer in time"
        case .tls: what = "the TLS handshake failed (certificate or protocol)"
        case .connectionDropped: what = "the connection closed without an answer"
        case .addressNotAllowed: what = "the address is on a private network, which this installation refuses"
        default: what = "the request failed"
        }
        return "cannot reach \(hostName(url)): \(what): \(ZohoAccounts.clean(error.message, 200))"
    }

    static func trimmed(_ url: String) -> String {
        url.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
    }

    // MARK: - Modules and their unique custom field

    /// A module the sync writes, per object type the connection may sync.
    struct Module: Sendable, Equatable {
        let objectType: ExternalRef.ObjectType
        /// The API path (`contacts`).
        let path: String
        /// Where Zoho Books' settings show it (Settings → <this> → Fields).
        let settingsName: String
        /// The OAuth scope's module (`ZohoBooks.<scope>.UPDATE`).
        let scope: String
    }

    /// Every module, in the order of the sync kinds. Scope names: Zoho Books API "OAuth"
    /// (https://www.zoho.com/books/api/v3/oauth/): contacts, invoices, salesorders,
    /// creditnotes, customerpayments (and settings for the organizations).
    static let modules: [Module] = [
        Module(objectType: .customer, path: "contacts", settingsName: "Customers and Vendors", scope: "contacts"),
        Module(objectType: .invoice, path: "invoices", settingsName: "Invoices", scope: "invoices"),
        Module(objectType: .salesOrder, path: "salesorders", settingsName: "Sales Orders", scope: "salesorders"),
        Module(objectType: .creditMemo, path: "creditnotes", settingsName: "Credit Notes", scope: "creditnotes"),
        Module(objectType: .payment, path: "customerpayments", settingsName: "Payments Received", scope: "customerpayments"),
    ]

    /// The modules of the object types a connection syncs (`settings.objects_to_sync`; empty: all).
    static func modules(_ settings: AccountingConnection.Settings) -> [Module] {
        settings.objectsToSync.isEmpty ? modules : modules.filter { settings.objectsToSync.contains($0.objectType.rawValue) }
    }

    /// The default API name of the custom field that holds the billing id on every module.
    static let defaultUniqueField = "cf_ledgersync_id"

    /// The custom field the upsert names (`settings.unique_field`, else `cf_ledgersync_id`).
    static func uniqueField(_ settings: AccountingConnection.Settings) -> String {
        let value = settings.extra["unique_field"]?.trimmingCharacters(in: .whitespaces) ?? ""
        return value.isEmpty ? defaultUniqueField : value
    }
}
