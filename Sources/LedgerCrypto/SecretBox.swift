import CCrypto
import Foundation

/// Where a sealed value lives: its table, its row's key and its column. The value is
/// sealed with `"ledgersync.<table>|<row>|<column>"` as GCM associated data, so it opens only
/// there: a sealed secret copied into another row (another connection's credentials, an
/// endpoint an attacker controls) or another column fails authentication.
public struct SealContext: Sendable, Equatable, CustomStringConvertible {
    public let table: String
    public let row: String
    public let column: String

    public init(table: String, row: String, column: String) {
        self.table = table
        self.row = row
        self.column = column
    }

    public init(table: String, row: UUID, column: String) {
        self.init(table: table, row: row.uuidString.lowercased(), column: column)
    }

    /// The associated data: `ledgersync.connections|<id>|secrets_sealed`.
    public var associatedData: String { "ledgersync.\(table)|\(row)|\(column)" }
    public var description: String { associatedData }
}

/// Encrypts secrets at rest (provider credentials, webhook and inbound secrets) with
/// AES-256-GCM under a keyring from the environment: one key seals, and older keys still
/// open what they sealed while `ledgersync secrets rotate-key` re-seals it.
///
/// A sealed value is text, so it fits a `text` column or a JSON field:
/// `"v2:" + key id + ":" + base64(nonce ‖ ciphertext ‖ tag)`, with a fresh random 12-byte
/// nonce per seal, the 16-byte GCM tag, and the value's `SealContext` as associated data.
/// The key id (`keyID(of:)`, 8 hex digits) tells which key of the ring to open with, and
/// lets a process name the key it expected. Values of the first format, `"v1:" +
/// base64(nonce ‖ ciphertext ‖ tag)` (no key id, no associated data), still open with any
/// key of the ring; rotation re-seals them as v2. GCM authenticates the data, so a changed
/// byte, a wrong key or a wrong place makes `open` fail instead of returning garbage.
///
/// No key ever appears in a description, a dump or an error.
public struct SecretBox: Sendable {
    /// The key length of AES-256, in bytes.
    public static let keyByteCount = 32
    static let nonceByteCount = 12
    static let tagByteCount = 16
    static let legacyPrefix = "v1:"
    static let prefix = "v2:"
    /// The environment variables of the keyring.
    public static let keyVariable = "LEDGERSYNC_SECRET_KEY"
    public static let previousKeysVariable = "LEDGERSYNC_SECRET_KEY_PREVIOUS"

    private struct Key: Sendable {
        let id: String
        let bytes: [UInt8]
    }

    /// The key that seals; it opens too.
    private let sealing: Key
    /// Keys that only open (the previous ones during a rotation).
    private let previous: [Key]

    /// A box over a raw 32-byte key, with older keys that still open what they sealed.
    public init(key: [UInt8], previousKeys: [[UInt8]] = []) throws {
        for candidate in [key] + previousKeys where candidate.count != Self.keyByteCount {
            throw CryptoError(.invalidKey, "secret key must be \(Self.keyByteCount) bytes, got \(candidate.count)")
        }
        let sealingKey = Key(id: Self.keyID(of: key), bytes: key)
        sealing = sealingKey
        previous = previousKeys.map { Key(id: Self.keyID(of: $0), bytes: $0) }.filter { $0.id != sealingKey.id }
    }

    /// The id of the key that seals.
    public var keyID: String { sealing.id }
    /// The ids of every key that opens, the sealing one first.
    public var keyIDs: [String] { [sealing.id] + previous.map(\.id) }

    /// A key's id: the first 8 hex digits of SHA-256 over a label and the key. It tells keys
    /// apart in sealed values and messages without revealing anything usable about the key.
    public static func keyID(of key: [UInt8]) -> String {
        String(
            SHA256.hash(Array("ledgersync secret key id\u{0}".utf8) + key).prefix(4).map { byte in
                let digits = String(byte, radix: 16)
                return digits.count == 1 ? "0" + digits : digits
            }.joined())
    }

