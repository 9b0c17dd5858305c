import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync

/// A running simulator and a client that talks to it the way the worker does: real HTTP
/// through libcurl, requests signed by the real `TBASigner`.
struct SimulatorHarness: Sendable {
    static let credentials = NetSuiteCredentials(
        consumerKey: "test-consumer-key", consumerSecret: "test-consumer-secret",
        tokenID: "test-token-id", tokenSecret: "test-token-secret")

    let simulator: NetSuiteSimulator
    let account: NetSuiteAccount
    let http: HTTPClient

    /// Runs `body` against a fresh simulator on a free port, and stops it afterwards.
    static func run<T: Sendable>(
        _ configuration: NetSuiteSimulator.Configuration = .init(credentials: [credentials]),
        _ body: (SimulatorHarness) async throws -> T
    ) async throws -> T {
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()
        let harness = SimulatorHarness(
            simulator: simulator,
            account: try NetSuiteAccount(accountID: configuration.accountID, baseURLOverride: simulator.baseURL),
            http: HTTPClient())
        do {
            let result = try await body(harness)
            harness.http.shutdown()
            await simulator.stop()
            return result
        } catch {
            harness.http.shutdown()
            await simulator.stop()
            throw error
        }
    }

    func url(_ type: String, _ id: String) -> String {
        "\(account.restBaseURL)/\(type)/\(id)"
    }

    /// A signed request; `authorization` replaces the header the signer would give.
    func send(
        _ method: String, _ url: String, json: String? = nil, authorization: String? = nil,
        credentials: NetSuiteCredentials = credentials, timeout: Duration = .seconds(10), client: HTTPClient? = nil
    ) async throws -> HTTPResponse {
        let header =
            try authorization ?? TBASigner.authorizationHeader(method: method, url: url, credentials: credentials, account: account)
        var headers: [(name: String, value: String)] = [("Authorization", header), ("Accept", "application/json")]
        if json != nil { headers.append(("Content-Type", "application/json")) }
        return try await (client ?? http).execute(
            HTTPRequest(method: method, url: url, headers: headers, body: json.map { Data($0.utf8) }, timeout: timeout))
    }

    /// `PUT …/{type}/eid:{externalID}`, the worker's upsert; `replace`: the sublists named in
    /// `?replace=` (an update without it merges them, docs/netsuite.md "Updates and sublists").
    func upsert(
        _ type: String, _ externalID: String, _ json: String, replace: String? = nil, timeout: Duration = .seconds(10),
        client: HTTPClient? = nil
    ) async throws -> HTTPResponse {
        let query = replace.map { "?replace=\($0)" } ?? ""
        return try await send("PUT", url(type, "eid:\(externalID)") + query, json: json, timeout: timeout, client: client)
    }

    /// An unauthenticated request to the inspection API.
    func inspect(_ method: String, _ path: String, json: String? = nil) async throws -> HTTPResponse {
        try await http.execute(
            HTTPRequest(
                method: method, url: simulator.baseURL + path,
                headers: json == nil ? [] : [("Content-Type", "application/json")], body: json.map { Data($0.utf8) }))
    }

    /// Creates a customer and returns its internal id.
    func createCustomer(_ externalID: String) async throws -> String {
        let response = try await upsert("customer", externalID, Bodies.customer(externalID))
        guard response.status == 204, let location = response.header("Location"), let id = location.split(separator: "/").last else {
            throw HarnessError("creating customer \(externalID) answered \(response.status): \(response.text)")
        }
        return String(id)
    }

    /// Creates an invoice for `customer` with one line per amount and returns its internal id.
    func createInvoice(_ externalID: String, customer: String, amounts: [String], extra: String = "") async throws -> String {
        let response = try await upsert(
            "invoice", externalID, Bodies.invoice(externalID, customer: customer, amounts: amounts, extra: extra))
        guard response.status == 204, let location = response.header("Location"), let id = location.split(separator: "/").last else {
            throw HarnessError("creating invoice \(externalID) answered \(response.status): \(response.text)")
        }
        return String(id)
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Bodies in the shape docs/netsuite.md gives.
enum Bodies {
    static func customer(_ externalID: String, subsidiary: String? = "1", extra: String = "") -> String {
        let subsidiaryMember = subsidiary.map { #", "subsidiary": {"id": "\#($0)"}"# } ?? ""
        return
            #"{"externalId": "\#(externalID)", "entityId": "E-\#(externalID)", "isPerson": false, "companyName": "Acme \#(externalID)"\#(subsidiaryMember)\#(extra)}"#
    }

    static func invoice(_ externalID: String, customer: String, amounts: [String], item: String = "510", extra: String = "") -> String {
        let lines = amounts.enumerated().map { index, amount in
            #"{"item": {"id": "\#(item)"}, "quantity": 1, "rate": \#(amount), "amount": \#(amount), "taxDetailsReference": "fee_\#(index)"}"#
        }
        return
            #"{"externalId": "\#(externalID)", "tranId": "N-\#(externalID)", "entity": {"id": "\#(customer)"}, "tranDate": "2024-05-01", "item": {"items": [\#(lines.joined(separator: ", "))]}\#(extra)}"#
    }

    static func payment(_ externalID: String, customer: String, payment: String, applies: [(invoice: String, amount: String)]) -> String {
        let lines = applies.map { #"{"doc": {"id": "\#($0.invoice)"}, "apply": true, "amount": \#($0.amount)}"# }
        return
            #"{"externalId": "\#(externalID)", "customer": {"id": "\#(customer)"}, "payment": \#(payment), "tranDate": "2024-05-20", "apply": {"items": [\#(lines.joined(separator: ", "))]}}"#
    }
}

extension HTTPResponse {
    var text: String { String(decoding: body, as: UTF8.self) }

    /// The body as an exact JSON value (nil if it is not JSON).
    var exactJSON: ExactJSON? { try? ExactJSON.parse(body) }

    /// The first NetSuite error detail: code, path, detail.
    var netSuiteError: (code: String?, path: String?, detail: String?) {
        let detail = exactJSON?["o:errorDetails"]?.arrayValue?.first
        return (detail?["o:errorCode"]?.stringValue, detail?["o:errorPath"]?.stringValue, detail?["detail"]?.stringValue)
    }

    /// How the worker classifies this answer.
    var errorClass: SyncError.ErrorClass { NetSuiteErrorParser.parse(self).errorClass }
}
