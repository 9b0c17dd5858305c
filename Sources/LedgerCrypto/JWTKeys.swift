import CCrypto
import Foundation

/// The JWS algorithms (RFC 7518 §3.1) a key here signs and verifies with. RS256 (PKCS#1
/// v1.5) is left out on purpose: NetSuite refuses it for client assertions (PROVIDERS 2.5).
public enum JWTAlgorithm: String, Sendable, CaseIterable, Equatable {
    case ps256 = "PS256"
    case ps384 = "PS384"
    case ps512 = "PS512"
    case es256 = "ES256"
    case es384 = "ES384"
    case es512 = "ES512"

    /// RSA-PSS (`PS…`) or ECDSA (`ES…`).
    public var isRSA: Bool { rawValue.hasPrefix("PS") }

    /// The digest length in bytes (also the PSS salt length, RFC 7518 §3.5).
    var digestByteCount: Int {
        switch self {
        case .ps256, .es256: 32
        case .ps384, .es384: 48
        case .ps512, .es512: 64
        }
    }

    var digest: OpaquePointer? {
        switch self {
        case .ps256, .es256: EVP_sha256()
        case .ps384, .es384: EVP_sha384()
        case .ps512, .es512: EVP_sha512()
        }
    }

    /// The curve an `ES…` algorithm requires (RFC 7518 §3.4) and the byte length of r and s.
    var curve: (name: String, coordinateBytes: Int)? {
        switch self {
        case .es256: ("prime256v1", 32)
        case .es384: ("secp384r1", 48)
        case .es512: ("secp521r1", 66)
        default: nil
        }
    }
}

/// An asymmetric key read through libcrypto: RSA or EC. Shared by `JWTPrivateKey` and
/// `JWTPublicKey`; frees the `EVP_PKEY` with its last reference.
final class EVPKey: @unchecked Sendable {
    // @unchecked: the pointer is only read after init (EVP_PKEY is safe to use from several
    // threads for signing and verifying once loaded; each operation has its own context).
    let pointer: OpaquePointer

    init(_ pointer: OpaquePointer) { self.pointer = pointer }
    deinit { EVP_PKEY_free(pointer) }

    enum Kind: Equatable {
        case rsa(bits: Int)
        case ec(curve: String)
    }

