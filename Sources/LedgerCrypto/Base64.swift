import Foundation

/// Standard Base64 (RFC 4648 §4, with padding), strict on input: a sealed secret or a
/// key with stray characters is rejected rather than half-read.
public enum Base64 {
    public static func encode(_ bytes: [UInt8]) -> String {
        Data(bytes).base64EncodedString()
    }

    public static func decode(_ text: String) -> [UInt8]? {
        Data(base64Encoded: text).map { [UInt8]($0) }
    }
}
