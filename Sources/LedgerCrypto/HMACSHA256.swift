import CCrypto

/// HMAC-SHA256 over OpenSSL, for webhook signatures (`StandardWebhooks`: Base64 of
/// HMAC-SHA256(key, "id.timestamp.body")) and NetSuite TBA request signatures (PROVIDERS 2.1).
public enum HMACSHA256 {
    /// The length of a signature in bytes.
    public static let byteCount = 32

    /// The raw 32-byte HMAC-SHA256 of `message` under `key`. Keys of any length are
    /// accepted; RFC 2104 hashes keys longer than the block size first.
    public static func sign(key: [UInt8], message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: byteCount)
        var outLength: UInt32 = 0
        // An empty Swift array may have no storage, and OpenSSL reads a NULL key as
        // "reuse the previous key"; give it a real (zero-length) buffer instead.
        let keyBytes = key.isEmpty ? [0] : key
        let messageBytes = message.isEmpty ? [0] : message
        let result = keyBytes.withUnsafeBufferPointer { k in
            messageBytes.withUnsafeBufferPointer { m in
                out.withUnsafeMutableBufferPointer { o in
                    HMAC(EVP_sha256(), k.baseAddress, Int32(key.count), m.baseAddress, message.count, o.baseAddress, &outLength)
                }
            }
        }
        // HMAC fails only when OpenSSL cannot allocate; nothing sensible can continue then.
        precondition(result != nil && outLength == UInt32(byteCount), "OpenSSL HMAC-SHA256 failed")
        return out
    }

    /// Convenience for text: both strings are taken as UTF-8.
    public static func sign(key: String, message: String) -> [UInt8] {
        sign(key: Array(key.utf8), message: Array(message.utf8))
    }

    /// The signature in standard Base64 (with padding), the form of a webhook signature
    /// header and of `oauth_signature` before its percent-encoding.
    public static func base64(key: [UInt8], message: [UInt8]) -> String {
        Base64.encode(sign(key: key, message: message))
    }

    public static func base64(key: String, message: String) -> String {
        base64(key: Array(key.utf8), message: Array(message.utf8))
    }

    /// True when `signature` is the HMAC of `message` under `key`. The comparison takes
    /// the same time wherever the first differing byte is, so a caller checking a
    /// signature from the network leaks nothing about the expected one.
    public static func verify(signature: [UInt8], key: [UInt8], message: [UInt8]) -> Bool {
        constantTimeEquals(signature, sign(key: key, message: message))
    }

    /// `verify` for a Base64 signature (e.g. a webhook header); false when it is not Base64.
    public static func verify(base64 signature: String, key: [UInt8], message: [UInt8]) -> Bool {
        guard let decoded = Base64.decode(signature) else { return false }
        return verify(signature: decoded, key: key, message: message)
    }

    /// Compares two byte strings in time that depends only on their lengths.
    public static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        var difference: UInt8 = 0
        for index in a.indices { difference |= a[index] ^ b[index] }
        return difference == 0
    }
}
