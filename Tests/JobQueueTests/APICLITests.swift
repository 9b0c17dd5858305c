import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Sync
import Testing

/// `ledgersync tokens …` and `connections inbound-secret`: each secret is printed once, on
/// stdout alone, and only its hash (or its sealed form) reaches the database.
@Suite(.timeLimit(.minutes(3)))
struct APICLITests {
    @Test("tokens create prints the token once; list shows only its start; revoke refuses it; unknown ids are 2")
    func tokens() async throws {
        try await withTestDatabase { db in
            let created = try await SyncCLITests.run(["tokens", "create", "--name", "oncall"], databaseURL: db.url)
            #expect(created.status == 0, "\(created)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("lsk_") && token.count > 40 && !token.contains("\n"), "\(created)")
            #expect(!created.stderr.contains(token), "the token goes to stdout only")

            let stored: String = try await db.pool.query(
                "SELECT encode(token_sha256, 'hex') || name || hint AS row FROM ledgersync.api_tokens").rows[0].decode("row")
            #expect(!stored.contains(token) && stored.hasPrefix(SHA256.hex(token)), "only the SHA-256 is stored")

            let listed = try await SyncCLITests.run(["tokens", "list"], databaseURL: db.url)
            #expect(listed.status == 0 && listed.stdout.contains("oncall") && listed.stdout.contains(String(token.prefix(8))), "\(listed)")
            #expect(!listed.stdout.contains(token))

            let revoked = try await SyncCLITests.run(["tokens", "revoke", "1"], databaseURL: db.url)
            #expect(revoked.status == 0, "\(revoked)")
            let count = try await db.pool.query("SELECT count(*)::bigint AS n FROM ledgersync.api_tokens WHERE revoked_at IS NOT NULL").rows[0]
                .decode("n", as: Int64.self)
            #expect(count == 1)
            let unknown = try await SyncCLITests.run(["tokens", "revoke", "999"], databaseURL: db.url)
            #expect(unknown.status == 2, "\(unknown)")
        }
    }

    @Test("connections inbound-secret prints a new secret once and stores it sealed")
    func inboundSecret() async throws {
        try await withTestDatabase { db in
            let key = SecretBox.generateKey()
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": key])
            let connection = try await ConnectionStore(pool: db.pool, secretBox: box).create(
                AccountingConnection(
                    provider: .netsuite, name: "x", accountID: "1234567",
                    secrets: .init(consumerKey: "ck-123456", consumerSecret: "cs", tokenID: "tid-123456", tokenSecret: "ts")))
            let id = connection.id!.uuidString.lowercased()
            let made = try await SyncCLITests.run(["connections", "inbound-secret", id], databaseURL: db.url, environment: ["LEDGERSYNC_SECRET_KEY": key])
            #expect(made.status == 0, "\(made)")
            let secret = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(secret.count >= 40 && !made.stderr.contains(secret), "\(made)")
            let sealed: String = try await db.pool.query("SELECT secret_sealed FROM ledgersync.inbound_secrets").rows[0].decode("secret_sealed")
            #expect(sealed.hasPrefix("v2:") && !sealed.contains(secret))
            #expect(try await InboundSecretStore(pool: db.pool, secretBox: box).secret(connection: connection.id!) == secret)

            let unknown = try await SyncCLITests.run(
                ["connections", "inbound-secret", UUID().uuidString], databaseURL: db.url, environment: ["LEDGERSYNC_SECRET_KEY": key])
            #expect(unknown.status == 2, "\(unknown)")
        }
    }
}
