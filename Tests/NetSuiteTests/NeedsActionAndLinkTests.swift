import Foundation
import HTTPClient
import Sync
import Testing

@testable import NetSuite

/// What makes a failure `needs_action` (sync status, docs/sync-status.md) and the links to
/// records in the providers' web UIs.
@Suite(.timeLimit(.minutes(1)))
struct NeedsActionAndLinkTests {
    static func netSuite(_ detail: String, code: String = "USER_ERROR", status: Int = 400) -> SyncError {
        let body =
            #"{"type":"x","title":"Bad Request","status":\#(status),"o:errorDetails":[{"detail":"\#(detail)","o:errorCode":"\#(code)"}]}"#
        return NetSuiteErrorParser.parse(status: status, headers: [], body: Data(body.utf8))
    }

    @Test("NetSuite: a closed or locked period, a locked record need a person; other rejections and other classes do not")
    func netSuiteNeedsAction() {
        for detail in [
            "The accounting period is closed.", "You cannot post to a locked period: Oct 2026", "This record is locked by another process.",
            "Transaction is locked for editing.",
        ] {
            let error = Self.netSuite(detail)
            #expect(error.errorClass == .permanent && error.needsAction, "\(detail)")
            #expect(SyncEnvironment.needsAction(error))
        }
        #expect(!Self.netSuite("Invalid Field Value 603 for the following field: item").needsAction)
        #expect(!Self.netSuite("Please enter a value for amount.").needsAction)
        // A 500 that happens to say "locked" is transient, not for a person.
        let transient = Self.netSuite("Record is locked", status: 500)
        #expect(transient.errorClass == .transient && !transient.needsAction)
        // A missing mapping needs a person; a bad document does not.
        #expect(SyncEnvironment.needsAction(StoreError(.invalidMapping, field: "mappings", "no item mapping for \"x\"")))
        #expect(!SyncEnvironment.needsAction(StoreError.invalid("settings.x", "bad")))
    }

    @Test("NetSuite links: the account's app domain and the record type's page")
    func netSuiteLinks() {
        let driver = NetSuiteDriver()
        let connection = AccountingConnection(
            provider: "netsuite", name: "n", accountID: "1234567_SB1", settings: .init(baseURL: "http://127.0.0.1:1"),
            secrets: ConnectionSecrets())
        #expect(
            driver.recordLink(connection, .invoice, providerID: "8812")
                == "https://1234567-sb1.app.netsuite.com/app/accounting/transactions/custinvc.nl?id=8812")
        #expect(
            driver.recordLink(connection, .customer, providerID: "7")
                == "https://1234567-sb1.app.netsuite.com/app/common/entity/custjob.nl?id=7")
        #expect(
            driver.recordLink(connection, .salesOrder, providerID: "6")
                == "https://1234567-sb1.app.netsuite.com/app/accounting/transactions/salesord.nl?id=6")
        #expect(
            driver.recordLink(connection, .creditMemo, providerID: "5")?.hasSuffix("/app/accounting/transactions/custcred.nl?id=5") == true)
        #expect(
            driver.recordLink(connection, .payment, providerID: "4")?.hasSuffix("/app/accounting/transactions/custpymt.nl?id=4") == true)
        #expect(
            driver.recordLink(connection, .invoice, providerID: "1&x=2")
                == "https://1234567-sb1.app.netsuite.com/app/accounting/transactions/custinvc.nl?id=1%26x%3D2")
    }
}
