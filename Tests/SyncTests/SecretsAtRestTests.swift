import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Sync
import Testing

/// One known answer of `scripts/secretbox-fixtures.py` (pyca/cryptography's AES-GCM).
struct SecretBoxFixture: Decodable, Sendable, CustomTestStringConvertible {
    let name: String
    let keyBase64: String
    let keyID: String
    let nonceHex: String
    let table: String
    let row: String
    let column: String
    let associatedData: String
    let plaintext: String
    let ciphertextAndTagHex: String
    let sealedV2: String
    let sealedV1: String

    enum CodingKeys: String, CodingKey {
        case name, table, row, column, plaintext
        case keyBase64 = "key_base64"
        case keyID = "key_id"
        case nonceHex = "nonce_hex"
        case associatedData = "associated_data"
        case ciphertextAndTagHex = "ciphertext_and_tag_hex"
        case sealedV2 = "sealed_v2"
        case sealedV1 = "sealed_v1"
    }

    var testDescription: String { name }
    var key: [UInt8] { [UInt8](Data(base64Encoded: keyBase64)!) }
    var context: SealContext { SealContext(table: table, row: row, column: column) }

    static let all: [SecretBoxFixture] = {
        struct File: Decodable { let cases: [SecretBoxFixture] }
        guard let url = Bundle.module.url(forResource: "secretbox", withExtension: "json", subdirectory: "Fixtures"),
            let data = try? Data(contentsOf: url),
            let file = try? JSONDecoder().decode(File.self, from: data)
        else { return [] }
        return file.cases
    }()
}

/// A `SELECT count(*) …` answer.
private func rowCount(_ db: TestDatabase, _ sql: String, _ binds: [any PostgresEncodable] = []) async throws -> Int {
    let row = try #require(try await db.pool.query(sql, binds).rows.first)
    return try row.decode(row.columns[0], as: Int.self)
}

func bytes(hex: String) -> [UInt8] {
    var out: [UInt8] = []
    var index = hex.startIndex
    while index < hex.endIndex {
        let next = hex.index(index, offsetBy: 2)
        out.append(UInt8(hex[index..<next], radix: 16)!)
        index = next
    }
    return out
}

/// AES-256-GCM with associated data, held to answers computed by Python's `cryptography`.
@Suite(.timeLimit(.minutes(2))) struct SecretBoxKnownAnswerTests {
    @Test func fixturesAreThere() {
        #expect(SecretBoxFixture.all.count == 3, "Tests/SyncTests/Fixtures/secretbox.json must hold the three cases")
    }

    @Test(arguments: SecretBoxFixture.all)
    func matchesPythonCryptography(_ fixture: SecretBoxFixture) throws {
        #expect(fixture.context.associatedData == fixture.associatedData)
        let raw = try SecretBox.encryptForTesting(
            Array(fixture.plaintext.utf8), key: fixture.key, nonce: bytes(hex: fixture.nonceHex),
            associatedData: Array(fixture.associatedData.utf8))
        #expect(raw == bytes(hex: fixture.ciphertextAndTagHex))
        #expect(SecretBox.keyID(of: fixture.key) == fixture.keyID)
        let box = try SecretBox(key: fixture.key)
        #expect(box.keyID == fixture.keyID)
        #expect(try box.open(fixture.sealedV2, for: fixture.context) == fixture.plaintext)
        // The first format, made before associated data and key ids, still opens anywhere.
        #expect(try box.open(fixture.sealedV1, for: fixture.context) == fixture.plaintext)
        #expect(try box.open(fixture.sealedV1, for: SealContext(table: "other", row: "x", column: "y")) == fixture.plaintext)
    }

    @Test(arguments: SecretBoxFixture.all)
    func boundToTableRowAndColumn(_ fixture: SecretBoxFixture) throws {
        let box = try SecretBox(key: fixture.key)
        let elsewhere = [
            SealContext(table: fixture.table, row: fixture.row + "0", column: fixture.column),
            SealContext(table: fixture.table, row: fixture.row, column: "previous_" + fixture.column),
            SealContext(table: "connections_copy", row: fixture.row, column: fixture.column),
        ]
        for context in elsewhere {
            let error = try #require(throws: CryptoError.self, "\(context)") { try box.open(fixture.sealedV2, for: context) }
            #expect(error.code == .authenticationFailed)
            #expect(!error.message.contains(fixture.plaintext) || fixture.plaintext.isEmpty)
        }
    }

    @Test func keyringOpensPreviousKeysAndSealsUnderTheNewOne() throws {
        let old = try #require(SecretBoxFixture.all.first)
        let newKey = [UInt8](repeating: 0x3C, count: 32)
        let ring = try SecretBox(key: newKey, previousKeys: [old.key])
        #expect(ring.keyIDs == [SecretBox.keyID(of: newKey), old.keyID])
        #expect(try ring.open(old.sealedV2, for: old.context) == old.plaintext)
        #expect(ring.needsResealing(old.sealedV2) && ring.needsResealing(old.sealedV1))
        let resealed = try ring.seal(old.plaintext, for: old.context)
        #expect(resealed.hasPrefix("v2:\(ring.keyID):") && !ring.needsResealing(resealed))
        // The old key alone cannot open what the ring seals now, and says which key it needs.
        let error = try #require(throws: CryptoError.self) { try SecretBox(key: old.key).open(resealed, for: old.context) }
        #expect(error.code == .unknownKey && error.message.contains(ring.keyID))
    }

    @Test func keyringFromEnvironment() throws {
        let current = SecretBox.generateKey()
        let previous = [SecretBox.generateKey(), SecretBox.generateKey()]
        let box = try SecretBox.fromEnvironment(environment: [
            "LEDGERSYNC_SECRET_KEY": current, "LEDGERSYNC_SECRET_KEY_PREVIOUS": previous.joined(separator: ", "),
        ])
        let ids = ([current] + previous).map { SecretBox.keyID(of: [UInt8](Data(base64Encoded: $0)!)) }
        #expect(box.keyIDs == ids)
        let error = try #require(throws: CryptoError.self) {
            try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": current, "LEDGERSYNC_SECRET_KEY_PREVIOUS": "short"])
        }
        #expect(error.code == .invalidKey && error.message.contains("LEDGERSYNC_SECRET_KEY_PREVIOUS") && !error.message.contains("short"))
    }
}

