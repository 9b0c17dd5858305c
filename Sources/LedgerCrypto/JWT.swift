import Foundation

/// Base64url without padding (RFC 7515 §2, RFC 4648 §5): the encoding of every JWS part.
public enum Base64URL {
    public static func encode(_ bytes: [UInt8]) -> String {
        var text = Data(bytes).base64EncodedString()
        text = text.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        while text.hasSuffix("=") { text.removeLast() }
        return text
    }

    /// Nil for text outside the base64url alphabet or with padding (JWS forbids it).
    public static func decode(_ text: Substring) -> [UInt8]? {
        guard
            text.utf8.allSatisfy({ byte in
                (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A) || (byte >= 0x30 && byte <= 0x39) || byte == 0x2D
                    || byte == 0x5F
            })
        else { return nil }
        guard text.count % 4 != 1 else { return nil }
        var standard = text.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while standard.count % 4 != 0 { standard += "=" }
        return Data(base64Encoded: standard).map { [UInt8]($0) }
    }
}

/// A compact JWS (RFC 7515 §7.1) with a JSON header and payload: what an OAuth 2.0 client
/// assertion is (RFC 7523).
public enum JWT {
    /// `base64url(header).base64url(payload).base64url(signature)`. `header` and `payload` are
    /// JSON objects as text; `alg` is set in the header by the caller.
    public static func sign(headerJSON: String, payloadJSON: String, key: JWTPrivateKey, algorithm: JWTAlgorithm) throws -> String {
        let signingInput = Base64URL.encode(Array(headerJSON.utf8)) + "." + Base64URL.encode(Array(payloadJSON.utf8))
        let signature = try key.sign(Array(signingInput.utf8), algorithm: algorithm)
        return signingInput + "." + Base64URL.encode(signature)
    }

    /// The three parts of a compact JWS, decoded; the signature is not checked here.
    public struct Parts: Sendable {
        public let header: [UInt8]
        public let payload: [UInt8]
        public let signature: [UInt8]
        /// `base64url(header).base64url(payload)`, what the signature covers.
        public let signingInput: [UInt8]
    }

    /// Splits and decodes a compact JWS; errors say which part is wrong and never echo it.
    public static func parts(of token: String) throws -> Parts {
        let segments = token.split(separator: ".", omittingEmptySubsequences: false)
        guard segments.count == 3 else {
            throw CryptoError(.malformed, "a JWT has three dot-separated parts, this one has \(segments.count)")
        }
        guard let header = Base64URL.decode(segments[0]) else { throw CryptoError(.malformed, "the JWT header is not base64url") }
        guard let payload = Base64URL.decode(segments[1]) else { throw CryptoError(.malformed, "the JWT payload is not base64url") }
        guard let signature = Base64URL.decode(segments[2]) else { throw CryptoError(.malformed, "the JWT signature is not base64url") }
        return Parts(header: header, payload: payload, signature: signature, signingInput: Array((segments[0] + "." + segments[1]).utf8))
    }

    /// True when the token's signature verifies under `key` with `algorithm`.
    public static func verify(_ parts: Parts, key: JWTPublicKey, algorithm: JWTAlgorithm) -> Bool {
        key.verify(parts.signature, message: parts.signingInput, algorithm: algorithm)
    }
}
