/// An ISO 4217 currency: its alphabetic code and the number of decimals of its minor unit
/// (the "exponent": 2 for USD, 0 for JPY, 3 for KWD).
///
/// Only codes in the table below exist; anything else is an error, so an amount can never be
/// rendered with a guessed number of decimals.
public struct Currency: Sendable, Hashable, CustomStringConvertible {
    /// The alphabetic code, e.g. "USD".
    public let code: String
    /// Decimals of the minor unit: amounts are integers of 10^-minorUnits of the major unit.
    public let minorUnits: Int

    /// The currency with this code, which must be in the table exactly (upper case).
    public init(code: String) throws(MoneyError) {
        guard let minorUnits = Currency.table[code] else { throw MoneyError.unknownCurrency(code) }
        self.code = code
        self.minorUnits = minorUnits
    }

    /// The currency with this code, or nil when it is not a current ISO 4217 code.
    public static func named(_ code: String) -> Currency? { try? Currency(code: code) }

    public var description: String { code }

    public static let usd = Currency(known: "USD")
    public static let eur = Currency(known: "EUR")
    public static let gbp = Currency(known: "GBP")
    public static let jpy = Currency(known: "JPY")
    public static let kwd = Currency(known: "KWD")

    private init(known code: String) {
        self.code = code
        self.minorUnits = Currency.table[code]!
    }

    /// All known codes with their minor units.
    public static var allCodes: [String] { table.keys.sorted() }

    /// ISO 4217 list one (current codes with a defined minor unit), as of 2025.
    /// Funds and precious metals without a minor unit (XAU, XDR, XXX, …) are not money here.
    /// Withdrawn codes (HRK, SLL, ZWL, CUC, …) are not accepted.
    static let table: [String: Int] = {
        var table: [String: Int] = [:]
        let zero = "BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF"
        let three = "BHD IQD JOD KWD LYD OMR TND"
        let four = "CLF UYW"
        let two = """
            AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BMD BND BOB BOV BRL BSD BTN \
            BWP BYN BZD CAD CDF CHE CHF CHW CNY COP COU CRC CUP CVE CZK DKK DOP DZD EGP ERN ETB \
            EUR FJD FKP GBP GEL GHS GIP GMD GTQ GYD HKD HNL HTG HUF IDR ILS INR IRR JMD KES KGS \
            KHR KPW KYD KZT LAK LBP LKR LRD LSL MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN \
            MXV MYR MZN NAD NGN NIO NOK NPR NZD PAB PEN PGK PHP PKR PLN QAR RON RSD RUB SAR SBD \
            SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TOP TRY TTD TWD TZS \
            UAH USD USN UZS VED VES WST XCD XCG YER ZAR ZMW ZWG
            """
        for (codes, units) in [(zero, 0), (two, 2), (three, 3), (four, 4)] {
            for code in codes.split(separator: " ") { table[String(code)] = units }
        }
        return table
    }()
}

extension Currency: Codable {
    /// Decodes from the code as a string; an unknown code fails with the field's path.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        let code = try container.decode(String.self)
        do {
            try self.init(code: code)
        } catch {
            throw DecodingError.dataCorruptedError(in: container, debugDescription: error.description)
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(code)
    }
}
