import Foundation
import Sync

extension ZohoBooksDriver {
    /// The record's page in Zoho Books' web app: `https://books.zoho.<dc>/app/<organization id>#/<module>/<id>`
    /// (`books.zohocloud.ca` for Canada, whose accounts host is `accounts.zohocloud.ca`).
    ///
    /// NOT DOCUMENTED: we found no Zoho page that gives the web app's address of a record; this
    /// is the address Zoho Books' web app shows for a record (modules `contacts`, `invoices`,
    /// `salesorders`, `creditnotes`, `paymentsreceived`). The data centres are those of Zoho
    /// Books API "Introduction" (https://www.zoho.com/books/api/v3/introduction/), see
    /// `ZohoDataCenter`.
    public func recordLink(_ connection: AccountingConnection, _ objectType: ExternalRef.ObjectType, providerID: String) -> String? {
        guard let organization = try? canonicalAccountID(connection.accountID),
            let dataCenter = try? Self.dataCenter(connection.settings),
            let id = providerID.addingPercentEncoding(withAllowedCharacters: .alphanumerics), !id.isEmpty
        else { return nil }
        let host = dataCenter.code == "ca" ? "books.zohocloud.ca" : "books.zoho.\(dataCenter.code)"
        let module: String
        switch objectType {
        case .customer: module = "contacts"
        case .invoice: module = "invoices"
        case .salesOrder: module = "salesorders"
        case .creditMemo: module = "creditnotes"
        case .payment: module = "paymentsreceived"
        }
        return "https://\(host)/app/\(organization)#/\(module)/\(id)"
    }
}
