import Foundation
import HTTPClient
import Sync

extension SyncError {
    /// A request that got no HTTP answer at all. Transient when the network or server had a
    /// bad moment (`HTTPClientError.isTransient`), permanent otherwise (bad URL, TLS, …).
    /// The message is the client error's own, which by contract names the method and the
    /// URL without query or user info and never contains headers or bodies.
    ///
    /// Lives here, not in `Sync`, because `Sync` does not depend on `HTTPClient`.
    public init(from error: HTTPClientError) {
        self.init(error.isTransient ? .transient : .permanent, error.description)
    }
}

/// Sorts a non-2xx answer of NetSuite's REST record API into a `SyncError`.
///
/// NetSuite's error body looks like
/// `{"type": "…", "title": "Bad Request", "status": 400, "o:errorDetails": [{"detail": "…",
/// "o:errorCode": "USER_ERROR", "o:errorPath": "entity"}]}`. Any other body (HTML from a
/// proxy, empty, not UTF-8, huge) is classified by status alone. It never traps.
public enum NetSuiteErrorParser {
    /// Bodies larger than this are not parsed as JSON (a NetSuite error is a few hundred bytes).
    static let maxJSONBytes = 256 * 1024
    /// At most this many characters of a body that is not NetSuite JSON go into the message.
    static let maxExcerptCharacters = 300
    /// Cap of the whole message: a list of 500 details must not bloat the job's history.
    static let maxMessageCharacters = 2000

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
        } else if let title = parsed?.title, !title.isEmpty {
            message = oneLine("NetSuite HTTP \(status): \(title)", limit: maxMessageCharacters)
        } else {
            message = "NetSuite HTTP \(status): " + excerpt(body)
        }
        let firstCode = details.lazy.compactMap(\.code).first

        // Rate limit first, whatever the status: the request itself was fine, so wait for the
        // provider's hint (Retry-After) instead of failing or burning attempts.
        if status == 429
            || codes.contains(where: { rateLimitCodes.contains($0) || $0.contains("CONCURRENCY") || $0.contains("REQUEST_LIMIT") })
        {
            let code = details.lazy.compactMap(\.code).first { c in
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
        return SyncError(.permanent, message, providerCode: firstCode)
    }

    // MARK: - Body

    static func parseBody(_ body: Data) -> (title: String?, details: [Detail])? {
        guard !body.isEmpty, body.count <= maxJSONBytes,
            let object = try? JSONSerialization.jsonObject(with: body, options: []),
            let root = object as? [String: Any]
        else { return nil }
        let title = root["title"] as? String
        var details: [Detail] = []
        if let list = root["o:errorDetails"] as? [Any] {
            for case let item as [String: Any] in list {
                let d = Detail(
                    detail: item["detail"] as? String,
                    code: item["o:errorCode"] as? String,
                    path: item["o:errorPath"] as? String)
                if d.detail != nil || d.code != nil { details.append(d) }
            }
        }
        return (title, details)
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

    /// At most 300 characters of a body, on one line. Bytes that are not UTF-8 become U+FFFD.
    static func excerpt(_ body: Data) -> String {
        if body.isEmpty { return "(empty body)" }
        let head = body.prefix(maxExcerptCharacters * 4)
        let text = String(decoding: head, as: UTF8.self)
        return oneLine(text, limit: maxExcerptCharacters)
    }

    /// Control characters and runs of white space become one space; cut at `limit` characters.
    static func oneLine(_ text: String, limit: Int) -> String {
        var out = ""
        var lastWasSpace = false
        var count = 0
        for ch in text {
            let isSpace = ch.isWhitespace || ch.unicodeScalars.allSatisfy { $0.properties.generalCategory == .control }
            if isSpace {
                if lastWasSpace || out.isEmpty { continue }
                out.append(" ")
                lastWasSpace = true
            } else {
                out.append(ch)
                lastWasSpace = false
            }
            count += 1
            if count >= limit { break }
        }
        while out.last == " " { out.removeLast() }
        return out
    }
}