    /// A box over the keyring in the environment: `name` (base64 of 32 random bytes; make
    /// one with `SecretBox.generateKey()` or `openssl rand -base64 32`) seals, and the keys
    /// in `previousName` (comma- or space-separated) still open. Errors name the variable
    /// and never echo its value.
    public static func fromEnvironment(
        _ name: String = keyVariable,
        previousName: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws -> SecretBox {
        guard let value = environment[name], !value.isEmpty else {
            throw CryptoError(.missingKey, "\(name) is not set; set it to base64 of 32 random bytes (openssl rand -base64 32)")
        }
        let key = try decodeKey(value, variable: name)
        let previousName = previousName ?? name + "_PREVIOUS"
        var previousKeys: [[UInt8]] = []
        if let list = environment[previousName] {
            for item in list.split(whereSeparator: { $0 == "," || $0 == " " || $0.isNewline }) {
                previousKeys.append(try decodeKey(String(item), variable: previousName))
            }
        }
        return try SecretBox(key: key, previousKeys: previousKeys)
    }

    private static func decodeKey(_ value: String, variable name: String) throws -> [UInt8] {
        guard let bytes = Base64.decode(value.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            throw CryptoError(.invalidKey, "\(name) is not valid base64; it must be base64 of 32 random bytes (openssl rand -base64 32)")
        }
        guard bytes.count == keyByteCount else {
            throw CryptoError(.invalidKey, "\(name) must decode to \(keyByteCount) bytes, got \(bytes.count) (openssl rand -base64 32)")
        }
        return bytes
    }

    /// A new random key, base64-encoded: the value to put in `LEDGERSYNC_SECRET_KEY`.
    public static func generateKey() -> String {
        Base64.encode(SecureRandom.bytes(keyByteCount))
    }

    /// Encrypts `plaintext` (UTF-8) for `context` under the sealing key and a fresh random
    /// nonce, so sealing the same text twice gives two different values.
    public func seal(_ plaintext: String, for context: SealContext) throws -> String {
        let nonce = SecureRandom.bytes(Self.nonceByteCount)
        let (ciphertext, tag) = try Self.encrypt(
            Array(plaintext.utf8), key: sealing.bytes, nonce: nonce, associatedData: Array(context.associatedData.utf8))
        return Self.prefix + sealing.id + ":" + Base64.encode(nonce + ciphertext + tag)
    }

    /// The key id a value was sealed under; nil for a v1 value (or one that is not sealed).
    public static func sealedKeyID(_ sealed: String) -> String? {
        guard sealed.hasPrefix(prefix) else { return nil }
        let rest = sealed.dropFirst(prefix.count)
        guard let colon = rest.firstIndex(of: ":") else { return nil }
        return String(rest[..<colon])
    }

    /// True when `sealed` is not yet a v2 value under the sealing key: rotation re-seals it.
    public func needsResealing(_ sealed: String) -> Bool {
        Self.sealedKeyID(sealed) != sealing.id
    }

    /// Decrypts a value made by `seal` for the same `context` (or a v1 value). Fails with
    /// `.malformed` when it is not a sealed value, `.unknownKey` when it was sealed under a
    /// key this box does not hold, and `.authenticationFailed` on a wrong key, changed data
    /// or a value moved from another row or column.
    public func open(_ sealed: String, for context: SealContext) throws -> String {
        let payload: Substring
        let candidates: [Key]
        let associatedData: [UInt8]
        if sealed.hasPrefix(Self.prefix) {
            guard let keyID = Self.sealedKeyID(sealed) else {
                throw CryptoError(.malformed, "sealed secret has no key id (expected v2:<key id>:<base64>)")
            }
            guard let key = ([sealing] + previous).first(where: { $0.id == keyID }) else {
                throw CryptoError(
                    .unknownKey,
                    "wrong key: the secret was sealed under key id \(keyID.prefix(8)), which is neither \(Self.keyVariable) (key id \(sealing.id)) nor in \(Self.previousKeysVariable)"
                )
            }
            payload = sealed.dropFirst(Self.prefix.count + keyID.count + 1)
            candidates = [key]
            associatedData = Array(context.associatedData.utf8)
        } else if sealed.hasPrefix(Self.legacyPrefix) {
            payload = sealed.dropFirst(Self.legacyPrefix.count)
            candidates = [sealing] + previous
            associatedData = []
        } else {
            throw CryptoError(
                .malformed, "sealed secret has an unknown format (expected the \"\(Self.prefix)\" or \"\(Self.legacyPrefix)\" prefix)")
        }
        guard let bytes = Base64.decode(String(payload)) else {
            throw CryptoError(.malformed, "sealed secret is not valid base64")
        }
        guard bytes.count >= Self.nonceByteCount + Self.tagByteCount else {
            throw CryptoError(.malformed, "sealed secret is too short (\(bytes.count) bytes) to hold a nonce and a tag")
        }
        let nonce = Array(bytes[..<Self.nonceByteCount])
        let ciphertext = Array(bytes[Self.nonceByteCount..<(bytes.count - Self.tagByteCount)])
        let tag = Array(bytes[(bytes.count - Self.tagByteCount)...])
        var lastError: CryptoError?
        for key in candidates {
            do {
                let plaintext = try Self.decrypt(ciphertext, key: key.bytes, nonce: nonce, tag: tag, associatedData: associatedData)
                guard let text = String(validating: plaintext, as: UTF8.self) else {
                    throw CryptoError(.malformed, "sealed secret does not hold UTF-8 text")
                }
                return text
            } catch let error as CryptoError where error.code == .authenticationFailed {
                lastError = error
            }
        }
        throw lastError ?? CryptoError(.authenticationFailed, "sealed secret failed authentication")
    }

    /// Raw AES-256-GCM, for known-answer tests against other implementations.
    public static func encryptForTesting(
        _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]
    ) throws -> [UInt8] {
        let (ciphertext, tag) = try encrypt(plaintext, key: key, nonce: nonce, associatedData: associatedData)
        return ciphertext + tag
    }

