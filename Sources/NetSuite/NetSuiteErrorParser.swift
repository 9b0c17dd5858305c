import Foundation
import HTTPClient
import Sync

/// Sorts a non-2xx answer of NetSuite's REST record API into a `SyncError`.
///
/// NetSuite's error body looks like
/// `{"type": "…", "title": "Bad Request", "status": 400, "o:errorDetails": [{"detail": "…",
/// "o:errorCode": "USER_ERROR", "o:errorPath": "entity"}]}`. Its details and codes go into
/// the message, cleaned (no control characters, NUL included) and capped.
///
/// Any other answer (HTML from a proxy, plain text, JSON of another shape, malformed JSON,
/// megabytes, not UTF-8) is classified by status alone, and its content is never echoed:
/// a connection's base URL may point at anything, and a job's error is shown to everyone
/// who can list jobs. The message says what kind of answer it was: status, content type,
/// size. It never traps.
public enum NetSuiteErrorParser {
    /// Bodies larger than this are not parsed as JSON (a NetSuite error is a few hundred bytes).
    static let maxJSONBytes = 256 * 1024
    /// Cap of the whole message: a list of 500 details must not bloat the job's history.
    static let maxMessageCharacters = 2000
    /// Caps of one detail's text, its path and an error code, in Unicode scalars.
    static let maxDetailCharacters = 1000
    static let maxPathCharacters = 200
    static let maxCodeCharacters = 100

    /// Codes that mean "too many requests at once", whatever the HTTP status: REST answers
    /// 429 with CONCURRENCY_LIMIT_EXCEEDED, RESTlets answer 400 with SSS_REQUEST_LIMIT_EXCEEDED,
    /// SOAP/TBA uses WS_REQUEST_BLOCKED. The request was fine; only the timing was not.
    static let rateLimitCodes: Set<String> = [
        "CONCURRENCY_LIMIT_EXCEEDED", "SSS_REQUEST_LIMIT_EXCEEDED", "WS_REQUEST_BLOCKED",
        "REQUEST_LIMIT_EXCEEDED", "WS_CONCUR_SESSION_DISALLWD", "EXCEEDED_CONCURRENT_REQUEST_LIMIT",
    ]

    /// TBA errors a new request fixes by itself: a fresh nonce (NonceRejected) or a fresh
    /// timestamp, once the clock has been corrected (InvalidTimestamp).
    static let transientAuthCodes: Set<String> = ["NONCEREJECTED", "NONCE_REJECTED", "INVALIDTIMESTAMP", "INVALID_TIMESTAMP"]

    /// Codes that can mean "the record you reference does not exist".
    static let missingReferenceCodes: Set<String> = [
        "INVALID_FLD_VALUE", "INVALID_KEY_OR_REF", "INVALID_REFKEY", "RCRD_DSNT_EXIST",
        "NONEXISTENT_ID", "INVALID_RCRD_REF", "INVALID_ID",
    ]

    enum Reference { case customer, invoice, item }

    /// Field names (REST record API) of references, by what they point at.
    static let referenceFields: [String: Reference] = [
        "entity": .customer, "customer": .customer, "company": .customer,
        "apply": .invoice, "invoice": .invoice, "createdfrom": .invoice, "doc": .invoice,
        "item": .item,
    ]

    struct Detail {
        var detail: String?
        var code: String?
        var path: String?
    }

    public static func parse(_ response: HTTPResponse, now: Date = Date()) -> SyncError {
        parse(status: response.status, headers: response.headers, body: response.body, now: now)
    }

