import Foundation
import Testing

@testable import Sync

@Suite(.timeLimit(.minutes(2))) struct MoneyTests {
    @Test(
        "currencies have their ISO 4217 decimals",
        arguments: [
            ("USD", 2), ("EUR", 2), ("JPY", 0), ("KRW", 0), ("CLP", 0), ("ISK", 0), ("VND", 0), ("XOF", 0),
            ("BHD", 3), ("IQD", 3), ("JOD", 3), ("KWD", 3), ("LYD", 3), ("OMR", 3), ("TND", 3), ("CLF", 4),
        ])
    func exponents(code: String, decimals: Int) throws {
        #expect(try Currency(code: code).minorUnits == decimals)
    }

    @Test("unknown and withdrawn codes are errors", arguments: ["XYZ", "usd", "", "HRK", "XAU", "US"])
    func unknown(code: String) {
        #expect(throws: MoneyError.unknownCurrency(code)) { try Currency(code: code) }
    }

    @Test(
        "renders exact decimals",
        arguments: [
            (1234, "USD", "12.34"), (1234, "JPY", "1234"), (1234, "KWD", "1.234"), (0, "USD", "0.00"),
            (0, "JPY", "0"), (0, "KWD", "0.000"), (5, "USD", "0.05"), (-5, "USD", "-0.05"), (-1234, "KWD", "-1.234"),
            (7, "BHD", "0.007"), (-1, "JPY", "-1"), (100, "EUR", "1.00"), (1, "CLF", "0.0001"),
            (Int64.max, "USD", "92233720368547758.07"), (Int64.min, "USD", "-92233720368547758.08"),
            (Int64.max, "JPY", "9223372036854775807"), (Int64.min, "KWD", "-9223372036854775.808"),
        ] as [(Int64, String, String)])
    func rendering(cents: Int64, code: String, text: String) throws {
        let money = Money(amountCents: cents, currency: try Currency(code: code))
        #expect(money.decimalString == text)
        #expect(try Money(parsing: text, currency: money.currency) == money)
    }

    @Test(
        "parses shorter decimals exactly",
        arguments: [
            ("1.5", "USD", 150), ("+3", "USD", 300), ("0.1", "KWD", 100), ("007", "JPY", 7), ("-0.0", "USD", 0),
            ("12", "BHD", 12000), ("0.01", "USD", 1),
        ] as [(String, String, Int64)])
    func parsing(text: String, code: String, cents: Int64) throws {
        #expect(try Money(parsing: text, currency: try Currency(code: code)).amountCents == cents)
    }

    @Test(
        "rejects too many decimals and malformed text",
        arguments: [
            ("1.234", "USD"), ("1.0", "JPY"), ("1.2345", "KWD"), ("", "USD"), ("-", "USD"), ("1.", "USD"),
            (".5", "USD"), ("1e3", "USD"), ("1,000.00", "USD"), (" 1", "USD"), ("0x10", "USD"), ("--1", "USD"),
        ])
    func rejects(text: String, code: String) throws {
        let currency = try Currency(code: code)
        #expect(throws: MoneyError.self) { try Money(parsing: text, currency: currency) }
    }

    @Test func parsingOverflowThrows() throws {
        #expect(throws: MoneyError.overflow("\"92233720368547758.08\" USD")) {
            try Money(parsing: "92233720368547758.08", currency: .usd)
        }
        #expect(throws: MoneyError.self) { try Money(parsing: "99999999999999999999999", currency: .jpy) }
        #expect(try Money(parsing: "-92233720368547758.08", currency: .usd).amountCents == Int64.min)
    }

    @Test func arithmeticIsExactAndChecked() throws {
        let a = Money(amountCents: 1999, currency: .usd)
        let b = Money(amountCents: 1, currency: .usd)
        #expect(try a.adding(b).amountCents == 2000)
        #expect(try a.subtracting(b).decimalString == "19.98")
        #expect(try a.negated().decimalString == "-19.99")
        #expect(try Money.sum([a, b, a], currency: .usd).amountCents == 3999)
        #expect(try Money.sum([], currency: .jpy) == .zero(.jpy))
        // 0.1 + 0.2 is 0.3 here.
        let dimes = [Money(amountCents: 10, currency: .usd), Money(amountCents: 20, currency: .usd)]
        #expect(try Money.sum(dimes, currency: .usd).decimalString == "0.30")

        let max = Money(amountCents: .max, currency: .usd)
        let min = Money(amountCents: .min, currency: .usd)
        #expect(throws: MoneyError.self) { try max.adding(b) }
        #expect(throws: MoneyError.self) { try min.subtracting(b) }
        #expect(throws: MoneyError.self) { try min.negated() }
        #expect(try max.negated().amountCents == -Int64.max)
        #expect(throws: MoneyError.currencyMismatch(.usd, .eur)) {
            try a.adding(Money(amountCents: 1, currency: .eur))
        }
    }

    @Test(
        "exact decimals keep what was written",
        arguments: [
            ("0.32", "0.32", false), ("-3", "-3", true), ("12.500", "12.5", false), ("007.0", "7", false),
            ("-0.00", "0", false), ("123456789012345678901234567890.000000001", "123456789012345678901234567890.000000001", false),
        ])
    func exactDecimal(text: String, normalized: String, negative: Bool) throws {
        let value = try #require(ExactDecimal(text))
        #expect(value.description == normalized)
        #expect(value.isNegative == negative)
    }

    @Test func exactDecimalComparesWithIntegers() throws {
        #expect(ExactDecimal("100")!.compare(to: 100) == 0)
        #expect(ExactDecimal("100.01")!.compare(to: 100) == 1)
        #expect(ExactDecimal("99.999")!.compare(to: 100) == -1)
        #expect(ExactDecimal("-0.5")!.compare(to: 0) == -1)
        #expect(ExactDecimal("-2")!.compare(to: -1) == -1)
        #expect(ExactDecimal("1e3") == nil)
        #expect(ExactDecimal("") == nil)
    }

    /// One type for both users: quantities and rates read normalized, money literals keep
    /// their scale, and the two compare as numbers.
    @Test func exactDecimalReadsQuantitiesAndMoneyLiterals() throws {
        let rate = try #require(ExactDecimal("12.500"))
        let amount = try #require(ExactDecimal(literal: "12.50"))
        #expect(rate.description == "12.5")
        #expect(amount.description == "12.50")
        #expect(rate == amount)
        #expect(Set([rate, amount]).count == 1)
        #expect(rate.integerDigits == "12" && rate.fractionDigits == "5")
        #expect(try #require(ExactDecimal(literal: "-0.05")).fractionDigits == "05")
        #expect(ExactDecimal(literal: "1.2345") == nil) // money: at most 3 decimals
        #expect(ExactDecimal("1.2345")?.description == "1.2345") // a rate may have more
        #expect(ExactDecimal(units: 1, scale: 39) == nil)
        #expect(ExactDecimal(units: 3280, scale: 2)?.description == "32.80")
        // 40 digits do not fit; the error is a nil (a decode error naming the field), not a trap.
        #expect(ExactDecimal("1234567890123456789012345678901234567890") == nil)
        #expect(ExactDecimal("0." + String(repeating: "0", count: 38) + "1") == nil)
        // Comparing values whose common scale would overflow Int128 still orders them.
        let huge = try #require(ExactDecimal("100000000000000000000000000000000000000"))
        let tiny = try #require(ExactDecimal("0.00000000000000000000000000000000000001"))
        #expect(tiny < huge)
        #expect(!(huge < tiny))
        #expect(ExactDecimal(0) - huge < tiny)
        #expect(huge.compare(to: Int64.max) == 1)
        #expect(ExactDecimal(Int64.min).description == "-9223372036854775808")
        // Decoding says why a long number is refused.
        let long = "\"" + String(repeating: "7", count: 45) + "\""
        let error = #expect(throws: DecodingError.self) { try JSONDecoder().decode(ExactDecimal.self, from: Data(long.utf8)) }
        guard case .dataCorrupted(let context)? = error else { return }
        #expect(context.debugDescription.contains("at most 38 digits"))
    }
}
