import ExactJSON
import Foundation
import JobQueue
import JobQueueTesting
import NetSuite
import Postgres
import Simulators
import Sync
import Testing

/// `ledgersync records create|get|update|upsert|delete|query` as a user runs them
/// (docs/record-actions.md, "The CLI"): the real binary, a real database, the NetSuite simulator
/// over HTTP and a `ledgersync worker` process that runs the `record.action` jobs the commands
/// enqueue. What the commands print is checked against the simulator's own state.
@Suite("ledgersync records", .serialized, .timeLimit(.minutes(5)))
struct RecordsCommandTests {
    /// A record type the sync does not write, with a field that stays and one that changes.
    struct Kind: CustomStringConvertible {
        let type: String
        let kept: String
        let changed: String
        var description: String { type }
    }

    static let kinds = [
        Kind(type: "contact", kept: "firstName", changed: "lastName"),
        Kind(type: "customrecord_ls_project", kept: "name", changed: "custrecord_stage"),
    ]

    /// `ledgersync records <arguments>` with the harness's database and key.
    static func records(_ arguments: [String], _ harness: SyncHarness) async throws -> LinkedRefsTests.Run {
        try await LinkedRefsTests.ledgersync(["records"] + arguments, harness)
    }

    /// A successful run's stdout: exactly one line, one JSON object, read exactly.
    static func result(_ run: LinkedRefsTests.Run, sourceLocation: SourceLocation = #_sourceLocation) throws -> ExactJSON {
        #expect(run.status == 0, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.split(whereSeparator: \.isNewline).count == 1, "one line of JSON: \(run)", sourceLocation: sourceLocation)
        let json = try ExactJSON.parse(Data(run.stdout.utf8))
        try #require(json.objectValue != nil, "a JSON object: \(run)", sourceLocation: sourceLocation)
        return json
    }

    /// A failed action: exit 1, nothing on stdout, one line on stderr naming the job (which
    /// failed in the queue too) and NetSuite's answer.
    static func expectActionFailed(
        _ run: LinkedRefsTests.Run, _ harness: SyncHarness, naming hints: [String], sourceLocation: SourceLocation = #_sourceLocation
    ) async throws {
        #expect(run.status == 1, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.split(whereSeparator: \.isNewline).count == 1, "one line: \(run)", sourceLocation: sourceLocation)
        for hint in hints { #expect(run.stderr.contains(hint), "names \(hint): \(run)", sourceLocation: sourceLocation) }
        let match = try #require(run.stderr.firstMatch(of: #/^ledgersync: job ([0-9]+): /#), "\(run)", sourceLocation: sourceLocation)
        let jobID = try #require(Int64(match.1), sourceLocation: sourceLocation)
        let job = try await harness.job(jobID)
        #expect(job.state == "failed", "the job named is the one that failed: \(job)", sourceLocation: sourceLocation)
    }

    /// Refused before anything is enqueued: exit `status`, nothing on stdout, one line on
    /// stderr with `hint` in it, no crash.
    static func expectRefused(
        _ run: LinkedRefsTests.Run, status: Int32 = 64, hint: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(run.status == status, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stdout.isEmpty, "\(run)", sourceLocation: sourceLocation)
        let lines = run.stderr.split(whereSeparator: \.isNewline)
        #expect(lines.count == 1, "one line: \(run)", sourceLocation: sourceLocation)
        #expect(lines.first?.hasPrefix("ledgersync: ") == true, "\(run)", sourceLocation: sourceLocation)
        #expect(run.stderr.contains(hint), "names the problem (\(hint)): \(run)", sourceLocation: sourceLocation)
        for crash in ["Fatal error", "Stack dump", "Backtrace"] { #expect(!run.stderr.contains(crash), sourceLocation: sourceLocation) }
    }

    static func recordActionJobs(_ harness: SyncHarness) async throws -> Int {
        try await harness.count("SELECT count(*)::int FROM ledgersync.jobs WHERE kind = 'record.action'")
    }

    @Test(
        "create, get, update, upsert by external id, query and delete on contact and a custom record; each write seen at the simulator")
    func lifecycle() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let connection = harness.connectionID.uuidString.lowercased()
            let workers = try harness.startWorkers(1, concurrency: 2)
            do {
                for kind in Self.kinds {
                    try await Self.exercise(kind, connection: connection, harness)
                }
                // Every command was one job under the connection's limit key; the two refused
                // writes of each type failed, the rest completed.
                let states = try await harness.jobStates().filter { $0.key.hasPrefix("record.action/") }
                #expect(states == ["record.action/completed": 20, "record.action/failed": 4], "\(states)")
                let keys = try await harness.pool.query(
                    "SELECT DISTINCT limit_key FROM ledgersync.jobs WHERE kind = 'record.action'"
                ).rows.map { try $0.decode("limit_key", as: String.self) }
                #expect(keys == ["netsuite:\(connection)"])
            } catch {
                await stop(workers)
                throw error
            }
            await stop(workers)
        }
    }

