import Foundation
import Sync

extension NetSuiteDriver {
    /// The record's page in NetSuite's web UI on the account's app domain:
    /// `https://<account-id, lower case, '_' → '-'>.app.netsuite.com/app/…/<page>.nl?id=<internal id>`.
    ///
    /// Oracle's "Retrieve the Relative URL of a Record"
    /// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/subsect_159976562256.html)
    /// shows a sales order's relative URL, `/app/accounting/transactions/salesord.nl?id=6`, as
    /// `url.resolveRecord` returns it ("url.resolveRecord(options)",
    /// https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_4358667680.html:
    /// "Returns the URL to a NetSuite record"). The other pages (custjob, custinvc, custcred,
    /// custpymt) follow the same scheme; we found no Oracle page listing them, so they are what
    /// NetSuite's UI shows for those record types. The host is the account's app domain, the
    /// same label as its REST host (`NetSuiteAccount.hostLabel`); a connection pointed at a
    /// simulator still links to NetSuite's domain (the link is for people).
    public func recordLink(_ connection: AccountingConnection, _ objectType: ExternalRef.ObjectType, providerID: String) -> String? {
        guard let account = try? NetSuiteAccount(accountID: connection.accountID),
            let id = providerID.addingPercentEncoding(withAllowedCharacters: .alphanumerics), !id.isEmpty
        else { return nil }
        let page: String
        switch objectType {
        case .customer: page = "common/entity/custjob.nl"
        case .invoice: page = "accounting/transactions/custinvc.nl"
        case .salesOrder: page = "accounting/transactions/salesord.nl"
        case .creditMemo: page = "accounting/transactions/custcred.nl"
        case .payment: page = "accounting/transactions/custpymt.nl"
        }
        return "https://\(account.hostLabel).app.netsuite.com/app/\(page)?id=\(id)"
    }
}
