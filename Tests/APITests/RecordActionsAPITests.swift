import API
import Foundation
import HTTPClient
import JobQueue
import JobQueueTesting
import Logging
import NetSuite
import Postgres
import ServiceLifecycle
import Simulators
import Sync
import Testing

/// Must-show 4 through the API: `record.action` jobs on a NetSuite connection, run by an
/// in-process worker against the simulator: create, get, update, upsert, delete and SuiteQL
/// on `contact` and a custom record (docs/record-actions.md).
@Suite("Record actions API", .timeLimit(.minutes(3)))
struct RecordActionsAPITests {
    static let credentials = NetSuiteCredentials(
        consumerKey: "ck-abcdef-123456", consumerSecret: "CONSUMER-SECRET-never-returned", tokenID: "tid-abcdef-123456",
        tokenSecret: "TOKEN-SECRET-never-returned")

    /// Runs `body` with the API, a NetSuite simulator, a connection to it and a worker that
    /// runs `record.action` jobs.
    static func with(_ body: (APIHarness, NetSuiteSimulator, String) async throws -> Void) async throws {
        var configuration = NetSuiteSimulator.Configuration(credentials: [credentials])
        configuration.accountID = "1234567_SB1"
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()
        let http = HTTPClient(maxConcurrentRequests: 4, allowPrivateNetworks: true)
        do {
            try await APIHarness.with { api in
                let connectionBody = APIHarness.connectionBody().replacingOccurrences(
                    of: "http://127.0.0.1:9/netsuite", with: simulator.baseURL)
                let created = try await api.post("/v1/connections", connectionBody)
                let connection = try #require((created.object["connection"] as? [String: Any])?["id"] as? String, "\(created)")
                _ = try await WebhookEndpointStore(pool: api.pool, secretBox: api.secretBox, allowPrivateNetworks: true).create(
                    url: "http://127.0.0.1:9/hooks", secret: "whsec-records",
                    eventTypes: [RecordActionEvent.completed, RecordActionEvent.failed])

                let sync = SyncEnvironment(
                    pool: api.pool, secretBox: api.secretBox, http: http, providers: APIHarness.providers,
                    providerContext: ProviderContext(http: http, requestTimeout: .seconds(10)))
                var registry = JobRegistry()
                registry.register(RecordActionJob(sync: sync))
                var logger = Logger(label: "test.worker")
                logger.logLevel = .warning
                let worker = WorkerPool(
                    pool: api.pool, registry: registry,
                    options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(20), lease: .seconds(10)),
                    logger: logger)
                let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
                try await withThrowingTaskGroup(of: Void.self) { tasks in
                    tasks.addTask { try await group.run() }
                    do {
                        try await body(api, simulator, connection)
                    } catch {
                        await group.triggerGracefulShutdown()
                        try? await tasks.waitForAll()
                        throw error
                    }
                    await group.triggerGracefulShutdown()
                    try await tasks.waitForAll()
                }
            }
        } catch {
            http.shutdown()
            await simulator.stop()
            throw error
        }
        http.shutdown()
        await simulator.stop()
    }

    static func result(_ answer: APIHarness.Answer) -> [String: Any] { answer.object["result"] as? [String: Any] ?? [:] }

    @Test(
        "create, get, update, upsert, SuiteQL and delete on contact and a custom record, waited for; jobs under the connection's limit key; one webhook each"
    )
    func lifecycle() async throws {
        try await Self.with { api, simulator, connection in
            let base = "/v1/connections/\(connection)"
            for type in ["contact", "customrecord_project"] {
                let created = try await api.post("\(base)/records/\(type)?wait=20", #"{"name": "Ada", "rank": 1.50}"#)
                #expect(created.status == 200 && created.object["succeeded"] as? Bool == true, "\(created)")
                let id = try #require(Self.result(created)["id"] as? String, "\(created)")
                #expect(simulator.genericRecord(type, internalID: id)?.string("name") == "Ada")
                // The body went through exactly: 1.50 stays 1.50.
                #expect(created.text.isEmpty == false)
                let stored = try #require(simulator.genericRecord(type, internalID: id))
                #expect(stored.body["rank"] == .number("1.50"))

                let got = try await api.get("\(base)/records/\(type)/\(id)?wait=20")
                #expect(got.status == 200 && Self.result(got)["found"] as? Bool == true, "\(got)")
                #expect((Self.result(got)["record"] as? [String: Any])?["name"] as? String == "Ada")

                let updated = try await api.request(
                    "PATCH", "\(base)/records/\(type)/\(id)?wait=20", body: #"{"name": "Ada King", "externalId": "x-1"}"#)
                #expect(updated.status == 200 && Self.result(updated)["id"] as? String == id, "\(updated)")

                let upserted = try await api.request("PUT", "\(base)/records/\(type)/eid:x-1?wait=20", body: #"{"rank": 2}"#)
                #expect(upserted.status == 200 && Self.result(upserted)["id"] as? String == id, "\(upserted)")
                let other = try await api.request("PUT", "\(base)/records/\(type)/eid:y-2?wait=20", body: #"{"name": "Grace"}"#)
                #expect(other.status == 200 && Self.result(other)["id"] as? String != id, "\(other)")

                let query = try await api.post(
                    "\(base)/query?wait=20",
                    #"{"query": "SELECT id, name, rank FROM \#(type) WHERE externalid IS NOT NULL ORDER BY name", "limit": 10}"#)
                #expect(query.status == 200, "\(query)")
                let rows = Self.result(query)["rows"] as? [[String: Any]] ?? []
                #expect(rows.map { $0["name"] as? String } == ["Ada King", "Grace"], "\(query)")
                #expect(rows.first?["rank"] as? String == "2")

                let deleted = try await api.request("DELETE", "\(base)/records/\(type)/\(id)?wait=20")
                #expect(deleted.status == 200 && deleted.object["succeeded"] as? Bool == true, "\(deleted)")
                let gone = try await api.get("\(base)/records/\(type)/\(id)?wait=20")
                #expect(Self.result(gone)["found"] as? Bool == false, "\(gone)")
                #expect(simulator.genericRecord(type, internalID: id) == nil)
            }

            // A failure is stored and answered too: deleting what is not there.
            let missing = try await api.request("DELETE", "\(base)/records/contact/999999?wait=20")
            #expect(missing.status == 200 && missing.object["succeeded"] as? Bool == false, "\(missing)")
            #expect((missing.object["error"] as? String)?.isEmpty == false)

            // Without wait: 202 and the job, which a worker then runs.
            let accepted = try await api.post("\(base)/records/contact", #"{"name": "Later"}"#)
            #expect(accepted.status == 202, "\(accepted)")
            let job = try #require(accepted.object["job"] as? [String: Any])
            #expect(job["kind"] as? String == RecordActionJob.kind)
            let jobID = try #require(job["id"] as? Int)
            let limitKeys = try await api.pool.query(
                "SELECT DISTINCT limit_key FROM ledgersync.jobs WHERE kind = 'record.action'"
            ).rows.map { try $0.decode("limit_key", as: String.self) }
            #expect(limitKeys == ["netsuite:\(connection.lowercased())"])
            #expect(try await RecordActionJob.outcome(jobID: Int64(jobID), pool: api.pool, timeout: .seconds(20))?.succeeded == true)

            // One webhook per action: 2 × 8 actions and the last create; the failed delete.
            let events = try await api.pool.query(
                "SELECT args->>'event_type' AS type, count(*)::bigint AS n FROM ledgersync.jobs WHERE kind = 'webhook.deliver' GROUP BY 1 ORDER BY 1"
            ).rows.map { (try $0.decode("type", as: String.self), try $0.decode("n", as: Int64.self)) }
            #expect(events.map(\.0) == [RecordActionEvent.completed, RecordActionEvent.failed])
            #expect(events.map(\.1) == [17, 1])
            // The failure's event names the job, the action and why.
            let failedBody = try await api.pool.query(
                "SELECT args->>'body' AS body FROM ledgersync.jobs WHERE kind = 'webhook.deliver' AND args->>'event_type' = $1",
                [RecordActionEvent.failed]
            ).rows[0].decode("body", as: String.self)
            let failedEvent = try #require(try JSONSerialization.jsonObject(with: Data(failedBody.utf8)) as? [String: Any])
            let data = try #require(failedEvent["data"] as? [String: Any])
            #expect(failedEvent["type"] as? String == RecordActionEvent.failed)
            #expect(data["action"] as? String == "delete" && data["record_type"] as? String == "contact")
            #expect(data["connection_id"] as? String == connection.lowercased() && (data["error"] as? String)?.isEmpty == false)
            #expect(failedEvent["id"] as? String == "evt_record_action_\(data["job_id"] as? Int ?? 0)")
        }
    }

    @Test("bad input is refused before anything is enqueued, naming the field")
    func refusals() async throws {
        try await Self.with { api, _, connection in
            let base = "/v1/connections/\(connection)"
            let cases: [(String, String, String?, String)] = [
                ("POST", "\(base)/records/9contact", "{}", "record_type"),
                ("GET", "\(base)/records/contact/12a", nil, "id"),
                ("PUT", "\(base)/records/contact/12", "{}", "record_id"),
                ("PUT", "\(base)/records/contact/eid:a.b", "{}", "external_id"),
                ("PATCH", "\(base)/records/contact/12", "[1]", "body"),
                ("POST", "\(base)/query", #"{"query": "SELECT 1", "limit": 0}"#, "limit"),
                ("GET", "\(base)/records/contact/12?wait=99", nil, "wait"),
            ]
            for (method, path, body, field) in cases {
                let answer = try await api.request(method, path, body: body)
                #expect(answer.status == 422 && answer.error["field"] as? String == field, "\(method) \(path): \(answer)")
            }
            let unknown = try await api.get("/v1/connections/\(UUID().uuidString)/records/contact/1")
            #expect(unknown.status == 404, "\(unknown)")
            let count = try await api.pool.query("SELECT count(*)::bigint AS n FROM ledgersync.jobs WHERE kind = 'record.action'").rows
            #expect(try count[0].decode("n", as: Int64.self) == 0)
        }
    }
}
