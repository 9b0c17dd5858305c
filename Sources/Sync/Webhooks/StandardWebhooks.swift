import Foundation
import LedgerCrypto

/// Webhook signatures the Standard Webhooks way (https://www.standardwebhooks.com), for
/// Ledgersync's own deliveries and for the provider events it receives:
///
///     webhook-id:        the message id (the same on every retry of one delivery)
///     webhook-timestamp: Unix seconds when this attempt was signed
///     webhook-signature: v1,<base64 HMAC-SHA256(key, "<id>.<timestamp>.<body>")> …
///
/// The id and timestamp are signed with the body, so a captured delivery cannot be replayed
/// later (receivers refuse timestamps older than `tolerance`) nor passed off as another
/// message; several space-separated signatures let two secrets be valid at once while one
/// is rotated. A secret reads `whsec_<base64 key>`; any other text (secrets chosen before
/// this scheme) is used as its UTF-8 bytes, which a receiver passes to its library as bytes.
public enum StandardWebhooks {
    public static let idHeader = "webhook-id"
    public static let timestampHeader = "webhook-timestamp"
    public static let signatureHeader = "webhook-signature"
    public static let secretPrefix = "whsec_"
    /// How far a timestamp may be from now, either way, for a message to be accepted.
    public static let tolerance: TimeInterval = 5 * 60

    /// A new secret: `whsec_` and base64 of 32 random bytes.
    public static func generateSecret() -> String {
        secretPrefix + Base64.encode(SecureRandom.bytes(32))
    }

    /// The HMAC key of a secret: the decoded bytes of a `whsec_` secret, else its UTF-8.
    public static func key(fromSecret secret: String) -> [UInt8] {
        if secret.hasPrefix(secretPrefix), let bytes = Base64.decode(String(secret.dropFirst(secretPrefix.count))), !bytes.isEmpty {
            return bytes
        }
        return Array(secret.utf8)
    }

    /// `v1,<base64>`: the signature of one message under one secret.
    public static func signature(id: String, timestamp: Int, body: [UInt8], secret: String) -> String {
        "v1," + HMACSHA256.base64(key: key(fromSecret: secret), message: signedContent(id: id, timestamp: timestamp, body: body))
    }

    /// The `webhook-signature` value: one signature per secret, space-separated.
    public static func signatureHeaderValue(id: String, timestamp: Int, body: [UInt8], secrets: [String]) -> String {
        secrets.map { signature(id: id, timestamp: timestamp, body: body, secret: $0) }.joined(separator: " ")
    }

    static func signedContent(id: String, timestamp: Int, body: [UInt8]) -> [UInt8] {
        Array("\(id).\(timestamp).".utf8) + body
    }

    /// Why a message was refused. The text says what to fix and never quotes a signature.
    public enum Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        case missingHeaders
        case malformedTimestamp
        case tooOld
        case tooNew
        case noValidSignature

        public var description: String {
            switch self {
            case .missingHeaders: "send the \(idHeader), \(timestampHeader) and \(signatureHeader) headers (Standard Webhooks)"
            case .malformedTimestamp: "\(timestampHeader) must be Unix seconds"
            case .tooOld: "\(timestampHeader) is more than 5 minutes old: a late or replayed message"
            case .tooNew: "\(timestampHeader) is more than 5 minutes in the future: check the sender's clock"
            case .noValidSignature: "no v1 signature in \(signatureHeader) matches the body under the secret"
            }
        }
    }

    /// Checks a message; returns its timestamp. The signature is checked before the
    /// timestamp's age, so a stranger learns nothing from which refusal comes back.
    @discardableResult
    public static func verify(
        id: String?, timestamp: String?, signatures: String?, body: [UInt8], secrets: [String], now: Date = Date()
    ) throws(Refusal) -> Int {
        guard let id, !id.isEmpty, let timestamp, let signatures else { throw .missingHeaders }
        let trimmed = timestamp.trimmingCharacters(in: .whitespaces)
        guard !trimmed.isEmpty, trimmed.count <= 12, trimmed.allSatisfy(\.isASCII), let seconds = Int(trimmed), seconds >= 0 else {
            throw .malformedTimestamp
        }
        let content = signedContent(id: id, timestamp: seconds, body: body)
        let offered = signatures.split(separator: " ").compactMap { entry -> [UInt8]? in
            guard entry.hasPrefix("v1,") else { return nil }
            return Base64.decode(String(entry.dropFirst(3)))
        }
        var matched = false
        for secret in secrets {
            let expected = HMACSHA256.sign(key: key(fromSecret: secret), message: content)
            for candidate in offered where HMACSHA256.constantTimeEquals(candidate, expected) { matched = true }
        }
        guard matched else { throw .noValidSignature }
        let age = now.timeIntervalSince1970 - Double(seconds)
        if age > tolerance { throw .tooOld }
        if age < -tolerance { throw .tooNew }
        return seconds
    }
}
