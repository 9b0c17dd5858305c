import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
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
            let created = try await SyncCLITests.run(
                ["tokens", "create", "--name", "oncall", "--scope", "read,operate"], databaseURL: db.url)
            #expect(created.status == 0, "\(created)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(token.hasPrefix("lsk_") && token.count > 40 && !token.contains("\n"), "\(created)")
            #expect(!created.stderr.contains(token), "the token goes to stdout only")

            let stored: String = try await db.pool.query(
                "SELECT encode(token_sha256, 'hex') || name || hint AS row FROM ledgersync.api_tokens"
            ).rows[0].decode("row")
            // The expected hash comes from coreutils' sha256sum, not from the SHA256 under test.
            let expectedHash = try sha256sumHex(token)
            #expect(!stored.contains(token) && stored.hasPrefix(expectedHash), "only the SHA-256 is stored")

            let listed = try await SyncCLITests.run(["tokens", "list"], databaseURL: db.url)
            #expect(listed.status == 0 && listed.stdout.contains("oncall") && listed.stdout.contains(String(token.prefix(8))), "\(listed)")
            #expect(!listed.stdout.contains(token))

            let revoked = try await SyncCLITests.run(["tokens", "revoke", "1"], databaseURL: db.url)
            #expect(revoked.status == 0, "\(revoked)")
            let count = try await db.pool.query("SELECT count(*)::bigint AS n FROM ledgersync.api_tokens WHERE revoked_at IS NOT NULL")
                .rows[0]
                .decode("n", as: Int64.self)
            #expect(count == 1)
            let unknown = try await SyncCLITests.run(["tokens", "revoke", "999"], databaseURL: db.url)
            #expect(unknown.status == 2, "\(unknown)")
        }
    }

    @Test("tokens create needs --scope; scopes and expiry are stored and listed; unknown scopes are 64")
    func tokenScopesAndExpiry() async throws {
        try await withTestDatabase { db in
            let unscoped = try await SyncCLITests.run(["tokens", "create", "--name", "ci"], databaseURL: db.url)
            #expect(unscoped.status == 64 && unscoped.stderr.contains("--scope"), "\(unscoped)")
            let unknown = try await SyncCLITests.run(["tokens", "create", "--name", "ci", "--scope", "read,root"], databaseURL: db.url)
            #expect(unknown.status == 64, "\(unknown)")
            #expect(
                try await db.pool.query("SELECT count(*)::bigint AS n FROM ledgersync.api_tokens").rows[0].decode("n", as: Int64.self) == 0)

            let created = try await SyncCLITests.run(
                ["tokens", "create", "--name", "ci", "--scope", "enqueue", "--scope", "read", "--expires-in", "2h"], databaseURL: db.url)
            #expect(created.status == 0 && created.stderr.contains("enqueue") && created.stderr.contains("expires"), "\(created)")
            let row = try await db.pool.query(
                "SELECT array_to_string(scopes, ',') AS s, extract(epoch FROM expires_at - now())::bigint AS left_s FROM ledgersync.api_tokens"
            ).rows[0]
            #expect(try row.decode("s", as: String.self) == "read,enqueue")
            let secondsLeft = try row.decode("left_s", as: Int64.self)
            #expect((7000...7200).contains(secondsLeft), "expires in about 2h: \(secondsLeft)s")

            let listed = try await SyncCLITests.run(["tokens", "list"], databaseURL: db.url)
            #expect(listed.stdout.contains("SCOPES") && listed.stdout.contains("read,enqueue"), "\(listed)")
            let json = try await SyncCLITests.run(["tokens", "list", "--json"], databaseURL: db.url)
            let tokens = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
            #expect(tokens.first?["scopes"] as? [String] == ["read", "enqueue"] && tokens.first?["expires_at"] != nil, "\(json)")
        }
    }

    @Test("dashboard link prints a one-time sign-in URL; only the code's hash is stored; limits are checked")
    func dashboardLink() async throws {
        try await withTestDatabase { db in
            let made = try await SyncCLITests.run(
                ["dashboard", "link", "--for", "alice", "--url", "https://ledgersync.example/", "--expires-in", "5m"], databaseURL: db.url)
            #expect(made.status == 0, "\(made)")
            let link = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(link.hasPrefix("https://ledgersync.example/dashboard/sign-in?code=lsc_"), "\(made)")
            let code = String(link.split(separator: "=", maxSplits: 1)[1])
            let row = try await db.pool.query(
                """
                SELECT encode(code_sha256, 'hex') AS h, array_to_string(scopes, ',') AS s, label,
                       extract(epoch FROM expires_at - now())::bigint AS left_s
                FROM ledgersync.dashboard_sign_in_codes
                """
            ).rows[0]
            #expect(try row.decode("h", as: String.self) == sha256sumHex(code) && row.decode("label", as: String.self) == "alice")
            #expect(try row.decode("s", as: String.self) == "read,operate", "the default scopes: look and act")
            #expect((240...300).contains(try row.decode("left_s", as: Int64.self)))

            let tooLong = try await SyncCLITests.run(["dashboard", "link", "--expires-in", "48h"], databaseURL: db.url)
            #expect(tooLong.status == 64 && tooLong.stderr.contains("--expires-in"), "\(tooLong)")
        }
    }

    @Test("connections inbound-secret prints a new secret once and stores it sealed")
    func inboundSecret() async throws {
        try await withTestDatabase { db in
            let key = SecretBox.generateKey()
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": key])
            let connection = try await ConnectionStore(pool: db.pool, secretBox: box).create(
                AccountingConnection(
                    provider: "netsuite", name: "x", accountID: "1234567",
                    secrets: ConnectionSecrets([
                        "consumer_key": "ck-123456", "consumer_secret": "cs", "token_id": "tid-123456", "token_secret": "ts",
                    ])))
            let id = connection.id!.uuidString.lowercased()
            let made = try await SyncCLITests.run(
                ["connections", "inbound-secret", id], databaseURL: db.url, environment: ["LEDGERSYNC_SECRET_KEY": key])
            #expect(made.status == 0, "\(made)")
            let secret = made.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(secret.count >= 40 && !made.stderr.contains(secret), "\(made)")
            let sealed: String = try await db.pool.query("SELECT secret_sealed FROM ledgersync.inbound_secrets").rows[0].decode(
                "secret_sealed")
            #expect(sealed.hasPrefix("v2:") && !sealed.contains(secret))
            #expect(try await InboundSecretStore(pool: db.pool, secretBox: box).secret(connection: connection.id!) == secret)

            let unknown = try await SyncCLITests.run(
                ["connections", "inbound-secret", UUID().uuidString], databaseURL: db.url, environment: ["LEDGERSYNC_SECRET_KEY": key])
            #expect(unknown.status == 2, "\(unknown)")
        }
    }
}
