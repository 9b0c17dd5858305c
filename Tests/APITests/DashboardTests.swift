import API
import Foundation
import JobQueue
import JobQueueTesting
import Testing

/// The dashboard as a browser meets it: sign-in, the failed job and its error on the page,
/// and a retry button whose form works only with its CSRF token.
@Suite(.timeLimit(.minutes(3)))
struct DashboardTests {
    /// The value of `name="csrf"` in a page.
    static func csrf(in html: String) -> String? {
        guard let range = html.range(of: "name=csrf value=\"") else { return nil }
        let rest = html[range.upperBound...]
        return rest.firstIndex(of: "\"").map { String(rest[..<$0]) }
    }

    @Test("without a token the dashboard sends you to sign in; a wrong token is refused; ?token= sets the cookie")
    func signIn() async throws {
        try await APIHarness.with { api in
            let anonymous = try await api.get("/dashboard", token: "")
            #expect(anonymous.status == 303 && anonymous.header("Location") == "/dashboard/login", "\(anonymous)")
            let login = try await api.get("/dashboard/login", token: "")
            #expect(login.status == 200 && login.text.contains("name=token"))

            let wrong = try await api.request(
                "POST", "/dashboard/login", body: "token=lsk_nope", token: "", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            #expect(wrong.status == 303 && wrong.header("Location") == "/dashboard/login?error=1", "\(wrong)")
            let right = try await api.request(
                "POST", "/dashboard/login", body: "token=\(api.token)", token: "", headers: [("Content-Type", "application/x-www-form-urlencoded")])
            let cookie = right.header("Set-Cookie") ?? ""
            #expect(right.status == 303 && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"), "\(right.headers)")

            let viaQuery = try await api.get("/dashboard/jobs?state=failed&token=\(api.token)", token: "")
            #expect(viaQuery.status == 303 && viaQuery.header("Location") == "/dashboard/jobs?state=failed", "the token leaves the address bar, the filter stays")
            let cookieValue = try #require(viaQuery.header("Set-Cookie")?.split(separator: ";").first.map(String.init))
            let withCookie = try await api.request("GET", "/dashboard", token: "", headers: [("Cookie", cookieValue)])
            #expect(withCookie.status == 200 && withCookie.text.contains("<h2>Queues</h2>"), "\(withCookie)")
        }
    }

    @Test("the failed job shows with its error; retry needs the page's CSRF token and moves the job to available")
    func retryFromTheDashboard() async throws {
        try await APIHarness.with { api in
            let failed = try await api.makeJob(state: .failed)
            let page = try await api.get("/dashboard/jobs?state=failed")
            #expect(page.status == 200, "\(page)")
            #expect(page.text.contains("/dashboard/jobs/\(failed)") && page.text.contains("NetSuite said no") && page.text.contains("class=retry"))
            let detail = try await api.get("/dashboard/jobs/\(failed)")
            #expect(detail.text.contains("USER_ERROR") && detail.text.contains("Attempts that did not complete (1)"))

            let form = [("Content-Type", "application/x-www-form-urlencoded")]
            let forged = try await api.request("POST", "/dashboard/jobs/\(failed)/retry", body: "csrf=forged&back=%2Fdashboard", headers: form)
            #expect(forged.status == 403, "\(forged)")
            #expect(try await api.state(of: failed) == "failed", "a forged form changes nothing")

            let csrf = try #require(Self.csrf(in: page.text))
            let encoded = csrf.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            let retried = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/retry", body: "csrf=\(encoded)&back=%2Fdashboard%2Fjobs%3Fstate%3Dfailed", headers: form)
            #expect(retried.status == 303 && retried.header("Location")?.hasPrefix("/dashboard/jobs?state=failed&notice=") == true, "\(retried)")
            #expect(try await api.state(of: failed) == "available")

            // A `back` pointing off the dashboard is not followed.
            let cancelled = try await api.request(
                "POST", "/dashboard/jobs/\(failed)/cancel", body: "csrf=\(encoded)&back=https%3A%2F%2Fevil.example", headers: form)
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
            let page = try await api.get("/dashboard/jobs/\(id)")
            #expect(!page.text.contains("<script>alert(1)") && page.text.contains("&lt;script&gt;alert(1)"))
        }
    }
}
