import ExactJSON

/// An error answer in the REST record API's format (PROVIDERS 2.2, docs/netsuite.md):
/// `{"type": …, "title": …, "status": …, "o:errorDetails": [{"detail", "o:errorCode", "o:errorPath"}]}`.
/// Thrown by validation, turned into the HTTP answer by the responder.
struct NetSuiteErrorBody: Error, Equatable {
    let status: Int
    let detail: String
    let code: String
    let path: String?

    init(status: Int, _ code: String, _ detail: String, path: String? = nil) {
        self.status = status
        self.code = code
        self.detail = detail
        self.path = path
    }

    /// 400 `USER_ERROR`: the body breaks a rule of the record.
    static func userError(_ detail: String, path: String? = nil) -> NetSuiteErrorBody {
        NetSuiteErrorBody(status: 400, "USER_ERROR", detail, path: path)
    }

    /// 400 `USER_ERROR` "Please enter value(s) for: …", NetSuite's words for a missing mandatory field.
    static func missing(_ label: String, path: String) -> NetSuiteErrorBody {
        userError("Please enter value(s) for: \(label)", path: path)
    }

    /// 400 `INVALID_KEY_OR_REF`: a reference to a record that does not exist.
    /// No Oracle Help Center page found that documents this code for REST web services
    /// (searched "INVALID_KEY_OR_REF"; Oracle's "Error Handling in REST Web Services",
    /// https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_156570709583.html,
    /// gives the error body's shape but no code list). The code is SOAP web services' for an
    /// invalid key or reference (third-party: netsuiterp.com, "Web Services Error - The
    /// specified key is invalid (INVALID_KEY_OR_REF)"); kept as the closest known, unverified
    /// for REST (issue 12).
    static func invalidReference(_ id: String, field: String, path: String) -> NetSuiteErrorBody {
        NetSuiteErrorBody(status: 400, "INVALID_KEY_OR_REF", "Invalid Field Value \(id) for the following field: \(field)", path: path)
    }

    /// 401: one answer for every TBA failure; the reason goes only to the login audit.
    static let invalidLogin = NetSuiteErrorBody(
        status: 401, "INVALID_LOGIN",
        "Invalid login attempt. For more details, see the Login Audit Trail in the NetSuite UI at Setup > Users/Roles > User Management > View Login Audit Trail."
    )

    static let concurrencyLimitExceeded = NetSuiteErrorBody(
        status: 429, "CONCURRENCY_LIMIT_EXCEEDED", "Concurrent request limit exceeded. Request blocked.")

    static let unexpectedError = NetSuiteErrorBody(
        status: 500, "UNEXPECTED_ERROR", "An unexpected error occurred. Error ID: simulated")

    static let recordNotFound = NetSuiteErrorBody(
        status: 404, "NONEXISTENT_ID", "The record instance does not exist. Provide a valid record instance ID.")

    static func notFound(path: String) -> NetSuiteErrorBody {
        NetSuiteErrorBody(
            status: 404, "INVALID_URL", "No resource at \(path). Upserts go to /services/rest/record/v1/{recordType}/eid:{externalId}.")
    }

    static func methodNotAllowed(_ method: String, allowed: String) -> NetSuiteErrorBody {
        NetSuiteErrorBody(status: 405, "METHOD_NOT_ALLOWED", "\(method) is not allowed here; use \(allowed).")
    }

    /// The RFC 9110 section NetSuite links in `type`, and the status's reason phrase as `title`.
    private var typeAndTitle: (String, String) {
        switch status {
        case 400: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.1", "Bad Request")
        case 401: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.2", "Unauthorized")
        case 404: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.5", "Not Found")
        case 405: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.5.6", "Method Not Allowed")
        case 429: ("https://www.rfc-editor.org/rfc/rfc6585.html#section-4", "Too Many Requests")
        default: ("https://www.rfc-editor.org/rfc/rfc9110.html#section-15.6.1", "Internal Server Error")
        }
    }

    var json: ExactJSON {
        var detailMembers: [(key: String, value: ExactJSON)] = [("detail", .string(detail)), ("o:errorCode", .string(code))]
        if let path { detailMembers.append(("o:errorPath", .string(path))) }
        let (type, title) = typeAndTitle
        return .object([
            ("type", .string(type)), ("title", .string(title)), ("status", .number(String(status))),
            ("o:errorDetails", .array([.object(detailMembers)])),
        ])
    }
}
