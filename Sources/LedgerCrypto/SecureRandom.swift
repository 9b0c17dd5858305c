import CCrypto

/// Random bytes from OpenSSL's CSPRNG (seeded by the OS), for nonces and keys.
public enum SecureRandom {
    /// `count` random bytes. OpenSSL fails only when it cannot seed, and then no key or
    /// nonce can be made safely, so this stops the process rather than return weak bytes.
    public static func bytes(_ count: Int) -> [UInt8] {
        precondition(count >= 0, "negative byte count")
        var out = [UInt8](repeating: 0, count: count)
        guard count > 0 else { return out }
        let status = out.withUnsafeMutableBufferPointer { RAND_bytes($0.baseAddress, Int32(count)) }
        precondition(status == 1, "OpenSSL RAND_bytes failed: the random generator is not seeded")
        return out
    }

    private static let alphanumerics = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)

    /// A random string of `length` characters from `A-Z a-z 0-9` (e.g. an OAuth nonce).
    /// Bytes ≥ 248 are dropped so every character is equally likely (248 = 4 × 62).
    public static func alphanumeric(length: Int) -> String {
        var result: [UInt8] = []
        result.reserveCapacity(length)
        while result.count < length {
            for byte in bytes(length - result.count + 8) where byte < 248 && result.count < length {
                result.append(alphanumerics[Int(byte % 62)])
            }
        }
        return String(decoding: result, as: UTF8.self)
    }
}