    /// The key's type, or an error saying which type it is when it is neither RSA nor EC.
    func kind(what: String) throws -> Kind {
        let id = EVP_PKEY_get_base_id(pointer)
        if id == EVP_PKEY_RSA || id == EVP_PKEY_RSA_PSS {
            return .rsa(bits: Int(EVP_PKEY_get_bits(pointer)))
        }
        if id == EVP_PKEY_EC {
            var name = [CChar](repeating: 0, count: 64)
            var length = 0
            guard EVP_PKEY_get_group_name(pointer, &name, name.count, &length) == 1 else {
                throw CryptoError(.invalidKey, "\(what) is an EC key on a curve libcrypto cannot name; use P-256, P-384 or P-521")
            }
            return .ec(curve: String(decoding: name.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        throw CryptoError(
            .invalidKey, "\(what) is neither an RSA nor an EC key (key type \(id)); use RSA (3072 or 4096 bits) or EC P-256/P-384/P-521")
    }

    /// The algorithms the key can use: PS256/384/512 for RSA of at least 2048 bits, the one
    /// ES algorithm matching an EC key's curve.
    func checkUsable(for algorithm: JWTAlgorithm, what: String) throws {
        switch try kind(what: what) {
        case .rsa(let bits):
            guard algorithm.isRSA else {
                throw CryptoError(.invalidKey, "\(what) is an RSA key, which cannot sign \(algorithm.rawValue); use PS256, PS384 or PS512")
            }
            guard bits >= JWTPrivateKey.minimumRSABits else {
                throw CryptoError(
                    .invalidKey,
                    "\(what) is an RSA key of \(bits) bits, too short: at least \(JWTPrivateKey.minimumRSABits) (NetSuite wants 3072 or 4096)"
                )
            }
        case .ec(let curve):
            guard let expected = algorithm.curve else {
                throw CryptoError(.invalidKey, "\(what) is an EC key, which cannot sign \(algorithm.rawValue); use ES256, ES384 or ES512")
            }
            guard curve == expected.name else {
                throw CryptoError(.invalidKey, "\(what) is an EC key on curve \(curve), but \(algorithm.rawValue) needs \(expected.name)")
            }
        }
    }

    /// Reads one PEM object with `read` from a memory BIO. Encrypted keys are refused (the
    /// password callback answers "no password" rather than prompting on the terminal).
    static func readPEM(_ pem: String, _ read: (OpaquePointer?) -> OpaquePointer?) -> OpaquePointer? {
        let bytes = Array(pem.utf8)
        return bytes.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            guard let bio = BIO_new_mem_buf(buffer.baseAddress, Int32(buffer.count)) else { return nil }
            defer { BIO_free(bio) }
            let key = read(bio)
            ERR_clear_error()
            return key
        }
    }

    /// The label of the first PEM block (`PRIVATE KEY`, `RSA PRIVATE KEY`, `CERTIFICATE`…).
    static func pemLabel(_ pem: String) -> String? {
        guard let begin = pem.range(of: "-----BEGIN ") else { return nil }
        let rest = pem[begin.upperBound...]
        guard let end = rest.range(of: "-----") else { return nil }
        return String(rest[..<end.lowerBound])
    }
}

/// A password callback that never gives one: an encrypted PEM key fails to load instead of
/// OpenSSL asking for a password on the terminal.
private func noPassword(_ buffer: UnsafeMutablePointer<CChar>?, _ size: Int32, _ writing: Int32, _ context: UnsafeMutableRawPointer?)
    -> Int32
{ 0 }

/// A private key for signing JWTs (RFC 7515): RSA (PS256/PS384/PS512, RSA-PSS with MGF1 and a
/// salt as long as the digest) or EC (ES256 on P-256, ES384 on P-384, ES512 on P-521; the
/// signature is r‖s, RFC 7515 §3.4 / RFC 7518 §3.4, not DER). Its description never shows
/// the key.
public struct JWTPrivateKey: Sendable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The shortest RSA key accepted (RFC 7518 §3.5 asks for 2048; NetSuite for 3072 or 4096).
    public static let minimumRSABits = 2048

    let key: EVPKey

    /// Reads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or traditional (`BEGIN RSA
    /// PRIVATE KEY`, `BEGIN EC PRIVATE KEY`), unencrypted. Errors say what is wrong (not a
    /// PEM, encrypted, not a key, unsupported type, too short) and never show the key.
    public init(pem: String) throws {
        guard let label = EVPKey.pemLabel(pem) else {
            throw CryptoError(.invalidKey, "the private key is not PEM (expected -----BEGIN PRIVATE KEY-----)")
        }
        if label == "ENCRYPTED PRIVATE KEY" || pem.contains("Proc-Type: 4,ENCRYPTED") {
            throw CryptoError(.invalidKey, "the private key is encrypted; give it unencrypted (openssl pkcs8 -topk8 -nocrypt)")
        }
        guard label.hasSuffix("PRIVATE KEY") else {
            throw CryptoError(.invalidKey, "the private key PEM holds a \(label.prefix(40)), not a private key")
        }
        guard let pointer = EVPKey.readPEM(pem, { PEM_read_bio_PrivateKey($0, nil, noPassword, nil) }) else {
            throw CryptoError(.invalidKey, "the private key PEM could not be read (damaged base64 or an unsupported key)")
        }
        key = EVPKey(pointer)
        let kind = try key.kind(what: "the private key")
        if case .rsa(let bits) = kind, bits < Self.minimumRSABits {
            throw CryptoError(
                .invalidKey,
                "the private key is RSA of \(bits) bits, too short: at least \(Self.minimumRSABits) (NetSuite wants 3072 or 4096)")
        }
        if case .ec(let curve) = kind, !JWTAlgorithm.allCases.contains(where: { $0.curve?.name == curve }) {
            throw CryptoError(.invalidKey, "the private key is EC on curve \(curve); use P-256, P-384 or P-521")
        }
    }

    /// The algorithm a key of this type signs with by default: PS256 for RSA, the ES
    /// algorithm of an EC key's curve.
    public var defaultAlgorithm: JWTAlgorithm {
        guard let kind = try? key.kind(what: "the private key") else { return .ps256 }
        switch kind {
        case .rsa: return .ps256
        case .ec(let curve): return JWTAlgorithm.allCases.first { $0.curve?.name == curve } ?? .es256
        }
    }

    /// The signature of `message` (the JWS signing input) with `algorithm`: RSA-PSS bytes,
    /// or r‖s for ECDSA.
    public func sign(_ message: [UInt8], algorithm: JWTAlgorithm) throws -> [UInt8] {
        try key.checkUsable(for: algorithm, what: "the private key")
        // libcurl's TLS shares this thread's OpenSSL error queue: leave nothing in it.
        defer { ERR_clear_error() }
        guard let context = EVP_MD_CTX_new() else {
            throw CryptoError(.library, "\(algorithm.rawValue): could not allocate a digest context")
        }
        defer { EVP_MD_CTX_free(context) }
        var pkeyContext: OpaquePointer?
        guard EVP_DigestSignInit(context, &pkeyContext, algorithm.digest, nil, key.pointer) == 1 else {
            throw CryptoError(.library, "\(algorithm.rawValue): could not start signing")
        }
        if algorithm.isRSA { try JWTPrivateKey.configurePSS(pkeyContext, algorithm) }
        let bytes = message.isEmpty ? [0] : message
        var length = 0
        guard EVP_DigestSign(context, nil, &length, bytes, message.count) == 1 else {
            throw CryptoError(.library, "\(algorithm.rawValue): signing failed")
        }
        var signature = [UInt8](repeating: 0, count: length)
        guard EVP_DigestSign(context, &signature, &length, bytes, message.count) == 1 else {
            throw CryptoError(.library, "\(algorithm.rawValue): signing failed")
        }
        signature = Array(signature.prefix(length))
        guard let curve = algorithm.curve else { return signature }
        return try ECDSASignature.raw(fromDER: signature, coordinateBytes: curve.coordinateBytes)
    }

    /// RSA-PSS as RFC 7518 §3.5 has it: MGF1 with the same hash, salt as long as the digest.
    static func configurePSS(_ context: OpaquePointer?, _ algorithm: JWTAlgorithm) throws {
        guard EVP_PKEY_CTX_set_rsa_padding(context, RSA_PKCS1_PSS_PADDING) == 1,
            EVP_PKEY_CTX_set_rsa_pss_saltlen(context, Int32(algorithm.digestByteCount)) == 1,
            EVP_PKEY_CTX_set_rsa_mgf1_md(context, algorithm.digest) == 1
        else { throw CryptoError(.library, "\(algorithm.rawValue): could not set RSA-PSS parameters") }
    }

    public var description: String { "JWTPrivateKey(\(defaultAlgorithm.isRSA ? "RSA" : "EC"), redacted)" }
    public var debugDescription: String { description }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

/// A public key for verifying JWTs, from a `BEGIN PUBLIC KEY` PEM (SubjectPublicKeyInfo) or
/// an X.509 certificate PEM (`BEGIN CERTIFICATE`, the form NetSuite's M2M mapping takes).
public struct JWTPublicKey: Sendable {
    let key: EVPKey

    public init(pem: String) throws {
        guard let label = EVPKey.pemLabel(pem) else {
            throw CryptoError(.invalidKey, "the public key is not PEM (expected -----BEGIN PUBLIC KEY----- or -----BEGIN CERTIFICATE-----)")
        }
        let pointer: OpaquePointer?
        switch label {
        case "PUBLIC KEY":
            pointer = EVPKey.readPEM(pem) { PEM_read_bio_PUBKEY($0, nil, noPassword, nil) }
        case "CERTIFICATE":
            pointer = EVPKey.readPEM(pem) { bio in
                guard let certificate = PEM_read_bio_X509(bio, nil, noPassword, nil) else { return nil }
                defer { X509_free(certificate) }
                return X509_get_pubkey(certificate)
            }
        default:
            throw CryptoError(.invalidKey, "the public key PEM holds a \(label.prefix(40)), not a PUBLIC KEY or CERTIFICATE")
        }
        guard let pointer else {
            throw CryptoError(.invalidKey, "the \(label.lowercased()) PEM could not be read (damaged base64 or an unsupported key)")
        }
        key = EVPKey(pointer)
        _ = try key.kind(what: "the public key")
    }

    /// True when `signature` (RSA-PSS bytes, or r‖s for ECDSA) signs `message` under this
    /// key with `algorithm`. False for a key of the wrong type or size, never an error.
    public func verify(_ signature: [UInt8], message: [UInt8], algorithm: JWTAlgorithm) -> Bool {
        guard (try? key.checkUsable(for: algorithm, what: "the public key")) != nil else { return false }
        defer { ERR_clear_error() }
        var signatureBytes = signature
        if let curve = algorithm.curve {
            guard let der = ECDSASignature.der(fromRaw: signature, coordinateBytes: curve.coordinateBytes) else { return false }
            signatureBytes = der
        }
        guard let context = EVP_MD_CTX_new() else { return false }
        defer { EVP_MD_CTX_free(context) }
        var pkeyContext: OpaquePointer?
        guard EVP_DigestVerifyInit(context, &pkeyContext, algorithm.digest, nil, key.pointer) == 1 else { return false }
        if algorithm.isRSA {
            guard (try? JWTPrivateKey.configurePSS(pkeyContext, algorithm)) != nil else { return false }
        }
        let bytes = message.isEmpty ? [0] : message
        return EVP_DigestVerify(context, signatureBytes, signatureBytes.count, bytes, message.count) == 1
    }
}

/// ECDSA signatures between libcrypto's DER (`ECDSA-Sig-Value`) and JWS's fixed-length r‖s.
enum ECDSASignature {
    static func raw(fromDER der: [UInt8], coordinateBytes: Int) throws -> [UInt8] {
        var pointer: UnsafePointer<UInt8>? = nil
        let signature: OpaquePointer? = der.withUnsafeBufferPointer { buffer in
            pointer = buffer.baseAddress
            return d2i_ECDSA_SIG(nil, &pointer, buffer.count)
        }
        guard let signature else { throw CryptoError(.library, "ECDSA: libcrypto gave a signature that is not DER") }
        defer { ECDSA_SIG_free(signature) }
        var r: OpaquePointer?
        var s: OpaquePointer?
        ECDSA_SIG_get0(signature, &r, &s)
        var out = [UInt8](repeating: 0, count: 2 * coordinateBytes)
        let ok = out.withUnsafeMutableBufferPointer { buffer in
            BN_bn2binpad(r, buffer.baseAddress, Int32(coordinateBytes)) == Int32(coordinateBytes)
                && BN_bn2binpad(s, buffer.baseAddress.map { $0 + coordinateBytes }, Int32(coordinateBytes)) == Int32(coordinateBytes)
        }
        guard ok else { throw CryptoError(.library, "ECDSA: r or s does not fit the curve") }
        return out
    }

    static func der(fromRaw raw: [UInt8], coordinateBytes: Int) -> [UInt8]? {
        guard raw.count == 2 * coordinateBytes, let signature = ECDSA_SIG_new() else { return nil }
        defer { ECDSA_SIG_free(signature) }
        let r = BN_bin2bn(raw, Int32(coordinateBytes), nil)
        let s = Array(raw[coordinateBytes...]).withUnsafeBufferPointer { BN_bin2bn($0.baseAddress, Int32(coordinateBytes), nil) }
        guard let r, let s else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        // set0 takes ownership of r and s.
        guard ECDSA_SIG_set0(signature, r, s) == 1 else {
            BN_free(r)
            BN_free(s)
            return nil
        }
        let length = i2d_ECDSA_SIG(signature, nil)
        guard length > 0 else { return nil }
        var out = [UInt8](repeating: 0, count: Int(length))
        let written = out.withUnsafeMutableBufferPointer { buffer -> Int32 in
            var pointer = buffer.baseAddress
            return i2d_ECDSA_SIG(signature, &pointer)
        }
        return written == length ? out : nil
    }
}
