import Foundation
import HTTPClient
import Sync
import Testing

@testable import NetSuite

@Suite("NetSuiteErrorParserTests", .timeLimit(.minutes(2)))
struct NetSuiteErrorParserTests {
    /// 2015-10-21 07:28:00 GMT.
    static let now = Date(timeIntervalSince1970: 1_445_412_480)

    struct Case: Sendable, CustomTestStringConvertible {
        let name: String
        let status: Int
        /// Where the answer comes from: an Oracle Help Center page (or other page) that shows
        /// it, "unconfirmed: …" for one seen in the field but not found in Oracle's pages,
        /// or "constructed: …" for a deliberately broken answer the parser must survive.
        let source: String
        var headers: [(name: String, value: String)] = []
        let body: String
        let errorClass: SyncError.ErrorClass
        var code: String? = nil
        var retryAfter: Duration? = nil
        var messageContains: [String] = []
        /// Content of an answer that is not a NetSuite error body, which must not be echoed.
        var messageExcludes: [String] = []
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        // Rate limits.
        Case(
            name: "429 concurrency with Retry-After seconds", status: 429,
            source:
                "unconfirmed: 429 for REST over the account's concurrency limit is reported by third parties (https://www.katoomi.com/?p=25138), not found on an Oracle page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html; Retry-After seconds per RFC 9110 §10.2.3",
            headers: [
                (name: "Content-Type", value: "application/vnd.oracle.resource+json; type=error"), (name: "Retry-After", value: "12"),
            ],
            body: """
                {"type":"https://www.rfc-editor.org/rfc/rfc6585#section-4","title":"Too Many Requests","status":429,
                 "o:errorDetails":[{"detail":"Concurrent request limit exceeded. Request blocked.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}
                """,
            errorClass: .rateLimited, code: "CONCURRENCY_LIMIT_EXCEEDED", retryAfter: .seconds(12),
            messageContains: ["Concurrent request limit exceeded"]),
        Case(
            name: "429 with Retry-After HTTP date", status: 429,
            source: "constructed: Retry-After as an HTTP-date (RFC 9110 §10.2.3), which NetSuite is not documented to send",
            headers: [(name: "retry-after", value: "Wed, 21 Oct 2015 07:29:30 GMT")],
            body:
                #"{"title":"Too Many Requests","status":429,"o:errorDetails":[{"detail":"Concurrent request limit exceeded. Request blocked.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}"#,
            errorClass: .rateLimited, code: "CONCURRENCY_LIMIT_EXCEEDED", retryAfter: .seconds(90)),
        Case(
            name: "429 with Retry-After date in the past", status: 429,
            source: "constructed: a Retry-After HTTP-date already past (RFC 9110 §10.2.3)",
            headers: [(name: "Retry-After", value: "Wed, 21 Oct 2015 07:00:00 GMT")],
            body: "", errorClass: .rateLimited, retryAfter: .zero),
        Case(
            name: "429 with garbled Retry-After", status: 429,
            source: "constructed: a Retry-After that is neither form of RFC 9110 §10.2.3",
            headers: [(name: "Retry-After", value: "soon-ish")],
            body: #"{"title":"Too Many Requests","status":429}"#,
            errorClass: .rateLimited, retryAfter: nil, messageContains: ["JSON without o:errorDetails"], messageExcludes: ["Too Many"]),
        Case(
            name: "400 RESTlet-style SSS_REQUEST_LIMIT_EXCEEDED", status: 400,
            source:
                "https://docs.jitterbit.com/integration-studio/design/connectors/netsuite/netsuite-troubleshooting/concurrency-governance/ (quoting NetSuite 2017.2 release notes: RESTlets answer 400 with SSS_REQUEST_LIMIT_EXCEEDED); body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1","title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Request limit exceeded.","o:errorCode":"SSS_REQUEST_LIMIT_EXCEEDED"}]}"#,
            errorClass: .rateLimited, code: "SSS_REQUEST_LIMIT_EXCEEDED"),
        Case(
            name: "403 WS_REQUEST_BLOCKED", status: 403,
            source:
                "unconfirmed: WS_REQUEST_BLOCKED not found on an Oracle page searched; kept so an unknown rate-limit code on 403 is tried again",
            body:
                #"{"title":"Forbidden","status":403,"o:errorDetails":[{"detail":"Request blocked by concurrency governance.","o:errorCode":"WS_REQUEST_BLOCKED"}]}"#,
            errorClass: .rateLimited, code: "WS_REQUEST_BLOCKED"),

        // Authentication.
        Case(
            name: "401 invalid login attempt", status: 401,
            source:
                "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html (Invalid Login Information: 401, INVALID_LOGIN, the Login Audit Trail text); the simulator answers every TBA failure with this body",
            body:
                #"{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2","title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail.","o:errorCode":"INVALID_LOGIN"}]}"#,
            errorClass: .permanent, code: "INVALID_LOGIN", messageContains: ["Invalid login attempt"]),
        Case(
            name: "401 INVALID_LOGIN_ATTEMPT", status: 401,
            source:
                "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1549405961.html (INVALID_LOGIN_ATTEMPT for a badly escaped header); body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"Invalid login attempt.","o:errorCode":"INVALID_LOGIN_ATTEMPT"}]}"#,
            errorClass: .permanent, code: "INVALID_LOGIN_ATTEMPT"),
        Case(
            name: "401 InvalidSignature", status: 401,
            source:
                "unconfirmed: InvalidSignature is a Detail value of the Login Audit Trail (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_156935170194.html), not an o:errorCode NetSuite is documented to answer with",
            body:
                #"{"title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"The signature is invalid.","o:errorCode":"InvalidSignature"}]}"#,
            errorClass: .permanent, code: "InvalidSignature"),
        Case(
            name: "401 NonceRejected", status: 401,
            source:
                "unconfirmed: NonceRejected/NonceUsed are Detail values of the Login Audit Trail (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_156935170194.html); the HTTP answer is INVALID_LOGIN (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html), as the simulator sends. Kept: if such a code ever arrives, a fresh nonce fixes it",
            body:
                #"{"title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"The nonce has already been used.","o:errorCode":"NonceRejected"}]}"#,
            errorClass: .transient, code: "NonceRejected"),
        Case(
            name: "401 InvalidTimestamp in detail only", status: 401,
            source:
                "unconfirmed: InvalidTimestamp is a Login Audit Trail Detail value (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_156935170194.html); kept as above",
            body:
                #"{"title":"Unauthorized","status":401,"o:errorDetails":[{"detail":"InvalidTimestamp: the timestamp is outside the allowed window."}]}"#,
            errorClass: .transient, code: "InvalidTimestamp"),
        Case(
            name: "403 insufficient permission", status: 403,
            source:
                "unconfirmed: INSUFFICIENT_PERMISSION on 403 not found on an Oracle page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Forbidden","status":403,"o:errorDetails":[{"detail":"Permission Violation: You need the 'Lists -> Customers' permission to access this page.","o:errorCode":"INSUFFICIENT_PERMISSION"}]}"#,
            errorClass: .permanent, code: "INSUFFICIENT_PERMISSION"),
        Case(
            name: "401 empty body", status: 401, source: "constructed: a 401 with no body", body: "", errorClass: .permanent,
            messageContains: ["NetSuite HTTP 401", "empty body"]),

        // Server errors.
        Case(
            name: "500 unexpected error", status: 500,
            source:
                "unconfirmed: UNEXPECTED_ERROR with an Error ID not found on an Oracle page searched; 5xx is a system error per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Internal Server Error","status":500,"o:errorDetails":[{"detail":"An unexpected error occurred. Error ID: lw2x1c4n1u8yq5zz2mcr1","o:errorCode":"UNEXPECTED_ERROR"}]}"#,
            errorClass: .transient, code: "UNEXPECTED_ERROR", messageContains: ["Error ID"]),
        Case(
            name: "503 empty", status: 503,
            source:
                "constructed: a 503 with no body (5xx: system error, https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html)",
            body: "", errorClass: .transient),
        Case(
            name: "502 HTML error page", status: 502, source: "constructed: a proxy's HTML page, not NetSuite's",
            body:
                "<html>\n<head><title>502 Bad Gateway</title></head>\n<body>\n<center><h1>502 Bad Gateway</h1></center>\n</body>\n</html>\n",
            errorClass: .transient, messageContains: ["HTML", "bytes"], messageExcludes: ["Bad Gateway", "<"]),

        // Rejected data.
        Case(
            name: "400 USER_ERROR with path", status: 400,
            source:
                "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html (body fields detail, o:errorCode, o:errorPath; 4xx user error)",
            body: """
                {"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1","title":"Bad Request","status":400,
                 "o:errorDetails":[{"detail":"Please enter value(s) for: Company Name","o:errorCode":"USER_ERROR","o:errorPath":"companyName"}]}
                """,
            errorClass: .permanent, code: "USER_ERROR",
            messageContains: ["Please enter value(s) for: Company Name", "(at companyName)"]),
        Case(
            name: "400 INVALID_FLD_VALUE on a non-reference field", status: 400,
            source:
                "unconfirmed: INVALID_FLD_VALUE text not found on an Oracle REST page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Invalid Field Value EURX for the following field: currency","o:errorCode":"INVALID_FLD_VALUE","o:errorPath":"currency"}]}"#,
            errorClass: .permanent, code: "INVALID_FLD_VALUE", messageContains: ["EURX"]),
        Case(
            name: "400 IDEMPOTENCY_ERROR", status: 400,
            source:
                "unconfirmed: IDEMPOTENCY_ERROR not found on an Oracle page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Conflict","status":400,"o:errorDetails":[{"detail":"A request with the same idempotency key has already been submitted.","o:errorCode":"IDEMPOTENCY_ERROR"}]}"#,
            errorClass: .permanent, code: "IDEMPOTENCY_ERROR"),
        Case(
            name: "400 two details", status: 400,
            source:
                "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html (one error answer can carry several o:errorDetails)",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Please enter value(s) for: Subsidiary","o:errorCode":"USER_ERROR","o:errorPath":"subsidiary"},{"detail":"Invalid email address.","o:errorCode":"INVALID_FLD_VALUE","o:errorPath":"email"}]}"#,
            errorClass: .permanent, code: "USER_ERROR", messageContains: ["Subsidiary", "; Invalid email address. (at email)"]),

        // Missing references.
        Case(
            name: "400 customer (entity) does not exist", status: 400,
            source:
                "unconfirmed: text not found on an Oracle page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Error while accessing a resource. You have entered an Invalid Field Value 4711 for the following field: entity","o:errorCode":"INVALID_FLD_VALUE","o:errorPath":"entity"}]}"#,
            errorClass: .dependency, code: "INVALID_FLD_VALUE", messageContains: ["entity"]),
        Case(
            name: "400 entity by external id, field from detail", status: 400,
            source:
                "unconfirmed: INVALID_KEY_OR_REF not found on an Oracle REST page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Invalid Field Value eid:CUST-42 for the following field: entity","o:errorCode":"INVALID_KEY_OR_REF"}]}"#,
            errorClass: .dependency, code: "INVALID_KEY_OR_REF"),
        Case(
            name: "404 customer record referenced does not exist", status: 404,
            source:
                "unconfirmed: RCRD_DSNT_EXIST not found on an Oracle REST page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Not Found","status":404,"o:errorDetails":[{"detail":"The customer record with external ID CUST-42 does not exist.","o:errorCode":"RCRD_DSNT_EXIST"}]}"#,
            errorClass: .dependency, code: "RCRD_DSNT_EXIST"),
        Case(
            name: "400 applied invoice does not exist", status: 400,
            source:
                "unconfirmed: text not found on an Oracle page searched; o:errorPath per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Invalid Field Value 9001 for the following field: doc","o:errorCode":"INVALID_FLD_VALUE","o:errorPath":"apply.items[0].doc"}]}"#,
            errorClass: .dependency, code: "INVALID_FLD_VALUE", messageContains: ["(at apply.items[0].doc)"]),
        Case(
            name: "400 item does not exist is a mapping problem", status: 400,
            source:
                "unconfirmed: text not found on an Oracle page searched; o:errorPath per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Invalid Field Value 77 for the following field: item","o:errorCode":"INVALID_FLD_VALUE","o:errorPath":"item.items[2].item"}]}"#,
            errorClass: .permanent, code: "INVALID_FLD_VALUE", messageContains: ["item.items[2].item"]),
        Case(
            name: "404 the record itself", status: 404,
            source:
                "unconfirmed: NONEXISTENT_ID not found on an Oracle page searched; body shape per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html",
            body:
                #"{"type":"https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5","title":"Not Found","status":404,"o:errorDetails":[{"detail":"The record instance does not exist. Provide a valid record instance ID.","o:errorCode":"NONEXISTENT_ID"}]}"#,
            errorClass: .permanent, code: "NONEXISTENT_ID", messageContains: ["record instance does not exist"]),
        Case(name: "404 empty body", status: 404, source: "constructed: a 404 with no body", body: "", errorClass: .permanent),

        // Malformed bodies.
        Case(
            name: "400 HTML page", status: 400, source: "constructed: an HTML page, not NetSuite's error body",
            body: "<!DOCTYPE html><html><head><title>Error</title></head><body><p>Something went wrong</p></body></html>",
            errorClass: .permanent, messageContains: ["HTML"], messageExcludes: ["DOCTYPE", "Something went wrong"]),
        Case(
            name: "400 empty body", status: 400, source: "constructed: a 400 with no body", body: "", errorClass: .permanent,
            messageContains: ["empty body"]),
        Case(
            name: "400 o:errorDetails not an array", status: 400,
            source:
                "constructed: o:errorDetails of the wrong type (it is an array per https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html)",
            body: #"{"title":"Bad Request","status":400,"o:errorDetails":{"detail":"x","o:errorCode":"USER_ERROR"}}"#,
            errorClass: .permanent, code: nil, messageContains: ["JSON without o:errorDetails"],
            messageExcludes: ["Bad Request", "USER_ERROR"]),
        Case(
            name: "500 o:errorDetails of strings, no title", status: 500, source: "constructed: o:errorDetails of the wrong element type",
            body: #"{"status":500,"o:errorDetails":["oops",42,null]}"#,
            errorClass: .transient, messageContains: ["JSON without o:errorDetails"], messageExcludes: ["oops"]),
        Case(
            name: "400 JSON array", status: 400, source: "constructed: JSON that is not an object", body: "[1,2,3]", errorClass: .permanent,
            messageContains: ["JSON without o:errorDetails", "7 bytes"], messageExcludes: ["[1,2,3]"]),
        Case(
            name: "400 truncated JSON", status: 400, source: "constructed: a cut-off body", body: #"{"title":"Bad Req"#,
            errorClass: .permanent,
            messageContains: ["malformed JSON"], messageExcludes: ["Bad Req"]),
        Case(
            name: "408 plain text", status: 408, source: "constructed: a plain-text answer",
            headers: [(name: "Content-Type", value: "text/plain; charset=utf-8")],
            body: "Request Timeout", errorClass: .transient,
            messageContains: ["text; content type text/plain; 15 bytes"], messageExcludes: ["Request Timeout"]),
        Case(
            name: "302 wrong data centre", status: 302,
            source:
                "https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_4634920277.html (302: the request went to the wrong data center)",
            body: "", errorClass: .permanent),
    ]

    @Test("every fixture names its source")
    func everyCaseHasASource() {
        for c in Self.cases {
            let kinds = ["https://", "unconfirmed: ", "constructed: "]
            #expect(kinds.contains { c.source.hasPrefix($0) } && c.source.count > 20, "\(c.name): \(c.source)")
        }
        // Oracle documents one answer for a failed TBA login, whatever the reason (the reason
        // goes to the Login Audit Trail only); the simulator sends that body, and the parser
        // fails it for good.
        let documented = Self.cases.first { $0.name == "401 invalid login attempt" }
        #expect(documented?.source.hasPrefix("https://docs.oracle.com/") == true)
        #expect(documented?.code == "INVALID_LOGIN" && documented?.errorClass == .permanent)
    }

    @Test("classifies NetSuite answers", arguments: cases)
    func classify(_ c: Case) {
        let error = NetSuiteErrorParser.parse(status: c.status, headers: c.headers, body: Data(c.body.utf8), now: Self.now)
        #expect(error.errorClass == c.errorClass)
        #expect(error.providerCode == c.code)
        #expect(error.retryAfter == c.retryAfter)
        #expect(error.message.hasPrefix("NetSuite HTTP \(c.status): "))
        #expect(!error.message.contains("\n") && !error.message.contains("\r"))
        for part in c.messageContains {
            #expect(error.message.contains(part), "\(error.message)")
        }
        for part in c.messageExcludes {
            #expect(!error.message.contains(part), "echoes the answer: \(error.message)")
        }
    }

    @Test func hugeBodyIsDescribedNotEchoed() {
        let body = Data(("<html>" + String(repeating: "x", count: 2_000_000)).utf8)
        let error = NetSuiteErrorParser.parse(status: 500, headers: [(name: "Content-Type", value: "text/html")], body: body)
        #expect(error.errorClass == .transient)
        #expect(
            error.message
                == "NetSuite HTTP 500: the answer is not a NetSuite error (too large to read as an error; content type text/html; 1.9 MB); its content is not shown"
        )
    }

    @Test("NetSuite's own error body: NUL and control characters leave its message and code; both are capped")
    func errorBodyIsCleaned() throws {
        let detail = #"bad\u0000value\u0007 "# + String(repeating: "d", count: 5_000)
        let body = Data(
            #"{"title":"Bad Request","o:errorDetails":[{"detail":"\#(detail)","o:errorCode":"USER\u0000_ERROR\n\#(String(repeating: "C", count: 500))"}]}"#
                .utf8)
        let error = NetSuiteErrorParser.parse(status: 400, headers: [], body: body)
        let code = try #require(error.providerCode)
        #expect(code.hasPrefix("USER_ERROR") && code.count == 100)
        #expect(error.message.hasPrefix("NetSuite HTTP 400: badvalue ddd"), "\(error.message)")
        #expect(!error.message.unicodeScalars.contains { $0.value < 0x20 })
        #expect(error.message.unicodeScalars.count <= NetSuiteErrorParser.maxMessageCharacters)
    }

    @Test func contentTypeIsCleaned() {
        let error = NetSuiteErrorParser.parse(
            status: 502, headers: [(name: "content-type", value: "Text/HTML <script>; charset=\u{0}x")], body: Data("hi".utf8))
        #expect(
            error.message
                == "NetSuite HTTP 502: the answer is not a NetSuite error (HTML; content type text/htmlscript; 2 bytes); its content is not shown"
        )
    }

    @Test func hugeJSONIsClassifiedByStatus() {
        let detail = String(repeating: "y", count: 400_000)
        let body = Data(#"{"title":"Bad Request","o:errorDetails":[{"detail":"\#(detail)","o:errorCode":"USER_ERROR"}]}"#.utf8)
        let error = NetSuiteErrorParser.parse(status: 400, headers: [], body: body)
        #expect(error.errorClass == .permanent)
        #expect(error.providerCode == nil)
        #expect(error.message.count <= "NetSuite HTTP 400: ".count + 300)
    }

    @Test func notUTF8() {
        let body = Data([0xFF, 0xFE, 0x00, 0xC3, 0x28, 0x0A, 0x41, 0x80])
        let error = NetSuiteErrorParser.parse(status: 502, headers: [], body: body)
        #expect(error.errorClass == .transient)
        #expect(!error.message.contains("\n"))
        #expect(error.message.contains("binary, not UTF-8; no content type; 8 bytes"), "\(error.message)")
    }

    @Test func multiLineDetailBecomesOneLine() {
        let body = Data(
            #"{"title":"Bad Request","o:errorDetails":[{"detail":"line one\nline two\r\n\tline three","o:errorCode":"USER_ERROR"}]}"#.utf8)
        let error = NetSuiteErrorParser.parse(status: 400, headers: [], body: body)
        #expect(error.message == "NetSuite HTTP 400: line one line two line three")
    }

    @Test func arbitraryBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        for status in [0, -1, 200, 400, 401, 404, 429, 500, 999] {
            for length in [0, 1, 7, 300, 301, 5000] {
                let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
                let error = NetSuiteErrorParser.parse(status: status, headers: [(name: "Retry-After", value: "\u{0}")], body: Data(bytes))
                #expect(!error.message.contains("\n"))
            }
        }
    }

    @Test func fromHTTPResponse() {
        let response = HTTPResponse(status: 429, headers: [(name: "RETRY-AFTER", value: " 3 ")], body: Data())
        let error = NetSuiteErrorParser.parse(response)
        #expect(error.errorClass == .rateLimited)
        #expect(error.retryAfter == .seconds(3))
        #expect(error.jobError.action == .snooze(.seconds(3)))
    }

    @Test(
        "HTTPClientError maps to transient or permanent",
        arguments: [
            (HTTPClientError.Code.connectionFailed, SyncError.ErrorClass.transient),
            (.timedOut, .transient),
            (.connectionDropped, .transient),
            (.tls, .permanent),
            (.invalidURL, .permanent),
            (.invalidRequest, .permanent),
            (.responseTooLarge, .permanent),
            (.cancelled, .permanent),
            (.other, .permanent),
        ])
    func fromClientError(_ code: HTTPClientError.Code, _ expected: SyncError.ErrorClass) {
        let clientError = HTTPClientError(
            code, "POST https://123-sb1.suitetalk.api.netsuite.com/services/rest/record/v1/invoice: failed", curlCode: 7)
        let error = SyncError(from: clientError)
        #expect(error.errorClass == expected)
        #expect(error.message == clientError.description)
        #expect(!error.message.contains("OAuth"))
        #expect(error.providerCode == nil)
    }
}