    public static func parse(
        status: Int, headers: [(name: String, value: String)], body: Data, now: Date = Date()
    ) -> SyncError {
        let parsed = parseBody(body)
        let details = parsed?.details ?? []
        let codes = details.compactMap { $0.code?.uppercased() }
        let retryAfter = headers.first { $0.name.lowercased() == "retry-after" }
            .flatMap { parseRetryAfter($0.value, now: now) }

        let message: String
        if !details.isEmpty {
            message = oneLine("NetSuite HTTP \(status): " + details.map(describe).joined(separator: "; "), limit: maxMessageCharacters)
        } else {
            message = "NetSuite HTTP \(status): " + describeForeignAnswer(body, headers: headers)
        }
        let firstCode = details.lazy.compactMap(\.code).first

        // Rate limit first, whatever the status: the request itself was fine, so wait for the
        // provider's hint (Retry-After) instead of failing or burning attempts.
        if status == 429
            || codes.contains(where: { rateLimitCodes.contains($0) || $0.contains("CONCURRENCY") || $0.contains("REQUEST_LIMIT") })
        {
            let code =
                details.lazy.compactMap(\.code).first { c in
                    let u = c.uppercased()
                    return rateLimitCodes.contains(u) || u.contains("CONCURRENCY") || u.contains("REQUEST_LIMIT")
                } ?? firstCode
            return SyncError(.rateLimited, message, providerCode: code, retryAfter: retryAfter)
        }

        // Authentication. A rejected nonce or timestamp is fixed by the next signed request
        // (new nonce, new timestamp), so retry. Anything else (INVALID_LOGIN_ATTEMPT,
        // InvalidSignature, revoked token, missing permission) means the credentials or the
        // role are wrong: retrying will not help and may lock the account.
        if status == 401 || status == 403 {
            let texts = details.flatMap { [$0.code, $0.detail].compactMap { $0 } } + [parsed?.title].compactMap { $0 }
            let squashed = texts.map { $0.uppercased().replacingOccurrences(of: " ", with: "") }
            if let hit = squashed.first(where: { t in transientAuthCodes.contains { t.contains($0) } }) {
                let code = firstCode ?? (hit.contains("NONCE") ? "NonceRejected" : "InvalidTimestamp")
                return SyncError(.transient, message, providerCode: code)
            }
            return SyncError(.permanent, message, providerCode: firstCode)
        }

        // NetSuite's own failures (and gateways in front of it): the same request may pass later.
        if (500...599).contains(status) {
            return SyncError(.transient, message, providerCode: firstCode)
        }

        // A 400/404 about a reference that does not exist. Customers and invoices come from our
        // own earlier jobs, so wait for them (dependency). An item is mapped by the user; if it
        // does not exist, the mapping is wrong and waiting will not fix it (permanent).
        // A 404 without such a reference is about the record addressed itself: permanent.
        if status == 400 || status == 404 {
            for d in details {
                guard saysMissing(d), let ref = reference(of: d) else { continue }
                switch ref {
                case .customer, .invoice:
                    return SyncError(.dependency, message, providerCode: d.code)
                case .item:
                    return SyncError(.permanent, message, providerCode: d.code)
                }
            }
        }

        // 408: the server gave up waiting for our request; sending it again may work.
        if status == 408 {
            return SyncError(.transient, message, providerCode: firstCode)
        }

        // Everything else (400 USER_ERROR, INVALID_FLD_VALUE, IDEMPOTENCY_ERROR, 404, 405, …):
        // NetSuite rejected the data or the request; the same request fails the same way again.
        var rejection = SyncError(.permanent, message, providerCode: firstCode)
        rejection.needsAction = details.contains(where: needsAction)
        return rejection
    }

    /// Whether a detail says the write was refused for something a person must change at
    /// NetSuite first: the transaction's accounting period is closed or locked, or the record
    /// itself is locked (sync status `needs_action`, docs/sync-status.md).
    ///
    /// NOT DOCUMENTED as codes: Oracle's help describes closing and locking periods ("Accounting
    /// Period", https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_N3740408.html:
    /// a transaction's posting period "can be future or past, depending on the close status of
    /// the period") but we found no page listing the REST error code or text of such a refusal.
    /// NetSuite answers them as USER_ERROR with a sentence naming the period or the lock, so the
    /// detail's words are matched: a period that is closed or locked, a record or transaction
    /// that is locked.
    static func needsAction(_ d: Detail) -> Bool {
        let text = (d.detail ?? "").lowercased()
        if let code = d.code?.uppercased(), ["PERIOD_CLOSED", "ACCT_PERIOD_CLOSED", "RCRD_LOCKED", "RECORD_LOCKED"].contains(code) {
            return true
        }
        if text.contains("period") && (text.contains("closed") || text.contains("locked")) { return true }
        return text.contains("record is locked") || text.contains("transaction is locked") || text.contains("has been locked")
    }

    // MARK: - Body

    /// The body's title and details, cleaned as they are read: every later use (the
    /// message, the code stored with the job, the classification) sees clean text.
    static func parseBody(_ body: Data) -> (title: String?, details: [Detail])? {
        guard !body.isEmpty, body.count <= maxJSONBytes,
            let object = try? JSONSerialization.jsonObject(with: body, options: []),
            let root = object as? [String: Any]
        else { return nil }
        let title = (root["title"] as? String).map { oneLine($0, limit: maxDetailCharacters) }
        var details: [Detail] = []
        if let list = root["o:errorDetails"] as? [Any] {
            for case let item as [String: Any] in list {
                let d = Detail(
                    detail: nonEmpty((item["detail"] as? String).map { oneLine($0, limit: maxDetailCharacters) }),
                    code: nonEmpty((item["o:errorCode"] as? String).map(cleanCode)),
                    path: nonEmpty((item["o:errorPath"] as? String).map { oneLine($0, limit: maxPathCharacters) }))
                if d.detail != nil || d.code != nil { details.append(d) }
            }
        }
        return (title, details)
    }

    private static func nonEmpty(_ text: String?) -> String? {
        guard let text, !text.isEmpty else { return nil }
        return text
    }

