/// Why a money operation failed. Money code throws these instead of trapping.
public enum MoneyError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The code is not a current ISO 4217 code (see `Currency`).
    case unknownCurrency(String)
    /// Two amounts in different currencies were combined.
    case currencyMismatch(Currency, Currency)
    /// The result does not fit in Int64 minor units.
    case overflow(String)
    /// A decimal string that is not an amount of this currency.
    case invalidAmount(String, reason: String)

    public var description: String {
        switch self {
        case .unknownCurrency(let code):
            return "unknown currency \"\(code)\" (expected an ISO 4217 code such as \"USD\")"
        case .currencyMismatch(let a, let b):
            return "cannot combine \(a.code) and \(b.code) amounts"
        case .overflow(let what):
            return "\(what) overflows 64-bit minor units"
        case .invalidAmount(let text, let reason):
            return "\"\(text)\" is not an amount: \(reason)"
        }
    }
}
