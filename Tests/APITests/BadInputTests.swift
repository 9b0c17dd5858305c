import API
import Foundation
import JobQueue
import JobQueueTesting
import Testing

/// Every kind of bad request gets the right 4xx, the one JSON error shape naming the
/// problem (and the field), and changes nothing in the database.
@Suite(.timeLimit(.minutes(3)))
struct BadInputTests {
    struct Case: CustomStringConvertible {
        let name: String
        let method: String
        let path: String
        var body: String?
        /// nil: the valid token; "": none.
        var token: String?
        let status: Int
        let code: String
        var field: String?
        var description: String { name }
    }

    @Test("bad input: status, JSON error naming the field, and no row changed")
    func badInput() async throws {
        try await APIHarness.with { api in
            let completed = try await api.makeJob(state: .completed)
            let available = try await api.makeJob(state: .available)
            let failed = try await api.makeJob(state: .failed)
            let revoked = try await APITokenStore(pool: api.pool).create(name: "revoked")
            try await APITokenStore(pool: api.pool).revoke(id: revoked.token.id)
            let unknownUUID = UUID().uuidString.lowercased()
            // Valid JSON just over the 1 MiB limit.
            let oversized = "{\"kind\": \"test.echo\", \"args\": {\"pad\": \"" + String(repeating: "a", count: 1 << 20) + "\"}}"

            let cases: [Case] = [
                Case(name: "malformed JSON", method: "POST", path: "/v1/jobs", body: "{\"kind\":", status: 400, code: "malformed_json"),
                Case(
                    name: "trailing garbage", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\"} x", status: 400,
                    code: "malformed_json"),
                Case(
                    name: "duplicate key", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"kind\": \"x\"}",
                    status: 400, code: "malformed_json"),
                Case(name: "empty body", method: "POST", path: "/v1/jobs", body: "", status: 400, code: "malformed_json"),
                Case(
                    name: "body not an object", method: "POST", path: "/v1/jobs", body: "[1, 2]", status: 422, code: "invalid_field",
                    field: "body"),
                Case(
                    name: "kind of the wrong type", method: "POST", path: "/v1/jobs", body: "{\"kind\": 5}", status: 422,
                    code: "invalid_field", field: "kind"),
                Case(
                    name: "kind missing", method: "POST", path: "/v1/jobs", body: "{\"args\": {}}", status: 422, code: "invalid_field",
                    field: "kind"),
                Case(
                    name: "unknown kind", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"no.such.kind\"}", status: 422,
                    code: "invalid_field", field: "kind"),
                Case(
                    name: "priority a string", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"priority\": \"high\"}",
                    status: 422, code: "invalid_field", field: "priority"),
                Case(
                    name: "priority out of range", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"priority\": 12}",
                    status: 422, code: "invalid_field", field: "priority"),
                Case(
                    name: "priority a fraction", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"priority\": 1.5}",
                    status: 422, code: "invalid_field", field: "priority"),
                Case(
                    name: "args an array", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"args\": [1]}", status: 422,
                    code: "invalid_field", field: "args"),
                Case(
                    name: "run_at not a date", method: "POST", path: "/v1/jobs",
                    body: "{\"kind\": \"test.echo\", \"run_at\": \"tomorrow\"}", status: 422, code: "invalid_field", field: "run_at"),
                Case(
                    name: "run_at before 1900 (found by schemathesis: a 500 once)", method: "POST", path: "/v1/jobs/retry",
                    body: "{\"created_after\": \"0001-01-01T01:00:00.0Z\"}", status: 422, code: "invalid_field", field: "created_after"),
                Case(
                    name: "a URL one code point too long (graphemes are fewer)", method: "POST", path: "/v1/webhook-endpoints",
                    body: "{\"url\": \"http://h/F\u{1F3FB}" + String(repeating: "a", count: 1990) + "\"}", status: 422,
                    code: "invalid_field", field: "url"),
                Case(
                    name: "unknown field", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\", \"colour\": \"red\"}",
                    status: 422, code: "invalid_field", field: "colour"),
                Case(
                    name: "U+0000 in args", method: "POST", path: "/v1/jobs",
                    body: "{\"kind\": \"test.echo\", \"args\": {\"a\": \"x\\u0000y\"}}", status: 422, code: "invalid_field", field: "args.a"
                ),
                Case(
                    name: "sync job without a connection", method: "POST", path: "/v1/jobs",
                    body: "{\"kind\": \"invoice.push\", \"args\": {}}", status: 422, code: "invalid_field", field: "args.connection_id"),
                Case(
                    name: "sync job with an unknown connection", method: "POST", path: "/v1/jobs",
                    body: "{\"kind\": \"invoice.push\", \"args\": {\"connection_id\": \"\(unknownUUID)\"}}", status: 422,
                    code: "invalid_field", field: "args.connection_id"),
                Case(
                    name: "batch with one bad job enqueues none", method: "POST", path: "/v1/jobs/batch",
                    body: "{\"jobs\": [{\"kind\": \"test.echo\"}, {\"kind\": \"test.echo\", \"max_attempts\": 0}]}", status: 422,
                    code: "invalid_field", field: "jobs[1].max_attempts"),
                Case(
                    name: "batch with an unknown kind enqueues none", method: "POST", path: "/v1/jobs/batch",
                    body: "{\"jobs\": [{\"kind\": \"test.echo\"}, {\"kind\": \"nope\"}]}", status: 422, code: "invalid_field",
                    field: "jobs[1].kind"),
                Case(
                    name: "empty batch", method: "POST", path: "/v1/jobs/batch", body: "{\"jobs\": []}", status: 422, code: "invalid_field",
                    field: "jobs"),
                Case(name: "oversized body", method: "POST", path: "/v1/jobs", body: oversized, status: 413, code: "body_too_large"),
                Case(name: "no token", method: "GET", path: "/v1/jobs", token: "", status: 401, code: "unauthorized"),
                Case(
                    name: "no token on a write", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\"}", token: "",
                    status: 401, code: "unauthorized"),
                Case(
                    name: "wrong token", method: "GET", path: "/v1/jobs", token: "lsk_not-a-token-of-ours", status: 401,
                    code: "unauthorized"),
                Case(
                    name: "revoked token", method: "POST", path: "/v1/jobs", body: "{\"kind\": \"test.echo\"}", token: revoked.secret,
                    status: 401, code: "unauthorized"),
                Case(name: "metrics need a token", method: "GET", path: "/metrics", token: "", status: 401, code: "unauthorized"),
                Case(name: "unknown job id", method: "GET", path: "/v1/jobs/999999", status: 404, code: "not_found", field: "id"),
                Case(name: "job id not a number", method: "GET", path: "/v1/jobs/abc", status: 422, code: "invalid_field", field: "id"),
                Case(
                    name: "retrying an unknown job", method: "POST", path: "/v1/jobs/999999/retry", status: 404, code: "not_found",
                    field: "id"),
                Case(name: "retrying a completed job", method: "POST", path: "/v1/jobs/\(completed)/retry", status: 409, code: "conflict"),
                Case(name: "retrying an available job", method: "POST", path: "/v1/jobs/\(available)/retry", status: 409, code: "conflict"),
                Case(name: "cancelling a failed job", method: "POST", path: "/v1/jobs/\(failed)/cancel", status: 409, code: "conflict"),
                Case(
                    name: "bulk cancel with no filter", method: "POST", path: "/v1/jobs/cancel", body: "{}", status: 422,
                    code: "invalid_field", field: "body"),
                Case(
                    name: "bulk retry with an unknown state", method: "POST", path: "/v1/jobs/retry", body: "{\"state\": \"lost\"}",
                    status: 422, code: "invalid_field", field: "state"),
                Case(
                    name: "list with an unknown state", method: "GET", path: "/v1/jobs?state=broken", status: 422, code: "invalid_field",
                    field: "state"),
                Case(
                    name: "list with a bad cursor", method: "GET", path: "/v1/jobs?cursor=xyz", status: 422, code: "invalid_field",
                    field: "cursor"),
                Case(
                    name: "list with a bad limit", method: "GET", path: "/v1/jobs?limit=0", status: 422, code: "invalid_field",
                    field: "limit"),
                Case(
                    name: "list with a bad date", method: "GET", path: "/v1/jobs?created_after=yesterday", status: 422,
                    code: "invalid_field", field: "created_after"),
                Case(
                    name: "unknown connection", method: "GET", path: "/v1/connections/\(unknownUUID)", status: 404, code: "not_found",
                    field: "id"),
                Case(
                    name: "connection without secrets", method: "POST", path: "/v1/connections",
                    body: "{\"provider\": \"netsuite\", \"name\": \"x\", \"account_id\": \"1234567\"}", status: 422, code: "invalid_field",
                    field: "secrets"),
                Case(
                    name: "connection without a provider", method: "POST", path: "/v1/connections",
                    body: "{\"name\": \"x\", \"account_id\": \"1234567\"}", status: 422, code: "invalid_field", field: "provider"),
                Case(
                    name: "connection of an unknown provider", method: "POST", path: "/v1/connections",
                    body: "{\"provider\": \"xero\", \"name\": \"x\", \"account_id\": \"1\", \"secrets\": {}}", status: 422,
                    code: "invalid_field", field: "provider"),
                Case(
                    name: "connection with a secret the provider does not have", method: "POST", path: "/v1/connections",
                    body: "{\"provider\": \"netsuite\", \"name\": \"x\", \"account_id\": \"1\", \"secrets\": {\"password\": \"p\"}}",
                    status: 422, code: "invalid_field", field: "secrets.password"),
                Case(
                    name: "connection with a setting the provider does not have", method: "POST", path: "/v1/connections",
                    body:
                        "{\"provider\": \"netsuite\", \"name\": \"x\", \"account_id\": \"1\", \"settings\": {\"subsidary\": \"1\"}, \"secrets\": {\"consumer_key\": \"a\", \"consumer_secret\": \"b\", \"token_id\": \"c\", \"token_secret\": \"d\"}}",
                    status: 422, code: "invalid_field", field: "settings.subsidary"),
                Case(
                    name: "connection with a bad account id", method: "POST", path: "/v1/connections",
                    body: APIHarness.connectionBody().replacingOccurrences(of: "1234567_SB1", with: "not an account"), status: 422,
                    code: "invalid_field", field: "account_id"),
                Case(
                    name: "connection with a zero concurrency limit", method: "POST", path: "/v1/connections",
                    body: APIHarness.connectionBody().replacingOccurrences(
                        of: "\"concurrency_limit\": 3", with: "\"concurrency_limit\": 0"), status: 422, code: "invalid_field",
                    field: "settings.concurrency_limit"),
                Case(
                    name: "updating an unknown connection", method: "PATCH", path: "/v1/connections/\(unknownUUID)",
                    body: "{\"name\": \"y\"}", status: 404, code: "not_found", field: "id"),
                Case(
                    name: "mapping on an unknown connection", method: "PUT", path: "/v1/connections/\(unknownUUID)/mappings",
                    body: "{\"kind\": \"item\", \"billing_key\": \"api_calls\", \"provider_id\": \"42\"}", status: 404, code: "not_found",
                    field: "id"),
                Case(
                    name: "webhook endpoint with an ftp URL", method: "POST", path: "/v1/webhook-endpoints",
                    body: "{\"url\": \"ftp://example.com/hooks\"}", status: 422, code: "invalid_field", field: "url"),
                Case(
                    name: "webhook endpoint with an unknown event type", method: "POST", path: "/v1/webhook-endpoints",
                    body: "{\"url\": \"http://127.0.0.1:9/h\", \"event_types\": [\"nope\"]}", status: 422, code: "invalid_field",
                    field: "event_types"),
                Case(
                    name: "pinging an unknown endpoint", method: "POST", path: "/v1/webhook-endpoints/\(unknownUUID)/ping", status: 404,
                    code: "not_found", field: "id"),
                Case(
                    name: "external refs without a connection", method: "GET", path: "/v1/external-refs", status: 422,
                    code: "invalid_field", field: "connection_id"),
                Case(name: "no such route", method: "GET", path: "/v1/nothing-here", status: 404, code: "not_found"),
            ]

            for testCase in cases {
                let before = try await api.snapshot()
                let answer = try await api.request(testCase.method, testCase.path, body: testCase.body, token: testCase.token)
                let after = try await api.snapshot()
                #expect(answer.status == testCase.status, "\(testCase): \(answer)")
                #expect(answer.error["code"] as? String == testCase.code, "\(testCase): \(answer)")
                let message = answer.error["message"] as? String ?? ""
                #expect(!message.isEmpty, "\(testCase): no message in \(answer)")
                if let field = testCase.field {
                    #expect(answer.error["field"] as? String == field, "\(testCase): \(answer)")
                }
                #expect(answer.header("Content-Type")?.hasPrefix("application/json") == true, "\(testCase): \(answer.headers)")
                #expect(before == after, "\(testCase) changed the database")
                if testCase.status == 401 { #expect(answer.header("WWW-Authenticate")?.hasPrefix("Bearer") == true, "\(testCase)") }
            }
        }
    }
}
