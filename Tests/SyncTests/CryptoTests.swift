import Foundation
import JobQueueTesting
import Testing

@testable import LedgerCrypto
@testable import Sync

private func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
        let next = text.index(index, offsetBy: 2)
        bytes.append(UInt8(text[index..<next], radix: 16)!)
        index = next
    }
    return bytes
}

private func hexString(_ bytes: [UInt8]) -> String {
    bytes.map { String(format: "%02x", $0) }.joined()
}

/// HMAC-SHA256 by Python's standard library (`hmac`, `hashlib`), key as UTF-8 in argv and
/// the message on stdin: an answer from outside the code under test. python3 is on every
/// machine that runs the tests (scripts/test.sh needs it), so this never skips.
private func pythonHMAC(key: String, message: String) throws -> [UInt8] {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = [
        "python3", "-c",
        "import hashlib, hmac, sys; sys.stdout.buffer.write(hmac.new(sys.argv[1].encode(), sys.stdin.buffer.read(), hashlib.sha256).digest())",
        key,
    ]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    try process.run()
    input.fileHandleForWriting.write(Data(message.utf8))
    try input.fileHandleForWriting.close()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    #expect(process.terminationStatus == 0)
    return [UInt8](data)
}

/// SHA-256 held to FIPS 180-2's examples (appendix B) and to coreutils' `sha256sum` (its own
/// implementation, not OpenSSL) at the lengths where padding changes.
@Suite(.timeLimit(.minutes(2))) struct SHA256KnownAnswerTests {
    @Test func fips180_2Examples() {
        #expect(SHA256.hex("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(
            SHA256.hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq")
                == "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1")
        #expect(
            hexString(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)))
                == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test func emptyMessage() {
        // Python: hashlib.sha256(b"").hexdigest()
        #expect(SHA256.hex("") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test(arguments: [1, 55, 56, 63, 64, 65, 119, 120, 128, 1000])
    func matchesSHA256Sum(length: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let message = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
        #expect(hexString(SHA256.hash(message)) == (try sha256sumHex(Data(message))), "length \(length)")
    }

    @Test func tokenLikeTextMatchesSHA256Sum() throws {
        let token = "lsk_Ünïcødé-\(UUID().uuidString)"
        #expect(SHA256.hex(token) == (try sha256sumHex(token)))
    }
}

@Suite(.timeLimit(.minutes(2))) struct HMACSHA256Tests {
    // RFC 4231 §4.2, §4.3, §4.7, §4.8.
    @Test func rfc4231Case1() {
        let mac = HMACSHA256.sign(key: [UInt8](repeating: 0x0b, count: 20), message: Array("Hi There".utf8))
        #expect(hexString(mac) == "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
    }

    @Test func rfc4231Case2ShortKey() {
        let mac = HMACSHA256.sign(key: "Jefe", message: "what do ya want for nothing?")
        #expect(hexString(mac) == "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    }

    @Test func rfc4231Case6KeyLongerThanBlock() {
        let mac = HMACSHA256.sign(
            key: [UInt8](repeating: 0xaa, count: 131),
            message: Array("Test Using Larger Than Block-Size Key - Hash Key First".utf8))
        #expect(hexString(mac) == "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
    }

    @Test func rfc4231Case7KeyAndDataLongerThanBlock() {
        let message =
            "This is a test using a larger than block-size key and a larger than block-size data."
            + " The key needs to be hashed before being used by the HMAC algorithm."
        let mac = HMACSHA256.sign(key: [UInt8](repeating: 0xaa, count: 131), message: Array(message.utf8))
        #expect(hexString(mac) == "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2")
    }

    @Test func base64IsTheEncodingOfTheRawSignature() {
        let key = hex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b")
        let raw = HMACSHA256.sign(key: key, message: Array("Hi There".utf8))
        #expect(HMACSHA256.base64(key: key, message: Array("Hi There".utf8)) == Data(raw).base64EncodedString())
    }

    @Test func emptyKeyAndMessage() {
        // Python: hmac.new(b"", b"", hashlib.sha256).hexdigest()
        #expect(
            hexString(HMACSHA256.sign(key: [], message: []))
                == "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad")
    }

    /// A webhook body (PROVIDERS 1.7) signed here and by Python's `hmac`. (It was held to
    /// the openssl command, skipped where openssl is not installed: the install script does
    /// not install it.)
    @Test func webhookBodyMatchesPythonHMAC() throws {
        let body =
            #"{"webhook_type":"customer.accounting_provider_error","object_type":"accounting_provider_customer_error","organization_id":"4c6c3e4c-2b1e-4b8e-9f4a-1a2b3c4d5e6f","accounting_provider_customer_error":{"external_customer_id":"cus_Ünïcødé 42","accounting_provider":"netsuite","provider_error":{"message":"Invalid login attempt.","error_code":"INVALID_LOGIN"}}}"#
        let secret = "whsec_7f3a9c2e&+/= odd"
        let expected = try pythonHMAC(key: secret, message: body)
        #expect(HMACSHA256.sign(key: secret, message: body) == expected)
        #expect(HMACSHA256.base64(key: secret, message: body) == Data(expected).base64EncodedString())
    }

    @Test func verifyAcceptsTheRightSignatureOnly() {
        let key = Array("secret".utf8)
        let message = Array("{\"a\":1}".utf8)
        let good = HMACSHA256.sign(key: key, message: message)
        #expect(HMACSHA256.verify(signature: good, key: key, message: message))
        var flipped = good
        flipped[31] ^= 0x01
        #expect(!HMACSHA256.verify(signature: flipped, key: key, message: message))
        #expect(!HMACSHA256.verify(signature: Array(good.dropLast()), key: key, message: message))
        #expect(!HMACSHA256.verify(signature: good, key: Array("Secret".utf8), message: message))
        #expect(HMACSHA256.verify(base64: Data(good).base64EncodedString(), key: key, message: message))
        #expect(!HMACSHA256.verify(base64: "not base64!", key: key, message: message))
    }
}

