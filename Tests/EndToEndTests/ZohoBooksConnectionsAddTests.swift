import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Simulators
import Sync
import Testing

/// `ledgersync connections add --provider zoho-books --grant-code …` as a user runs it (issue
/// 14, must-show 6): the real binary, a real database, the Zoho Books simulator over HTTP. A bad
/// grant code, a wrong data centre and a missing organization id each give one clear line
/// naming the field, exit 64 and nothing stored; the right ones store a connection that holds
/// a refresh token, never the code, and the code is spent at the simulator.
@Suite(.timeLimit(.minutes(5)))
struct ZohoBooksConnectionsAddTests {
    static let secretKey = SecretBox.generateKey()
    static let client = ZohoBooksSimulator.SelfClient.demo
    static let organization = ZohoBooksSimulator.Organization.demo.id
    static let variables = ["ZOHO_CLIENT_ID": client.clientID, "ZOHO_CLIENT_SECRET": client.clientSecret]

    /// `ledgersync <arguments>` with the database and key, loopback allowed, no ZOHO_* of the
    /// machine, and `environment` on top.
    static func ledgersync(_ arguments: [String], database: TestDatabase, environment: [String: String] = variables) async throws
        -> LinkedRefsTests.Run
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("zoho-add-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout")
        let errURL = directory.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        let process = Process()
        process.executableURL = try LedgersyncProcess.binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for name in env.keys where name.hasPrefix("ZOHO_") { env.removeValue(forKey: name) }
        env["DATABASE_URL"] = database.url
        env["LEDGERSYNC_SECRET_KEY"] = secretKey
        env["LEDGERSYNC_ALLOW_PRIVATE_NETWORK"] = "1"
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // Awaited through the termination handler: the in-process simulator answers the
        // command on the cooperative pool, which must not be blocked.
        let status: Int32 = try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
        try? out.close()
        try? err.close()
        return LinkedRefsTests.Run(
            status: status, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    /// `connections add` of a Zoho Books connection with the options given.
    static func add(
        _ database: TestDatabase, baseURL: String, dataCenter: String = "com", accountID: String? = organization, grantCode: String?,
        objects: String? = nil
    ) async throws -> LinkedRefsTests.Run {
        var arguments = [
            "connections", "add", "--provider", "zoho-books", "--name", "Zoho Books", "--base-url", baseURL, "--setting",
            "data_center=\(dataCenter)",
        ]
        if let accountID { arguments += ["--account-id", accountID] }
        if let grantCode { arguments += ["--grant-code", grantCode] }
        if let objects { arguments += ["--objects", objects] }
        return try await ledgersync(arguments, database: database)
    }

    /// Exit 64 and one line on stderr naming `field`, with `hint` in it; no crash.
    static func expectRefused(
        _ run: LinkedRefsTests.Run, field: String, hint: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(run.status == 64, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        #expect(lines.count == 1, "one line: \(run)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("ledgersync: \(field)") == true, "names \(field): \(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains(hint), "\(run)", sourceLocation: sourceLocation)
        for crash in ["Fatal error", "Stack dump", "Backtrace"] { #expect(!run.stderr.contains(crash), sourceLocation: sourceLocation) }
    }

    /// Nothing stored: the table is empty and `connections list` says so.
    static func expectNothingStored(_ database: TestDatabase, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": secretKey])
        #expect(try await ConnectionStore(pool: database.pool, secretBox: box).list().isEmpty, sourceLocation: sourceLocation)
        let listed = try await ledgersync(["connections", "list", "--json"], database: database)
        #expect(listed.status == 0, "\(listed)", sourceLocation: sourceLocation)
        let array = try JSONSerialization.jsonObject(with: Data(listed.stdout.utf8)) as? [Any]
        #expect(array?.isEmpty == true, "\(listed)", sourceLocation: sourceLocation)
    }

    @Test("must-show 6: a bad grant code, a wrong data centre and a missing organization id each give one clear error, nothing stored")
    func oneClearErrorEach() async throws {
        let simulator = ZohoBooksSimulator(configuration: .init())
        _ = try await simulator.start()
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        do {
            let code = try simulator.issueGrantCode(clientID: Self.client.clientID)
            var runs: [LinkedRefsTests.Run] = []

            // A bad grant code: refused by the accounts server.
            let badCode = try await Self.add(database, baseURL: simulator.baseURL, grantCode: "1000.0123456789abcdef0123456789abcdef")
            Self.expectRefused(badCode, field: "secrets.grant_code", hint: "generate a new code")
            try await Self.expectNothingStored(database)
            runs.append(badCode)

            // A wrong data centre: the com client's code taken to eu's accounts server.
            let wrongCentre = try await Self.add(
                database, baseURL: simulator.accountsURL(dataCenter: "eu"), dataCenter: "eu", grantCode: code)
            Self.expectRefused(wrongCentre, field: "settings.data_center", hint: "com: accounts.zoho.com")
            #expect(wrongCentre.stderr.contains("invalid_client"), "\(wrongCentre)")
            try await Self.expectNothingStored(database)
            runs.append(wrongCentre)

            // No organization id: refused before anything is sent.
            let exchangesBefore = simulator.tokenRequests.count
            let noOrganization = try await Self.add(database, baseURL: simulator.baseURL, accountID: nil, grantCode: code)
            Self.expectRefused(noOrganization, field: "account_id (--account-id)", hint: "organization id is required")
            #expect(simulator.tokenRequests.count == exchangesBefore, "the code is not spent on a connection that cannot be stored")
            try await Self.expectNothingStored(database)
            runs.append(noOrganization)

            // An organization the token does not see: refused after the exchange.
            let otherCode = try simulator.issueGrantCode(clientID: Self.client.clientID)
            let unknownOrganization = try await Self.add(database, baseURL: simulator.baseURL, accountID: "99999999", grantCode: otherCode)
            Self.expectRefused(unknownOrganization, field: "account_id", hint: "99999999")
            #expect(unknownOrganization.stderr.contains("the organizations it sees: \(Self.organization)"), "\(unknownOrganization)")
            try await Self.expectNothingStored(database)
            runs.append(unknownOrganization)

            // The right ones: the same code (never spent by the refusals) is exchanged.
            let added = try await Self.add(database, baseURL: simulator.baseURL, grantCode: code)
            #expect(added.status == 0, "\(added)")
            let id = try #require(UUID(uuidString: added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)), "\(added)")
            runs.append(added)
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": Self.secretKey])
            let stored = try await ConnectionStore(pool: database.pool, secretBox: box).get(id)
            #expect(Set(stored.secrets.fields.keys) == ["client_id", "client_secret", "refresh_token"])
            #expect(stored.secrets["refresh_token"]?.hasPrefix("1000.") == true)
            #expect(stored.settings.extra["api_domain"] == simulator.apiDomain())
            #expect(stored.accountID == Self.organization)
            // The code is spent: exchanged once, successfully, and refused the next time.
            let exchanges = simulator.tokenRequests.filter { $0.grantType == "authorization_code" }
            #expect(exchanges.filter { $0.error == nil }.count == 2, "this code and the other organization's: \(exchanges)")
            let reused = try await Self.add(database, baseURL: simulator.baseURL, grantCode: code)
            Self.expectRefused(reused, field: "secrets.grant_code", hint: "already used")
            runs.append(reused)

            // The checks pass against the simulator.
            let tested = try await Self.ledgersync(["connections", "test", id.uuidString.lowercased()], database: database)
            #expect(tested.status == 0, "\(tested)")
            let lines: [String] = tested.stdout.split(separator: "\n").map { $0.split(separator: ":").first.map(String.init) ?? "" }
            let expected: [String] = [
                "PASS  reachability", "PASS  credentials", "PASS  organization", "PASS  unique_field", "PASS  limits",
            ]
            #expect(lines == expected, "\(tested)")
            runs.append(tested)

            for run in runs {
                for secret in [Self.client.clientSecret, code, otherCode, stored.secrets["refresh_token"] ?? "-"] {
                    #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret), "a secret in: \(run)")
                }
            }
        } catch {
            await simulator.stop()
            await database.drop()
            throw error
        }
        await simulator.stop()
        await database.drop()
    }

    @Test(
        "POST /v1/connections with secrets.grant_code on `ledgersync api`: 422 naming the field, nothing stored; then 201 without the code")
    func overTheAPI() async throws {
        let simulator = ZohoBooksSimulator(configuration: .init())
        _ = try await simulator.start()
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        do {
            let created = try await Self.ledgersync(["tokens", "create", "--name", "zoho", "--scope", "admin"], database: database)
            #expect(created.status == 0, "\(created)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let api = try LedgersyncProcess(
                ["api", "--port", "0"], databaseURL: database.url,
                environment: ["LEDGERSYNC_SECRET_KEY": Self.secretKey, "LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "1"])
            defer { api.stop() }
            var baseURL = ""
            let listening = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                guard let match = api.output.firstMatch(of: /http:\/\/127\.0\.0\.1:([0-9]+)/) else { return false }
                baseURL = String(match.0)
                return true
            }
            try #require(listening, "the API did not start: \(api.output)")
            let http = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true)
            defer { http.shutdown() }
            func post(dataCenterURL: String, dataCenter: String, accountID: String, code: String) async throws -> (Int, [String: Any]) {
                let body: [String: Any] = [
                    "provider": "zoho-books", "name": "Zoho Books", "account_id": accountID,
                    "settings": ["base_url": dataCenterURL, "data_center": dataCenter],
                    "secrets": ["client_id": Self.client.clientID, "client_secret": Self.client.clientSecret, "grant_code": code],
                ]
                let response = try await http.execute(
                    HTTPRequest(
                        method: "POST", url: baseURL + "/v1/connections",
                        headers: [("Authorization", "Bearer \(token)"), ("Content-Type", "application/json")],
                        body: try JSONSerialization.data(withJSONObject: body), timeout: .seconds(60)))
                #expect(!String(decoding: response.body, as: UTF8.self).contains(code), "the code echoed")
                #expect(!String(decoding: response.body, as: UTF8.self).contains(Self.client.clientSecret), "the secret echoed")
                return (response.status, (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:])
            }
            func errorField(_ object: [String: Any]) -> String? { (object["error"] as? [String: Any])?["field"] as? String }

            let code = try simulator.issueGrantCode(clientID: Self.client.clientID)
            let bad = try await post(dataCenterURL: simulator.baseURL, dataCenter: "com", accountID: Self.organization, code: "1000.bad")
            #expect(bad.0 == 422 && errorField(bad.1) == "secrets.grant_code", "\(bad)")
            let wrongCentre = try await post(
                dataCenterURL: simulator.accountsURL(dataCenter: "eu"), dataCenter: "eu", accountID: Self.organization, code: code)
            #expect(wrongCentre.0 == 422 && errorField(wrongCentre.1) == "settings.data_center", "\(wrongCentre)")
            let noOrganization = try await post(dataCenterURL: simulator.baseURL, dataCenter: "com", accountID: "", code: code)
            #expect(noOrganization.0 == 422 && errorField(noOrganization.1) == "account_id", "\(noOrganization)")
            try await Self.expectNothingStored(database)

            let added = try await post(dataCenterURL: simulator.baseURL, dataCenter: "com", accountID: Self.organization, code: code)
            #expect(added.0 == 201, "\(added)")
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": Self.secretKey])
            let stored = try await ConnectionStore(pool: database.pool, secretBox: box).list()
            #expect(stored.count == 1)
            let keys: Set<String> = Set(stored.first.map { Array($0.secrets.fields.keys) } ?? [])
            #expect(keys == ["client_id", "client_secret", "refresh_token"])
        } catch {
            await simulator.stop()
            await database.drop()
            throw error
        }
        await simulator.stop()
        await database.drop()
    }
}
