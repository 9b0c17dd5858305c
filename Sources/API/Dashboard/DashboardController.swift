import Foundation
import HTTPTypes
import Hummingbird
import JobQueue
import LedgerCrypto
import Sync

/// `/dashboard`: plain server-rendered HTML for the person on call. Queues at a glance,
/// failed jobs with their last error, one job's whole attempt history, and retry/cancel
/// buttons (forms that POST; no JavaScript).
///
/// Signed in with a session of its own (`ledgersync.dashboard_sessions`): a one-time link from
/// `ledgersync dashboard link`, or an API token typed into the sign-in form. The session key
/// lives in an HttpOnly, SameSite=Strict cookie scoped to `/dashboard` (Secure behind TLS);
/// `/v1` never accepts it, and no API token is ever put in a URL or a cookie. Every form
/// carries a CSRF token derived from the session key.
struct DashboardController {
    let queue: JobQueue
    let tokens: APITokenStore
    let sessions: DashboardSessionStore
    let sessionLifetime: Duration
    /// Always mark the cookie Secure (the API is served over TLS), besides requests a proxy
    /// says came over https.
    let secureCookies: Bool

    static let cookie = "ledgersync_session"

    func register(on router: Router<APIRequestContext>) {
        router.get("dashboard/login") { request, _ -> Response in
            Self.page(title: "Sign in", body: Self.loginForm(error: request.uri.queryParameters.get("error")), signedIn: false)
        }
        router.post("dashboard/login") { request, context -> Response in try await login(request, context) }
        // The link's GET only shows a button: a chat app's link preview must not use up the
        // code, and the POST that does comes from our own page, so the SameSite=Strict cookie
        // it sets goes with the very next request.
        router.get("dashboard/sign-in") { request, _ -> Response in
            let code = request.uri.queryParameters.get("code") ?? ""
            return Self.page(title: "Sign in", body: Self.signInButton(code: code), signedIn: false)
        }
        router.post("dashboard/sign-in") { request, context -> Response in try await redeem(request, context) }
        router.post("dashboard/logout") { request, _ -> Response in
            if let key = BearerAuthMiddleware.cookie(named: Self.cookie, in: request) { try await sessions.end(key) }
            var response = Self.redirect("/dashboard/login")
            response.headers[.setCookie] = "\(Self.cookie)=; Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=0"
            return response
        }
        let pages = router.group("dashboard").add(middleware: DashboardSessionMiddleware(sessions: sessions))
        pages.get("") { request, context -> Response in try await overview(request, context) }
        pages.get("jobs") { request, context -> Response in try await jobList(request, context) }
        pages.get("jobs/:id") { request, context -> Response in try await jobPage(request, context) }
        pages.get("reconciliation") { request, context -> Response in try await reconciliationPage(request, context) }
        pages.post("jobs/:id/retry") { request, context -> Response in try await act(request, context, retry: true) }
        pages.post("jobs/:id/cancel") { request, context -> Response in try await act(request, context, retry: false) }
        registerSyncStatus(on: pages)
    }

    // MARK: - Sign-in

