import Foundation
import Sync
import Testing
import ZohoBooks

@Suite(.timeLimit(.minutes(1)))
struct ZohoDataCenterTests {
    @Test func everyDataCentreHasItsOwnHosts() throws {
        #expect(try ZohoDataCenter.named("eu").accountsURL == "https://accounts.zoho.eu")
        #expect(try ZohoDataCenter.named("ca").accountsURL == "https://accounts.zohocloud.ca")
        #expect(try ZohoDataCenter.named(" COM ").apiDomain == "https://www.zohoapis.com")
        #expect(Set(ZohoDataCenter.all.map(\.accountsURL)).count == ZohoDataCenter.all.count)
        let error = #expect(throws: StoreError.self) { try ZohoDataCenter.named("mars") }
        #expect(error?.field == "settings.data_center")
    }
}
