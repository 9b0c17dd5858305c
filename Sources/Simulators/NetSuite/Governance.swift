import ExactJSON
import Hummingbird

/// What `ledgersync connections test` reads besides records: the account the host answers
/// for (in a 401's `WWW-Authenticate`) and the concurrency limits (`governanceLimits`).
extension NetSuiteSimulator {
    static let governanceLimitsPath = "/services/rest/system/v1/governanceLimits"

    /// The 401 of a failed login, with the header that names the account.
    ///
    /// Oracle's "RESTlets and REST Web Services Authentication Errors"
    /// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_158521885412.html)
    /// shows a 401 carrying `WWW-Authenticate: Bearer realm="123456", error="invalid_token",
    /// error_description="Invalid login attempt."` and says "the value of the realm is the
    /// account ID for which the data are requested": the account of the host the request went
    /// to, here the simulated account. The page's examples are of the `Bearer` scheme; it
    /// does not say whether a TBA (OAuth 1.0) failure uses another scheme name, so the
    /// simulator sends this one for every failed login (a client should read only `realm`).
    func invalidLoginResponse() -> Response {
        var response = Self.response(.invalidLogin)
        response.headers[.wwwAuthenticate] =
            "Bearer realm=\"\(configuration.realm)\", error=\"invalid_token\", error_description=\"Invalid login attempt.\""
        return response
    }

    /// `GET /services/rest/system/v1/governanceLimits`: the account's concurrency limits.
    ///
    /// Oracle's "GovernanceLimits Operation"
    /// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/article_0625010817.html):
    /// no parameters; answers `accountConcurrencyLimit`, `accountUnallocatedConcurrencyLimit`,
    /// and `integrationLimitType` (`integrationSpecific` with `integrationConcurrencyLimit`
    /// when a limit is allocated to the integration, `accountLimit` when none is, `internal`
    /// for an internal application, without the integration's limit); "returns results only
    /// if you are logged in as an administrator". The unallocated limit is the account's less
    /// what is allocated to integrations, never below one ("Concurrency Limit per
    /// Integration", https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/bridgehead_156224824287.html:
    /// "The minimum unallocated concurrency limit value is one").
    ///
    /// What a role that is not an administrator gets is not documented on either page (nor
    /// found elsewhere on Oracle's site); the simulator answers 403 with the REST API's error
    /// body and code `INSUFFICIENT_PERMISSION`, an assumption.
    func governanceLimits(method: String) -> Response {
        guard method == "GET" else { return Self.response(.methodNotAllowed(method, allowed: "GET")) }
        let governance = configuration.governance
        guard governance.roleIsAdministrator else {
            return Self.response(
                NetSuiteErrorBody(
                    status: 403, "INSUFFICIENT_PERMISSION",
                    "Permission Violation: the governanceLimits operation returns results only for an administrator."))
        }
        let allocated = governance.allocatedToOtherIntegrations + (governance.integrationConcurrencyLimit ?? 0)
        var members: [(key: String, value: ExactJSON)] = [
            ("accountConcurrencyLimit", .number(String(configuration.concurrencyLimit))),
            ("accountUnallocatedConcurrencyLimit", .number(String(max(1, configuration.concurrencyLimit - allocated)))),
        ]
        if governance.internalApplication {
            members.append(("integrationLimitType", .string("internal")))
        } else if let limit = governance.integrationConcurrencyLimit {
            members.append(("integrationConcurrencyLimit", .number(String(limit))))
            members.append(("integrationLimitType", .string("integrationSpecific")))
        } else {
            members.append(("integrationLimitType", .string("accountLimit")))
        }
        return Self.json(.object(members))
    }
}

extension NetSuiteSimulator {
    /// How the simulated account's concurrency limit is shared out (Setup > Integration >
    /// Integration Management > Integration Governance), as `governanceLimits` reports it.
    public struct Governance: Sendable, Equatable {
        /// The limit allocated to the integration the requests come from; nil: none (the
        /// integration shares the unallocated limit).
        public var integrationConcurrencyLimit: Int?
        /// What other integrations have been allocated.
        public var allocatedToOtherIntegrations: Int
        /// The integration is an internal application (its limit is not shown).
        public var internalApplication: Bool
        /// The token's role is an administrator (governanceLimits answers only then).
        public var roleIsAdministrator: Bool

        public init(
            integrationConcurrencyLimit: Int? = nil, allocatedToOtherIntegrations: Int = 0, internalApplication: Bool = false,
            roleIsAdministrator: Bool = true
        ) {
            self.integrationConcurrencyLimit = integrationConcurrencyLimit
            self.allocatedToOtherIntegrations = allocatedToOtherIntegrations
            self.internalApplication = internalApplication
            self.roleIsAdministrator = roleIsAdministrator
        }
    }
}
