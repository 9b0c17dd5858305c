import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Simulators
import Sync
import Testing

/// The master key as an operator meets it: a wrong one stops `ledgersync worker` and
/// `ledgersync api` at start-up with one line, and `ledgersync secrets rotate-key` re-keys a
/// live installation while workers run sync jobs.
@Suite(.timeLimit(.minutes(6)))
struct SecretKeyTests {
    /// Runs `ledgersync <arguments>` to its end with `environment`; its status and output.
    static func run(_ arguments: [String], databaseURL: String, environment: [String: String]) async throws -> (
        status: Int32?, output: String
    ) {
        let process = try LedgersyncProcess(arguments, databaseURL: databaseURL, environment: environment)
        let status = await process.waitForExit(timeout: .seconds(60))
        process.stop()
        return (status, process.output)
    }

    /// A refusal: exit 78 and exactly one line, naming the key id the database expects.
    static func expectRefusal(
        _ result: (status: Int32?, output: String), expecting keyID: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(result.status == 78, "\(result.output)", sourceLocation: sourceLocation)
        let lines = result.output.split(separator: "\n", omittingEmptySubsequences: true)
        #expect(lines.count == 1, "one line: \(result.output)", sourceLocation: sourceLocation)
        #expect(result.output.contains("key id \(keyID)"), "\(result.output)", sourceLocation: sourceLocation)
    }

    @Test("a wrong master key: worker and api refuse to start with one line naming the expected key id (exit 78)")
    func wrongKeyRefusesToStart() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let wrong = ["LEDGERSYNC_SECRET_KEY": SecretBox.generateKey()]
            let url = harness.database.url
            // No check row yet: the connection sealed under the right key is what refuses them.
            Self.expectRefusal(
                try await Self.run(["worker", "--poll-interval", "100ms"], databaseURL: url, environment: wrong),
                expecting: harness.box.keyID)
            Self.expectRefusal(
                try await Self.run(["api", "--port", "0"], databaseURL: url, environment: wrong), expecting: harness.box.keyID)
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.secret_key_check") == 0, "a wrong key writes no check row")

            // The right key passes and records the check row; the wrong one is refused by it.
            let right = ["LEDGERSYNC_SECRET_KEY": SyncHarness.secretKey]
            let checked = try await Self.run(["secrets", "check"], databaseURL: url, environment: right)
            #expect(checked.status == 0 && checked.output.contains(harness.box.keyID), "\(checked.output)")
            Self.expectRefusal(
                try await Self.run(["worker", "--poll-interval", "100ms"], databaseURL: url, environment: wrong),
                expecting: harness.box.keyID)
            Self.expectRefusal(
                try await Self.run(["api", "--port", "0"], databaseURL: url, environment: wrong), expecting: harness.box.keyID)
            // Nothing was touched: no job ran, no secret was rewritten.
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs") == 0)
            let connection = try await ConnectionStore(pool: harness.pool, secretBox: harness.box).get(harness.connectionID)
            #expect(connection.secrets["token_secret"] == SyncHarness.credentials.tokenSecret)
        }
    }

    @Test("secrets rotate-key while workers run sync jobs: every secret readable afterwards, no job failed for it")
    func rotateKeyUnderLoad() async throws {
        // Enough work that the workers are still busy when the rotation ends: 600 pushes
        // through an account limit of 5 at 10-20 ms each take seconds.
        let scenario = BillingScenario.generate(customers: 120, invoicesPerCustomer: 5, creditNoteEvery: 0, payments: 0, seed: 7)
        let configuration = SyncHarness.simulatorConfiguration(latency: 10...20)
        try await SyncHarness.with(simulator: configuration) { harness in
            let oldKey = SyncHarness.secretKey
            let newKey = SecretBox.generateKey()
            let old = harness.box
            // Every kind of sealed secret, under the old key.
            let endpoints = WebhookEndpointStore(pool: harness.pool, secretBox: old, allowPrivateNetworks: true)
            let endpoint = try await endpoints.create(
                url: "https://hooks.example.com/ls", secret: StandardWebhooks.generateSecret(), eventTypes: [InvoicePaidEvent.type])
            let (_, webhookSecret) = try await endpoints.rotateSecret(endpoint.id, overlap: .seconds(3600))
            let inboundSecret = try await InboundSecretStore(pool: harness.pool, secretBox: old).rotate(connection: harness.connectionID)

            for invoice in scenario.invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            // Step 1 of the procedure (docs/operations.md): the processes learn the new key
            // before anything is sealed under it.
            let workers = try (0..<2).map { _ in
                try harness.startWorker(
                    concurrency: 4, environment: ["LEDGERSYNC_SECRET_KEY": oldKey, "LEDGERSYNC_SECRET_KEY_PREVIOUS": newKey])
            }
            let started = try await eventually(timeout: .seconds(60)) {
                try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE state = 'completed'") >= 20
            }
            #expect(started, "the workers are syncing")

            // Step 2: re-seal everything under the new key while they work.
            let rotation = try await Self.run(
                ["secrets", "rotate-key"], databaseURL: harness.database.url,
                environment: ["LEDGERSYNC_SECRET_KEY": newKey, "LEDGERSYNC_SECRET_KEY_PREVIOUS": oldKey])
            let pendingAfterRotation = try await harness.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE state IN ('available', 'running', 'retryable')")
            #expect(rotation.status == 0, "\(rotation.output)")
            #expect(rotation.output.contains("re-sealed 5 secrets"), "\(rotation.output)")
            #expect(pendingAfterRotation > 0, "the rotation ran while jobs were still being synced")

            try await harness.waitUntilIdle(timeout: .seconds(240), workers: workers)
            await stop(workers)

            // No job failed, none even retried for want of its secrets.
            let states = try await harness.jobStates()
            #expect(states == ["invoice.push/completed": 600], "\(states)")
            let secretErrors = try await harness.count(
                "SELECT count(*) FROM ledgersync.jobs WHERE errors::text LIKE '%secret%' OR errors::text LIKE '%key id%'")
            #expect(secretErrors == 0)
            #expect(harness.simulator.records(.invoice).count == 600)

            // Every secret opens under the new key alone, and every sealed value names it.
            let new = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": newKey])
            let connection = try await ConnectionStore(pool: harness.pool, secretBox: new).get(harness.connectionID)
            #expect(connection.secrets["token_secret"] == SyncHarness.credentials.tokenSecret)
            #expect(try await WebhookEndpointStore(pool: harness.pool, secretBox: new).get(endpoint.id)?.secret == webhookSecret)
            #expect(
                try await InboundSecretStore(pool: harness.pool, secretBox: new).secret(connection: harness.connectionID) == inboundSecret)
            try await SecretKeyCheck.verify(pool: harness.pool, box: new)
            let notNew = try await harness.count(
                """
                SELECT (SELECT count(*) FROM ledgersync.connections WHERE secrets_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.webhook_endpoints WHERE secret_sealed NOT LIKE $1 OR previous_secret_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.inbound_secrets WHERE secret_sealed NOT LIKE $1)
                     + (SELECT count(*) FROM ledgersync.secret_key_check WHERE sealed NOT LIKE $1)
                """, ["v2:\(new.keyID):%"])
            #expect(notNew == 0)
            // Step 3: the old key can be retired; a process that has only it is refused.
            Self.expectRefusal(
                try await Self.run(["worker"], databaseURL: harness.database.url, environment: ["LEDGERSYNC_SECRET_KEY": oldKey]),
                expecting: new.keyID)
        }
    }
}