/// Secrets in the database: bound to their rows, checked at start-up, re-keyed in place.
@Suite(.timeLimit(.minutes(2)))
struct SecretsAtRestTests {
    static let oldKey = [UInt8](repeating: 0x11, count: 32)
    static let newKey = [UInt8](repeating: 0x22, count: 32)
    static let secrets = ConnectionSecrets([
        "consumer_key": "ck-71c0ffee", "consumer_secret": "cs-3a9d5e21", "token_id": "tid-0b7e4422", "token_secret": "ts-e61f09ab",
    ])

    static func connection(_ name: String) -> AccountingConnection {
        AccountingConnection(
            provider: "netsuite", name: name, accountID: "1234567", settings: .init(baseURL: "https://1234567.suitetalk.api.netsuite.com"),
            secrets: secrets)
    }

    static func withDatabase(_ body: (TestDatabase) async throws -> Void) async throws {
        try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations, body)
    }

    @Test("a sealed secret copied into another row does not open there")
    func sealedValuesAreBoundToTheirRow() async throws {
        try await Self.withDatabase { db in
            let box = try SecretBox(key: Self.oldKey)
            let store = ConnectionStore(pool: db.pool, secretBox: box, allowPrivateNetworks: false)
            let a = try await store.create(Self.connection("a"))
            let b = try await store.create(Self.connection("b"))
            let sealed: String = try await db.pool.query(
                "SELECT secrets_sealed FROM ledgersync.connections WHERE id = $1::uuid", [a.id!.uuidString]
            ).rows[0].decode("secrets_sealed")
            #expect(sealed.hasPrefix("v2:\(box.keyID):"))
            // Someone with write access to the table moves a's credentials onto b.
            try await db.pool.query(
                "UPDATE ledgersync.connections SET secrets_sealed = $1 WHERE id = $2::uuid", [sealed, b.id!.uuidString])
            let error = await #expect(throws: StoreError.self) { try await store.get(b.id!) }
            #expect(error?.code == .secretsUnreadable)
            #expect(try await store.get(a.id!).secrets == Self.secrets)
        }
    }

    @Test("the key check: the right key passes, a wrong one is refused naming the expected key id")
    func keyCheck() async throws {
        try await Self.withDatabase { db in
            let right = try SecretBox(key: Self.oldKey)
            let wrong = try SecretBox(key: Self.newKey)
            // No check row yet, but a connection sealed under the right key: a wrong key is
            // caught by the stored value, and no check row is written for it.
            _ = try await ConnectionStore(pool: db.pool, secretBox: right).create(Self.connection("a"))
            let early = await #expect(throws: SecretKeyCheck.Mismatch.self) { try await SecretKeyCheck.verify(pool: db.pool, box: wrong) }
            #expect(
                early?.message.contains(right.keyID) == true && early?.message.contains(wrong.keyID) == true, "\(String(describing: early))"
            )
            #expect(try await rowCount(db, "SELECT count(*) FROM ledgersync.secret_key_check") == 0)
            // The right key passes and records the check row.
            try await SecretKeyCheck.verify(pool: db.pool, box: right)
            #expect(try await rowCount(db, "SELECT count(*) FROM ledgersync.secret_key_check") == 1)
            try await SecretKeyCheck.verify(pool: db.pool, box: right)
            let refused = await #expect(throws: SecretKeyCheck.Mismatch.self) { try await SecretKeyCheck.verify(pool: db.pool, box: wrong) }
            let message = refused?.message ?? ""
            #expect(message.contains("key id \(right.keyID)") && !message.contains("\n"), "\(message)")
            // A ring that holds the right key as a previous one passes (a rotation under way).
            try await SecretKeyCheck.verify(pool: db.pool, box: try SecretBox(key: Self.newKey, previousKeys: [Self.oldKey]))
        }
    }

    @Test("rotate-key re-seals every sealed column under the new key; v1 values included; a second run changes nothing")
    func rotationResealsEverything() async throws {
        try await Self.withDatabase { db in
            let old = try SecretBox(key: Self.oldKey)
            let connections = ConnectionStore(pool: db.pool, secretBox: old, allowPrivateNetworks: true)
            let connection = try await connections.create(Self.connection("netsuite"))
            let legacy = try await connections.create(Self.connection("legacy"))
            let endpoints = WebhookEndpointStore(pool: db.pool, secretBox: old, allowPrivateNetworks: true)
            let endpoint = try await endpoints.create(url: "https://hooks.example.com/ls", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            let (_, newWebhookSecret) = try await endpoints.rotateSecret(endpoint.id, overlap: .seconds(3600))
            let inboundSecret = try await InboundSecretStore(pool: db.pool, secretBox: old).rotate(connection: connection.id!)
            try await SecretKeyCheck.verify(pool: db.pool, box: old)
            // A value from before key ids: v1, sealed under the old key without associated data.
            let fixture = try #require(SecretBoxFixture.all.first)
            let v1 = try await Self.legacySealed(JSONText(encoding: Self.secrets).text, key: Self.oldKey, fixture: fixture)
            try await db.pool.query(
                "UPDATE ledgersync.connections SET secrets_sealed = $1 WHERE id = $2::uuid", [v1, legacy.id!.uuidString])
            #expect(try await connections.get(legacy.id!).secrets == Self.secrets)

            let ring = try SecretBox(key: Self.newKey, previousKeys: [Self.oldKey])
            let report = try await SecretKeyRotation.rotate(pool: db.pool, box: ring)
            #expect(
                report.resealed == [
                    "connections.secrets_sealed": 2, "webhook_endpoints.secret_sealed": 1, "webhook_endpoints.previous_secret_sealed": 1,
                    "inbound_secrets.secret_sealed": 1, "secret_key_check.sealed": 1,
                ])
            // Every sealed value is now v2 under the new key, and the new key alone opens them all.
            let stale = try await rowCount(
                db,
                """
                SELECT (SELECT count(*) FROM ledgersync.connections WHERE secrets_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.webhook_endpoints WHERE secret_sealed NOT LIKE $1 OR previous_secret_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.inbound_secrets WHERE secret_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.secret_key_check WHERE sealed NOT LIKE $1)
                """, ["v2:\(ring.keyID):%"])
            #expect(stale == 0)
            let new = try SecretBox(key: Self.newKey)
            try await SecretKeyCheck.verify(pool: db.pool, box: new)
            #expect(try await ConnectionStore(pool: db.pool, secretBox: new).list().allSatisfy { $0.secrets == Self.secrets })
            let reread = try #require(try await WebhookEndpointStore(pool: db.pool, secretBox: new).get(endpoint.id))
            #expect(reread.secret == newWebhookSecret && reread.previousSecret == "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
            #expect(try await InboundSecretStore(pool: db.pool, secretBox: new).secret(connection: connection.id!) == inboundSecret)
            // The old key alone no longer opens anything, and the check says so.
            await #expect(throws: SecretKeyCheck.Mismatch.self) { try await SecretKeyCheck.verify(pool: db.pool, box: old) }

            let again = try await SecretKeyRotation.rotate(pool: db.pool, box: ring)
            #expect(again.total == 0 && again.current == 6)
        }
    }

    /// A v1 value of `plaintext` under `key` (the format before key ids): AES-256-GCM without
    /// associated data, nonce ‖ ciphertext ‖ tag, as the fixture's sealed_v1 is built.
    static func legacySealed(_ plaintext: String, key: [UInt8], fixture: SecretBoxFixture) async throws -> String {
        let nonce = bytes(hex: fixture.nonceHex)
        let raw = try SecretBox.encryptForTesting(Array(plaintext.utf8), key: key, nonce: nonce, associatedData: [])
        return "v1:" + Data(nonce + raw).base64EncodedString()
    }
}
