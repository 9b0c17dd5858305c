/// One NetSuite account and the addresses derived from its id (PROVIDERS 2.1, 2.2, 2.3).
///
/// NetSuite spells one account id two ways: the TBA realm is upper-case with an
/// underscore (`1234567_SB1`), the host label lower-case with a hyphen
/// (`1234567-sb1.suitetalk.api.netsuite.com`). Users paste either form, so both are
/// accepted and normalised here, once.
public struct NetSuiteAccount: Sendable, Equatable, CustomStringConvertible {
    /// The id as the user gave it.
    public let accountID: String
    /// The OAuth realm: upper-case, `-` → `_` (`1234567_SB1`). Sent in the header, not signed.
    public let realm: String
    /// The host label: lower-case, `_` → `-` (`1234567-sb1`).
    public let hostLabel: String
    /// When set, requests go to this origin (`http://127.0.0.1:8089`) instead of NetSuite's
    /// hosts, so a local simulator can stand in. The realm still comes from the account id.
    public let baseURLOverride: String?

    /// Fails with `.invalidAccountID` unless the id is letters, digits, `_` and `-`, and with
    /// `.invalidURL` unless the override is an absolute `http(s)://` origin.
    public init(accountID: String, baseURLOverride: String? = nil) throws {
        let trimmed = accountID.trimmingWhitespace()
        guard !trimmed.isEmpty,
            trimmed.unicodeScalars.allSatisfy({
                $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || $0 == "_" || $0 == "-")
            })
        else {
            throw NetSuiteConfigError(
                .invalidAccountID, "NetSuite account id \"\(accountID)\" must be letters, digits, '_' or '-' (e.g. 1234567 or 1234567_SB1)")
        }
        self.accountID = trimmed
        self.realm = trimmed.replacingAll("-", with: "_").uppercased()
        self.hostLabel = trimmed.replacingAll("_", with: "-").lowercased()
        if let override = baseURLOverride {
            var origin = override.trimmingWhitespace()
            while origin.hasSuffix("/") { origin.removeLast() }
            let lower = origin.lowercased()
            guard lower.hasPrefix("http://") || lower.hasPrefix("https://"), origin.count > (lower.hasPrefix("https") ? 8 : 7) else {
                throw NetSuiteConfigError(
                    .invalidURL, "NetSuite base URL override \"\(override)\" must be an absolute http(s) URL such as http://127.0.0.1:8089")
            }
            self.baseURLOverride = origin
        } else {
            self.baseURLOverride = nil
        }
    }

    /// `https://<host>.suitetalk.api.netsuite.com`, or the override.
    public var suiteTalkOrigin: String {
        baseURLOverride ?? "https://\(hostLabel).suitetalk.api.netsuite.com"
    }

    /// `https://<host>.restlets.api.netsuite.com`, or the override.
    public var restletOrigin: String {
        baseURLOverride ?? "https://\(hostLabel).restlets.api.netsuite.com"
    }

    /// The REST record API base: `…/services/rest/record/v1` (no trailing slash).
    public var restBaseURL: String { suiteTalkOrigin + "/services/rest/record/v1" }

    /// The RESTlet endpoint, without the `script`/`deploy` query.
    public var restletURL: String { restletOrigin + "/app/site/hosting/restlet.nl" }

    /// The RESTlet endpoint for one deployed script: `…/restlet.nl?script=<id>&deploy=<id>`.
    public func restletURL(script: String, deploy: String) -> String {
        "\(restletURL)?script=\(PercentEncoding.encode(script))&deploy=\(PercentEncoding.encode(deploy))"
    }

    public var description: String {
        if let baseURLOverride { return "NetSuiteAccount(\(realm) via \(baseURLOverride))" }
        return "NetSuiteAccount(\(realm))"
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var scalars = Substring(self)
        while let first = scalars.first, first.isWhitespace { scalars.removeFirst() }
        while let last = scalars.last, last.isWhitespace { scalars.removeLast() }
        return String(scalars)
    }

    func replacingAll(_ target: Character, with replacement: Character) -> String {
        String(map { $0 == target ? replacement : $0 })
    }
}
