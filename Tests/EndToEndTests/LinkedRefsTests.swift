import ExactJSON
import Foundation
import JobQueue
import JobQueueTesting
import NetSuite
import Postgres
import Simulators
import Sync
import Testing

/// Linking billing objects to records that already exist at NetSuite (docs/linking.md), end to
/// end: a real worker process, the simulator over HTTP, `ledgersync refs …` as a user runs it.
@Suite("Linked refs end to end", .serialized, .timeLimit(.minutes(5)))
struct LinkedRefsTests {
    static let scenario = BillingScenario.generate(customers: 2, invoicesPerCustomer: 2, creditNoteEvery: 0, payments: 0, seed: 12)

    /// A customer someone made in NetSuite before ledgersync came (a CRM sync owns its external id).
    static func seedCustomer(_ simulator: NetSuiteSimulator, externalID: String, name: String, email: String) throws
        -> NetSuiteSimulator.Record
    {
        try simulator.addRecord(
            .customer, externalID: externalID,
            body: .object([("companyName", .string(name)), ("email", .string(email)), ("subsidiary", .object([("id", .string("1"))]))]))
    }

    @Test(
        "a linked customer: customer.sync updates that record by internal id, creates none, keeps its external id; its invoices reference it"
    )
    func linkedCustomerSync() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let customer = Self.scenario.customers[1]
            let existing = try Self.seedCustomer(
                harness.simulator, externalID: "crm-0042", name: "Customer One (CRM)", email: "billing1@example.com")
            // The DBA's way: the SQL function.
            try await harness.pool.query(
                "SELECT ledgersync.link_ref($1::uuid, 'customer', $2, $3)",
                [harness.connectionID.uuidString, customer.lagoID, existing.internalID])

            try await harness.enqueue(.customerSync, customer.json)
            let invoices = Self.scenario.invoices.filter { $0.customerID == customer.lagoID }
            #expect(invoices.count == 2)
            for invoice in invoices { try await harness.enqueue(.invoicePush, invoice.json) }
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            // Synced again: still that record.
            try await harness.enqueue(.customerSync, customer.json)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            await stop(workers)