    /// The sign-in form: an API token (in the body, never the URL) opens a session with the
    /// token's scopes that ends when the token is revoked.
    func login(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        var request = request
        let form = Self.parseForm(try await request.collectBody(upTo: 16 * 1024))
        guard let presented = form["token"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            let token = try await tokens.authenticate(presented)
        else { return Self.redirect("/dashboard/login?error=token") }
        guard APIScope.read.isGranted(by: token.scopes) else { return Self.redirect("/dashboard/login?error=scope") }
        guard let (session, key) = try await sessions.open(token: token, sessionLifetime: sessionLifetime) else {
            return Self.redirect("/dashboard/login?error=token")
        }
        return signedIn(request, key: key, session: session)
    }

    /// A one-time link's button: uses the code (once) and opens a session.
    func redeem(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        var request = request
        let form = Self.parseForm(try await request.collectBody(upTo: 16 * 1024))
        guard let code = form["code"]?.trimmingCharacters(in: .whitespacesAndNewlines),
            let (session, key) = try await sessions.redeem(code: code, sessionLifetime: sessionLifetime)
        else { return Self.redirect("/dashboard/login?error=link") }
        return signedIn(request, key: key, session: session)
    }

    func signedIn(_ request: Request, key: String, session: DashboardSession) -> Response {
        var response = Self.redirect("/dashboard")
        let seconds = max(1, Int(session.expiresAt.timeIntervalSinceNow.rounded(.down)))
        response.headers[.setCookie] = Self.setCookie(
            key, maxAge: seconds, secure: secureCookies || SecurityHeadersMiddleware.isTLS(request))
        return response
    }

    static func setCookie(_ key: String, maxAge: Int, secure: Bool) -> String {
        // Path=/dashboard: the browser sends it to the dashboard only (and /v1 would not accept
        // it anyway); HttpOnly so no script reads it; SameSite=Strict so another site's form
        // cannot post with it; Secure when the page came over TLS.
        "\(cookie)=\(key); Path=/dashboard; HttpOnly; SameSite=Strict; Max-Age=\(maxAge)" + (secure ? "; Secure" : "")
    }

    /// The CSRF token of a session: HMAC of a fixed label under the session key, so it needs
    /// no storage and dies with the session.
    static func csrf(_ request: Request) -> String {
        HMACSHA256.base64(key: BearerAuthMiddleware.cookie(named: cookie, in: request) ?? "", message: "ledgersync-dashboard-csrf")
    }

    // MARK: - Pages

    func overview(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let stats = try await queue.stats()
        let throughput = try await queue.throughput()
        let failed = try await queue.list(JobFilter(states: [.failed], limit: 50))
        var html = Self.notice(request)
        html += "<section><h2>Queues</h2>"
        html +=
            "<p class=meta>Completed in the last minute: <b>\(throughput.completedLastMinute)</b> · last hour: <b>\(throughput.completedLastHour)</b></p>"
        let queues = Set(stats.map(\.queue)).sorted()
        if queues.isEmpty {
            html += "<p>No jobs.</p>"
        } else {
            html +=
                "<table><tr><th>Queue</th>" + JobState.allCases.map { "<th>\($0.rawValue)</th>" }.joined() + "<th>Oldest waiting</th></tr>"
            for name in queues {
                let rows = stats.filter { $0.queue == name }
                html += "<tr><td><a href=\"/dashboard/jobs?queue=\(Self.url(name))\">\(Self.escape(name))</a></td>"
                for state in JobState.allCases {
                    let count = rows.filter { $0.state == state }.reduce(Int64(0)) { $0 + $1.jobs }
                    let cls = count > 0 && state == .failed ? " class=bad" : ""
                    html +=
                        "<td\(cls)>"
                        + (count == 0
                            ? "·" : "<a href=\"/dashboard/jobs?queue=\(Self.url(name))&amp;state=\(state.rawValue)\">\(count)</a>")
                        + "</td>"
                }
                let oldest = rows.compactMap(\.oldestRunnableSeconds).max()
                html += "<td>\(oldest.map(Self.age) ?? "·")</td></tr>"
            }
            html += "</table>"
        }
        let windows = try await queue.rateWindows()
        if !windows.isEmpty {
            html += "</section><section><h2>Rate windows</h2>"
            html += "<table><tr><th>Limit key</th><th>Window</th><th>Used</th><th>Left</th><th>Turns in</th></tr>"
            for window in windows {
                let cls = window.left == 0 ? " class=bad" : ""
                html +=
                    "<tr><td>\(Self.escape(window.limitKey))</td><td>\(Self.escape(RateWindow(maxStarts: window.maxStarts, seconds: window.seconds).text))</td>"
                    + "<td>\(window.used)</td><td\(cls)>\(window.left)</td><td>\(Self.age(window.turnsInSeconds))</td></tr>"
            }
            html += "</table>"
        }
        html += "</section><section><h2>Failed jobs <span class=meta>(newest \(failed.count))</span></h2>"
        html += Self.filterForm(state: "failed", kind: nil, queue: nil)
        html += jobTable(failed, request: request, back: "/dashboard", context: context)
        html += "</section>"
        return Self.page(title: "Ledgersync", body: html)
    }

    func jobList(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        let parameters = request.uri.queryParameters
        let stateText = parameters.get("state").flatMap { $0.isEmpty ? nil : $0 }
        let kind = parameters.get("kind").flatMap { $0.isEmpty ? nil : $0 }
        let queueName = parameters.get("queue").flatMap { $0.isEmpty ? nil : $0 }
        let states = stateText.map { $0.split(separator: ",").compactMap { JobState(rawValue: String($0)) } }
        let before = parameters.get("before").flatMap { Int64($0) }
        let jobs = try await queue.list(JobFilter(states: states, kind: kind, queue: queueName, beforeID: before, limit: 101))
        let page = Array(jobs.prefix(100))
        var html = Self.notice(request)
        html += "<section><h2>Jobs</h2>" + Self.filterForm(state: stateText, kind: kind, queue: queueName)
        html += jobTable(page, request: request, back: request.uri.path + (request.uri.query.map { "?" + $0 } ?? ""), context: context)
        if jobs.count > 100, let last = page.last {
            var query = ["before=\(last.id)"]
            if let stateText { query.append("state=\(Self.url(stateText))") }
            if let kind { query.append("kind=\(Self.url(kind))") }
            if let queueName { query.append("queue=\(Self.url(queueName))") }
            html += "<p><a href=\"/dashboard/jobs?\(query.joined(separator: "&amp;"))\">Older jobs →</a></p>"
        }
        html += "</section>"
        return Self.page(title: "Jobs", body: html)
    }

    func jobPage(_ request: Request, _ context: APIRequestContext) async throws -> Response {
        guard let id = Int64(context.parameters.get("id") ?? ""), let job = try await queue.job(id: id) else {
            return Self.page(title: "No such job", body: "<p>No such job.</p>", status: .notFound)
        }
        var html = Self.notice(request)
        html += "<section><h2>Job \(job.id) <span class=\"state \(job.state.rawValue)\">\(job.state.rawValue)</span></h2>"
        html += "<div class=actions>" + actionButtons(job, request: request, back: "/dashboard/jobs/\(job.id)", context: context) + "</div>"
        html += "<table class=facts>"
        let facts: [(String, String?)] = [
            ("Kind", job.kind), ("Billing object", job.billingObjectDescription), ("Queue", job.queue), ("Priority", "\(job.priority)"),
            ("Attempt", "\(job.attempt) of \(job.maxAttempts)"),
            ("Created", Self.time(job.createdAt)), ("Runs at", Self.time(job.runAt)), ("Last started", job.attemptedAt.map(Self.time)),
            ("Finished", job.finalizedAt.map(Self.time)), ("Running on", job.lockedBy), ("Unique key", job.uniqueKey),
            ("Serial key", job.serialKey), ("Limit key", job.limitKey),
        ]
        for (name, value) in facts {
            if let value { html += "<tr><th>\(name)</th><td>\(Self.escape(value))</td></tr>" }
        }
        // What a waiting sync job waits for (sync migrations 007, 009).
        if job.state == .available || job.state == .retryable, let wait = try await DependencyWaits.wait(jobID: job.id, pool: queue.pool) {
            html += "<tr><th>Waiting for</th><td class=waiting-for>\(Self.escape(wait.description))"
            if let awaited = wait.awaitedJobID { html += " <a href=\"/dashboard/jobs/\(awaited)\">job \(awaited)</a>" }
            if wait.parked { html += " (parked: holds no place in its customer's lane)" }
            html += "</td></tr>"
        }
        // What a sync job that succeeded left for a person to look at (sync migration 012).
        let warnings = try await JobWarnings.warnings(jobID: job.id, pool: queue.pool)
        if !warnings.isEmpty {
            html +=
                "<tr><th>Warnings</th><td class=warnings>"
                + warnings.map { "<div class=warning><b>\(Self.escape($0.code))</b>: \(Self.escape($0.message))</div>" }.joined()
                + "</td></tr>"
        }
        html += "</table><h3>Attempts that did not complete (\(job.errors.count))</h3>"
        if job.errors.isEmpty {
            html += "<p>None.</p>"
        } else {
            html += "<table><tr><th>#</th><th>When</th><th>Class</th><th>Code</th><th>Message</th><th>Worker</th></tr>"
            for entry in job.errors.reversed() {
                html +=
                    "<tr><td>\(entry.attempt)</td><td>\(Self.time(entry.at))</td><td class=\"class \(Self.escape(entry.class))\">\(Self.escape(entry.class))</td>"
                html +=
                    "<td>\(Self.escape(entry.code ?? ""))</td><td class=message>\(Self.escape(entry.message))</td><td>\(Self.escape(entry.worker ?? ""))</td></tr>"
            }
            html += "</table>"
        }
        html += "<h3>Args</h3><pre>\(Self.escape(Self.pretty(job.args)))</pre></section>"
        return Self.page(title: "Job \(job.id)", body: html)
    }

    /// A retry or cancel button's POST: checks the CSRF token, acts through the same
    /// JobQueue functions as the API and CLI, and goes back where the button was.
    func act(_ request: Request, _ context: APIRequestContext, retry: Bool) async throws -> Response {
        var body = request
        let form = Self.parseForm(try await body.collectBody(upTo: 16 * 1024))
        guard form["csrf"] == Self.csrf(request) else {
            return Self.page(
                title: "Refused", body: "<p>This form is stale or came from elsewhere; go back, reload and try again.</p>",
                status: .forbidden)
        }
        guard Self.mayOperate(context) else {
            return Self.page(
                title: "Refused", body: "<p>This session may look but not retry or cancel (it lacks the operate scope).</p>",
                status: .forbidden)
        }
        guard let id = Int64(context.parameters.get("id") ?? "") else { return Self.redirect("/dashboard") }
        let done = retry ? try await queue.retry(JobFilter(id: id, limit: 1)) : try await queue.cancel(JobFilter(id: id, limit: 1))
        let state = try await queue.job(id: id)?.state.rawValue ?? "gone"
        let notice =
            done.isEmpty
            ? "Job \(id) was not \(retry ? "retried" : "cancelled"): it is \(state)."
            : "Job \(id) \(retry ? "will run again now" : "is cancelled")."
        // Only back to a dashboard page of ours, never to a URL the form names elsewhere.
        var back = form["back"] ?? "/dashboard"
        if !back.hasPrefix("/dashboard") || back.hasPrefix("//") { back = "/dashboard" }
        let separator = back.contains("?") ? "&" : "?"
        return Self.redirect(back + separator + "notice=" + Self.url(notice))
    }

    // MARK: - Pieces

    func jobTable(_ jobs: [JobRecord], request: Request, back: String, context: APIRequestContext) -> String {
        guard !jobs.isEmpty else { return "<p>No jobs match.</p>" }
        var html =
            "<table class=jobs><tr><th>ID</th><th>State</th><th>Kind</th><th>Object</th><th>Queue</th><th>Attempt</th><th>Created</th><th>Last error</th><th></th></tr>"
        for job in jobs {
            // A completed job's earlier errors are history, not its last error.
            let lastError =
                job.state == .completed
                ? ""
                : job.errors.last.map {
                    "<span class=\"class \(Self.escape($0.class))\">\(Self.escape($0.class))</span> \(Self.escape(String($0.message.prefix(160))))"
                } ?? ""
            html +=
                "<tr><td><a href=\"/dashboard/jobs/\(job.id)\">\(job.id)</a></td><td><span class=\"state \(job.state.rawValue)\">\(job.state.rawValue)</span></td>"
            html +=
                "<td>\(Self.escape(job.kind))</td><td>\(Self.escape(job.billingObjectDescription ?? ""))</td><td>\(Self.escape(job.queue))</td><td>\(job.attempt)/\(job.maxAttempts)</td>"
            html +=
                "<td>\(Self.time(job.createdAt))</td><td class=message>\(lastError)</td><td class=actions>\(actionButtons(job, request: request, back: back, context: context))</td></tr>"
        }
        return html + "</table>"
    }

    func actionButtons(_ job: JobRecord, request: Request, back: String, context: APIRequestContext) -> String {
        guard Self.mayOperate(context) else { return "" }
        let csrf = Self.escape(Self.csrf(request))
        var html = ""
        if [.failed, .cancelled, .retryable].contains(job.state) {
            html +=
                "<form method=post action=\"/dashboard/jobs/\(job.id)/retry\"><input type=hidden name=csrf value=\"\(csrf)\"><input type=hidden name=back value=\"\(Self.escape(back))\"><button class=retry>Retry</button></form>"
        }
        if [.available, .retryable, .running].contains(job.state) {
            html +=
                "<form method=post action=\"/dashboard/jobs/\(job.id)/cancel\"><input type=hidden name=csrf value=\"\(csrf)\"><input type=hidden name=back value=\"\(Self.escape(back))\"><button class=cancel>Cancel</button></form>"
        }
        return html
    }

    static func filterForm(state: String?, kind: String?, queue: String?) -> String {
        var html =
            "<form class=filters method=get action=\"/dashboard/jobs\"><label>State <select name=state><option value=\"\">any</option>"
        for option in JobState.allCases.map(\.rawValue) {
            html += "<option\(option == state ? " selected" : "")>\(option)</option>"
        }
        html += "</select></label> <label>Kind <input name=kind value=\"\(escape(kind ?? ""))\" placeholder=\"invoice.push\"></label>"
        html +=
            " <label>Queue <input name=queue value=\"\(escape(queue ?? ""))\" placeholder=\"default\"></label> <button>Filter</button></form>"
        return html
    }

    static func mayOperate(_ context: APIRequestContext) -> Bool {
        context.token.map { APIScope.operate.isGranted(by: $0.scopes) } ?? false
    }

    static func loginForm(error: String?) -> String {
        let problem: String
        switch error {
        case nil: problem = ""
        case "link":
            problem =
                "<p class=notice-bad>That sign-in link is used, expired or unknown. Ask for a new one: <code>ledgersync dashboard link</code>.</p>"
        case "scope": problem = "<p class=notice-bad>That token lacks the read scope the dashboard needs.</p>"
        default: problem = "<p class=notice-bad>That token is not valid (unknown, revoked or expired).</p>"
        }
        return problem
            + """
            <section><h2>Sign in</h2>
            <p>Open a one-time sign-in link: <code>ledgersync dashboard link --for your-name</code> prints one (it works once, for minutes).</p>
            <form method=post action="/dashboard/login">
            <label>Or an API token <input type=password name=token autocomplete=off size=50 placeholder="lsk_…" autofocus></label>
            <button>Sign in</button></form></section>
            """
    }

    static func signInButton(code: String) -> String {
        """
        <section><h2>Sign in to Ledgersync</h2><form method=post action="/dashboard/sign-in">
        <input type=hidden name=code value="\(escape(code))"><button class=retry>Sign in</button></form>
        <p class=meta>This link works once.</p></section>
        """
    }

    static func notice(_ request: Request) -> String {
        guard let text = request.uri.queryParameters.get("notice"), !text.isEmpty else { return "" }
        return "<p class=notice>\(escape(text))</p>"
    }

    static func page(title: String, body: String, status: HTTPResponse.Status = .ok, signedIn: Bool = true) -> Response {
        let navigation =
            signedIn
            ? """
            <nav><a href="/dashboard">Overview</a> <a href="/dashboard/jobs?state=failed">Failed</a> <a href="/dashboard/jobs">All jobs</a> <a href="/dashboard/sync-status">Sync status</a> <a href="/dashboard/reconciliation">Reconciliation</a>
            <form method=post action="/dashboard/logout"><button class=link>Sign out</button></form></nav>
            """
            : ""
        let html = """
            <!doctype html><html lang=en><head><meta charset=utf-8><meta name=viewport content="width=device-width, initial-scale=1">
            <title>\(escape(title)) · Ledgersync</title><style>\(css)</style></head><body>
            <header><h1><a href="/dashboard">Ledgersync</a></h1>\(navigation)</header>
            <main>\(body)</main></body></html>
            """
        return Response(
            status: status,
            headers: [
                .contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                HTTPField.Name("Content-Security-Policy")!:
                    "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
            ],
            body: ResponseBody(byteBuffer: ByteBuffer(string: html)))
    }

    static func redirect(_ location: String) -> Response {
        Response(status: .seeOther, headers: [.location: location, .cacheControl: "no-store"])
    }

    static let css = """
        body{font:17px/1.45 system-ui,sans-serif;margin:0;background:#111418;color:#e8eaed}
        header{display:flex;align-items:center;gap:2em;padding:.6em 1.2em;background:#1c2128;border-bottom:1px solid #30363d}
        header h1{font-size:1.3em;margin:0} header a{color:#e8eaed;text-decoration:none;margin-right:1em} nav{display:flex;align-items:center}
        main{padding:1em 1.2em;max-width:1400px} h2{margin:.8em 0 .4em} a{color:#79b8ff}
        table{border-collapse:collapse;width:100%;margin:.4em 0 1em} th,td{padding:.35em .6em;border-bottom:1px solid #30363d;text-align:left;vertical-align:top}
        th{color:#9aa4af;font-weight:600} td.bad a{color:#ff7b72;font-weight:700}
        .state{padding:.1em .5em;border-radius:4px;font-weight:600;background:#30363d} .state.failed{background:#8e1519;color:#fff}
        .state.completed{background:#1f6f3b} .state.running{background:#1f4f8f} .state.retryable{background:#7a5200} .state.cancelled{background:#444}
        .class{font-weight:700;color:#ffa657} .message{font-family:ui-monospace,monospace;font-size:.9em;white-space:pre-wrap;word-break:break-word}
        .meta{color:#9aa4af} .notice{background:#1f4f8f;padding:.6em 1em;border-radius:6px} .notice-bad{background:#8e1519;padding:.6em 1em;border-radius:6px}
        form{display:inline} .filters{display:block;margin:.4em 0} input,select{font:inherit;background:#0d1117;color:#e8eaed;border:1px solid #30363d;padding:.2em .4em}
        button{font:inherit;cursor:pointer;border:0;border-radius:5px;padding:.25em .8em;background:#30363d;color:#fff;margin:0 .2em}
        button.retry{background:#238636} button.cancel{background:#8e1519} button.link{background:none;color:#79b8ff}
        pre{background:#0d1117;padding:1em;overflow:auto;border-radius:6px} .facts th{width:10em}
        """

    // MARK: - Text

    static func escape(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }

    static func url(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~"))) ?? ""
    }

    static func time(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date).replacingOccurrences(of: "T", with: " ")
    }

