import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import LedgerCrypto
import NetSuite
import Simulators
import Sync
import Testing

/// `ledgersync connections test` as a user runs it (issue 13, must-show 5): the real binary,
/// connections added with `connections add` from the NETSUITE_* variables, the simulator over
/// HTTP; and `POST /v1/connections/{id}/test` on a real `ledgersync api` process.
@Suite(.timeLimit(.minutes(5)))
struct ConnectionTestCommandTests {
    static let checkNames = ["reachability", "account_id", "credentials", "concurrency_limit"]

    /// The harness's TBA credentials as the variables `connections add` reads.
    static var tbaVariables: [String: String] {
        let credentials = SyncHarness.credentials
        return [
            "NETSUITE_CONSUMER_KEY": credentials.consumerKey, "NETSUITE_CONSUMER_SECRET": credentials.consumerSecret,
            "NETSUITE_TOKEN_ID": credentials.tokenID, "NETSUITE_TOKEN_SECRET": credentials.tokenSecret,
        ]
    }

    /// The simulator's demo M2M mapping as the variables, the key in a file as a user keeps it.
    static func oauth2Variables(
        in directory: URL, certificateID: String = NetSuiteSimulator.Configuration.demoM2MCertificateID,
        privateKeyPEM: String = NetSuiteSimulator.Configuration.demoM2MPrivateKeyPEM
    ) throws -> [String: String] {
        let keyFile = directory.appendingPathComponent("private-key-\(UUID().uuidString).pem")
        try Data(privateKeyPEM.utf8).write(to: keyFile)
        return [
            "NETSUITE_CLIENT_ID": NetSuiteSimulator.Configuration.demoM2MClientID, "NETSUITE_CERTIFICATE_ID": certificateID,
            "NETSUITE_PRIVATE_KEY_FILE": keyFile.path,
        ]
    }

