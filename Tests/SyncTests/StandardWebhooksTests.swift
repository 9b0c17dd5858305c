import Foundation
import Testing

@testable import Sync

/// The Standard Webhooks signature, held to the specification's own example and to the rules
/// a receiver applies (timestamp window, several signatures, whsec_ secrets).
@Suite(.timeLimit(.minutes(2))) struct StandardWebhooksTests {
    // The example of the Standard Webhooks specification and its reference libraries.
    static let specSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    static let specID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
    static let specTimestamp = 1_614_265_330
    static let specBody = Array(#"{"test": 2432232314}"#.utf8)
    static let specSignature = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    static let specNow = Date(timeIntervalSince1970: TimeInterval(specTimestamp))

    @Test func signsTheSpecificationExample() {
        #expect(
            StandardWebhooks.signature(id: Self.specID, timestamp: Self.specTimestamp, body: Self.specBody, secret: Self.specSecret)
                == Self.specSignature)
        #expect(StandardWebhooks.key(fromSecret: Self.specSecret) == [UInt8](Data(base64Encoded: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")!))
    }

    @Test func verifiesTheSpecificationExample() throws {
        let timestamp = try StandardWebhooks.verify(
            id: Self.specID, timestamp: String(Self.specTimestamp), signatures: Self.specSignature, body: Self.specBody,
            secrets: [Self.specSecret], now: Self.specNow)
        #expect(timestamp == Self.specTimestamp)
    }

    @Test func twoSecretsTwoSignaturesEitherVerifies() throws {
        let other = StandardWebhooks.generateSecret()
        #expect(other.hasPrefix("whsec_") && StandardWebhooks.key(fromSecret: other).count == 32)
        let header = StandardWebhooks.signatureHeaderValue(
            id: Self.specID, timestamp: Self.specTimestamp, body: Self.specBody, secrets: [other, Self.specSecret])
        #expect(header.split(separator: " ").count == 2 && header.hasSuffix(Self.specSignature))
        for secret in [other, Self.specSecret] {
            try StandardWebhooks.verify(
                id: Self.specID, timestamp: String(Self.specTimestamp), signatures: header, body: Self.specBody, secrets: [secret],
                now: Self.specNow)
        }
        #expect(throws: StandardWebhooks.Refusal.noValidSignature) {
            try StandardWebhooks.verify(
                id: Self.specID, timestamp: String(Self.specTimestamp), signatures: header, body: Self.specBody,
                secrets: [StandardWebhooks.generateSecret()], now: Self.specNow)
        }
    }

    @Test func idTimestampAndBodyAreAllSigned() {
        let valid = (id: Self.specID, timestamp: String(Self.specTimestamp), body: Self.specBody)
        let changed: [(String, String, [UInt8])] = [
            ("msg_other", valid.timestamp, valid.body),
            (valid.id, String(Self.specTimestamp + 1), valid.body),
            (valid.id, valid.timestamp, Array(#"{"test": 2432232315}"#.utf8)),
        ]
        for (id, timestamp, body) in changed {
            #expect(throws: StandardWebhooks.Refusal.noValidSignature) {
                try StandardWebhooks.verify(
                    id: id, timestamp: timestamp, signatures: Self.specSignature, body: body, secrets: [Self.specSecret], now: Self.specNow)
            }
        }
    }

    @Test func timestampWindowIsFiveMinutesEachWay() throws {
        func verify(at offset: TimeInterval) throws {
            try StandardWebhooks.verify(
                id: Self.specID, timestamp: String(Self.specTimestamp), signatures: Self.specSignature, body: Self.specBody,
                secrets: [Self.specSecret], now: Self.specNow.addingTimeInterval(offset))
        }
        try verify(at: 299)
        try verify(at: -299)
        #expect(throws: StandardWebhooks.Refusal.tooOld) { try verify(at: 301) }
        #expect(throws: StandardWebhooks.Refusal.tooNew) { try verify(at: -301) }
    }

    @Test func malformedHeadersAreRefused() {
        let cases: [(String?, String?, String?, StandardWebhooks.Refusal)] = [
            (nil, "1", Self.specSignature, .missingHeaders), (Self.specID, nil, Self.specSignature, .missingHeaders),
            (Self.specID, "1", nil, .missingHeaders), ("", "1", Self.specSignature, .missingHeaders),
            (Self.specID, "soon", Self.specSignature, .malformedTimestamp), (Self.specID, "-5", Self.specSignature, .malformedTimestamp),
            (Self.specID, String(Self.specTimestamp), "v2," + Self.specSignature.dropFirst(3), .noValidSignature),
            (Self.specID, String(Self.specTimestamp), String(Self.specSignature.dropFirst(3)), .noValidSignature),
            (Self.specID, String(Self.specTimestamp), "v1,not*base64", .noValidSignature),
        ]
        for (id, timestamp, signatures, refusal) in cases {
            #expect(throws: refusal, "\(String(describing: id)) \(String(describing: timestamp)) \(String(describing: signatures))") {
                try StandardWebhooks.verify(
                    id: id, timestamp: timestamp, signatures: signatures, body: Self.specBody, secrets: [Self.specSecret], now: Self.specNow
                )
            }
        }
    }

    @Test func endpointSignsWithThePreviousSecretUntilItsOverlapEnds() {
        let now = Date()
        let endpoint = { (expiry: Date?) in
            WebhookEndpoint(
                id: UUID(), url: "https://hooks.example.com", secret: "whsec_new", previousSecret: expiry == nil ? nil : "whsec_old",
                previousSecretExpiresAt: expiry, eventTypes: nil, disabled: false, createdAt: now)
        }
        #expect(endpoint(nil).signingSecrets(at: now) == ["whsec_new"])
        #expect(endpoint(now.addingTimeInterval(60)).signingSecrets(at: now) == ["whsec_new", "whsec_old"])
        #expect(endpoint(now.addingTimeInterval(-1)).signingSecrets(at: now) == ["whsec_new"])
    }
}