            #expect(try await harness.jobStates() == ["customer.sync/completed": 2, "invoice.push/completed": 2])
            let customers = harness.simulator.records(.customer)
            #expect(customers.map(\.internalID) == [existing.internalID], "the customer count is unchanged: \(customers.map(\.externalID))")
            #expect(
                harness.simulator.record(.customer, externalID: customer.lagoID) == nil, "no customer with the billing id as external id")
            let record = try #require(harness.simulator.record(.customer, internalID: existing.internalID))
            #expect(record.writeCount == 3, "created by the seed, then two customer.sync updates")
            #expect(record.externalID == "crm-0042", "the other integration's external id is kept")
            #expect(record.string("companyName") == "Customer 1 Ltd", "the billing customer's data was written to the linked record")

            let pushed = harness.simulator.records(.invoice)
            #expect(Set(pushed.map(\.externalID)) == Set(invoices.map(\.lagoID)))
            #expect(pushed.allSatisfy { $0.reference("entity") == existing.internalID }, "\(pushed.map { $0.reference("entity") })")

            let ref = try #require(
                try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: customer.lagoID))
            #expect(ref.providerID == existing.internalID && ref.isLinked, "a sync must not replace the link: \(ref)")
        }
    }

    @Test("an invoice waiting for its customer runs as soon as the customer is linked, and references the linked record")
    func linkWakesWaitingInvoice() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let customer = Self.scenario.customers[0]
            let invoice = try #require(Self.scenario.invoices.first { $0.customerID == customer.lagoID })
            // The invoice without its embedded customer: it can only wait for the customer's ref.
            var document = try #require(try JSONSerialization.jsonObject(with: Data(invoice.json.utf8)) as? [String: Any])
            var body = try #require(document["invoice"] as? [String: Any])
            body.removeValue(forKey: "customer")
            document["invoice"] = body
            let json = String(decoding: try JSONSerialization.data(withJSONObject: document), as: UTF8.self)
            let job = try await harness.enqueue(.invoicePush, json, customerID: customer.lagoID)
            let workers = try harness.startWorkers(1, concurrency: 2)
            let waiting = try await eventually(timeout: .seconds(30), every: .milliseconds(100)) {
                try await harness.count("SELECT count(*)::int FROM ledgersync.dependency_waits WHERE job_id = $1", [job]) == 1
            }
            #expect(waiting, "the invoice did not start waiting for its customer")

            let existing = try Self.seedCustomer(
                harness.simulator, externalID: "crm-9", name: "Customer Zero", email: "billing0@example.com")
            let linkedAt = ContinuousClock.now
            try await harness.refs.link(
                connection: harness.connectionID, objectType: .customer, billingID: customer.lagoID, providerID: existing.internalID)
            // Well before the 30 s snooze it would otherwise sleep out.
            let done = try await eventually(timeout: .seconds(15), every: .milliseconds(100)) {
                try await harness.job(job).state == "completed"
            }
            let waited = ContinuousClock.now - linkedAt
            await stop(workers)
            let state = try await harness.job(job)
            #expect(done, "the invoice was not woken by the link: \(state)")
            #expect(waited < .seconds(15))
            let pushed = try #require(harness.simulator.record(.invoice, externalID: invoice.lagoID))
            #expect(pushed.reference("entity") == existing.internalID)
            #expect(harness.simulator.records(.customer).map(\.internalID) == [existing.internalID])
        }
    }

    @Test("a link to a record NetSuite does not have fails the sync for good, saying so; no customer is created instead")
    func linkToAMissingRecord() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let customer = Self.scenario.customers[0]
            try await harness.refs.link(
                connection: harness.connectionID, objectType: .customer, billingID: customer.lagoID, providerID: "98765")
            let job = try await harness.enqueue(.customerSync, customer.json)
            let workers = try harness.startWorkers(1, concurrency: 2)
            try await harness.waitUntilIdle(timeout: .seconds(60), workers: workers)
            await stop(workers)

            let state = try await harness.job(job)
            #expect(state.state == "failed" && state.attempt == 1, "\(state)")
            let message = state.errors.last?["message"] as? String ?? ""
            #expect(message.contains("linked NetSuite customer 98765 is gone") && message.contains("refs link"), "\(state.errors)")
            #expect(harness.simulator.records(.customer).isEmpty, "nothing was created in the linked record's place")
            #expect(
                try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: customer.lagoID)?
                    .providerID == "98765")
        }
    }

    @Test("link_ref refuses a NetSuite record another billing object already has; unlink_ref removes only links")
    func linkRules() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let store = harness.refs
            let linked = try await store.link(
                connection: harness.connectionID, objectType: .customer, billingID: "cus_a", providerID: "501")
            #expect(linked.isLinked && linked.providerID == "501")
            await #expect(throws: RefLinkConflict.self) {
                try await store.link(connection: harness.connectionID, objectType: .customer, billingID: "cus_b", providerID: "501")
            }
            // A synced (not linked) ref holds its record too.
            try await store.record(connection: harness.connectionID, objectType: .invoice, billingID: "inv_1", providerID: "900")
            do {
                try await store.link(connection: harness.connectionID, objectType: .invoice, billingID: "inv_2", providerID: "900")
                Issue.record("linked a record a synced invoice has")
            } catch let conflict as RefLinkConflict {
                #expect(conflict.message.contains("inv_1"), "\(conflict)")
            }
            // The same record for another object type is no conflict.
            try await store.link(connection: harness.connectionID, objectType: .invoice, billingID: "inv_3", providerID: "501")
            await #expect(throws: StoreError.self) {
                try await store.link(connection: harness.connectionID, objectType: .customer, billingID: "cus_c", providerID: "12a")
            }
            await #expect(throws: StoreError.self) {
                try await store.link(connection: UUID(), objectType: .customer, billingID: "cus_c", providerID: "12")
            }
            // A sync's record() keeps the link.
            try await store.record(connection: harness.connectionID, objectType: .customer, billingID: "cus_a", providerID: "777")
            #expect(
                try await store.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_a")?.providerID == "501")

            #expect(
                try await store.unlink(connection: harness.connectionID, objectType: .invoice, billingID: "inv_1") == nil,
                "a synced ref is not a link")
            #expect(try await store.unlink(connection: harness.connectionID, objectType: .customer, billingID: "cus_a") == "501")
            #expect(try await store.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_a") == nil)
            // Now free for another billing customer.
            try await store.link(connection: harness.connectionID, objectType: .customer, billingID: "cus_b", providerID: "501")
        }
    }

    // MARK: - The CLI

    struct Run: CustomStringConvertible {
        let status: Int32
        let stdout: String
        let stderr: String
        var description: String { "exit \(status)\nstdout: \(stdout)\nstderr: \(stderr)" }
    }

    /// `ledgersync <arguments>` with the harness's database and key, loopback allowed. Output
    /// goes to files and the exit is awaited through the termination handler: nothing blocks
    /// a thread of the cooperative pool, on which the in-process simulator answers the command.
    static func ledgersync(_ arguments: [String], _ harness: SyncHarness, stdin: String? = nil) async throws -> Run {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("refs-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let outURL = directory.appendingPathComponent("stdout")
        let errURL = directory.appendingPathComponent("stderr")
        let inURL = directory.appendingPathComponent("stdin")
        FileManager.default.createFile(atPath: outURL.path, contents: nil)
        FileManager.default.createFile(atPath: errURL.path, contents: nil)
        FileManager.default.createFile(atPath: inURL.path, contents: Data((stdin ?? "").utf8))
        let process = Process()
        process.executableURL = try LedgersyncProcess.binary()
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = harness.database.url
        environment["LEDGERSYNC_SECRET_KEY"] = SyncHarness.secretKey
        environment["LEDGERSYNC_ALLOW_PRIVATE_NETWORK"] = "1"
        process.environment = environment
        let out = try FileHandle(forWritingTo: outURL)
        let err = try FileHandle(forWritingTo: errURL)
        let input = try FileHandle(forReadingFrom: inURL)
        process.standardOutput = out
        process.standardError = err
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
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
        try? input.close()
        return Run(
            status: status, stdout: String(decoding: try Data(contentsOf: outURL), as: UTF8.self),
            stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
    }

    @Test("refs link checks the record at NetSuite, refuses a record already linked, and unlink undoes it")
    func linkCommand() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let existing = try Self.seedCustomer(harness.simulator, externalID: "crm-7", name: "Acme Existing", email: "ap@acme.example")
            let connection = harness.connectionID.uuidString.lowercased()

            let missing = try await Self.ledgersync(["refs", "link", "customer", "cus_1", "99999", "--connection", connection], harness)
            #expect(missing.status == 2 && missing.stderr.contains("NetSuite has no customer with id 99999"), "\(missing)")
            #expect(try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_1") == nil)

            let linked = try await Self.ledgersync(
                ["refs", "link", "customer", "cus_1", existing.internalID, "--connection", connection], harness)
            #expect(
                linked.status == 0
                    && linked.stdout.contains("linked customer cus_1 to NetSuite customer \(existing.internalID) (Acme Existing)"),
                "\(linked)")
            #expect(linked.stdout.contains("externalId is \"crm-7\""), "\(linked)")
            let ref = try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_1")
            #expect(ref?.isLinked == true && ref?.providerID == existing.internalID)

            let taken = try await Self.ledgersync(
                ["refs", "link", "customer", "cus_2", existing.internalID, "--connection", connection], harness)
            #expect(taken.status == 1 && taken.stderr.contains("cus_1"), "\(taken)")

            let bad = try await Self.ledgersync(
                ["refs", "link", "customer", "cus_2", "12x", "--connection", connection, "--no-verify"], harness)
            #expect(bad.status == 64, "\(bad)")

            let list = try await Self.ledgersync(["refs", "list", "--connection", connection, "--linked", "--json"], harness)
            let listed = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]]
            #expect(listed?.map { $0["billing_id"] as? String } == ["cus_1"], "\(list)")

            let unlinked = try await Self.ledgersync(["refs", "unlink", "customer", "cus_1", "--connection", connection], harness)
            #expect(unlinked.status == 0, "\(unlinked)")
            let again = try await Self.ledgersync(["refs", "unlink", "customer", "cus_1", "--connection", connection], harness)
            #expect(again.status == 2, "\(again)")
            #expect(harness.simulator.stats.writes == 0, "linking writes nothing at NetSuite")
        }
    }

    @Test("refs match: an ambiguous name is refused and listed; an exact email is linked only with --apply")
    func matchCommand() async throws {
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration()) { harness in
            let dup1 = try Self.seedCustomer(harness.simulator, externalID: "crm-1", name: "Dup Co", email: "one@dup.example")
            let dup2 = try Self.seedCustomer(harness.simulator, externalID: "crm-2", name: "Dup Co", email: "two@dup.example")
            let exact = try Self.seedCustomer(harness.simulator, externalID: "crm-3", name: "O'Brien & Sons", email: "ap@obrien.example")
            let connection = harness.connectionID.uuidString.lowercased()
            let customers = """
                [{"customer": {"lago_id": "cus_dup", "name": "Dup Co", "email": "nobody@dup.example"}},
                 {"lago_id": "cus_ob", "name": "O'Brien & Sons", "email": "ap@obrien.example, other@obrien.example"},
                 {"lago_id": "cus_none", "name": "Nobody Ltd", "email": "none@example.com"}]
                """
            func linkedCount() async throws -> Int {
                try await harness.count("SELECT count(*)::int FROM ledgersync.external_refs WHERE linked_at IS NOT NULL")
            }

            let byName = try await Self.ledgersync(
                ["refs", "match", "--connection", connection, "--by", "name", "--customers", "-", "--apply"], harness, stdin: customers)
            #expect(byName.status == 0, "\(byName)")
            let dupLine = try #require(byName.stdout.split(separator: "\n").first { $0.hasPrefix("cus_dup") }, "\(byName)")
            #expect(dupLine.contains("ambiguous") && dupLine.contains("\(dup1.internalID), \(dup2.internalID)"), "\(byName)")
            #expect(try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_dup") == nil)
            // The quoted name matched exactly (and was linked: --apply).
            #expect(
                try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_ob")?.providerID
                    == exact.internalID)
            _ = try await harness.refs.unlink(connection: harness.connectionID, objectType: .customer, billingID: "cus_ob")

            let proposal = try await Self.ledgersync(
                ["refs", "match", "--connection", connection, "--customers", "-"], harness, stdin: customers)
            #expect(proposal.status == 0, "\(proposal)")
            let obLine = try #require(proposal.stdout.split(separator: "\n").first { $0.hasPrefix("cus_ob") }, "\(proposal)")
            #expect(obLine.contains("proposed") && obLine.contains(exact.internalID), "\(proposal)")
            #expect(proposal.stdout.contains("nothing was linked; run again with --apply"), "\(proposal)")
            #expect(try await linkedCount() == 0, "without --apply nothing is written")

            let applied = try await Self.ledgersync(
                ["refs", "match", "--connection", connection, "--customers", "-", "--apply", "--json"], harness, stdin: customers)
            #expect(applied.status == 0, "\(applied)")
            let outcomes = try #require(try JSONSerialization.jsonObject(with: Data(applied.stdout.utf8)) as? [[String: Any]], "\(applied)")
            #expect(
                Dictionary(uniqueKeysWithValues: outcomes.map { ($0["billing_id"] as? String ?? "", $0["result"] as? String ?? "") })
                    == ["cus_dup": "no_match", "cus_ob": "linked", "cus_none": "no_match"], "\(applied)")
            let ref = try await harness.refs.lookup(connection: harness.connectionID, objectType: .customer, billingID: "cus_ob")
            #expect(ref?.providerID == exact.internalID && ref?.isLinked == true)
            #expect(try await linkedCount() == 1)

            // Run again: cus_ob has a ref now and is left out.
            let rerun = try await Self.ledgersync(
                ["refs", "match", "--connection", connection, "--customers", "-"], harness, stdin: customers)
            #expect(!rerun.stdout.contains("cus_ob") && rerun.stdout.contains("1 already have a ref"), "\(rerun)")
            #expect(harness.simulator.stats.writes == 0, "matching writes nothing at NetSuite")
        }
    }
}
