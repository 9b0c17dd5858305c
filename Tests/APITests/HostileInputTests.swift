import API
import Foundation
import JobQueue
import JobQueueTesting
import Logging
import Postgres
import ServiceLifecycle
import Sync
import Testing

/// Issue 11, must show 1: hostile input on every face that takes job args (the API, one and
/// batch; `ledgersync enqueue` as a process; the SQL functions enqueue, enqueue_many and
/// enqueue_sync; JobQueue.enqueueMany) gets an error naming the field, stores nothing, and a
/// worker running normal jobs of the same queue keeps completing them throughout.
@Suite(.timeLimit(.minutes(6)))
struct HostileInputTests {
    /// The normal jobs: run and complete.
    struct Echo: JobHandler {
        static let kind = "test.echo"
        struct Args: Decodable, Sendable {}
        func run(_ args: Args, context: JobContext) async throws {}
    }

    /// One hostile args object and what every face must say about it.
    struct Case: CustomStringConvertible {
        let name: String
        let args: String
        /// The field at fault below the args (".n", "[0]", "" for the args themselves).
        let path: String
        /// What the Swift faces (API, CLI) say; nil when a face cannot be given this input.
        let swiftMessage: String
        /// What PostgreSQL's functions say.
        let sqlMessage: String
        /// Whether PostgreSQL names the field (it cannot for U+0000: jsonb refuses it on input).
        var sqlNamesField = true
        /// Command-line arguments are limited to 128 KiB each by the kernel.
        var cliCanTake: Bool { args.utf8.count < 120_000 }
        var description: String { name }
    }

    static func repeated(_ element: String, _ count: Int) -> String { Array(repeating: element, count: count).joined(separator: ",") }

