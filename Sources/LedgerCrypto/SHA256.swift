import CCrypto

/// SHA-256 over OpenSSL, for storing the API's bearer tokens as hashes only.
public enum SHA256 {
    /// The 32-byte digest of `message`.
    public static func hash(_ message: [UInt8]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: 32)
        var outLength: UInt32 = 0
        // A real (zero-length) buffer for an empty message, as in HMACSHA256.sign.
        let bytes = message.isEmpty ? [0] : message
        let result = bytes.withUnsafeBufferPointer { m in
            out.withUnsafeMutableBufferPointer { o in
                EVP_Digest(m.baseAddress, message.count, o.baseAddress, &outLength, EVP_sha256(), nil)
            }
        }
        // EVP_Digest fails only when OpenSSL cannot allocate; nothing sensible can continue then.
        precondition(result == 1 && outLength == 32, "OpenSSL SHA-256 failed")
        return out
    }

    /// The digest of a string's UTF-8, as 64 lower-case hex digits.
    public static func hex(_ text: String) -> String {
        hash(Array(text.utf8)).map { byte in
            let digits = String(byte, radix: 16)
            return digits.count == 1 ? "0" + digits : digits
        }.joined()
    }
}
