import API
import Foundation
import HTTPTypes
import Hummingbird
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Logging
import NetSuite
import Postgres
import Simulators
import Sync
import Synchronization
import Testing

/// Issue 11: a provider stand-in at a connection's base URL answers with what no NetSuite
/// sends (NUL bytes in error codes and messages, megabytes of text, HTML, malformed JSON,
/// no answer at all, 429 for ever), and a real worker process goes on: every such job fails
/// or retries with a clean stored reason, later jobs complete, SIGTERM ends the worker
/// within its grace period, and a job rate limited for too long fails with one webhook.
@Suite("Hostile provider answers", .serialized, .timeLimit(.minutes(5)))
struct HostileProviderTests {
    static let scenario = BillingScenario.generate(customers: 12, invoicesPerCustomer: 1, creditNoteEvery: 0, payments: 0, seed: 11)
    static let webhookSecret = "WEBHOOK-SECRET-hostile-1f2e3d"

    /// A database with one NetSuite connection whose base URL is the stand-in.
    static func withStandIn(_ standIn: ProviderStandIn, _ body: (SyncHarness) async throws -> Void) async throws {
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        do {
            let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": SyncHarness.secretKey])
            let connection = try await ConnectionStore(pool: database.pool, secretBox: box).create(
                AccountingConnection(
                    provider: "netsuite", name: "NetSuite stand-in", accountID: "1234567",
                    settings: .init(defaultSubsidiary: "1", objectsToSync: [], baseURL: standIn.baseURL, concurrencyLimit: 5),
                    secrets: SyncHarness.credentials.connectionSecrets))
            let id = try #require(connection.id)
            try await SyncEnvironment.applyLimits(
                of: connection, queue: JobQueue(pool: database.pool), providers: ProviderRegistry([NetSuiteDriver()]))
            let store = MappingStore(pool: database.pool)
            for mapping in BillingScenario.mappings(connection: id) { try await store.upsert(mapping) }
            // The harness's simulator is never started: the connection points at the stand-in.
            let unused = NetSuiteSimulator(configuration: SyncHarness.simulatorConfiguration())
            try await body(SyncHarness(database: database, box: box, simulator: unused, connectionID: id))
        } catch {
            await database.drop()
            throw error
        }
        await database.drop()
    }

    /// A job's error history as stored, read back as text and as JSON.
    static func storedErrors(_ harness: SyncHarness, _ id: Int64) async throws -> (text: String, entries: [[String: Any]]) {
        let row = try #require(try await harness.pool.query("SELECT errors::text AS e FROM ledgersync.jobs WHERE id = $1", [id]).rows.first)
        let text: String = try row.decode("e")
        let entries = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [[String: Any]] ?? []
        return (text, entries)
    }

