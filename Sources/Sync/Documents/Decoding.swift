import Foundation

extension KeyedDecodingContainer {
    /// An amount in minor units: a JSON integer that fits in Int64. 12.5 or 1e30 fail with the
    /// field's path (Foundation's own error for them names no field).
    func cents(_ key: Key) throws -> Int64 {
        do {
            return try decode(Int64.self, forKey: key)
        } catch let error as DecodingError {
            guard case .dataCorrupted = error else { throw error }
            throw notWhole(key)
        } catch {
            // Foundation's internal "number is not representable" error, which has no path.
            throw notWhole(key)
        }
    }

    private func notWhole(_ key: Key) -> DecodingError {
        let shown = (try? decode(Decimal.self, forKey: key)).map { "\($0)" } ?? "something else"
        return DecodingError.dataCorruptedError(
            forKey: key, in: self,
            debugDescription: "expected an integer amount in minor units (cents) within 64 bits, got \(shown)")
    }

    /// An optional amount: absent or null is nil.
    func centsIfPresent(_ key: Key) throws -> Int64? {
        guard contains(key), try !decodeNil(forKey: key) else { return nil }
        return try cents(key)
    }

    func cents(_ key: Key, default value: Int64) throws -> Int64 {
        try centsIfPresent(key) ?? value
    }

    func optional<T: Decodable>(_ key: Key) throws -> T? {
        try decodeIfPresent(T.self, forKey: key)
    }

    func array<T: Decodable>(_ key: Key) throws -> [T] {
        try decodeIfPresent([T].self, forKey: key) ?? []
    }
}

/// Collects field paths under a root and throws `DocumentError`s for the rules after decoding.
struct Validator {
    let root: String

    func path(_ suffix: String) -> String { suffix.hasPrefix("[") ? root + suffix : root + "." + suffix }

    func fail(_ suffix: String, _ message: String) -> DocumentError {
        DocumentError(field: path(suffix), message: message)
    }

    func nonEmpty(_ value: String, _ suffix: String) throws(DocumentError) {
        if value.allSatisfy(\.isWhitespace) { throw fail(suffix, "must not be empty") }
    }

    func nonEmpty(_ value: String?, _ suffix: String) throws(DocumentError) {
        if let value { try nonEmpty(value, suffix) }
    }

    func nonNegative(_ cents: Int64, _ suffix: String) throws(DocumentError) {
        if cents < 0 { throw fail(suffix, "must not be negative, got \(cents)") }
    }

    func nonNegative(_ cents: Int64?, _ suffix: String) throws(DocumentError) {
        if let cents { try nonNegative(cents, suffix) }
    }

    func nonNegative(_ value: ExactDecimal?, _ suffix: String) throws(DocumentError) {
        if let value, value.isNegative { throw fail(suffix, "must not be negative, got \"\(value)\"") }
    }

    func sameCurrency(_ currency: Currency?, as expected: Currency, _ suffix: String) throws(DocumentError) {
        if let currency, currency != expected {
            throw fail(suffix, "must be the document's currency \(expected.code), got \(currency.code)")
        }
    }

    /// Checks `expected == got`, naming how `expected` was computed.
    func equal(_ got: Int64, _ expected: Int64, _ suffix: String, _ rule: String) throws(DocumentError) {
        if got != expected { throw fail(suffix, "must equal \(rule) = \(expected), got \(got)") }
    }

    /// Exact signed sum of (sign, cents) terms; overflow is an error on `suffix`.
    func sum(_ terms: [Int64], _ currency: Currency, _ suffix: String) throws(DocumentError) -> Int64 {
        do {
            return try Money.sum(terms.map { Money(amountCents: $0, currency: currency) }, currency: currency).amountCents
        } catch {
            throw fail(suffix, "amounts overflow 64-bit minor units")
        }
    }

    func negate(_ cents: Int64, _ currency: Currency, _ suffix: String) throws(DocumentError) -> Int64 {
        do { return try Money(amountCents: cents, currency: currency).negated().amountCents } catch {
            throw fail(suffix, "amounts overflow 64-bit minor units")
        }
    }
}