@Suite(.timeLimit(.minutes(2))) struct SecretBoxTests {
    static let keyBytes = [UInt8](0..<32)
    static let keyBase64 = Data(keyBytes).base64EncodedString()

    static func box() throws -> SecretBox { try SecretBox(key: keyBytes) }
    static let context = SealContext(table: "connections", row: "0b6c3e4c-2b1e-4b8e-9f4a-1a2b3c4d5e6f", column: "secrets_sealed")
    /// "v2:" + 8 hex digits + ":"
    static let headerLength = 12

    /// An error's text must carry neither the key nor the secret it was protecting.
    static func expectClean(_ error: any Error, plaintext: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let text = String(describing: error) + String(reflecting: error)
        #expect(!text.contains(keyBase64), sourceLocation: sourceLocation)
        #expect(!text.contains(hexString(keyBytes)), sourceLocation: sourceLocation)
        #expect(!text.contains(plaintext), sourceLocation: sourceLocation)
        #expect(!text.contains("\n"), "errors are one line", sourceLocation: sourceLocation)
    }

    @Test func roundTrip() throws {
        let box = try Self.box()
        for text in [
            "", "x", "d26ad321a4b2f23b0741c8d38392ce01c3e23e109df6c96eac6d099e9ab9a8b5",
            "Grüße, 東京, 🔐 emoji and \u{0} nul", String(repeating: "long secret ", count: 500),
        ] {
            let sealed = try box.seal(text, for: Self.context)
            #expect(sealed.hasPrefix("v2:\(box.keyID):"))
            #expect(!sealed.contains(text) || text.count < 2)
            #expect(try box.open(sealed, for: Self.context) == text)
        }
    }

    @Test func formatIsNonceCiphertextTag() throws {
        let sealed = try Self.box().seal("abc", for: Self.context)
        let bytes = try #require(Data(base64Encoded: String(sealed.dropFirst(Self.headerLength))))
        #expect(bytes.count == 12 + 3 + 16)
    }

    @Test func twoSealsOfOneTextDiffer() throws {
        let box = try Self.box()
        let first = try box.seal("same secret", for: Self.context)
        let second = try box.seal("same secret", for: Self.context)
        #expect(first != second)
        #expect(first.dropFirst(Self.headerLength).prefix(16) != second.dropFirst(Self.headerLength).prefix(16), "nonces differ")
        #expect(try box.open(first, for: Self.context) == "same secret")
        #expect(try box.open(second, for: Self.context) == "same secret")
    }

    /// Flips one byte of the decoded payload at `offset` (negative counts from the end).
    static func tamper(_ sealed: String, at offset: Int) -> String {
        var bytes = [UInt8](Data(base64Encoded: String(sealed.dropFirst(headerLength)))!)
        bytes[offset >= 0 ? offset : bytes.count + offset] ^= 0x40
        return String(sealed.prefix(headerLength)) + Data(bytes).base64EncodedString()
    }

    @Test(arguments: [("nonce", 0), ("ciphertext", 12), ("ciphertext end", 12 + 9), ("tag", -1), ("tag start", -16)])
    func tamperingFails(part: String, offset: Int) throws {
        let plaintext = "token secret 0123456789"
        let box = try Self.box()
        let tampered = Self.tamper(try box.seal(plaintext, for: Self.context), at: offset)
        let error = try #require(throws: CryptoError.self, "tampered \(part)") { try box.open(tampered, for: Self.context) }
        #expect(error.code == .authenticationFailed)
        Self.expectClean(error, plaintext: plaintext)
    }

    @Test func wrongKeyFails() throws {
        let plaintext = "consumer secret value"
        let sealed = try Self.box().seal(plaintext, for: Self.context)
        let other = try SecretBox(key: [UInt8](repeating: 7, count: 32))
        let error = try #require(throws: CryptoError.self) { try other.open(sealed, for: Self.context) }
        // The key id says at once that this is another key, and which one was expected.
        #expect(error.code == .unknownKey)
        #expect(error.message.contains(try Self.box().keyID) && error.message.contains(other.keyID))
        Self.expectClean(error, plaintext: plaintext)
    }

    @Test func malformedInputFails() throws {
        let plaintext = "a secret to lose"
        let box = try Self.box()
        let sealed = try box.seal(plaintext, for: Self.context)
        let payload = String(sealed.dropFirst(Self.headerLength))
        let cases = [
            "", "v1:", "v2:", "v2:" + payload, "v3:" + payload, payload, plaintext,
            "v1:not*base64!", "v1:" + Data([UInt8](repeating: 1, count: 27)).base64EncodedString(),
            String(sealed.prefix(Self.headerLength)) + "not*base64!", String(sealed.dropLast(8)),
        ]
        for input in cases {
            let error = try #require(throws: CryptoError.self, "input \(input.debugDescription)") { try box.open(input, for: Self.context) }
            #expect(error.code == .malformed || error.code == .authenticationFailed || error.code == .unknownKey)
            Self.expectClean(error, plaintext: plaintext)
        }
        // Truncating inside the payload but keeping valid base64: the tag no longer matches.
        let truncated =
            String(sealed.prefix(Self.headerLength))
            + Data([UInt8](Data(base64Encoded: payload)!).dropLast(1)).base64EncodedString()
        let error = try #require(throws: CryptoError.self) { try box.open(truncated, for: Self.context) }
        #expect(error.code == .authenticationFailed)
    }

    @Test func keyMustBe32Bytes() {
        for count in [0, 16, 31, 33, 64] {
            #expect(throws: CryptoError(.invalidKey, "secret key must be 32 bytes, got \(count)")) {
                try SecretBox(key: [UInt8](repeating: 1, count: count))
            }
        }
    }

    @Test func keyFromEnvironment() throws {
        let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": Self.keyBase64])
        #expect(try Self.box().open(box.seal("shared", for: Self.context), for: Self.context) == "shared")
        let named = try SecretBox.fromEnvironment("OTHER_KEY", environment: ["OTHER_KEY": SecretBox.generateKey() + "\n"])
        #expect(try named.open(named.seal("x", for: Self.context), for: Self.context) == "x")
    }

    @Test func keyFromEnvironmentMissing() throws {
        for environment in [[:], ["LEDGERSYNC_SECRET_KEY": ""]] {
            let error = try #require(throws: CryptoError.self) { try SecretBox.fromEnvironment(environment: environment) }
            #expect(error.code == .missingKey)
            #expect(error.message.contains("LEDGERSYNC_SECRET_KEY"))
        }
    }

    @Test func keyFromEnvironmentWrongLengthOrNotBase64() throws {
        let short = Data([UInt8](repeating: 9, count: 16)).base64EncodedString()
        let long = Data([UInt8](repeating: 9, count: 48)).base64EncodedString()
        for value in [short, long, "this is not base64 at all!", "c2VjcmV0"] {
            let error = try #require(throws: CryptoError.self) {
                try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": value])
            }
            #expect(error.code == .invalidKey)
            #expect(error.message.contains("LEDGERSYNC_SECRET_KEY"))
            #expect(!error.message.contains(value), "never echoes the value")
        }
    }

    @Test func generatedKeysAreRandom32Bytes() throws {
        let a = SecretBox.generateKey()
        let b = SecretBox.generateKey()
        #expect(a != b)
        #expect(Data(base64Encoded: a)?.count == 32)
        _ = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": a])
    }

    @Test func descriptionHidesTheKey() throws {
        let box = try Self.box()
        var dumped = ""
        dump(box, to: &dumped)
        for text in [String(describing: box), String(reflecting: box), "\(box)", dumped] {
            #expect(!text.contains(Self.keyBase64))
            #expect(!text.contains("31"), "no key bytes (the key ends in 31)")
        }
    }
}

@Suite(.timeLimit(.minutes(2))) struct SecureRandomTests {
    @Test func alphanumericNonces() {
        let nonces = (0..<200).map { _ in SecureRandom.alphanumeric(length: 20) }
        #expect(Set(nonces).count == nonces.count)
        for nonce in nonces {
            #expect(nonce.count == 20)
            #expect(nonce.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0)) })
        }
        #expect(SecureRandom.bytes(0).isEmpty)
        #expect(SecureRandom.bytes(64).count == 64)
    }
}