    static func age(_ seconds: Double) -> String {
        switch seconds {
        case ..<60: String(format: "%.0fs", seconds)
        case ..<3600: String(format: "%.0fm", seconds / 60)
        case ..<86_400: String(format: "%.1fh", seconds / 3600)
        default: String(format: "%.1fd", seconds / 86_400)
        }
    }

    static func pretty(_ value: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(value), as: UTF8.self)) ?? ""
    }

    /// `application/x-www-form-urlencoded`.
    static func parseForm(_ buffer: ByteBuffer) -> [String: String] {
        var form: [String: String] = [:]
        for pair in String(buffer: buffer).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ text: Substring) -> String { text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? "" }
            form[decode(parts[0])] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return form
    }
}

/// Lets a dashboard page through only with a live session cookie whose session may read;
/// anyone else is sent to sign in. The session's scopes go into the context as its token.
struct DashboardSessionMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let sessions: DashboardSessionStore

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard let key = BearerAuthMiddleware.cookie(named: DashboardController.cookie, in: request),
            let session = try await sessions.authenticate(key)
        else { return DashboardController.redirect("/dashboard/login") }
        guard APIScope.read.isGranted(by: session.scopes) else {
            return DashboardController.page(title: "Refused", body: "<p>This session lacks the read scope.</p>", status: .forbidden)
        }
        var context = context
        context.token = AuthenticatedToken(id: nil, name: session.label, scopes: session.scopes)
        context.logger[metadataKey: "dashboard_session"] = "\(session.id)"
        return try await next(request, context)
    }
}
