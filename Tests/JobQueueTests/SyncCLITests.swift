import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Sync
import Testing

/// `ledgersync connections|mappings|webhooks` as an operator meets them: the real binary on
/// a real database. Secrets go in through the environment, a file or stdin, and never come
/// out again: not on stdout, not on stderr, not in clear in the tables.
@Suite(.timeLimit(.minutes(3)))
struct SyncCLITests {
    /// One run of the binary: exit status and both streams.
    struct Run: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String

        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// Every variable that carries a secret or the key; a test names the ones it means to set,
    /// so that none leaks in from the shell that runs the tests.
    static let secretVariables = [
        "LEDGERSYNC_SECRET_KEY", "LEDGERSYNC_WEBHOOK_SECRET",
        "NETSUITE_CONSUMER_KEY", "NETSUITE_CONSUMER_SECRET", "NETSUITE_TOKEN_ID", "NETSUITE_TOKEN_SECRET",
    ]

    /// Runs `ledgersync <arguments>` with exactly these secret variables and, optionally,
    /// `stdin` as its standard input. (`LedgersyncProcess.run` takes neither.)
    static func run(
        _ arguments: [String], databaseURL: String?, environment: [String: String] = [:], stdin: String? = nil
    ) async throws -> Run {
        let process = Process()
        process.executableURL = try LedgersyncProcess.binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for name in secretVariables + ["DATABASE_URL"] { env.removeValue(forKey: name) }
        env["DATABASE_URL"] = databaseURL
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try input.fileHandleForWriting.close()
        }
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let deadline = ContinuousClock.now + .seconds(60)
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                // Cancelled (the suite's time limit): the child goes with the test.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw error
            }
        }
        process.waitUntilExit()
        return Run(
            status: process.terminationStatus, stdout: String(decoding: await stdout, as: UTF8.self),
            stderr: String(decoding: await stderr, as: UTF8.self))
    }

    /// Four fresh NetSuite credentials, unlike anything else in the outputs.
    static func netSuiteSecrets() -> [String: String] {
        func random(_ prefix: String) -> String { prefix + SecureRandom.alphanumeric(length: 40) }
        return [
            "NETSUITE_CONSUMER_KEY": random("ck"), "NETSUITE_CONSUMER_SECRET": random("cs"),
            "NETSUITE_TOKEN_ID": random("ti"), "NETSUITE_TOKEN_SECRET": random("ts"),
        ]
    }

    static func json(_ run: Run) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(run.stdout.utf8))
    }

    /// Exactly one line on stderr with `status`, mentioning `text`; nothing like a crash.
    func expectOneLineError(_ run: Run, status: Int32, mentioning text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == status, "\(run)", sourceLocation: sourceLocation)
        #expect(
            run.stderr.split(whereSeparator: \.isNewline).count == 1, "stderr should be one line: \(run.stderr)",
            sourceLocation: sourceLocation)
        #expect(run.stderr.contains(text), "stderr should mention '\(text)': \(run.stderr)", sourceLocation: sourceLocation)
        for crash in ["Fatal error", "Stack dump", "Backtrace"] { #expect(!run.stderr.contains(crash), sourceLocation: sourceLocation) }
    }

    /// No secret value in any output nor anywhere in the rows of `table`.
    func expectNoSecrets(
        _ secrets: [String], in runs: [Run], table: String, of database: TestDatabase, sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        let rows = try await database.pool.query("SELECT t::text AS row FROM \(table) t").rows.map { try $0.decode("row", as: String.self) }
        #expect(!rows.isEmpty, sourceLocation: sourceLocation)
        for secret in secrets {
            for run in runs {
                #expect(
                    !run.stdout.contains(secret) && !run.stderr.contains(secret), "a secret in the output of: \(run)",
                    sourceLocation: sourceLocation)
            }
            for row in rows { #expect(!row.contains(secret), "a secret in clear in \(table): \(row)", sourceLocation: sourceLocation) }
        }
    }

    func concurrencyLimit(_ key: String, in database: TestDatabase) async throws -> Int? {
        try await database.pool.query("SELECT max_running FROM ledgersync.concurrency_limits WHERE limit_key = $1", [key])
            .rows.first?.decode("max_running")
    }

    @Test("connections add, list, show, update (with rotated secrets), remove; the secrets never come out")
    func connectionLifecycle() async throws {
        try await withTestDatabase { db in
            let key = ["LEDGERSYNC_SECRET_KEY": SecretBox.generateKey()]
            let secrets = Self.netSuiteSecrets()
            var runs: [Run] = []
            func ledgersync(_ arguments: [String], _ environment: [String: String] = key, stdin: String? = nil) async throws -> Run {
                let run = try await Self.run(arguments, databaseURL: db.url, environment: environment, stdin: stdin)
                runs.append(run)
                return run
            }

            let add = try await ledgersync(
                [
                    "connections", "add", "--name", "NetSuite prod", "--provider", "netsuite", "--account-id", "1234567_SB1", "--setting",
                    "default_subsidiary=1",
                    "--objects", "customer,invoice,credit_memo,payment", "--concurrency-limit", "5", "--base-url", "http://127.0.0.1:8089",
                ],
                key.merging(secrets) { $1 })
            #expect(add.status == 0, "\(add)")
            let id = try #require(UUID(uuidString: add.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(add)")
            let idText = id.uuidString.lowercased()
            // The contract with the sync jobs and ledgersync.enqueue_sync.
            let limitKey = "netsuite:\(idText)"
            #expect(SyncEnvironment.limitKey(provider: "netsuite", connection: id) == limitKey)
            #expect(try await concurrencyLimit(limitKey, in: db) == 5)

            let stored = try await ConnectionStore(pool: db.pool, secretBox: try SecretBox.fromEnvironment(environment: key)).get(id)
            #expect(stored.secrets["consumer_key"] == secrets["NETSUITE_CONSUMER_KEY"])
            #expect(stored.secrets["token_secret"] == secrets["NETSUITE_TOKEN_SECRET"])
            #expect(
                stored.settings
                    == AccountingConnection.Settings(
                        objectsToSync: ["customer", "invoice", "credit_memo", "payment"], baseURL: "http://127.0.0.1:8089",
                        concurrencyLimit: 5, extra: ["default_subsidiary": "1"]))

            let list = try await ledgersync(["connections", "list"])
            #expect(list.status == 0 && list.stdout.contains(idText) && list.stdout.contains("NetSuite prod"), "\(list)")
            let listJSON = try await ledgersync(["connections", "list", "--json"])
            let listed = try #require(try Self.json(listJSON) as? [[String: Any]])
            #expect(listed.count == 1 && listed.first?["id"] as? String == idText)

            let show = try await ledgersync(["connections", "show", idText])
            #expect(show.status == 0, "\(show)")
            #expect(show.stdout.contains(String(secrets["NETSUITE_CONSUMER_KEY"]!.prefix(6)) + "…"), "\(show)")
            #expect(show.stdout.contains(String(secrets["NETSUITE_TOKEN_ID"]!.prefix(6)) + "…"), "\(show)")
            #expect(show.stdout.contains(limitKey))
            let showJSON = try await ledgersync(["connections", "show", idText, "--json"])
            let shown = try #require(try Self.json(showJSON) as? [String: Any], "\(showJSON)")
            #expect(shown["account_id"] as? String == "1234567_SB1")
            #expect(shown["limit_key"] as? String == limitKey)
            #expect((shown["settings"] as? [String: Any])?["concurrency_limit"] as? Int == 5)
            #expect(
                (shown["secret_hints"] as? [String: Any])?["consumer_key"] as? String == String(secrets["NETSUITE_CONSUMER_KEY"]!.prefix(6))
                    + "…")
            #expect((shown["secret_hints"] as? [String: Any])?["auth"] as? String == "tba")

            let rename = try await ledgersync([
                "connections", "update", idText, "--name", "NetSuite production", "--concurrency-limit", "7", "--base-url", "",
            ])
            #expect(rename.status == 0, "\(rename)")
            #expect(try await concurrencyLimit(limitKey, in: db) == 7)

            // Rotation from stdin; the old credentials are gone, the new ones as sealed as those.
            let rotated = Self.netSuiteSecrets()
            let file = try String(
                decoding: JSONSerialization.data(withJSONObject: [
                    "consumer_key": rotated["NETSUITE_CONSUMER_KEY"]!, "consumer_secret": rotated["NETSUITE_CONSUMER_SECRET"]!,
                    "token_id": rotated["NETSUITE_TOKEN_ID"]!, "token_secret": rotated["NETSUITE_TOKEN_SECRET"]!,
                ]), as: UTF8.self)
            let rotate = try await ledgersync(
                ["connections", "update", idText, "--rotate-secrets", "--secrets-file", "-", "--json"], stdin: file)
            #expect(rotate.status == 0, "\(rotate)")
            let afterRotate = try #require(try Self.json(rotate) as? [String: Any], "\(rotate)")
            #expect(afterRotate["name"] as? String == "NetSuite production")
            #expect(
                (afterRotate["secret_hints"] as? [String: Any])?["token_id"] as? String == String(rotated["NETSUITE_TOKEN_ID"]!.prefix(6))
                    + "…")
            #expect((afterRotate["settings"] as? [String: Any])?["base_url"] == nil)
            let reread = try await ConnectionStore(pool: db.pool, secretBox: try SecretBox.fromEnvironment(environment: key)).get(id)
            #expect(reread.secrets["token_secret"] == rotated["NETSUITE_TOKEN_SECRET"])
            #expect(reread.settings.concurrencyLimit == 7 && reread.settings.extra["default_subsidiary"] == "1")

            try await expectNoSecrets(Array(secrets.values) + Array(rotated.values), in: runs, table: "ledgersync.connections", of: db)

            let remove = try await ledgersync(["connections", "remove", idText], [:])
            #expect(remove.status == 0, "\(remove)")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.connections") == 0)
            #expect(try await concurrencyLimit(limitKey, in: db) == nil)
            expectOneLineError(
                try await ledgersync(["connections", "remove", idText], [:]), status: 2, mentioning: "no connection \(idText)")
            expectOneLineError(try await ledgersync(["connections", "show", idText]), status: 2, mentioning: "no connection \(idText)")
            expectOneLineError(
                try await ledgersync(["connections", "update", idText, "--name", "x"]), status: 2, mentioning: "no connection \(idText)")
        }
    }

    @Test("connections: a missing secret is 64 naming it, a missing or wrong key 78, a bad field 64 naming it")
    func connectionErrors() async throws {
        try await withTestDatabase { db in
            let key = ["LEDGERSYNC_SECRET_KEY": SecretBox.generateKey()]
            let secrets = Self.netSuiteSecrets()
            let add = [
                "connections", "add", "--name", "NetSuite", "--provider", "netsuite", "--account-id", "1234567", "--setting",
                "default_subsidiary=1",
            ]
            func ledgersync(_ arguments: [String], _ environment: [String: String], stdin: String? = nil) async throws -> Run {
                try await Self.run(arguments, databaseURL: db.url, environment: environment, stdin: stdin)
            }

            var partial = key.merging(secrets) { $1 }
            partial.removeValue(forKey: "NETSUITE_TOKEN_SECRET")
            expectOneLineError(
                try await ledgersync(add, partial), status: 64, mentioning: "NETSUITE_TOKEN_SECRET (secrets.token_secret): is required")
            partial.removeValue(forKey: "NETSUITE_CONSUMER_KEY")
            let twoMissing = try await ledgersync(add, partial)
            expectOneLineError(twoMissing, status: 64, mentioning: "NETSUITE_CONSUMER_KEY (secrets.consumer_key): is required")
            let none = try await ledgersync(add, key)
            expectOneLineError(none, status: 64, mentioning: "no credentials: set the netsuite variables")

            let noKey = try await ledgersync(add, secrets)
            expectOneLineError(noKey, status: 78, mentioning: "LEDGERSYNC_SECRET_KEY is not set")
            expectOneLineError(
                try await ledgersync(["connections", "list"], [:]), status: 78, mentioning: "LEDGERSYNC_SECRET_KEY is not set")
            let badKey = try await ledgersync(add, secrets.merging(["LEDGERSYNC_SECRET_KEY": "not base64!"]) { $1 })
            expectOneLineError(badKey, status: 78, mentioning: "LEDGERSYNC_SECRET_KEY is not valid base64")

            let file = #"{"consumer_key": "a-key", "consumer_secret": "a-secret-value", "token_id": "an-id"}"#
            let shortFile = try await ledgersync(add + ["--secrets-file", "-"], key, stdin: file)
            expectOneLineError(shortFile, status: 64, mentioning: "secrets.token_secret in --secrets-file -: is required")
            #expect(!shortFile.stderr.contains("a-secret-value"))
            let notJSON = try await ledgersync(add + ["--secrets-file", "-"], key, stdin: "consumer_secret=hunter2")
            expectOneLineError(notJSON, status: 64, mentioning: "is not a JSON object")
            #expect(!notJSON.stderr.contains("hunter2"))
            expectOneLineError(
                try await ledgersync(add + ["--secrets-file", "/nonexistent/secrets.json"], key), status: 64,
                mentioning: "cannot read --secrets-file")

            let withSecrets = key.merging(secrets) { $1 }
            expectOneLineError(
                try await ledgersync(
                    ["connections", "add", "--name", "x", "--provider", "netsuite", "--account-id", "12 34"], withSecrets), status: 64,
                mentioning: "account_id (--account-id)")
            expectOneLineError(
                try await ledgersync(add + ["--objects", "customer,refund"], withSecrets), status: 64,
                mentioning: "settings.objects_to_sync (--objects)")
            expectOneLineError(
                try await ledgersync(add + ["--concurrency-limit", "0"], withSecrets), status: 64,
                mentioning: "settings.concurrency_limit (--concurrency-limit)")
            expectOneLineError(
                try await ledgersync(add + ["--base-url", "ftp://x"], withSecrets), status: 64, mentioning: "settings.base_url (--base-url)"
            )
            expectOneLineError(
                try await ledgersync(add + ["--provider", "xero"], withSecrets), status: 64, mentioning: "provider (--provider)")
            expectOneLineError(
                try await ledgersync(add + ["--setting", "default_location=north"], withSecrets), status: 64,
                mentioning: "settings.default_location (--setting default_location=…)")
            expectOneLineError(
                try await ledgersync(add + ["--setting", "subsidary=2"], withSecrets), status: 64,
                mentioning: "settings.subsidary (--setting subsidary=…)")
            expectOneLineError(try await ledgersync(["connections", "show", "abc"], key), status: 64, mentioning: "abc")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.connections") == 0)

            // Sealed under one key, read under another: the configuration is wrong (78).
            let created = try await ledgersync(add, withSecrets)
            #expect(created.status == 0, "\(created)")
            let otherKey = ["LEDGERSYNC_SECRET_KEY": SecretBox.generateKey()]
            expectOneLineError(
                try await ledgersync(["connections", "list"], otherKey), status: 78, mentioning: "cannot open the sealed secrets")
            expectOneLineError(
                try await ledgersync(["connections", "remove", UUID().uuidString], [:]), status: 2, mentioning: "no connection")
        }
    }

    /// A NetSuite connection sealed with a throwaway key; its id in lower case.
    static func createConnection(_ db: TestDatabase) async throws -> String {
        let box = try SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
        let connection = try await ConnectionStore(pool: db.pool, secretBox: box).create(
            AccountingConnection(
                provider: "netsuite", name: "NetSuite", accountID: "1234567",
                secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"])))
        return try #require(connection.id).uuidString.lowercased()
    }

    @Test("enqueue of a sync kind gets enqueue_sync's keys and the derived customer; own keys are kept; no connection is 64")
    func enqueueSyncKind() async throws {
        try await withTestDatabase { db in
            let id = try await Self.createConnection(db)
            func keys(_ run: Run) async throws -> (serial: String?, limit: String?, args: String) {
                #expect(run.status == 0, "\(run)")
                let jobID = try #require((try Self.json(run) as? [String: Any])?["id"] as? Int)
                let row = try await db.pool.query(
                    "SELECT serial_key, limit_key, args::text AS args FROM ledgersync.jobs WHERE id = $1", [Int64(jobID)]
                ).rows[0]
                return (try row.decodeIfPresent("serial_key"), try row.decodeIfPresent("limit_key"), try row.decode("args"))
            }
            let invoice = try await keys(
                try await Self.run(
                    [
                        "enqueue", "invoice.push", "--json", "--args",
                        #"{"connection_id": "\#(id)", "invoice": {"lago_id": "inv-1", "total": 12.30, "customer": {"lago_id": "cus-7"}}}"#,
                    ],
                    databaseURL: db.url))
            #expect(invoice.serial == "sync:\(id):customer:cus-7" && invoice.limit == "netsuite:\(id)")
            #expect(invoice.args.contains(#""customer_id": "cus-7""#) && invoice.args.contains("12.30"), "\(invoice.args)")
            let own = try await keys(
                try await Self.run(
                    [
                        "enqueue", "customer.sync", "--json", "--serial-key", "mine", "--args",
                        #"{"connection_id": "\#(id)", "customer": {"lago_id": "cus-8"}}"#,
                    ],
                    databaseURL: db.url))
            #expect(own.serial == "mine" && own.limit == nil)
            expectOneLineError(
                try await Self.run(["enqueue", "payment.apply", "--args", #"{"payment": {"lago_id": "pay-1"}}"#], databaseURL: db.url),
                status: 64, mentioning: "needs \"connection_id\"")
            expectOneLineError(
                try await Self.run(
                    ["enqueue", "payment.apply", "--args", #"{"connection_id": "\#(UUID().uuidString)"}"#], databaseURL: db.url),
                status: 64, mentioning: "no connection")
        }
    }

    @Test("mappings set, list and remove; a bad kind or key is 64 naming the field, an unknown connection or mapping 2")
    func mappings() async throws {
        try await withTestDatabase { db in
            let id = try await Self.createConnection(db)
            // Mappings seal nothing: no LEDGERSYNC_SECRET_KEY.
            func ledgersync(_ arguments: [String]) async throws -> Run {
                try await Self.run(["mappings"] + arguments, databaseURL: db.url)
            }

            for arguments in [
                [
                    "set", id, "--kind", "item", "--key", "api_calls", "--provider-id", "501", "--name", "API calls", "--account-code",
                    "4000",
                ],
                ["set", id, "--kind", "default_item", "--key", "subscription", "--provider-id", "502"],
                ["set", id, "--kind", "fallback_item", "--provider-id", "599"],
                [
                    "set", id, "--kind", "tax", "--key", "vat_fr", "--provider-id", "7", "--detail", "nexus=1", "--detail", "tax_type=2",
                    "--detail", "tax_code=3",
                ],
                ["set", id, "--kind", "tax", "--key", "vat_old", "--provider-id", "8", "--detail", "legacy_tax_item=7"],
                ["set", id, "--kind", "currency", "--key", "EUR", "--provider-id", "2"],
                ["set", id, "--kind", "custom_field", "--key", "po_number", "--record-type", "invoice", "--provider-id", "custbody_po"],
            ] {
                let set = try await ledgersync(arguments)
                #expect(set.status == 0, "\(arguments): \(set)")
            }
            // The provider's rules for a tax mapping (its driver's), naming the option.
            let badDetail = try await ledgersync(["set", id, "--kind", "tax", "--key", "vat", "--provider-id", "1", "--detail", "rate=20"])
            expectOneLineError(badDetail, status: 64, mentioning: "--detail rate: is not a tax detail")
            let halfSuiteTax = try await ledgersync([
                "set", id, "--kind", "tax", "--key", "vat", "--provider-id", "1", "--detail", "nexus=1",
            ])
            expectOneLineError(halfSuiteTax, status: 64, mentioning: "--detail tax_type")
            // Setting again replaces.
            let replace = try await ledgersync(["set", id, "--kind", "item", "--key", "api_calls", "--provider-id", "511", "--json"])
            #expect((try Self.json(replace) as? [String: Any])?["provider_id"] as? String == "511", "\(replace)")

            let list = try await ledgersync(["list", id, "--json"])
            let listed = try #require(try Self.json(list) as? [[String: Any]], "\(list)")
            #expect(listed.count == 7)
            let suiteTax = listed.first { $0["billing_key"] as? String == "vat_fr" }
            #expect(suiteTax?["details"] as? [String: String] == ["nexus": "1", "tax_type": "2", "tax_code": "3"])
            let text = try await ledgersync(["list", id, "--kind", "tax"])
            #expect(
                text.status == 0 && text.stdout.contains("vat_fr") && text.stdout.contains("legacy_tax_item=7")
                    && !text.stdout.contains("api_calls"), "\(text)")
            let resolved = try await MappingStore(pool: db.pool).resolveItem(
                connection: try #require(UUID(uuidString: id)), feeKind: .charge, code: "api_calls")
            #expect(resolved.providerID == "511")

            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "sku", "--key", "x", "--provider-id", "1"]), status: 64,
                mentioning: "--kind must be one of")
            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "default_item", "--key", "bogus", "--provider-id", "1"]), status: 64,
                mentioning: "billing_key (--key)")
            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "item", "--provider-id", "1"]), status: 64,
                mentioning: "billing_key (--key): must not be empty")
            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "item", "--key", "x", "--record-type", "invoice", "--provider-id", "1"]),
                status: 64, mentioning: "record_type (--record-type)")
            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "tax", "--key", "vat", "--provider-id", "1", "--detail", "nexus=1"]),
                status: 64,
                mentioning: "--detail tax_type: a SuiteTax mapping needs nexus, tax_type and tax_code; missing tax_type, tax_code")
            expectOneLineError(
                try await ledgersync(["set", id, "--kind", "tax", "--key", "vat", "--provider-id", "1", "--detail", "rate"]),
                status: 64, mentioning: "--detail must be key=value")
            expectOneLineError(try await ledgersync(["list", id, "--kind", "sku"]), status: 64, mentioning: "--kind must be one of")

            let remove = try await ledgersync(["remove", id, "--kind", "custom_field", "--key", "po_number", "--record-type", "invoice"])
            #expect(remove.status == 0, "\(remove)")
            let removeFallback = try await ledgersync(["remove", id, "--kind", "fallback_item"])
            #expect(removeFallback.status == 0, "\(removeFallback)")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.mappings") == 5)
            expectOneLineError(
                try await ledgersync(["remove", id, "--kind", "currency", "--key", "USD"]), status: 2,
                mentioning: "no currency mapping for \"USD\"")

            let unknown = UUID().uuidString.lowercased()
            expectOneLineError(
                try await ledgersync(["set", unknown, "--kind", "currency", "--key", "EUR", "--provider-id", "2"]), status: 2,
                mentioning: "no connection \(unknown)")
            expectOneLineError(try await ledgersync(["list", unknown]), status: 2, mentioning: "no connection \(unknown)")
            expectOneLineError(
                try await ledgersync(["remove", unknown, "--kind", "currency", "--key", "EUR"]), status: 2,
                mentioning: "no connection \(unknown)")
        }
    }

    @Test("webhooks add prints a generated secret once, list never shows it, remove of an unknown id is 2")
    func webhooks() async throws {
        try await withTestDatabase { db in
            let key = ["LEDGERSYNC_SECRET_KEY": SecretBox.generateKey()]
            let box = try SecretBox.fromEnvironment(environment: key)
            var runs: [Run] = []
            func ledgersync(_ arguments: [String], _ environment: [String: String], stdin: String? = nil) async throws -> Run {
                let run = try await Self.run(["webhooks"] + arguments, databaseURL: db.url, environment: environment, stdin: stdin)
                runs.append(run)
                return run
            }

            let generated = try await ledgersync(
                [
                    "add", "--url", "https://billing.example.com/hooks", "--events",
                    "customer.accounting_provider_error,integration.provider_error",
                ], key)
            #expect(generated.status == 0, "\(generated)")
            #expect(generated.stdout.contains("will not be shown again"))
            let secretLine = try #require(
                generated.stdout.split(separator: "\n").first { $0.hasPrefix("signing secret: ") }, "\(generated)")
            let secret = String(secretLine.dropFirst("signing secret: ".count))
            #expect(
                secret.hasPrefix("whsec_") && Data(base64Encoded: String(secret.dropFirst(6)))?.count == 32,
                "Standard Webhooks form: \(secret)")
            #expect(generated.stdout.components(separatedBy: secret).count == 2, "printed exactly once")
            let endpoints = try await WebhookEndpointStore(pool: db.pool, secretBox: box).list()
            #expect(endpoints.count == 1 && endpoints.first?.secret == secret)
            #expect(endpoints.first?.eventTypes == ["customer.accounting_provider_error", "integration.provider_error"])

            let fromEnvironment = "whsec-from-the-environment-" + SecureRandom.alphanumeric(length: 24)
            let given = try await ledgersync(
                ["add", "--url", "http://127.0.0.1:9000/hooks"], key.merging(["LEDGERSYNC_WEBHOOK_SECRET": fromEnvironment]) { $1 })
            #expect(given.status == 0 && !given.stdout.contains("signing secret"), "\(given)")
            let fromFile = "whsec-from-stdin-" + SecureRandom.alphanumeric(length: 24)
            let piped = try await ledgersync(
                ["add", "--url", "http://127.0.0.1:9001/hooks", "--secret-file", "-", "--json"], key, stdin: fromFile + "\n")
            #expect(piped.status == 0, "\(piped)")
            #expect((try Self.json(piped) as? [String: Any])?["secret"] == nil, "a given secret is not echoed")
            let secrets = try await WebhookEndpointStore(pool: db.pool, secretBox: box).list().map(\.secret)
            #expect(secrets == [secret, fromEnvironment, fromFile])

            let list = try await ledgersync(["list"], key)
            #expect(list.status == 0 && list.stdout.contains("https://billing.example.com/hooks"), "\(list)")
            let listJSON = try await ledgersync(["list", "--json"], key)
            let listed = try #require(try Self.json(listJSON) as? [[String: Any]], "\(listJSON)")
            #expect(listed.count == 3)
            #expect(listed[1]["event_types"] is NSNull, "null means every event")
            #expect(listed.allSatisfy { $0["secret"] == nil })
            runs.removeFirst() // the one output that shows the generated secret, on purpose
            try await expectNoSecrets([secret, fromEnvironment, fromFile], in: runs, table: "ledgersync.webhook_endpoints", of: db)

            expectOneLineError(
                try await ledgersync(["add", "--url", "https://x.example"], [:]), status: 78, mentioning: "LEDGERSYNC_SECRET_KEY is not set"
            )
            expectOneLineError(
                try await ledgersync(["add", "--url", "https://x.example", "--events", "invoice.created"], key), status: 64,
                mentioning: "unknown event type \"invoice.created\"")
            expectOneLineError(try await ledgersync(["add", "--url", "ftp://x.example"], key), status: 64, mentioning: "url (--url)")
            // Without LEDGERSYNC_ALLOW_PRIVATE_NETWORK, URLs into the private network are refused.
            let guarded = key.merging(["LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "0"]) { $1 }
            for (url, kind) in [
                ("http://127.0.0.1:9000/hooks", "loopback"), ("http://localhost/hooks", "loopback"), ("http://10.0.0.1/hooks", "private"),
                ("http://169.254.169.254/latest/meta-data/", "link-local"), ("http://[::1]:9000/hooks", "loopback"),
            ] {
                let refused = try await ledgersync(["add", "--url", url], guarded)
                expectOneLineError(refused, status: 64, mentioning: "url (--url)")
                #expect(refused.stderr.contains(kind), "\(refused)")
            }
            #expect(try await WebhookEndpointStore(pool: db.pool, secretBox: box).list().count == 3)

            let id = try #require(listed.first?["id"] as? String)
            let remove = try await ledgersync(["remove", id], [:])
            #expect(remove.status == 0, "\(remove)")
            #expect(try await db.count("SELECT count(*) FROM ledgersync.webhook_endpoints") == 2)
            expectOneLineError(try await ledgersync(["remove", id], [:]), status: 2, mentioning: "no webhook endpoint \(id)")
        }
    }

    @Test(
        "bad arguments are refused before the database is touched: one line, exit 64",
        arguments: [
            (["connections", "show", "not-a-uuid"], "not-a-uuid"),
            (["connections", "update", UUID().uuidString], "nothing to update"),
            (
                ["connections", "update", UUID().uuidString, "--secrets-file", "s.json"],
                "--secrets-file is read only with --rotate-secrets"
            ),
            (["mappings", "set", UUID().uuidString, "--kind", "sku", "--provider-id", "1"], "--kind must be one of"),
            (
                ["mappings", "set", UUID().uuidString, "--kind", "default_item", "--key", "usage", "--provider-id", "1"],
                "billing_key (--key)"
            ),
            (["webhooks", "add", "--url", "https://x.example", "--events", ","], "--events must name at least one"),
            (["webhooks", "remove", "42"], "42"),
        ])
    func badArguments(arguments: [String], message: String) async throws {
        let run = try await Self.run(arguments, databaseURL: "postgresql://nobody@127.0.0.1:1/none")
        expectOneLineError(run, status: 64, mentioning: message)
    }
}
