/// A NetSuite setting or request that cannot be used as given (a bad account id, a URL
/// that cannot be signed). One line; never carries a secret.
public struct NetSuiteConfigError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// The account id is empty or has characters other than letters, digits, `_`, `-`.
        case invalidAccountID
        /// A URL is not absolute `http(s)://host/…` or its query is not valid percent-encoding.
        case invalidURL
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
