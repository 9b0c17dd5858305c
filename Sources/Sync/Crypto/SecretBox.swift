import CCrypto
import Foundation

/// Encrypts secrets at rest (provider credentials, webhook secrets) with AES-256-GCM under
/// one key from the environment (DESIGN: "encrypted at rest, key from the environment").
///
/// A sealed value is text, so it fits a `text` column or a JSON field:
/// `"v1:" + base64(nonce ‖ ciphertext ‖ tag)` with a fresh random 12-byte nonce per seal
/// and the 16-byte GCM tag; there is no associated data. The `v1:` prefix leaves room for
/// a later format or key rotation. GCM authenticates the data, so a changed byte or a
/// wrong key makes `open` fail instead of returning garbage.
///
/// The key never appears in a description, a dump or an error.
public struct SecretBox: Sendable {
    /// The key length of AES-256, in bytes.
    public static let keyByteCount = 32
    static let nonceByteCount = 12
    static let tagByteCount = 16
    static let prefix = "v1:"

    private let key: [UInt8]

    /// A box over a raw 32-byte key.
    public init(key: [UInt8]) throws {
        guard key.count == Self.keyByteCount else {
            throw CryptoError(.invalidKey, "secret key must be \(Self.keyByteCount) bytes, got \(key.count)")
        }
        self.key = key
    }

    /// A box over the key in the environment variable `name`: base64 of 32 random bytes
    /// (make one with `SecretBox.generateKey()` or `openssl rand -base64 32`). Errors name
    /// the variable and never echo its value.
    public static func fromEnvironment(
        _ name: String = "LEDGERSYNC_SECRET_KEY",
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SecretBox {
        guard let value = environment[name], !value.isEmpty else {
            throw CryptoError(.missingKey, "\(name) is not set; set it to base64 of 32 random bytes (openssl rand -base64 32)")
        }
        guard let bytes = Base64.decode(value.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CryptoError(.invalidKey, "\(name) is not valid base64; it must be base64 of 32 random bytes (openssl rand -base64 32)")
        }
        guard bytes.count == keyByteCount else {
            throw CryptoError(.invalidKey, "\(name) must decode to \(keyByteCount) bytes, got \(bytes.count) (openssl rand -base64 32)")
        }
        return try SecretBox(key: bytes)
    }

    /// A new random key, base64-encoded: the value to put in `LEDGERSYNC_SECRET_KEY`.
    public static func generateKey() -> String {
        Base64.encode(SecureRandom.bytes(keyByteCount))
    }

    /// Encrypts `plaintext` (UTF-8) under a fresh random nonce, so sealing the same text
    /// twice gives two different values.
    public func seal(_ plaintext: String) throws -> String {
        let nonce = SecureRandom.bytes(Self.nonceByteCount)
        let (ciphertext, tag) = try encrypt(Array(plaintext.utf8), nonce: nonce)
        return Self.prefix + Base64.encode(nonce + ciphertext + tag)
    }

    /// Decrypts a value made by `seal`. Fails with `.malformed` when it is not a sealed
    /// value and with `.authenticationFailed` on a wrong key or changed data.
    public func open(_ sealed: String) throws -> String {
        guard sealed.hasPrefix(Self.prefix) else {
            throw CryptoError(.malformed, "sealed secret has an unknown format (expected the \"\(Self.prefix)\" prefix)")
        }
        guard let bytes = Base64.decode(String(sealed.dropFirst(Self.prefix.count))) else {
            throw CryptoError(.malformed, "sealed secret is not valid base64")
        }
        guard bytes.count >= Self.nonceByteCount + Self.tagByteCount else {
            throw CryptoError(.malformed, "sealed secret is too short (\(bytes.count) bytes) to hold a nonce and a tag")
        }
        let nonce = Array(bytes[..<Self.nonceByteCount])
        let ciphertext = Array(bytes[Self.nonceByteCount..<(bytes.count - Self.tagByteCount)])
        let tag = Array(bytes[(bytes.count - Self.tagByteCount)...])
        let plaintext = try decrypt(ciphertext, nonce: nonce, tag: tag)
        guard let text = String(validating: plaintext, as: UTF8.self) else {
            throw CryptoError(.malformed, "sealed secret does not hold UTF-8 text")
        }
        return text
    }

    // MARK: - AES-256-GCM over EVP

    private func encrypt(_ plaintext: [UInt8], nonce: [UInt8]) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        try withCipherContext { context in
            guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                  EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1
            else { throw CryptoError(.library, "AES-256-GCM: could not start encryption") }
            // GCM is a stream mode: the ciphertext is exactly as long as the plaintext.
            var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
            var written: Int32 = 0
            if !plaintext.isEmpty {
                let ok = ciphertext.withUnsafeMutableBufferPointer { out in
                    EVP_EncryptUpdate(context, out.baseAddress, &written, plaintext, Int32(plaintext.count)) == 1
                }
                guard ok, Int(written) == plaintext.count else {
                    throw CryptoError(.library, "AES-256-GCM: encryption failed")
                }
            }
            var final = [UInt8](repeating: 0, count: 16)
            var finalLength: Int32 = 0
            guard EVP_EncryptFinal_ex(context, &final, &finalLength) == 1, finalLength == 0 else {
                throw CryptoError(.library, "AES-256-GCM: encryption failed")
            }
            var tag = [UInt8](repeating: 0, count: Self.tagByteCount)
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_GET_TAG, Int32(Self.tagByteCount), &tag) == 1 else {
                throw CryptoError(.library, "AES-256-GCM: could not read the tag")
            }
            return (ciphertext, tag)
        }
    }

    private func decrypt(_ ciphertext: [UInt8], nonce: [UInt8], tag: [UInt8]) throws -> [UInt8] {
        try withCipherContext { context in
            guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                  EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                  EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1
            else { throw CryptoError(.library, "AES-256-GCM: could not start decryption") }
            var plaintext = [UInt8](repeating: 0, count: ciphertext.count)
            var written: Int32 = 0
            if !ciphertext.isEmpty {
                let ok = plaintext.withUnsafeMutableBufferPointer { out in
                    EVP_DecryptUpdate(context, out.baseAddress, &written, ciphertext, Int32(ciphertext.count)) == 1
                }
                guard ok, Int(written) == ciphertext.count else {
                    throw CryptoError(.library, "AES-256-GCM: decryption failed")
                }
            }
            var expectedTag = tag
            guard EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_TAG, Int32(tag.count), &expectedTag) == 1 else {
                throw CryptoError(.library, "AES-256-GCM: could not set the tag")
            }
            // Final checks the tag; the plaintext above must not be used if it fails.
            var final = [UInt8](repeating: 0, count: 16)
            var finalLength: Int32 = 0
            guard EVP_DecryptFinal_ex(context, &final, &finalLength) == 1 else {
                throw CryptoError(.authenticationFailed, "sealed secret failed authentication: wrong key, or the data was changed")
            }
            return plaintext
        }
    }

    private func withCipherContext<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw CryptoError(.library, "AES-256-GCM: could not allocate a cipher context")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        return try body(context)
    }
}

extension SecretBox: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretBox(AES-256-GCM, key redacted)" }
    public var debugDescription: String { description }
    /// Keeps the key out of `dump(_:)` and debugger summaries.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
