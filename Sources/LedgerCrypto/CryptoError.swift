/// An error from the crypto helpers. Its message is one line and never carries key
/// material, plaintext or ciphertext: these errors end up in job errors and logs.
public struct CryptoError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: Sendable, Equatable {
        /// A key has the wrong length or could not be decoded.
        case invalidKey
        /// The environment variable that should hold the key is not set.
        case missingKey
        /// A sealed value is not in the expected format (prefix, base64, length).
        case malformed
        /// A sealed value names a key id the keyring does not hold.
        case unknownKey
        /// A sealed value failed authentication: wrong key, or the data was changed.
        case authenticationFailed
        /// OpenSSL refused an operation that should not fail (out of memory, broken build).
        case library
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }
}
