import Foundation
import Sync

/// A Zoho data centre: where an organization's data lives, with its own accounts server and
/// API host. A self client, its grant codes and tokens belong to one data centre; the token
/// exchange must go to that data centre's accounts server.
///
/// Hosts: Zoho Books API "Introduction" (https://www.zoho.com/books/api/v3/introduction/,
/// the API domains per data centre) and "Self Client - Authorization code flow"
/// (https://www.zoho.com/accounts/protocol/oauth/self-client/authorization-code-flow.html:
/// "The accounts-server-url is specific to the location (i.e., datacenter) where the client
/// is registered"); PROVIDERS.md section 3 (Canada's accounts host `accounts.zohocloud.ca`).
public struct ZohoDataCenter: Sendable, Equatable {
    /// The setting's value: `com`, `eu`, `in`, `com.au`, `jp`, `ca`, `sa`, `com.cn`.
    public let code: String
    /// `https://accounts.zoho.eu`
    public let accountsURL: String
    /// `https://www.zohoapis.eu`: where the Books API is (`/books/v3`), unless the token answer
    /// names another `api_domain`.
    public let apiDomain: String

    /// Every data centre, in the order people are most likely to look for theirs.
    public static let all: [ZohoDataCenter] = [
        ZohoDataCenter(code: "com", accountsURL: "https://accounts.zoho.com", apiDomain: "https://www.zohoapis.com"),
        ZohoDataCenter(code: "eu", accountsURL: "https://accounts.zoho.eu", apiDomain: "https://www.zohoapis.eu"),
        ZohoDataCenter(code: "in", accountsURL: "https://accounts.zoho.in", apiDomain: "https://www.zohoapis.in"),
        ZohoDataCenter(code: "com.au", accountsURL: "https://accounts.zoho.com.au", apiDomain: "https://www.zohoapis.com.au"),
        ZohoDataCenter(code: "jp", accountsURL: "https://accounts.zoho.jp", apiDomain: "https://www.zohoapis.jp"),
        ZohoDataCenter(code: "ca", accountsURL: "https://accounts.zohocloud.ca", apiDomain: "https://www.zohoapis.ca"),
        ZohoDataCenter(code: "sa", accountsURL: "https://accounts.zoho.sa", apiDomain: "https://www.zohoapis.sa"),
        ZohoDataCenter(code: "com.cn", accountsURL: "https://accounts.zoho.com.cn", apiDomain: "https://www.zohoapis.com.cn"),
    ]

    /// The data centre of `code` (`settings.data_center`); errors name the setting and list
    /// the codes.
    public static func named(_ code: String) throws -> ZohoDataCenter {
        let wanted = code.trimmingCharacters(in: .whitespaces).lowercased()
        guard let found = all.first(where: { $0.code == wanted }) else {
            throw StoreError.invalid(
                "settings.data_center",
                "unknown Zoho data centre \"\(code.prefix(20))\" (expected one of \(all.map(\.code).joined(separator: ", ")): the domain of your Zoho login, e.g. eu for books.zoho.eu)"
            )
        }
        return found
    }

    /// Whether `url` is this data centre's API domain as Zoho names it (the token answer's
    /// `api_domain` must be one before requests go there: outgoing requests only where the
    /// user pointed them).
    public func isAPIDomain(_ url: String) -> Bool {
        url.trimmingCharacters(in: CharacterSet(charactersIn: "/")) == apiDomain
    }
}