    static let cases: [Case] = [
        Case(
            name: "1e400", args: #"{"n": 1e400}"#, path: ".n",
            swiftMessage: "more than 30 digits before the decimal point", sqlMessage: "more than 30 digits before the decimal point"),
        // 8 bytes in, 131 KB as text: 9,000 of them are more than PostgreSQL's 1 GB text limit.
        Case(
            name: "thousands of 1e131000", args: #"{"a": ["# + repeated("1e131000", 9_000) + "]}", path: ".a[0]",
            swiftMessage: "more than 30 digits before the decimal point", sqlMessage: "more than 30 digits before the decimal point"),
        Case(
            name: "0e-16000 (16,000 zeros as text)", args: #"{"z": 0e-16000}"#, path: ".z",
            swiftMessage: "more than 30 digits after the decimal point", sqlMessage: "more than 30 digits after the decimal point"),
        // The readers stop at a 100-character number; PostgreSQL counts its digits.
        Case(
            name: "10^5 digits", args: #"{"n": "# + String(repeating: "7", count: 100_000) + "}", path: ".n",
            swiftMessage: "number longer than 100 characters", sqlMessage: "more than 30 digits before the decimal point"),
        Case(
            name: "31 fraction digits", args: #"{"rate": 0.1234567890123456789012345678901}"#, path: ".rate",
            swiftMessage: "more than 30 digits after the decimal point", sqlMessage: "more than 30 digits after the decimal point"),
        Case(
            name: "an overflowing amount (a 31-digit integer)",
            args: #"{"invoice": {"total_amount_cents": 1234567890123456789012345678901}}"#,
            path: ".invoice.total_amount_cents",
            swiftMessage: "more than 30 digits before the decimal point", sqlMessage: "more than 30 digits before the decimal point"),
        Case(
            name: "nesting 33 deep", args: #"{"d": "# + String(repeating: "[", count: 32) + String(repeating: "]", count: 32) + "}",
            path: ".d" + String(repeating: "[0]", count: 31), swiftMessage: "nested deeper than 32 levels",
            sqlMessage: "nested deeper than 32 levels"),
        Case(
            name: "a 65,537-character string", args: #"{"note": ""# + String(repeating: "x", count: 65_537) + #""}"#, path: ".note",
            swiftMessage: "string longer than 65536 characters", sqlMessage: "string longer than 65536 characters"),
        Case(
            name: "a 65,537-character member name", args: #"{""# + String(repeating: "k", count: 65_537) + #"": 1}"#,
            path: #"["kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk…"]"#,
            swiftMessage: "member name longer than 65536 characters", sqlMessage: "member name longer than 65536 characters"),
        Case(
            name: "args over 262144 bytes", args: #"{"lines": ["# + repeated(#""\#(String(repeating: "x", count: 998))""#, 300) + "]}",
            path: "",
            swiftMessage: "larger than 262144 bytes", sqlMessage: "larger than 262144 bytes"),
        Case(
            name: "U+0000 in a string", args: #"{"s": "a\u0000b"}"#, path: ".s",
            swiftMessage: "U+0000", sqlMessage: #"\u0000 cannot be converted to text"#, sqlNamesField: false),
    ]

    /// Exactly at every bound: accepted by every face, and run by the worker.
    static let edge =
        #"{"big": 123456789012345678901234567890, "small": -0.123456789012345678901234567890, "deep": "#
        + String(repeating: "[", count: 31) + String(repeating: "]", count: 31)
        + #", "note": ""# + String(repeating: "x", count: 65_536) + #""}"#

    @Test("hostile args on every face: an error naming the field, nothing stored, and normal jobs keep completing")
    func hostileArgsOnEveryFace() async throws {
        try await APIHarness.with { api in
            let connection = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connectionID = try #require((connection.object["connection"] as? [String: Any])?["id"] as? String, "\(connection)")

            var registry = JobRegistry()
            registry.register(Echo())
            var logger = Logger(label: "test.hostile.worker")
            logger.logLevel = .warning
            let worker = WorkerPool(
                pool: api.pool, registry: registry,
                options: WorkerOptions(concurrency: 2, pollInterval: .milliseconds(50), lease: .seconds(10)),
                logger: logger)
            let group = ServiceGroup(configuration: .init(services: [worker], logger: logger))
            // A queue holding normal jobs while the table runs.
            try await api.queue.enqueueMany((0..<50).map { _ in EnqueueRequest(kind: Echo.kind, args: JSONText(#"{"n": 1}"#)) })

            try await withThrowingTaskGroup(of: Void.self) { tasks in
                tasks.addTask { try await group.run() }

                for testCase in Self.cases {
                    for face in Face.allCases where face != .cli || testCase.cliCanTake {
                        // Row counts of every table (not the states: the worker moves those).
                        var before = try await api.snapshot()
                        let message = try await face.refusal(of: testCase.args, api: api, connectionID: connectionID)
                        var after = try await api.snapshot()
                        before["job states"] = nil
                        after["job states"] = nil
                        let expectedField = face.root + testCase.path
                        let expectedMessage = face.isSQL ? testCase.sqlMessage : testCase.swiftMessage
                        #expect(message.contains(expectedMessage), "\(testCase) via \(face): \(message.prefix(600))")
                        if !face.isSQL || testCase.sqlNamesField {
                            #expect(
                                message.contains(expectedField),
                                "\(testCase) via \(face) should name \(expectedField): \(message.prefix(600))")
                        }
                        #expect(before == after, "\(testCase) via \(face) changed the database")
                    }
                    // Between two cases, a normal job enqueued now completes: the queue drains
                    // throughout, not only once the table is over.
                    let normal = try await api.queue.enqueue(EnqueueRequest(kind: Echo.kind, args: JSONText(#"{"n": 2}"#)))
                    let completed = try await eventually(timeout: .seconds(30)) { try await api.state(of: normal) == "completed" }
                    #expect(completed, "a normal job enqueued after \(testCase) did not complete")
                }

                // Exactly at every bound: every face accepts (the same bounds everywhere).
                for face in Face.allCases {
                    try await face.accept(Self.edge, api: api, connectionID: connectionID)
                }

                let drained = try await eventually(timeout: .seconds(60)) {
                    try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'test.echo' AND state <> 'completed'")
                        == 0
                }
                #expect(drained, "every normal and edge job completes")
                await group.triggerGracefulShutdown()
                try await tasks.waitForAll()
            }
            // 50 + one per case + the edge job of every face but enqueue_sync (another kind).
            #expect(
                try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'test.echo'") == 50 + Self.cases.count
                    + Face.allCases.count - 1)
            #expect(try await api.database.count("SELECT count(*) FROM ledgersync.jobs WHERE kind = 'invoice.push'") == 1)
        }
    }

    /// The faces that take job args.
    enum Face: CaseIterable {
        case api, apiBatch, cli, sqlEnqueue, sqlEnqueueMany, sqlEnqueueSync, swiftEnqueueMany
        var isSQL: Bool { [.sqlEnqueue, .sqlEnqueueMany, .sqlEnqueueSync, .swiftEnqueueMany].contains(self) }

        /// Where the args start in the field each face names.
        var root: String {
            switch self {
            case .api, .cli, .sqlEnqueue: "args"
            case .apiBatch, .sqlEnqueueMany, .swiftEnqueueMany: "jobs[1].args"
            case .sqlEnqueueSync: "document"
            }
        }

        /// Sends `args` and returns the error the face answers with; fails the test if it
        /// accepted them.
        func refusal(of args: String, api: APIHarness, connectionID: String) async throws -> String {
            switch self {
            case .api:
                let answer = try await api.post("/v1/jobs", #"{"kind": "test.echo", "args": "# + args + "}")
                #expect(answer.status == 422 && answer.error["code"] as? String == "invalid_field", "\(answer)")
                return "\(answer.error["field"] as? String ?? "no field"): \(answer.error["message"] as? String ?? "")"
            case .apiBatch:
                let answer = try await api.post(
                    "/v1/jobs/batch", #"{"jobs": [{"kind": "test.echo"}, {"kind": "test.echo", "args": "# + args + "}]}")
                #expect(answer.status == 422 && answer.error["code"] as? String == "invalid_field", "\(answer)")
                return "\(answer.error["field"] as? String ?? "no field"): \(answer.error["message"] as? String ?? "")"
            case .cli:
                let result = try await LedgersyncProcess.run(["enqueue", "test.echo", "--args", args], databaseURL: api.database.url)
                #expect(
                    result.status == 64 && result.stderr.split(whereSeparator: \.isNewline).count == 1,
                    "exit \(result.status): \(result.stderr.prefix(600))")
                return result.stderr
            case .sqlEnqueue:
                return try await sqlError {
                    try await api.pool.query("SELECT ledgersync.enqueue('test.echo', $1::jsonb)", [JSONText(args)])
                }
            case .sqlEnqueueMany:
                return try await sqlError {
                    try await api.pool.query(
                        "SELECT count(*) FROM ledgersync.enqueue_many($1::jsonb)",
                        [JSONText(#"[{"kind": "test.echo"}, {"kind": "test.echo", "args": "# + args + "}]")])
                }
            case .sqlEnqueueSync:
                return try await sqlError {
                    try await api.pool.query(
                        "SELECT ledgersync.enqueue_sync($1::uuid, 'invoice.push', $2::jsonb)", [connectionID, JSONText(args)])
                }
            case .swiftEnqueueMany:
                return try await sqlError {
                    try await api.queue.enqueueMany([
                        EnqueueRequest(kind: "test.echo"), EnqueueRequest(kind: "test.echo", args: JSONText(args)),
                    ])
                }
            }
        }

        /// Sends args within every bound: the face must accept them.
        func accept(_ args: String, api: APIHarness, connectionID: String) async throws {
            switch self {
            case .api:
                let answer = try await api.post("/v1/jobs", #"{"kind": "test.echo", "args": "# + args + "}")
                #expect(answer.status == 201, "\(answer)")
            case .apiBatch:
                let answer = try await api.post("/v1/jobs/batch", #"{"jobs": [{"kind": "test.echo", "args": "# + args + "}]}")
                #expect(answer.status == 201, "\(answer)")
            case .cli:
                let result = try await LedgersyncProcess.run(["enqueue", "test.echo", "--args", args], databaseURL: api.database.url)
                #expect(result.status == 0, "exit \(result.status): \(result.stderr.prefix(600))")
            case .sqlEnqueue:
                try await api.pool.query("SELECT ledgersync.enqueue('test.echo', $1::jsonb)", [JSONText(args)])
            case .sqlEnqueueMany:
                try await api.pool.query(
                    "SELECT count(*) FROM ledgersync.enqueue_many($1::jsonb)", [JSONText(#"[{"kind": "test.echo", "args": "# + args + "}]")]
                )
            case .sqlEnqueueSync:
                // The sync job waits for a worker that runs invoice.push: none here.
                try await api.pool.query(
                    "SELECT ledgersync.enqueue_sync($1::uuid, 'invoice.push', $2::jsonb)", [connectionID, JSONText(args)])
            case .swiftEnqueueMany:
                try await api.queue.enqueueMany([EnqueueRequest(kind: "test.echo", args: JSONText(args))])
            }
        }

        func sqlError(_ body: () async throws -> Void) async throws -> String {
            do {
                try await body()
            } catch let error as PostgresError {
                #expect(error.sqlState == "22023" || error.sqlState == "22P05", "\(error)")
                return error.message
            }
            Issue.record("accepted")
            return ""
        }
    }

    @Test("args of the wrong type on every face: an error naming them, nothing stored")
    func wrongTypes() async throws {
        try await APIHarness.with { api in
            let connection = try await api.post("/v1/connections", APIHarness.connectionBody())
            let connectionID = try #require((connection.object["connection"] as? [String: Any])?["id"] as? String, "\(connection)")
            for args in ["[1, 2]", #""a string""#, "12", "true"] {
                for face in Face.allCases {
                    let before = try await api.snapshot()
                    let message = try await face.refusal(of: args, api: api, connectionID: connectionID)
                    let after = try await api.snapshot()
                    // Each face's own words: "args: must be an object", "--args must be a JSON
                    // object", "jobs[1]: args must be a JSON object", "document must be …".
                    let named: String
                    switch face {
                    case .api: named = "args: must be an object"
                    case .apiBatch: named = "jobs[1].args: must be an object"
                    case .cli: named = "--args must be a JSON object"
                    case .sqlEnqueue: named = "ledgersync.enqueue: args must be a JSON object"
                    case .sqlEnqueueMany: named = "ledgersync.enqueue_many: jobs[1]: args must be a JSON object"
                    case .sqlEnqueueSync: named = "ledgersync.enqueue_sync: document must be a JSON object"
                    case .swiftEnqueueMany: named = "JobQueue.enqueueMany: jobs[1].args: must be a JSON object"
                    }
                    #expect(message.contains(named), "\(args) via \(face): \(message)")
                    #expect(before == after, "\(args) via \(face) changed the database")
                }
            }
        }
    }

    @Test("rows stored before the bounds (1e400, a jsonb past 1 GB as text) do not stop the job views, the dashboard or jobs list/show")
    func adminViewsSurviveStoredRows() async throws {
        try await APIHarness.with { api in
            let normal = try await api.makeJob(state: .failed)
            // Inserted as an older version would have: past every function's check.
            let bomb = "{\"a\": [" + Self.repeated("1e131000", 9_000) + "]}"
            var ids: [Int64] = []
            for args in [#"{"n": 1e400}"#, bomb] {
                let rows = try await api.pool.query(
                    """
                    INSERT INTO ledgersync.jobs (kind, args, state, attempt, finalized_at)
                    VALUES ('test.echo', $1::jsonb, 'failed', 1, now()) RETURNING id
                    """, [JSONText(args)]
                ).rows
                ids.append(try rows[0].decode("id"))
            }
            let list = try await api.get("/v1/jobs?limit=10")
            #expect(list.status == 200, "\(list)")
            #expect((list.object["jobs"] as? [[String: Any]])?.count == 3, "\(list)")
            for id in ids {
                let shown = try await api.get("/v1/jobs/\(id)")
                #expect(shown.status == 200, "\(shown)")
                let args = (shown.object["job"] as? [String: Any])?["args"] as? [String: Any]
                #expect(
                    (args?["ledgersync_args_out_of_bounds"] as? String)?.contains("more than 30 digits before the decimal point") == true,
                    "\(shown)")
            }
            let shownNormal = try await api.get("/v1/jobs/\(normal)")
            #expect(shownNormal.status == 200 && (shownNormal.object["job"] as? [String: Any])?["args"] as? [String: Any] != nil)
            let cookie = try await DashboardTests.signIn(api)
            let page = try await DashboardTests.page(api, "/dashboard/jobs?state=failed", cookie: cookie)
            #expect(page.status == 200 && page.text.contains("/dashboard/jobs/\(ids[1])"), "\(page)")
            let detail = try await DashboardTests.page(api, "/dashboard/jobs/\(ids[1])", cookie: cookie)
            #expect(detail.status == 200, "\(detail)")

            let listed = try await LedgersyncProcess.run(["jobs", "list", "--json"], databaseURL: api.database.url)
            #expect(listed.status == 0, "\(listed.stderr)")
            let shown = try await LedgersyncProcess.run(["jobs", "show", String(ids[1])], databaseURL: api.database.url)
            #expect(
                shown.status == 0 && shown.stdout.contains("ledgersync_args_out_of_bounds"), "\(shown.stdout.prefix(400)) \(shown.stderr)")
        }
    }
}
