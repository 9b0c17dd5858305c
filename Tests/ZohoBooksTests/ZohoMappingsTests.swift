import Foundation
import Sync
import Testing
import ZohoBooks

/// What a mapping must be at Zoho Books (docs/zoho-books.md "Mappings"), checked when it is
/// set rather than when a document fails on it; every error names the field at fault.
@Suite(.timeLimit(.minutes(1))) struct ZohoMappingsTests {
    static let c = UUID(uuidString: "0b7d4f8e-2c1a-4e55-9d0f-6a1b2c3d4e5f")!

    static func field(_ mapping: Mapping) -> String? {
        do {
            try ZohoMappings.validate(mapping)
            return nil
        } catch let error as StoreError {
            return error.field
        } catch {
            return "unexpected \(error)"
        }
    }

    @Test("items, default items and the fallback item are Zoho item_ids (digits); their account ids too")
    func items() {
        #expect(Self.field(.item(connectionID: Self.c, code: "api_calls", providerID: "982000000030049", accountCode: "4010")) == nil)
        #expect(Self.field(.defaultItem(connectionID: Self.c, for: .subscription, providerID: "510")) == nil)
        #expect(Self.field(.fallbackItem(connectionID: Self.c, providerID: "900")) == nil)
        #expect(Self.field(.item(connectionID: Self.c, code: "api_calls", providerID: "Hard Drive")) == "provider_id")
        #expect(Self.field(.fallbackItem(connectionID: Self.c, providerID: "9 00")) == "provider_id")
        #expect(Self.field(.item(connectionID: Self.c, code: "x", providerID: "1", accountCode: "Sales")) == "account_code")
        let details = Mapping(connectionID: Self.c, kind: .item, billingKey: "x", providerID: "1", details: ["account_id": "4020"])
        #expect(Self.field(details) == nil)
        var bad = details
        bad.details = ["account_id": "sales"]
        #expect(Self.field(bad) == "details.account_id")
        bad.details = ["nexus": "1"]
        #expect(Self.field(bad) == "details.nexus")
    }

    @Test("a tax is a Zoho tax_id (a tax or a tax group), with no details")
    func taxes() {
        #expect(Self.field(Mapping(connectionID: Self.c, kind: .tax, billingKey: "vat_20", providerID: "982000000557028")) == nil)
        #expect(Self.field(Mapping(connectionID: Self.c, kind: .tax, billingKey: "eco+vat_20", providerID: "7100")) == nil)
        #expect(Self.field(Mapping(connectionID: Self.c, kind: .tax, billingKey: "vat_20", providerID: "VAT 20%")) == "provider_id")
        #expect(
            Self.field(
                Mapping(
                    connectionID: Self.c, kind: .tax, billingKey: "vat_20", providerID: "1",
                    details: ["nexus": "1", "tax_type": "2", "tax_code": "3"])) == "details.nexus")
        #expect(Self.field(Mapping(connectionID: Self.c, kind: .tax, billingKey: "v", providerID: "1", accountCode: "4")) == "account_code")
    }

    @Test("a currency: an ISO code to a currency_id, with the payment and refund accounts and modes")
    func currencies() {
        let good = Mapping(
            connectionID: Self.c, kind: .currency, billingKey: "USD", providerID: "982000000000190",
            details: ["payment_account_id": "3001", "payment_mode": "banktransfer", "refund_account_id": "3002", "refund_mode": "cash"])
        #expect(Self.field(good) == nil)
        var bad = good
        bad.billingKey = "DOLLARS"
        #expect(Self.field(bad) == "billing_key")
        bad = good
        bad.providerID = "USD"
        #expect(Self.field(bad) == "provider_id")
        bad = good
        bad.details["payment_account_id"] = "Undeposited Funds"
        #expect(Self.field(bad) == "details.payment_account_id")
        bad = good
        bad.details["refund_mode"] = "wire"
        #expect(Self.field(bad) == "details.refund_mode")
        bad = good
        bad.details["deposit_to"] = "1"
        #expect(Self.field(bad) == "details.deposit_to")
    }

    @Test("a custom field is named by its API name (cf_…) on a record type the sync writes")
    func customFields() {
        func field(_ id: String, _ type: String = "invoice") -> Mapping {
            Mapping(connectionID: Self.c, kind: .customField, billingKey: "metadata.region", recordType: type, providerID: id)
        }
        #expect(Self.field(field("cf_region")) == nil)
        #expect(Self.field(field("cf_region", "customer")) == nil)
        #expect(Self.field(field("custbody_region")) == "provider_id")
        #expect(Self.field(field("cf_Region")) == "provider_id")
        #expect(Self.field(field("cf_")) == "provider_id")
        #expect(Self.field(field("cf_region", "estimate")) == "record_type")
        #expect(ZohoMappings.isAPIName("cf_ledgersync_id"))
        #expect(!ZohoMappings.isAPIName("cf_ledgersync id"))
    }

    @Test("the driver checks mappings with these rules")
    func throughTheDriver() {
        let error = #expect(throws: StoreError.self) {
            try ZohoBooksDriver().validateMapping(.item(connectionID: Self.c, code: "x", providerID: "item-1"))
        }
        #expect(error?.field == "provider_id")
        #expect(error?.message.contains("digits") == true)
    }
}
