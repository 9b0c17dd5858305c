import ExactJSON
import Foundation
import HTTPClient
import Sync

/// Zoho Books' answers into the envelope or a classified `SyncError`.
///
/// Zoho's pages: "Errors" (https://www.zoho.com/books/api/v3/errors/): statuses 200/201
/// success, 400 "Bad request" (a malformed or missing parameter), 401 "Unauthorized (Invalid
/// AuthToken)", 404 "URL Not Found", 405 "Method Not Allowed", 429 "Rate Limit Exceeded (API
/// usage limit exceeded)", 500 "Internal Error"; the body is always `{"code": <int>,
/// "message": "<text>"}`, code 0 on success (samples 1002 "Invoice does not exist.", 1000
/// "Internal error"). Zoho Invoice's "Credit Notes" page
/// (https://www.zoho.com/invoice/api/v3/credit-notes/) lists the credit-note codes (1002,
/// 12003–12007, 12018).
///
/// NOT DOCUMENTED, decided here:
/// - A 429 does not say which limit it is (PROVIDERS 3: sources disagree on the codes 43, 44,
///   45, 1070; Zoho documents no `Retry-After` or rate headers). A code 45 or a message naming
///   a "day" (daily) is taken as the daily quota (`exhaustsWindowsUpTo` 1 day: the
///   connection's daily window is emptied too); a code 1070 or a message naming "concurrent"
///   calls is the cap on calls in processing, which no window counts (no window is emptied, the
///   job only waits); anything else leaves `exhaustsWindowsUpTo` nil, so the job runner
///   empties the windows up to an hour (the minute window) and never a daily quota on a
///   refusal that may be a minute's.
/// - A 2xx whose body is not the envelope, or whose code is not 0, is not success: the write
///   may have happened, the retry's upsert finds it (transient).
/// - An answer that is not JSON is never quoted (it may be a proxy's page): the error names
///   the status only.
public enum ZohoErrorParser {
    /// The envelope of a successful answer (HTTP 2xx with `code` 0), else the classified error.
    public static func envelope(_ response: HTTPResponse, method: String, path: String) throws -> ExactJSON {
        let json = try? ExactJSON.parse(response.body)
        let code = json.flatMap(Self.code)
        if (200...299).contains(response.status) {
            guard let json, case .object = json, code == 0 else {
                throw SyncError(
                    .transient,
                    "Zoho Books answered \(method) \(path) with HTTP \(response.status) but "
                        + (code.map { "code \($0)" } ?? "without its {code, message} envelope") + " (the request may have been applied)",
                    providerCode: code.map(String.init))
            }
            return json
        }
        throw error(response, json: json, method: method, path: path)
    }

    /// The classified error of a non-2xx answer.
    public static func error(_ response: HTTPResponse, json: ExactJSON?, method: String, path: String) -> SyncError {
        let code = json.flatMap(Self.code)
        let providerCode = code.map(String.init)
        let message = json?["message"]?.stringValue.map { clean($0) }
        let said = message.map { ": \($0)" } ?? (json == nil ? " (the answer is not Zoho's JSON envelope)" : "")
        let status = response.status
        let text = "Zoho Books answered \(method) \(path) with HTTP \(status)" + (code.map { " code \($0)" } ?? "") + said
        switch status {
        case 401:
            return SyncError(
                .permanent,
                text
                    + "; the access token was refused twice (a new one included): the self client's refresh token may lack the ZohoBooks scopes or belong to another data centre (settings.data_center)",
                providerCode: providerCode)
        case 429:
            var refusal = SyncError(.rateLimited, text, providerCode: providerCode, retryAfter: retryAfter(response))
            refusal.exhaustsWindowsUpTo = spentWindow(code: code, message: message)
            return refusal
        case 500...599:
            return SyncError(.transient, text, providerCode: providerCode)
        case 408:
            return SyncError(.transient, text, providerCode: providerCode)
        default:
            var rejection = SyncError(.permanent, text, providerCode: providerCode)
            rejection.needsAction = needsAction(message)
            return rejection
        }
    }

    /// Whether Zoho refused the write for something a person must change in Zoho Books first:
    /// transactions locked up to a date (a closed period) or a locked invoice or credit note
    /// (sync status `needs_action`, docs/sync-status.md).
    ///
    /// Zoho's pages: "Transaction Locking" (https://www.zoho.com/books/api/v3/transaction-locking/):
    /// locking "prevent[s] modifications to transactions dated on or before a specific date";
    /// "What is the difference between Transaction locking and Record locking?"
    /// (https://www.zoho.com/books/kb/general/transaction-locking-vs-record-locking.html):
    /// record locking locks one invoice or credit note. NOT DOCUMENTED: the error code and
    /// message of a write refused by a lock (the "Errors" page lists none), so the message's
    /// words are matched: "lock"/"locked" with a transaction, period or date, or a "closed"
    /// accounting period.
    static func needsAction(_ message: String?) -> Bool {
        let words = (message ?? "").lowercased()
        if words.contains("locked") || words.contains("lock date") || words.contains("transaction lock") { return true }
        return words.contains("period") && words.contains("closed")
    }

    /// Which windows a 429 spent (see the type's notes): 1 day for the daily quota, zero for
    /// the concurrent-calls cap, nil (the runner's default, up to an hour) otherwise.
    static func spentWindow(code: Int?, message: String?) -> Duration? {
        let words = (message ?? "").lowercased()
        if code == 1070 || words.contains("concurrent") { return .zero }
        if code == 45 || words.contains("daily") || words.contains(" day") || words.contains("per day") { return .seconds(86_400) }
        return nil
    }

    /// A `Retry-After` in seconds, if Zoho ever sends one (it documents none).
    static func retryAfter(_ response: HTTPResponse) -> Duration? {
        guard let text = response.header("Retry-After")?.trimmingCharacters(in: .whitespaces), let seconds = Int(text), seconds >= 0
        else { return nil }
        return .seconds(min(seconds, 86_400))
    }

    /// The envelope's `code`: a JSON number (Zoho's), or digits in a string.
    static func code(_ json: ExactJSON) -> Int? {
        guard let value = json["code"] else { return nil }
        if let text = value.numberText ?? value.stringValue { return Int(text) }
        return nil
    }

    /// Zoho's message as one printable line of at most `ZohoBooksClient.maxMessageLength`
    /// characters.
    static func clean(_ text: String) -> String {
        let line = String(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : Character($0) })
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        return trimmed.count > ZohoBooksClient.maxMessageLength
            ? String(trimmed.prefix(ZohoBooksClient.maxMessageLength)) + "…" : trimmed
    }
}