    static func exercise(_ kind: Kind, connection: String, _ harness: SyncHarness) async throws {
        let (type, kept, changed) = (kind.type, kind.kept, kind.changed)
        let simulator = harness.simulator
        let on = ["--connection", connection]
        #expect(simulator.genericRecords(type).isEmpty)

        // create: the new internal id, and the record at NetSuite with the body exactly as
        // written (1.50 stays 1.50).
        let created = try Self.result(
            try await records(
                ["create", type] + on + ["--body", #"{"\#(kept)": "Ada", "\#(changed)": "Lovelace", "rank": 1.50}"#], harness))
        let id = try #require(created["id"]?.stringValue, "\(created)")
        #expect(!id.isEmpty && id.allSatisfy(\.isNumber), "an internal id: \(created)")
        let stored = try #require(simulator.genericRecord(type, internalID: id), "\(type) \(id) is not at the simulator")
        #expect(stored.string(kept) == "Ada" && stored.string(changed) == "Lovelace", "\(stored.body)")
        #expect(stored.body["rank"] == .number("1.50"), "\(stored.body)")
        #expect(simulator.genericRecords(type).count == 1)

        // get: the record as NetSuite answers it.
        let got = try Self.result(try await records(["get", type, id] + on, harness))
        #expect(got["found"] == .bool(true) && got["id"]?.stringValue == id, "\(got)")
        #expect(got["record"]?[kept]?.stringValue == "Ada" && got["record"]?[changed]?.stringValue == "Lovelace", "\(got)")
        #expect(got["record"]?["rank"] == .number("1.50"), "\(got)")

        // update: one field changes at NetSuite, the omitted one is kept.
        let updated = try Self.result(try await records(["update", type, id] + on + ["--body", #"{"\#(changed)": "King"}"#], harness))
        #expect(updated["id"]?.stringValue == id, "\(updated)")
        let afterUpdate = try #require(simulator.genericRecord(type, internalID: id))
        #expect(afterUpdate.string(changed) == "King" && afterUpdate.string(kept) == "Ada", "\(afterUpdate.body)")
        #expect(simulator.genericRecords(type).count == 1)

        // upsert by external id: the first creates, the second (the id without `eid:`, as the
        // command also takes it) updates that same record.
        let inserted = try Self.result(
            try await records(
                ["upsert", type, "eid:crm-7"] + on + ["--body", #"{"\#(kept)": "Grace", "\#(changed)": "Hopper"}"#], harness))
        let upsertedID = try #require(inserted["id"]?.stringValue, "\(inserted)")
        #expect(upsertedID != id)
        #expect(simulator.genericRecord(type, externalID: "crm-7")?.internalID == upsertedID)
        #expect(simulator.genericRecords(type).count == 2)
        let replaced = try Self.result(
            try await records(["upsert", type, "crm-7"] + on + ["--body", #"{"\#(changed)": "Murray"}"#], harness))
        #expect(replaced["id"]?.stringValue == upsertedID, "the same record: \(replaced)")
        #expect(simulator.genericRecords(type).count == 2, "the second upsert created nothing")
        let upserted = try #require(simulator.genericRecord(type, externalID: "crm-7"))
        #expect(upserted.internalID == upsertedID && upserted.string(changed) == "Murray" && upserted.string(kept) == "Grace")
        // get by external id.
        let byExternalID = try Self.result(try await records(["get", type, "eid:crm-7"] + on, harness))
        #expect(byExternalID["found"] == .bool(true) && byExternalID["id"]?.stringValue == upsertedID, "\(byExternalID)")
        #expect(byExternalID["record"]?[changed]?.stringValue == "Murray", "\(byExternalID)")

        // query (SuiteQL): the rows that match, and one page of all of them.
        let (keptColumn, changedColumn) = (kept.lowercased(), changed.lowercased())
        let matched = try Self.result(
            try await records(
                ["query", "SELECT id, \(keptColumn), \(changedColumn) FROM \(type) WHERE \(changedColumn) = 'King'"] + on, harness))
        let rows = try #require(matched["rows"]?.arrayValue, "\(matched)")
        #expect(rows.map { $0["id"]?.stringValue } == [id], "\(matched)")
        #expect(rows.first?[keptColumn]?.stringValue == "Ada", "\(matched)")
        #expect(matched["has_more"] == .bool(false), "\(matched)")
        let page = try Self.result(
            try await records(["query", "SELECT id, externalid FROM \(type) ORDER BY id", "--limit", "1"] + on, harness))
        #expect(page["rows"]?.arrayValue?.map { $0["id"]?.stringValue } == [id], "\(page)")
        #expect(page["has_more"] == .bool(true) && page["total_results"]?.numberText == "2", "\(page)")

        // delete: gone at NetSuite; the other record stays.
        let deleted = try Self.result(try await records(["delete", type, id] + on, harness))
        #expect(deleted["id"]?.stringValue == id, "\(deleted)")
        #expect(simulator.genericRecord(type, internalID: id) == nil, "\(type) \(id) is still at the simulator")
        #expect(simulator.genericRecords(type).map(\.internalID) == [upsertedID])

        // After the delete: a get answers found: false (docs/record-actions.md: not a failure);
        // a write to the deleted id fails, exit 1, naming NetSuite's answer, and creates nothing.
        let gone = try Self.result(try await records(["get", type, id] + on, harness))
        #expect(gone["found"] == .bool(false) && gone["record"] == nil, "\(gone)")
        let deletedAgain = try await records(["delete", type, id] + on, harness)
        try await Self.expectActionFailed(deletedAgain, harness, naming: ["NetSuite HTTP 404", "record instance does not exist"])
        let updatedGone = try await records(["update", type, id] + on + ["--body", #"{"\#(changed)": "Byron"}"#], harness)
        try await Self.expectActionFailed(updatedGone, harness, naming: ["NetSuite HTTP 404", "record instance does not exist"])
        #expect(simulator.genericRecords(type).map(\.internalID) == [upsertedID])
    }

    @Test("bad input: a clear line and exit 64 (an unknown connection: 2), nothing enqueued; --wait 0 prints the job id at once")
    func refusalsAndNoWait() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let connection = harness.connectionID.uuidString.lowercased()
            let on = ["--connection", connection]
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("records-cli-\(UUID().uuidString)")
            let missingFile = directory.appendingPathComponent("contact.json").path

            let refusals: [([String], String)] = [
                (["create", "contact"] + on + ["--body", "{firstName: Ada}"], "--body is not JSON"),
                (["create", "contact"] + on + ["--body", "@\(missingFile)"], "--body: cannot read \(missingFile)"),
                (["update", "contact", "12"] + on + ["--body", "[1]"], "body: must be a JSON object"),
                (["get", "contact", "12"] + on + ["--wait", "601"], "--wait must be 0 to 600 seconds"),
                (["get", "contact", "12"] + on + ["--wait=-1"], "--wait must be 0 to 600 seconds"),
                (["get", "contact", "12a"] + on, "id: must be an internal id"),
                (["delete", "contact", "eid:a.b"] + on, "external_id: must be an external id"),
                (["create", "9contact"] + on + ["--body", "{}"], "record_type: must be a record type"),
                (["query", "SELECT id FROM contact", "--limit", "0"] + on, "limit: must be 1 to 1000"),
                (["get", "contact", "12", "--connection", "not-a-uuid"], "--connection"),
            ]
            for (arguments, hint) in refusals {
                let run = try await Self.records(arguments, harness)
                Self.expectRefused(run, hint: hint)
            }
            // A connection there is not: the CLI's not-found status (2), naming it.
            let stranger = UUID().uuidString.lowercased()
            let unknown = try await Self.records(["get", "contact", "12", "--connection", stranger], harness)
            Self.expectRefused(unknown, status: 2, hint: "no connection \(stranger)")
            #expect(try await Self.recordActionJobs(harness) == 0, "a refused command enqueued a job")

            // --wait 0, no worker running: the job id at once, the job waiting in the queue.
            let clock = ContinuousClock()
            let started = clock.now
            let queued = try await Self.records(
                ["create", "contact"] + on + ["--wait", "0", "--body", #"{"firstName": "Later"}"#], harness)
            let took = clock.now - started
            #expect(queued.status == 0 && queued.stderr.isEmpty, "\(queued)")
            let match = try #require(
                queued.stdout.wholeMatch(of: /\{"job_id": ([0-9]+)\}\n/), "exactly {\"job_id\": N}: \(queued)")
            let jobID = try #require(Int64(match.1))
            #expect(took < .seconds(10), "--wait 0 returned after \(took)")
            #expect(try await harness.job(jobID).state == "available")
            #expect(try await Self.recordActionJobs(harness) == 1)
            #expect(try await RecordActionOutcome.load(jobID: jobID, pool: harness.pool) == nil)
            #expect(harness.simulator.genericRecords("contact").isEmpty, "nothing ran yet")

            // A wait with no worker: exit 1 after the wait, saying what to check.
            let waited = try await Self.records(["get", "contact", "12", "--wait", "1"] + on, harness)
            #expect(waited.status == 1 && waited.stdout.isEmpty, "\(waited)")
            #expect(waited.stderr.contains("no result after 1 s (is a worker running?)"), "\(waited)")

            // A worker then runs the queued create.
            let workers = try harness.startWorkers(1, concurrency: 2)
            do {
                let outcome = try await RecordActionJob.outcome(jobID: jobID, pool: harness.pool, timeout: .seconds(60))
                #expect(outcome?.succeeded == true, "\(String(describing: outcome))")
                let result = try ExactJSON.parse(Data((outcome?.result ?? "").utf8))
                let id = try #require(result["id"]?.stringValue, "\(result)")
                #expect(harness.simulator.genericRecord("contact", internalID: id)?.string("firstName") == "Later")
                #expect(harness.simulator.genericRecords("contact").count == 1)
            } catch {
                await stop(workers)
                throw error
            }
            await stop(workers)
        }
    }
}