    @Test("NUL bytes, megabytes, HTML, malformed JSON: clean stored reasons, the worker goes on, SIGTERM within the grace period")
    func hostileAnswers() async throws {
        let standIn = ProviderStandIn()
        try await standIn.start()
        defer { Task { await standIn.stop() } }
        let customers = Self.scenario.customers
        // Escaped NULs in NetSuite's own error body: decoded, they are NUL characters.
        standIn.answer(
            customers[0].lagoID,
            .init(
                status: 400, contentType: "application/vnd.oracle.resource+json; type=error",
                body: Array(
                    #"{"title":"Bad Request","status":400,"o:errorDetails":[{"detail":"Invalid\u0000 value\u0000 for companyName","o:errorCode":"USER_ERROR\u0000","o:errorPath":"companyName\u0000"}]}"#
                        .utf8)))
        // Raw NUL bytes inside JSON strings: not JSON at all.
        standIn.answer(
            customers[1].lagoID,
            .init(
                status: 400, contentType: "application/json",
                body: Array(#"{"o:errorDetails":[{"detail":"x"#.utf8) + [0] + Array(#"y","o:errorCode":"E"#.utf8) + [0]
                    + Array(#""}]}"#.utf8)))
        // Megabytes of text from something that is not NetSuite.
        standIn.answer(
            customers[2].lagoID,
            .init(
                status: 503, contentType: "text/plain", body: Array(String(repeating: "MEGABYTES-OF-TEXT ", count: 180_000).utf8)))
        // A proxy's HTML page.
        standIn.answer(
            customers[3].lagoID,
            .init(
                status: 502, contentType: "text/html",
                body: Array("<html><body><h1>INTERNAL-PAGE-MARKER</h1><p>10.0.0.7 upstream</p>\u{0}</body></html>".utf8)))
        // JSON cut off in the middle.
        standIn.answer(
            customers[4].lagoID,
            .init(
                status: 400, contentType: "application/json",
                body: Array(#"{"title":"Bad Request","o:errorDetails":[{"detail":"TRUNCATED-MARKER"#.utf8)))

        try await Self.withStandIn(standIn) { harness in
            var hostile: [Int64] = []
            for customer in customers[0..<5] { hostile.append(try await harness.enqueue(.customerSync, customer.json)) }
            // Retried answers get two attempts, so the test sees a retry and an end.
            try await harness.pool.query("UPDATE ledgersync.jobs SET max_attempts = 2")
            var good: [Int64] = []
            for customer in customers[5..<8] { good.append(try await harness.enqueue(.customerSync, customer.json)) }

            let worker = try harness.startWorker(concurrency: 4, extra: ["--grace-period", "3s"])
            defer { worker.stop() }
            try await harness.waitUntilIdle(timeout: .seconds(90), workers: [worker])

            // Later jobs still run: the worker kept working.
            var later: [Int64] = []
            for customer in customers[8..<11] { later.append(try await harness.enqueue(.customerSync, customer.json)) }
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: [worker])
            for id in good + later {
                let job = try await harness.job(id)
                #expect(job.state == "completed", "job \(id): \(job.state) \(job.errors)")
            }

            // Every hostile job failed, with a clean reason that says what came back.
            var allStored = ""
            for id in hostile {
                let job = try await harness.job(id)
                #expect(job.state == "failed", "job \(id): \(job.state) \(job.errors)")
                let stored = try await Self.storedErrors(harness, id)
                allStored += stored.text
            }
            #expect(!allStored.contains("\\u0000"), "a NUL escape is stored")
            #expect(!allStored.unicodeScalars.contains { $0.value < 0x20 }, "a control character is stored")
            for marker in ["MEGABYTES-OF-TEXT", "INTERNAL-PAGE-MARKER", "10.0.0.7", "TRUNCATED-MARKER", "<html"] {
                #expect(!allStored.contains(marker), "a non-NetSuite answer is echoed: \(marker)")
            }

            let nulEscaped = try await Self.storedErrors(harness, hostile[0]).entries
            #expect(nulEscaped.count == 1)
            #expect(nulEscaped.first?["class"] as? String == "permanent")
            #expect(nulEscaped.first?["code"] as? String == "USER_ERROR")
            #expect(nulEscaped.first?["message"] as? String == "NetSuite HTTP 400: Invalid value for companyName (at companyName)")

            let nulRaw = try await Self.storedErrors(harness, hostile[1]).entries
            #expect(nulRaw.first?["class"] as? String == "permanent" && nulRaw.first?["code"] == nil)
            #expect(
                (nulRaw.first?["message"] as? String)?.hasPrefix(
                    "NetSuite HTTP 400: the answer is not a NetSuite error (malformed JSON; content type application/json; ") == true,
                "\(nulRaw)")

            let mega = try await Self.storedErrors(harness, hostile[2]).entries
            #expect(mega.map { $0["class"] as? String } == ["transient", "transient"], "retried, then failed: \(mega)")
            #expect(
                mega.allSatisfy {
                    ($0["message"] as? String)
                        == "NetSuite HTTP 503: the answer is not a NetSuite error (too large to read as an error; content type text/plain; 3.1 MB); its content is not shown"
                }, "\(mega)")

            let html = try await Self.storedErrors(harness, hostile[3]).entries
            #expect(html.count == 2)
            #expect(html.allSatisfy { ($0["message"] as? String)?.contains("(HTML; content type text/html; ") == true }, "\(html)")

            let malformed = try await Self.storedErrors(harness, hostile[4]).entries
            #expect(
                (malformed.first?["message"] as? String)?.contains("(malformed JSON; content type application/json; ") == true,
                "\(malformed)")

            // SIGTERM while a job waits on a provider that never answers: the worker hands
            // the job back and exits within its grace period.
            let stuck = customers[11]
            standIn.hang(stuck.lagoID)
            let stuckJob = try await harness.enqueue(.customerSync, stuck.json)
            let asked = await eventually(timeout: .seconds(30)) { standIn.requests(for: stuck.lagoID) >= 1 }
            try #require(asked)
            let clock = ContinuousClock()
            let signalled = clock.now
            worker.signal(SIGTERM)
            let status = await worker.waitForExit(timeout: .seconds(60))
            let took = clock.now - signalled
            #expect(status == 0, "worker exited with \(status.map(String.init) ?? "nothing"):\n\(worker.output.suffix(3000))")
            // 3 s of grace; the rest of the margin is process teardown on a loaded machine.
            // The provider would have held the job for 120 s.
            #expect(took < .seconds(10), "SIGTERM to exit took \(took)")
            let handedBack = try await harness.job(stuckJob)
            #expect(handedBack.state == "available", "\(handedBack.state) \(handedBack.errors)")
            #expect(handedBack.errors.last?["class"] as? String == "interrupted")
        }
    }

    @Test("a job that keeps getting 429 fails for good once its snoozes pass --max-rate-limited, with one webhook")
    func rateLimitedCap() async throws {
        let receiver = WebhookReceiver(secret: Self.webhookSecret)
        try await receiver.start()
        defer { Task { await receiver.stop() } }
        let standIn = ProviderStandIn()
        try await standIn.start()
        defer { Task { await standIn.stop() } }
        let customer = Self.scenario.customers[0]
        standIn.answer(
            customer.lagoID,
            .init(
                status: 429, contentType: "application/vnd.oracle.resource+json; type=error", headers: [("Retry-After", "1")],
                body: Array(
                    #"{"title":"Too Many Requests","status":429,"o:errorDetails":[{"detail":"Concurrent request limit exceeded. Request blocked.","o:errorCode":"CONCURRENCY_LIMIT_EXCEEDED"}]}"#
                        .utf8)))
        try await Self.withStandIn(standIn) { harness in
            _ = try await WebhookEndpointStore(pool: harness.pool, secretBox: harness.box).create(
                url: receiver.url, secret: Self.webhookSecret)
            let id = try await harness.enqueue(.customerSync, customer.json)
            // 1 s a snooze (Retry-After), cap 2 s: the third 429 would take it past the cap.
            let worker = try harness.startWorker(extra: ["--max-rate-limited", "2s"])
            defer { worker.stop() }
            let failed = try await eventually(timeout: .seconds(60)) { try await harness.job(id).state == "failed" }
            #expect(failed, "\(worker.output.suffix(3000))")
            let delivered = try await eventually(timeout: .seconds(30)) {
                try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND state = 'completed'") == 1
            }
            #expect(delivered)
            await stop([worker])

            #expect(standIn.requests(for: customer.lagoID) == 3)
            let job = try await harness.job(id)
            #expect(job.attempt == 1, "snoozes use no attempt")
            #expect(job.errors.count == 1)
            #expect(job.errors.first?["class"] as? String == "rate_limited")
            #expect(job.errors.first?["code"] as? String == "CONCURRENCY_LIMIT_EXCEEDED")
            #expect(
                (job.errors.first?["message"] as? String)?.contains("still rate limited after waiting 2 s in total (the cap is 2 s)")
                    == true, "\(job.errors)")

            // One webhook: the final failure's, naming the provider's code.
            #expect(try await harness.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'webhook.deliver'") == 1)
            #expect(receiver.deliveries.count == 1)
            let delivery = try #require(receiver.deliveries.first)
            #expect(delivery.eventType == ProviderErrorEvent.customerErrorType)
            let object = delivery.json["accounting_provider_customer_error"] as? [String: Any]
            #expect(object?["lago_customer_id"] as? String == customer.lagoID)
            #expect((object?["provider_error"] as? [String: Any])?["error_code"] as? String == "CONCURRENCY_LIMIT_EXCEEDED")
        }
    }
}

/// Poses as NetSuite at a connection's base URL, over real HTTP: answers each customer
/// upsert (`PUT …/customer/eid:<id>`) as told for that external id, or with a created
/// record. Counts the requests per external id.
final class ProviderStandIn: Sendable {
    struct Answer: Sendable {
        var status: Int
        var contentType: String?
        var headers: [(String, String)] = []
        var body: [UInt8]
    }

    private struct State {
        var answers: [String: Answer] = [:]
        var hanging: Set<String> = []
        var requests: [String: Int] = [:]
        var server: Task<Void, any Error>?
        var port = 0
        var stopped = false
    }
    private let state = Mutex(State())

    var baseURL: String { "http://127.0.0.1:\(state.withLock { $0.port })" }

    func answer(_ externalID: String, _ answer: Answer) { state.withLock { $0.answers[externalID] = answer } }
    /// Requests for `externalID` get no answer (until the stand-in stops, or 120 s).
    func hang(_ externalID: String) { _ = state.withLock { $0.hanging.insert(externalID) } }
    func requests(for externalID: String) -> Int { state.withLock { $0.requests[externalID, default: 0] } }

    func start() async throws {
        let router = Router()
        router.put("/services/rest/record/v1/customer/**") { [self] request, _ -> Response in
            _ = try await request.body.collect(upTo: 1 << 20)
            let last = request.uri.path.split(separator: "/").last.map(String.init) ?? ""
            let decoded = last.removingPercentEncoding ?? last
            let externalID = decoded.hasPrefix("eid:") ? String(decoded.dropFirst(4)) : decoded
            let (answer, hangs) = state.withLock { state -> (Answer?, Bool) in
                state.requests[externalID, default: 0] += 1
                return (state.answers[externalID], state.hanging.contains(externalID))
            }
            if hangs {
                let clock = ContinuousClock()
                let until = clock.now + .seconds(120)
                while clock.now < until, !state.withLock({ $0.stopped }) {
                    try? await Task.sleep(for: .milliseconds(100))
                }
                return Response(status: .serviceUnavailable)
            }
            guard let answer else {
                return Response(
                    status: .noContent,
                    headers: [.location: "\(baseURL)/services/rest/record/v1/customer/\(abs(externalID.hashValue % 100_000))"])
            }
            var headers = HTTPFields()
            if let contentType = answer.contentType { headers[.contentType] = contentType }
            for (name, value) in answer.headers { headers[HTTPField.Name(name)!] = value }
            return Response(
                status: HTTPResponse.Status(code: answer.status), headers: headers,
                body: .init(byteBuffer: ByteBuffer(bytes: answer.body)))
        }
        let ready = AsyncStream<Int>.makeStream()
        var logger = Logger(label: "test.provider-stand-in")
        logger.logLevel = .warning
        let app = Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                ready.continuation.yield(channel.localAddress?.port ?? 0)
                ready.continuation.finish()
            },
            logger: logger)
        let task = Task { try await app.runService(gracefulShutdownSignals: []) }
        var bound = 0
        for await value in ready.stream { bound = value }
        state.withLock {
            $0.server = task
            $0.port = bound
        }
    }

    func stop() async {
        let task = state.withLock { state -> Task<Void, any Error>? in
            state.stopped = true
            defer { state.server = nil }
            return state.server
        }
        task?.cancel()
        _ = await task?.result
    }
}