    /// `ledgersync <arguments>` with the harness's database and key, loopback allowed, and
    /// `environment` (the credential variables) on top.
    static func ledgersync(_ arguments: [String], _ harness: SyncHarness, environment: [String: String] = [:]) async throws
        -> LinkedRefsTests.Run
    {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conntest-cli-\(UUID().uuidString)")
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
        for name in env.keys where name.hasPrefix("NETSUITE_") { env.removeValue(forKey: name) }
        env["DATABASE_URL"] = harness.database.url
        env["LEDGERSYNC_SECRET_KEY"] = SyncHarness.secretKey
        env["LEDGERSYNC_ALLOW_PRIVATE_NETWORK"] = "1"
        env.merge(environment) { _, new in new }
        process.environment = env
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        // The exit is awaited through the termination handler: nothing blocks a thread of the
        // cooperative pool, on which the in-process simulator answers the command.
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

    /// `connections add` of a NetSuite connection; returns its id.
    static func add(
        _ harness: SyncHarness, accountID: String = "1234567_SB1", baseURL: String? = nil, variables: [String: String]
    ) async throws -> String {
        let added = try await ledgersync(
            [
                "connections", "add", "--provider", "netsuite", "--name", "conntest", "--account-id", accountID,
                "--base-url", baseURL ?? harness.simulator.baseURL, "--setting", "default_subsidiary=1", "--concurrency-limit", "3",
            ], harness, environment: variables)
        #expect(added.status == 0, "\(added)")
        return added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The lines of a text run: `(label, name)` of each, e.g. `("PASS", "reachability")`.
    static func lines(_ run: LinkedRefsTests.Run) -> [(label: String, name: String)] {
        run.stdout.split(separator: "\n").map { line in
            let parts = line.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
            let label = parts.first.map(String.init) ?? ""
            let rest = parts.count > 1 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            return (label, String(rest.prefix { $0 != ":" }))
        }
    }

    /// Every check passes: exit 0, one line per check, in order, all PASS.
    static func expectAllPass(_ run: LinkedRefsTests.Run, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(run.status == 0, "\(run)", sourceLocation: sourceLocation)
        let found = lines(run)
        #expect(found.map(\.name) == checkNames, "\(run)", sourceLocation: sourceLocation)
        #expect(found.allSatisfy { $0.label == "PASS" }, "\(run)", sourceLocation: sourceLocation)
    }

    /// `failing` is the one FAIL, those before it PASS, those after it SKIP; exit 1; the one
    /// line on stderr names the failing check.
    static func expectFailure(
        _ run: LinkedRefsTests.Run, at failing: String, connection: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(run.status == 1, "\(run)", sourceLocation: sourceLocation)
        let found = lines(run)
        #expect(found.map(\.name) == checkNames, "\(run)", sourceLocation: sourceLocation)
        let index = checkNames.firstIndex(of: failing)!
        let expected = checkNames.indices.map { $0 < index ? "PASS" : $0 == index ? "FAIL" : "SKIP" }
        #expect(found.map(\.label) == expected, "\(run)", sourceLocation: sourceLocation)
        let stderr = run.stderr.split(whereSeparator: \.isNewline)
        #expect(stderr.count == 1, "one line on stderr: \(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains("connection \(connection) failed: \(failing)"), "\(run)", sourceLocation: sourceLocation)
        for crash in ["Fatal error", "Stack dump", "Backtrace"] { #expect(!run.stderr.contains(crash), sourceLocation: sourceLocation) }
    }

    /// The detail of the check `name` in a text run.
    static func detail(_ run: LinkedRefsTests.Run, _ name: String) -> String {
        run.stdout.split(separator: "\n").first { $0.contains("  \(name): ") }.map(String.init) ?? ""
    }

    /// A base URL nothing listens on: a simulator's, after it stopped.
    static func closedBaseURL() async throws -> String {
        let simulator = NetSuiteSimulator(configuration: .init())
        _ = try await simulator.start()
        let baseURL = simulator.baseURL
        await simulator.stop()
        return baseURL
    }

    static func expectNoSecrets(_ runs: [LinkedRefsTests.Run], _ secrets: [String], sourceLocation: SourceLocation = #_sourceLocation) {
        for run in runs {
            for secret in secrets {
                #expect(!run.stdout.contains(secret) && !run.stderr.contains(secret), "a secret in: \(run)", sourceLocation: sourceLocation)
            }
        }
    }

    @Test("token-based authentication: all pass; a wrong token secret, account id or host fails the right check, the rest SKIP, exit 1")
    func tokenBasedAuthentication() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let good = try await Self.add(harness, variables: Self.tbaVariables)
            let passed = try await Self.ledgersync(["connections", "test", good], harness)
            Self.expectAllPass(passed)
            #expect(Self.detail(passed, "concurrency_limit").contains("settings.concurrency_limit is 3"), "\(passed)")

            var wrongSecret = Self.tbaVariables
            wrongSecret["NETSUITE_TOKEN_SECRET"] = "wrong-token-secret-4d1f9a"
            let badSecret = try await Self.add(harness, variables: wrongSecret)
            let secretRun = try await Self.ledgersync(["connections", "test", badSecret], harness)
            Self.expectFailure(secretRun, at: "credentials", connection: badSecret)
            #expect(Self.detail(secretRun, "credentials").contains("INVALID_LOGIN"), "NetSuite's own code: \(secretRun)")
            #expect(Self.detail(secretRun, "credentials").contains("token id and secret"), "\(secretRun)")

            let badAccount = try await Self.add(harness, accountID: "7654321", variables: Self.tbaVariables)
            let accountRun = try await Self.ledgersync(["connections", "test", badAccount], harness)
            Self.expectFailure(accountRun, at: "account_id", connection: badAccount)
            #expect(Self.detail(accountRun, "account_id").contains("account 1234567_SB1"), "the account the host is: \(accountRun)")
            #expect(Self.detail(accountRun, "account_id").contains("account_id is 7654321"), "\(accountRun)")

            let closed = try await Self.closedBaseURL()
            let unreachable = try await Self.add(harness, baseURL: closed, variables: Self.tbaVariables)
            let hostRun = try await Self.ledgersync(["connections", "test", unreachable], harness)
            Self.expectFailure(hostRun, at: "reachability", connection: unreachable)
            #expect(Self.detail(hostRun, "reachability").contains("cannot reach \(closed.dropFirst("http://".count))"), "\(hostRun)")

            Self.expectNoSecrets(
                [passed, secretRun, accountRun, hostRun],
                [SyncHarness.credentials.consumerSecret, SyncHarness.credentials.tokenSecret, "wrong-token-secret-4d1f9a"])
        }
    }

    @Test("--json: {ok, checks: [{name, outcome, detail}]}, for a pass and for a failure")
    func jsonShape() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let good = try await Self.add(harness, variables: Self.tbaVariables)
            let passed = try await Self.ledgersync(["connections", "test", good, "--json"], harness)
            #expect(passed.status == 0, "\(passed)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(passed.stdout.utf8)) as? [String: Any], "\(passed)")
            #expect(Set(object.keys) == ["ok", "checks"], "\(passed)")
            #expect(object["ok"] as? Bool == true)
            let checks = try #require(object["checks"] as? [[String: Any]])
            #expect(checks.map { $0["name"] as? String } == Self.checkNames)
            #expect(
                checks.allSatisfy { Set($0.keys) == ["name", "outcome", "detail"] && $0["outcome"] as? String == "passed" }, "\(passed)")
            #expect(checks.allSatisfy { !(($0["detail"] as? String) ?? "").isEmpty })

