import API
import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Sync
import Testing

/// The dashboard as a browser meets it: one-time sign-in links, a session cookie of its own,
/// the failed job and its error on the page, and a retry button whose form works only with
/// its CSRF token.
@Suite(.timeLimit(.minutes(3)))
struct DashboardTests {
    static let form = [(name: "Content-Type", value: "application/x-www-form-urlencoded")]

    /// The value of `name="csrf"` in a page.
    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: "name=csrf value=\"") else { return nil }
        let rest = html[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    /// `name=value` of a Set-Cookie header, for a Cookie header.
    static func cookiePair(_ answer: APIHarness.Answer) -> String? {
        answer.header("Set-Cookie")?.split(separator: ";").first.map(String.init)
    }

    /// Signs in through a one-time link, as a browser would; returns the cookie to send.
    static func signIn(_ api: APIHarness, scopes: Set<APIScope> = [.read, .operate]) async throws -> String {
        let (code, _) = try await DashboardSessionStore(pool: api.pool).createSignInCode(scopes: scopes, label: "test")
        let answer = try await api.request("POST", "/dashboard/sign-in", body: "code=\(code)", token: "", headers: form)
        #expect(answer.status == 303 && answer.header("Location") == "/dashboard", "\(answer)")
        return try #require(cookiePair(answer))
    }

    static func page(_ api: APIHarness, _ path: String, cookie: String) async throws -> APIHarness.Answer {
        try await api.request("GET", path, token: "", headers: [("Cookie", cookie)])
    }

    @Test("a one-time link signs in once; the cookie is HttpOnly, SameSite=Strict, scoped to /dashboard, Secure behind TLS")
    func oneTimeLink() async throws {
        try await APIHarness.with { api in
            let anonymous = try await api.get("/dashboard", token: "")
            #expect(anonymous.status == 303 && anonymous.header("Location") == "/dashboard/login", "\(anonymous)")

            let store = DashboardSessionStore(pool: api.pool)
            let (code, _) = try await store.createSignInCode(scopes: [.read, .operate], label: "oncall-alice")
            // Opening the link (or a chat app's preview of it) only shows the button.
            let preview = try await api.get("/dashboard/sign-in?code=\(code)", token: "")
            #expect(
                preview.status == 200 && preview.text.contains("action=\"/dashboard/sign-in\"") && preview.header("Set-Cookie") == nil,
                "\(preview)")
            #expect(preview.header("Referrer-Policy") == "no-referrer", "the code in the address bar goes to no other site")
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.dashboard_sign_in_codes WHERE used_at IS NULL") == 1)
            #expect(
                try await api.database.count(
                    "SELECT count(*) FROM ledgersync.dashboard_sign_in_codes WHERE code_sha256 = sha256(convert_to('\(code)', 'UTF8'))")
                    == 1, "only the hash is stored")

            let signedIn = try await api.request("POST", "/dashboard/sign-in", body: "code=\(code)", token: "", headers: Self.form)
            #expect(signedIn.status == 303 && signedIn.header("Location") == "/dashboard", "\(signedIn)")
            let cookie = signedIn.header("Set-Cookie") ?? ""
            let attributes = Set(cookie.split(separator: ";").dropFirst().map { $0.trimmingCharacters(in: .whitespaces) })
            #expect(
                attributes.contains("HttpOnly") && attributes.contains("SameSite=Strict") && attributes.contains("Path=/dashboard"),
                "\(cookie)")
            #expect(attributes.contains { $0.hasPrefix("Max-Age=") } && !attributes.contains("Secure"), "plain HTTP: not Secure. \(cookie)")
            #expect(
                cookie.hasPrefix("ledgersync_session=lss_") && !cookie.contains(api.token), "the cookie is a session key, not an API token")
            let pair = try #require(Self.cookiePair(signedIn))
            let overview = try await Self.page(api, "/dashboard", cookie: pair)
            #expect(overview.status == 200 && overview.text.contains("<h2>Queues</h2>"), "\(overview)")

            // The second use of the same link is refused and opens nothing.
            let again = try await api.request("POST", "/dashboard/sign-in", body: "code=\(code)", token: "", headers: Self.form)
            #expect(
                again.status == 303 && again.header("Location") == "/dashboard/login?error=link" && again.header("Set-Cookie") == nil,
                "\(again)")
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.dashboard_sessions") == 1)

            // Behind a TLS-terminating proxy the cookie is Secure.
            let (tlsCode, _) = try await store.createSignInCode(scopes: [.read], label: "tls")
            let overTLS = try await api.request(
                "POST", "/dashboard/sign-in", body: "code=\(tlsCode)", token: "", headers: Self.form + [("X-Forwarded-Proto", "https")])
            #expect(overTLS.header("Set-Cookie")?.contains("; Secure") == true, "\(overTLS.headers)")
            #expect(overTLS.header("Strict-Transport-Security") != nil)

            // An expired link is refused.
            let (oldCode, _) = try await store.createSignInCode(scopes: [.read], label: "old")
            try await api.pool.query(
                "UPDATE ledgersync.dashboard_sign_in_codes SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
            let late = try await api.request("POST", "/dashboard/sign-in", body: "code=\(oldCode)", token: "", headers: Self.form)
            #expect(late.header("Location") == "/dashboard/login?error=link" && late.header("Set-Cookie") == nil, "\(late)")
        }
    }

    @Test("eight browsers racing with one link: exactly one session opens")
    func linkRace() async throws {
        try await APIHarness.with { api in
            let (code, _) = try await DashboardSessionStore(pool: api.pool).createSignInCode(scopes: [.read], label: "race")
            let answers = try await withThrowingTaskGroup(of: APIHarness.Answer.self) { group in
                for _ in 0..<8 {
                    group.addTask {
                        try await api.request("POST", "/dashboard/sign-in", body: "code=\(code)", token: "", headers: Self.form)
                    }
                }
                return try await group.reduce(into: [APIHarness.Answer]()) { $0.append($1) }
            }
            let winners = answers.filter { $0.header("Location") == "/dashboard" && $0.header("Set-Cookie") != nil }
            #expect(winners.count == 1, "\(answers.map { $0.header("Location") ?? "-" })")
            #expect(answers.filter { $0.header("Location") == "/dashboard/login?error=link" }.count == 7)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.dashboard_sessions") == 1)
        }
    }

    @Test("the session cookie is refused by /v1; an API token in ?token= or a cookie no longer signs in")
    func sessionsAndTokensStayApart() async throws {
        try await APIHarness.with { api in
            let cookie = try await Self.signIn(api, scopes: [.read, .operate, .admin])
            let key = String(cookie.dropFirst("ledgersync_session=".count))
            let viaCookie = try await api.request("GET", "/v1/jobs", token: "", headers: [("Cookie", cookie)])
            #expect(viaCookie.status == 401, "\(viaCookie)")
            let asBearer = try await api.get("/v1/jobs", token: key)
            #expect(asBearer.status == 401, "\(asBearer)")

            let viaQuery = try await api.get("/dashboard/jobs?state=failed&token=\(api.token)", token: "")
            #expect(
                viaQuery.status == 303 && viaQuery.header("Location") == "/dashboard/login" && viaQuery.header("Set-Cookie") == nil,
                "\(viaQuery)")
            let tokenCookie = try await Self.page(api, "/dashboard", cookie: "ledgersync_token=\(api.token)")
            #expect(tokenCookie.status == 303 && tokenCookie.header("Location") == "/dashboard/login", "\(tokenCookie)")
            let tokenAsSession = try await Self.page(api, "/dashboard", cookie: "ledgersync_session=\(api.token)")
            #expect(tokenAsSession.status == 303, "\(tokenAsSession)")
            // Nor does a bearer header open the dashboard.
            #expect(try await api.get("/dashboard").status == 303)
        }
    }

    @Test("an expired session is refused; signing out ends the session on the server")
    func sessionEnds() async throws {
        try await APIHarness.with { api in
            let cookie = try await Self.signIn(api)
            #expect(try await Self.page(api, "/dashboard", cookie: cookie).status == 200)
            try await api.pool.query("UPDATE ledgersync.dashboard_sessions SET expires_at = now() - interval '1 second'")
            let expired = try await Self.page(api, "/dashboard", cookie: cookie)
            #expect(expired.status == 303 && expired.header("Location") == "/dashboard/login", "\(expired)")

            let second = try await Self.signIn(api)
            let out = try await api.request("POST", "/dashboard/logout", token: "", headers: [("Cookie", second)])
            #expect(out.status == 303 && out.header("Set-Cookie")?.contains("Max-Age=0") == true, "\(out)")
            // Replaying the old cookie after sign-out: the session is gone from the table.
            #expect(try await Self.page(api, "/dashboard", cookie: second).status == 303)
        }
    }

    @Test("the sign-in form opens a session with the token's scopes that ends when the token is revoked")
    func tokenForm() async throws {
        try await APIHarness.with { api in
            let wrong = try await api.request("POST", "/dashboard/login", body: "token=lsk_nope", token: "", headers: Self.form)
            #expect(wrong.status == 303 && wrong.header("Location") == "/dashboard/login?error=token", "\(wrong)")
            let store = APITokenStore(pool: api.pool)
            let (_, enqueueSecret) = try await store.create(name: "backend", scopes: [.enqueue])
            let noRead = try await api.request("POST", "/dashboard/login", body: "token=\(enqueueSecret)", token: "", headers: Self.form)
            #expect(noRead.header("Location") == "/dashboard/login?error=scope", "\(noRead)")

            let (reader, readerSecret) = try await store.create(name: "viewer", scopes: [.read])
            let right = try await api.request("POST", "/dashboard/login", body: "token=\(readerSecret)", token: "", headers: Self.form)
            let cookie = try #require(Self.cookiePair(right))
            #expect(!cookie.contains(readerSecret), "the cookie is not the token")
            let failed = try await api.makeJob(state: .failed)
            let page = try await Self.page(api, "/dashboard/jobs/\(failed)", cookie: cookie)
            #expect(page.status == 200 && !page.text.contains("class=retry"), "a read-only session sees no buttons")
            try await store.revoke(id: reader.id)
            #expect(try await Self.page(api, "/dashboard", cookie: cookie).status == 303, "revoking the token ends its sessions")
        }
    }

    @Test("every answer carries nosniff, Referrer-Policy and frame-ancestors 'none': pages, JSON, errors")
    func securityHeaders() async throws {
        try await APIHarness.with { api in
            let cookie = try await Self.signIn(api)
            let answers = [
                try await Self.page(api, "/dashboard", cookie: cookie),
                try await api.get("/dashboard/login", token: ""),
                try await api.get("/v1/jobs"),
                try await api.get("/v1/jobs", token: ""),
                try await api.get("/v1/no-such-route"),
                try await api.get("/healthz", token: ""),
                try await api.post("/v1/jobs", "{"),
            ]
            for answer in answers {
                #expect(answer.header("X-Content-Type-Options") == "nosniff", "\(answer.status) \(answer.headers)")
                #expect(answer.header("Referrer-Policy") == "no-referrer", "\(answer.headers)")
                #expect(answer.header("Content-Security-Policy")?.contains("frame-ancestors 'none'") == true, "\(answer.headers)")
                #expect(answer.header("X-Frame-Options") == "DENY", "\(answer.headers)")
            }
            #expect(
                answers[0].header("Content-Security-Policy")?.contains("default-src 'none'") == true,
                "the dashboard keeps its strict policy")
        }
    }

    @Test("the failed job shows with its error; retry needs the page's CSRF token and the operate scope, and moves the job to available")
    func retryFromTheDashboard() async throws {
        try await APIHarness.with { api in
            let failed = try await api.makeJob(state: .failed)
            let cookie = try await Self.signIn(api)
            let headers = Self.form + [("Cookie", cookie)]
            let page = try await Self.page(api, "/dashboard/jobs?state=failed", cookie: cookie)
            #expect(page.status == 200, "\(page)")
            #expect(
                page.text.contains("/dashboard/jobs/\(failed)") && page.text.contains("NetSuite said no")
                    && page.text.contains("class=retry"))
            let detail = try await Self.page(api, "/dashboard/jobs/\(failed)", cookie: cookie)
            #expect(detail.text.contains("USER_ERROR") && detail.text.contains("Attempts that did not complete (1)"))

            let forged = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/retry", body: "csrf=forged&back=%2Fdashboard", token: "", headers: headers)
            #expect(forged.status == 403, "\(forged)")
            #expect(try await api.state(of: failed) == "failed", "a forged form changes nothing")

            // A read-only session with a valid CSRF token still cannot act.
            let viewer = try await Self.signIn(api, scopes: [.read])
            // The CSRF token the server derives for that session (its pages show no form to copy it from).
            let viewerKey = String(viewer.dropFirst("ledgersync_session=".count))
            let viewerCSRF =
                HMACSHA256.base64(key: viewerKey, message: "ledgersync-dashboard-csrf")
                .addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let refused = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/retry", body: "csrf=\(viewerCSRF)&back=%2Fdashboard", token: "",
                headers: Self.form + [("Cookie", viewer)])
            #expect(refused.status == 403 && refused.text.contains("operate"), "\(refused)")
            #expect(try await api.state(of: failed) == "failed")

            let csrf = try #require(Self.csrf(in: page.text))
            let encoded = csrf.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let retried = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/retry", body: "csrf=\(encoded)&back=%2Fdashboard%2Fjobs%3Fstate%3Dfailed", token: "",
                headers: headers)
            #expect(
                retried.status == 303 && retried.header("Location")?.hasPrefix("/dashboard/jobs?state=failed&notice=") == true, "\(retried)"
            )
            #expect(try await api.state(of: failed) == "available")

            // A `back` pointing off the dashboard is not followed.
            let cancelled = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/cancel", body: "csrf=\(encoded)&back=https%3A%2F%2Fevil.example", token: "",
                headers: headers)
            #expect(cancelled.header("Location")?.hasPrefix("/dashboard?notice=") == true, "\(cancelled)")
            #expect(try await api.state(of: failed) == "cancelled")
        }
    }

    @Test("job text is escaped: an error message cannot inject markup")
    func escapesText() async throws {
        try await APIHarness.with { api in
            let id = try await api.makeJob(state: .failed)
            try await api.pool.query(
                """
                UPDATE ledgersync.jobs SET errors = '[{"at": "2026-12-01T10:00:00+00:00", "attempt": 1, "class": "permanent", "message": "<script>alert(1)</script>"}]'::jsonb WHERE id = $1
                """, [id])
            let page = try await Self.page(api, "/dashboard/jobs/\(id)", cookie: try await Self.signIn(api))
            #expect(!page.text.contains("<script>alert(1)") && page.text.contains("&lt;script&gt;alert(1)"))
        }
    }
}
