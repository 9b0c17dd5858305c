import Foundation
import NetSuite
import Sync
import Testing

/// What the NetSuite driver accepts and refuses of a connection, before anything is stored or
/// sent: errors name the field, and nothing a driver shows carries a secret.
@Suite(.timeLimit(.minutes(1)))
struct NetSuiteDriverTests {
    let driver = NetSuiteDriver()
    static let tba = ConnectionSecrets([
        "consumer_key": "ck-3f9a1c77e2", "consumer_secret": "cs-b8d04e19aa", "token_id": "tid-51c7e0d3f4", "token_secret": "ts-9e2a6b4c10",
    ])

    func fieldOf(_ body: () throws -> Void) -> String? {
        do {
            try body()
            return nil
        } catch let error as StoreError {
            return error.field
        } catch {
            return "not a StoreError: \(error)"
        }
    }

    @Test("TBA credentials: each missing or blank field is named; an unknown field is refused; no error quotes a value")
    func secrets() throws {
        try driver.validateSecrets(Self.tba)
        for field in NetSuiteCredentials.fieldNames {
            var missing = Self.tba
            missing[field] = nil
            #expect(fieldOf { try driver.validateSecrets(missing) } == "secrets.\(field)")
            var blank = Self.tba
            blank[field] = "   "
            #expect(fieldOf { try driver.validateSecrets(blank) } == "secrets.\(field)")
        }
        var extra = Self.tba
        extra["password"] = "hunter2-never-shown"
        do {
            try driver.validateSecrets(extra)
            Issue.record("an unknown credential field was accepted")
        } catch let error as StoreError {
            #expect(error.field == "secrets.password")
            #expect(!error.description.contains("hunter2"))
        }
    }

    @Test("hints: the auth kind and the first characters of the ids, never a secret")
    func hints() {
        let hints = driver.secretHints(Self.tba)
        #expect(hints.map(\.name) == ["auth", "consumer_key", "token_id"])
        #expect(hints.map(\.value) == ["tba", "ck-3f9…", "tid-51…"])
        let text = "\(hints) \(Self.tba) \(String(reflecting: Self.tba))"
        for secret in ["cs-b8d04e19aa", "ts-9e2a6b4c10", "ck-3f9a1c77e2", "tid-51c7e0d3f4"] { #expect(!text.contains(secret)) }
    }

    @Test("settings: default_subsidiary and default_location are internal ids; another key is refused naming it")
    func settings() throws {
        var settings = AccountingConnection.Settings(defaultSubsidiary: "1", defaultLocation: "12")
        try driver.validateSettings(settings)
        settings.extra["subsidary"] = "1"
        #expect(fieldOf { try driver.validateSettings(settings) } == "settings.subsidary")
        settings.extra["subsidary"] = nil
        settings.defaultLocation = "north"
        #expect(fieldOf { try driver.validateSettings(settings) } == "settings.default_location")
        #expect(fieldOf { _ = try driver.canonicalAccountID("12 34") } == "account_id")
        #expect(try driver.canonicalAccountID("1234567_sb1") == "1234567_sb1")
    }

    @Test("tax mappings: SuiteTax needs nexus, tax_type and tax_code together, or a legacy tax item")
    func taxMappings() throws {
        let connection = UUID()
        func tax(_ details: [String: String]) -> Mapping {
            Mapping(connectionID: connection, kind: .tax, billingKey: "vat", providerID: "1", details: details)
        }
        try driver.validateMapping(tax(["nexus": "1", "tax_type": "2", "tax_code": "3"]))
        try driver.validateMapping(tax(["legacy_tax_item": "30"]))
        #expect(fieldOf { try driver.validateMapping(tax(["nexus": "1"])) } == "details.tax_type")
        #expect(fieldOf { try driver.validateMapping(tax(["rate": "20"])) } == "details.rate")
        #expect(fieldOf { try driver.validateMapping(tax([:])) } == "details")
        #expect(fieldOf { try driver.validateMapping(tax(["legacy_tax_item": ""])) } == "details.legacy_tax_item")
    }

    @Test("inbound payments: the fields read exactly (the amount as its text), and each bad one named")
    func inboundPayment() throws {
        let event = try driver.inboundEvent(
            "payments",
            body: Data(
                #"{"payment_id": "77", "invoice_id": "104", "amount": "129.10", "currency": "EUR", "paid_at": "2026-03-01T12:00:00Z"}"#.utf8
            ))
        guard case .paymentRecorded(let payment) = event else {
            Issue.record("\(event)")
            return
        }
        #expect(payment.providerPaymentID == "77" && payment.providerInvoiceID == "104")
        #expect(payment.amount == "129.10" && payment.currency == "EUR")
        #expect(payment.paidAt == Date(timeIntervalSince1970: 1_772_366_400))
        func field(_ body: String, event: String = "payments") -> String? {
            fieldOf { _ = try driver.inboundEvent(event, body: Data(body.utf8)) }
        }
        #expect(field(#"{"invoice_id": "104"}"#) == "payment_id")
        #expect(field(#"{"payment_id": "77", "invoice_id": 104}"#) == "invoice_id")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104", "amount": 12.5}"#) == "amount")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104", "amount": "1e3"}"#) == "amount")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104", "currency": "eur"}"#) == "currency")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104", "paid_at": "yesterday"}"#) == "paid_at")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104", "memo": "x"}"#) == "memo")
        #expect(field("[1]") == "body")
        #expect(field(#"{"payment_id": "77", "invoice_id": "104"}"#, event: "refunds") == "event")
    }
}