            let badAccount = try await Self.add(harness, accountID: "7654321", variables: Self.tbaVariables)
            let failed = try await Self.ledgersync(["connections", "test", badAccount, "--json"], harness)
            #expect(failed.status == 1, "\(failed)")
            let failure = try #require(try JSONSerialization.jsonObject(with: Data(failed.stdout.utf8)) as? [String: Any], "\(failed)")
            #expect(failure["ok"] as? Bool == false)
            let outcomes = (failure["checks"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? ""):\($0["outcome"] ?? "")" }
            #expect(
                outcomes == ["reachability:passed", "account_id:failed", "credentials:skipped", "concurrency_limit:skipped"], "\(failed)")
            #expect(failed.stderr.contains("failed: account_id"), "\(failed)")
        }
    }

    @Test("OAuth 2.0 client credentials: all pass; a wrong certificate id or key fails credentials, a wrong account or host theirs")
    func oauth2ClientCredentials() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("conntest-keys-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let good = try await Self.add(harness, variables: try Self.oauth2Variables(in: directory))
            let passed = try await Self.ledgersync(["connections", "test", good], harness)
            Self.expectAllPass(passed)
            #expect(Self.detail(passed, "credentials").contains("OAuth 2.0 access token"), "\(passed)")
            #expect(harness.simulator.tokenStats.issued == 1, "one token for one test")

            let wrongCertificate = try await Self.add(
                harness, variables: try Self.oauth2Variables(in: directory, certificateID: "not-the-mapping-certificate"))
            let certificateRun = try await Self.ledgersync(["connections", "test", wrongCertificate], harness)
            Self.expectFailure(certificateRun, at: "credentials", connection: wrongCertificate)
            let said = Self.detail(certificateRun, "credentials")
            #expect(said.contains("invalid_client") && said.contains("certificate_id") && said.contains("private_key"), "\(certificateRun)")
            #expect(harness.simulator.tokenRequests.last?.refusal == .unknownCertificate)

            // Another EC P-256 key than the certificate's: the signature does not verify.
            let otherKey = try Self.generateECKey()
            let wrongKey = try await Self.add(harness, variables: try Self.oauth2Variables(in: directory, privateKeyPEM: otherKey))
            let keyRun = try await Self.ledgersync(["connections", "test", wrongKey], harness)
            Self.expectFailure(keyRun, at: "credentials", connection: wrongKey)
            #expect(harness.simulator.tokenRequests.last?.refusal == .badSignature)

            // OAuth 2.0 requests name no account; the realm of the unsigned request's 401 does.
            let badAccount = try await Self.add(harness, accountID: "7654321", variables: try Self.oauth2Variables(in: directory))
            let issuedBefore = harness.simulator.tokenStats.requests
            let accountRun = try await Self.ledgersync(["connections", "test", badAccount], harness)
            Self.expectFailure(accountRun, at: "account_id", connection: badAccount)
            #expect(Self.detail(accountRun, "account_id").contains("account_id is 7654321"), "\(accountRun)")
            #expect(harness.simulator.tokenStats.requests == issuedBefore, "no token asked of another account's host")

            let closed = try await Self.closedBaseURL()
            let unreachable = try await Self.add(harness, baseURL: closed, variables: try Self.oauth2Variables(in: directory))
            let hostRun = try await Self.ledgersync(["connections", "test", unreachable], harness)
            Self.expectFailure(hostRun, at: "reachability", connection: unreachable)

            let keyBody = NetSuiteSimulator.Configuration.demoM2MPrivateKeyPEM.split(separator: "\n")[1]
            Self.expectNoSecrets(
                [passed, certificateRun, keyRun, accountRun, hostRun], [String(keyBody), String(otherKey.split(separator: "\n")[1])])
        }
    }

    /// A fresh EC P-256 private key (PKCS#8 PEM), made by openssl as docs/connections.md says.
    static func generateECKey() throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0)
        return String(decoding: data, as: UTF8.self)
    }

    @Test("POST /v1/connections/{id}/test on `ledgersync api`: ok true with the checks, ok false naming the failed one")
    func overTheAPI() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let good = try await Self.add(harness, variables: Self.tbaVariables)
            var wrongSecret = Self.tbaVariables
            wrongSecret["NETSUITE_TOKEN_SECRET"] = "wrong-token-secret-77c2e0"
            let bad = try await Self.add(harness, variables: wrongSecret)
            let created = try await Self.ledgersync(["tokens", "create", "--name", "conntest", "--scope", "admin"], harness)
            #expect(created.status == 0, "\(created)")
            let token = created.stdout.trimmingCharacters(in: .whitespacesAndNewlines)

            let api = try LedgersyncProcess(
                ["api", "--port", "0"], databaseURL: harness.database.url,
                environment: ["LEDGERSYNC_SECRET_KEY": SyncHarness.secretKey, "LEDGERSYNC_ALLOW_PRIVATE_NETWORK": "1"])
            defer { api.stop() }
            // The address it logs once it listens.
            var baseURL: String?
            let listening = await eventually(timeout: .seconds(60), every: .milliseconds(100)) {
                guard let match = api.output.firstMatch(of: /http:\/\/127\.0\.0\.1:([0-9]+)/) else { return false }
                baseURL = String(match.0)
                return true
            }
            try #require(listening, "the API did not start: \(api.output)")
            let http = HTTPClient(maxConcurrentRequests: 2, allowPrivateNetworks: true)
            defer { http.shutdown() }
            func test(_ id: String) async throws -> (status: Int, object: [String: Any]) {
                let response = try await http.execute(
                    HTTPRequest(
                        method: "POST", url: baseURL! + "/v1/connections/\(id)/test", headers: [("Authorization", "Bearer \(token)")],
                        body: nil,
                        timeout: .seconds(60)))
                let object = (try? JSONSerialization.jsonObject(with: response.body)) as? [String: Any] ?? [:]
                return (response.status, object)
            }

            let passed = try await test(good)
            #expect(passed.status == 200, "\(passed)")
            #expect(passed.object["ok"] as? Bool == true, "\(passed)")
            let checks = passed.object["checks"] as? [[String: Any]] ?? []
            #expect(checks.map { "\($0["name"] ?? ""):\($0["outcome"] ?? "")" } == Self.checkNames.map { "\($0):passed" }, "\(passed)")

            let failed = try await test(bad)
            #expect(failed.status == 200, "the request worked; a check failed: \(failed)")
            #expect(failed.object["ok"] as? Bool == false, "\(failed)")
            let outcomes = (failed.object["checks"] as? [[String: Any]] ?? []).map { "\($0["name"] ?? ""):\($0["outcome"] ?? "")" }
            #expect(
                outcomes == ["reachability:passed", "account_id:passed", "credentials:failed", "concurrency_limit:skipped"], "\(failed)")
            #expect(!"\(failed.object)".contains("wrong-token-secret-77c2e0"))

            let missing = try await test(UUID().uuidString.lowercased())
            #expect(missing.status == 404, "\(missing)")
        }
    }
}