    // MARK: - AES-256-GCM over EVP

    private static func encrypt(
        _ plaintext: [UInt8], key: [UInt8], nonce: [UInt8], associatedData: [UInt8]
    ) throws -> (ciphertext: [UInt8], tag: [UInt8]) {
        try withCipherContext { context in
            guard EVP_EncryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                EVP_EncryptInit_ex(context, nil, nil, key, nonce) == 1
            else { throw CryptoError(.library, "AES-256-GCM: could not start encryption") }
            if !associatedData.isEmpty {
                // A NULL output buffer makes EVP_EncryptUpdate take the bytes as associated data.
                var ignored: Int32 = 0
                guard EVP_EncryptUpdate(context, nil, &ignored, associatedData, Int32(associatedData.count)) == 1 else {
                    throw CryptoError(.library, "AES-256-GCM: could not add the associated data")
                }
            }
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

    private static func decrypt(
        _ ciphertext: [UInt8], key: [UInt8], nonce: [UInt8], tag: [UInt8], associatedData: [UInt8]
    ) throws -> [UInt8] {
        try withCipherContext { context in
            guard EVP_DecryptInit_ex(context, EVP_aes_256_gcm(), nil, nil, nil) == 1,
                EVP_CIPHER_CTX_ctrl(context, EVP_CTRL_GCM_SET_IVLEN, Int32(nonce.count), nil) == 1,
                EVP_DecryptInit_ex(context, nil, nil, key, nonce) == 1
            else { throw CryptoError(.library, "AES-256-GCM: could not start decryption") }
            if !associatedData.isEmpty {
                var ignored: Int32 = 0
                guard EVP_DecryptUpdate(context, nil, &ignored, associatedData, Int32(associatedData.count)) == 1 else {
                    throw CryptoError(.library, "AES-256-GCM: could not add the associated data")
                }
            }
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
                throw CryptoError(
                    .authenticationFailed,
                    "sealed secret failed authentication: wrong key, changed data, or a value moved from another row or column")
            }
            return plaintext
        }
    }

    private static func withCipherContext<T>(_ body: (OpaquePointer) throws -> T) throws -> T {
        guard let context = EVP_CIPHER_CTX_new() else {
            throw CryptoError(.library, "AES-256-GCM: could not allocate a cipher context")
        }
        defer { EVP_CIPHER_CTX_free(context) }
        return try body(context)
    }
}

extension SecretBox: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public var description: String { "SecretBox(AES-256-GCM, key id \(keyID), key redacted)" }
    public var debugDescription: String { description }
    /// Keeps the key out of `dump(_:)` and debugger summaries.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