    /// An error code as stored with the job: letters, digits and `_-.:` only (NetSuite's
    /// are like `USER_ERROR`), at most 100 of them.
    static func cleanCode(_ code: String) -> String {
        var out = String.UnicodeScalarView()
        for scalar in code.unicodeScalars where out.count < maxCodeCharacters {
            if scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_-.:".unicodeScalars.contains(scalar) {
                out.append(scalar)
            }
        }
        return String(out)
    }

    /// What an answer that is not a NetSuite error body was, without its content: its kind
    /// (empty, HTML, JSON of another shape, malformed JSON, text, not UTF-8, too large to
    /// read), its content type and its size.
    static func describeForeignAnswer(_ body: Data, headers: [(name: String, value: String)]) -> String {
        let contentType = headers.first { $0.name.lowercased() == "content-type" }.map { cleanContentType($0.value) }
        let typeText = contentType.map { $0.isEmpty ? "an unreadable content type" : "content type \($0)" } ?? "no content type"
        guard !body.isEmpty else { return "the answer is not a NetSuite error (empty body; \(typeText))" }
        return "the answer is not a NetSuite error (\(kind(of: body, contentType: contentType)); \(typeText); "
            + "\(describeSize(body.count))); its content is not shown"
    }

    static func kind(of body: Data, contentType: String?) -> String {
        if body.count > maxJSONBytes { return "too large to read as an error" }
        let head = body.prefix(64).drop { $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }
        let first = head.first
        if first == UInt8(ascii: "{") || first == UInt8(ascii: "[") {
            if (try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])) != nil {
                return "JSON without o:errorDetails"
            }
            return "malformed JSON"
        }
        if first == UInt8(ascii: "<") || contentType?.contains("html") == true { return "HTML" }
        if String(validating: body, as: UTF8.self) == nil { return "binary, not UTF-8" }
        return "text"
    }

    /// The media type only (parameters dropped), lowercased, restricted to the characters
    /// a media type is made of, at most 100 of them.
    static func cleanContentType(_ value: String) -> String {
        let mediaType = value.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        var out = ""
        for scalar in mediaType.lowercased().unicodeScalars where out.unicodeScalars.count < 100 {
            if ("a"..."z").contains(scalar) || ("0"..."9").contains(scalar) || "/+-._".unicodeScalars.contains(scalar) {
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func describeSize(_ bytes: Int) -> String {
        if bytes < 1024 { return "\(bytes) bytes" }
        if bytes < 1024 * 1024 { return "\((Double(bytes) / 102.4).rounded() / 10) KB" }
        return "\((Double(bytes) / (1024 * 102.4)).rounded() / 10) MB"
    }

    static func describe(_ d: Detail) -> String {
        var text = d.detail ?? d.code ?? ""
        if let path = d.path, !path.isEmpty { text += " (at \(path))" }
        return text
    }

    static func saysMissing(_ d: Detail) -> Bool {
        if let code = d.code?.uppercased(), missingReferenceCodes.contains(code) { return true }
        let text = (d.detail ?? "").lowercased()
        return text.contains("does not exist") || text.contains("not found")
            || text.contains("invalid field value") || text.contains("invalid reference")
    }

    /// What the detail refers to: from `o:errorPath` ("entity", "item.items[0].item",
    /// "apply.items[2].doc"), else from "… for the following field: entity", else from the
    /// words of a "does not exist" detail.
    static func reference(of d: Detail) -> Reference? {
        if let path = d.path, !path.isEmpty {
            for part in path.split(separator: ".") {
                let name = part.split(separator: "[").first.map { String($0).lowercased() } ?? ""
                if let ref = referenceFields[name] { return ref }
            }
        }
        let text = (d.detail ?? "").lowercased()
        if let range = text.range(of: "following field:") {
            let name = text[range.upperBound...].drop { $0 == " " }.prefix { $0.isLetter || $0.isNumber || $0 == "_" }
            if let ref = referenceFields[String(name)] { return ref }
        }
        if text.contains("does not exist") || text.contains("not found") {
            if text.contains("customer") || text.contains("entity") { return .customer }
            if text.contains("invoice") { return .invoice }
            if text.contains("item") { return .item }
        }
        return nil
    }

    // MARK: - Retry-After

    /// Retry-After as delta seconds ("120") or an HTTP date ("Wed, 21 Oct 2015 07:28:00 GMT").
    /// A date in the past gives zero; anything else is ignored.
    static func parseRetryAfter(_ value: String, now: Date) -> Duration? {
        let trimmed = value.trimmingCharacters(in: .whitespaces)
        if let seconds = Int(trimmed) { return seconds >= 0 ? .seconds(seconds) : nil }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: trimmed) else { return nil }
        let delta = date.timeIntervalSince(now)
        guard delta.isFinite else { return nil }
        return .seconds(max(0, Int(delta.rounded(.up))))
    }

    // MARK: - Text

    /// NUL is dropped; other control characters and runs of white space become one space;
    /// cut at `limit` Unicode scalars. Scalars, not characters: one character can hold any
    /// number of combining marks, and a NUL hidden in one must go too.
    static func oneLine(_ text: String, limit: Int) -> String {
        var out = String.UnicodeScalarView()
        var count = 0
        var pendingSpace = false
        for scalar in text.unicodeScalars {
            if scalar.value == 0 { continue }
            if scalar.properties.isWhitespace || scalar.properties.generalCategory == .control {
                pendingSpace = count > 0
                continue
            }
            if pendingSpace {
                guard count + 1 < limit else { break }
                out.append(" ")
                count += 1
                pendingSpace = false
            }
            guard count < limit else { break }
            out.append(scalar)
            count += 1
        }
        return String(out)
    }
}
