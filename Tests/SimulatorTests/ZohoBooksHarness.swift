import ExactJSON
import Foundation
import HTTPClient
import Simulators

/// A running Zoho Books simulator and a real HTTP client (libcurl) that talks to it.
struct ZohoBooksHarness: Sendable {
    static let client = ZohoBooksSimulator.SelfClient.demo
    static let organization = ZohoBooksSimulator.Organization.demo.id

    let simulator: ZohoBooksSimulator
    let http: HTTPClient

    static func run<T: Sendable>(
        _ configuration: ZohoBooksSimulator.Configuration = .init(), _ body: (ZohoBooksHarness) async throws -> T
    ) async throws -> T {
        let simulator = ZohoBooksSimulator(configuration: configuration)
        _ = try await simulator.start()
        let harness = ZohoBooksHarness(simulator: simulator, http: HTTPClient())
        defer { harness.http.shutdown() }
        do {
            let result = try await body(harness)
            await simulator.stop()
            return result
        } catch {
            await simulator.stop()
            throw error
        }
    }

    /// POST {accounts}/oauth/v2/token with the parameters in the query, as Zoho's page shows.
    func token(_ parameters: [(String, String)], dataCenter: String? = nil) async throws -> HTTPResponse {
        let query = parameters.map { "\($0.0)=\(Self.escape($0.1))" }.joined(separator: "&")
        return try await http.execute(
            HTTPRequest(method: "POST", url: simulator.accountsURL(dataCenter: dataCenter) + "/oauth/v2/token?" + query))
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? text
    }

    /// Exchanges a fresh grant code: (access token, refresh token).
    func exchange(client: ZohoBooksSimulator.SelfClient = client) async throws -> (access: String, refresh: String) {
        let code = try simulator.issueGrantCode(clientID: client.clientID)
        let answer = try await token(
            [
                ("code", code), ("client_id", client.clientID), ("client_secret", client.clientSecret),
                ("grant_type", "authorization_code"),
            ], dataCenter: client.dataCenter)
        guard let json = answer.exactJSON, let access = json["access_token"]?.stringValue,
            let refresh = json["refresh_token"]?.stringValue
        else { throw ZohoHarnessError("the code exchange failed: \(answer.status) \(String(decoding: answer.body, as: UTF8.self))") }
        return (access, refresh)
    }

    /// A call of the API: `path` under /books/v3, `organization_id` added unless nil.
    func api(
        _ method: String, _ path: String, token: String, organizationID: String? = organization, json: String? = nil,
        headers extra: [(name: String, value: String)] = [], dataCenter: String? = nil, timeout: Duration = .seconds(10)
    ) async throws -> HTTPResponse {
        var url = simulator.apiDomain(dataCenter: dataCenter) + "/books/v3" + path
        if let organizationID { url += (url.contains("?") ? "&" : "?") + "organization_id=" + organizationID }
        var headers: [(name: String, value: String)] = [("Authorization", "Zoho-oauthtoken \(token)")]
        if json != nil { headers.append(("Content-Type", "application/json")) }
        return try await http.execute(
            HTTPRequest(method: method, url: url, headers: headers + extra, body: json.map { Data($0.utf8) }, timeout: timeout))
    }

    /// Creates a contact and returns its contact_id.
    func createContact(_ name: String, token: String) async throws -> String {
        let answer = try await api("POST", "/contacts", token: token, json: #"{"contact_name": "\#(name)"}"#)
        guard answer.status == 201, let id = answer.exactJSON?["contact"]?["contact_id"]?.stringValue else {
            throw ZohoHarnessError("creating a contact failed: \(answer.status) \(String(decoding: answer.body, as: UTF8.self))")
        }
        return id
    }

    func inspect(_ method: String, _ path: String, json: String? = nil) async throws -> HTTPResponse {
        try await http.execute(
            HTTPRequest(
                method: method, url: simulator.baseURL + path,
                headers: json == nil ? [] : [("Content-Type", "application/json")], body: json.map { Data($0.utf8) }))
    }
}

struct ZohoHarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
