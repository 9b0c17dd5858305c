import ArgumentParser
import ExactJSON
import Foundation
import JobQueue
import LedgerCrypto
import NetSuite
import Postgres
import Simulators
import Sync

/// `ledgersync bench reconcile`: the time and peak memory of `ledgersync reconcile` over N
/// synced invoices (issue 15, must-show 6).
struct BenchReconcile: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reconcile",
        abstract: "Time and peak memory of `ledgersync reconcile` over N invoices synced to the NetSuite simulator.",
        discussion: """
            Starts the NetSuite simulator in this process and seeds it directly (NetSuiteSimulator.addRecord, not HTTP) with --customers customers and --invoices invoices, each the body the sync's own payload code writes; stores the matching external_refs and sync_status rows (the document synced) in batches; then runs `ledgersync reconcile --json` as a child process against the simulator over HTTP and waits for it. Prints one RESULT line: invoices, seconds, records/s, the reconcile process's peak RSS (its VmHWM, read every 20 ms while it runs) and this process's (simulator included). The connection and its rows are deleted at the end.
            """)

    @Option(name: .customLong("database-url")) var databaseURL: String?
    @Option var invoices = 100_000
    @Option var customers = 1_000
    @Option(help: "The connection's concurrency limit (and the simulator's).") var limit = 8
    @Option(help: "Sync status rows per page of the reconcile.") var pageSize = 200

    func validate() throws {
        guard invoices > 0, customers > 0, customers <= invoices, limit > 0 else {
            throw ValidationError("--invoices, --customers and --limit must be positive, --customers at most --invoices")
        }
    }

    func run() async throws {
        let url = try BenchDatabase.url(databaseURL)
        let pool = try await Bench.openDatabase(url, connections: 4)
        let credentials = NetSuiteSimulator.Configuration.demoCredentials
        var configuration = NetSuiteSimulator.Configuration()
        configuration.credentials = [credentials]
        configuration.concurrencyLimit = limit
        configuration.items = BillingScenario.itemIDs.map { NetSuiteSimulator.Item(id: $0, name: "Item \($0)", taxable: true) }
        let simulator = NetSuiteSimulator(configuration: configuration)
        _ = try await simulator.start()

        // The reconcile checks the key against the database's key check row: the same key
        // every run (`Bench.secretKey`), so runs can repeat.
        let key = Bench.secretKey
        let box = try SecretBox.fromEnvironment(environment: ["LEDGERSYNC_SECRET_KEY": key])
        try await SecretKeyCheck.verify(pool: pool, box: box)
        let connection = try await ConnectionStore(pool: pool, secretBox: box, allowPrivateNetworks: true).create(
            AccountingConnection(
                provider: "netsuite", name: "bench reconcile \(UUID().uuidString.prefix(8))", accountID: configuration.accountID,
                settings: .init(defaultSubsidiary: "1", baseURL: simulator.baseURL, concurrencyLimit: limit),
                secrets: credentials.connectionSecrets))
        guard let connectionID = connection.id else { throw CLIError.failed("the connection got no id") }
        let mappings = MappingStore(pool: pool)
        for mapping in BillingScenario.mappings(connection: connectionID) { try await mappings.upsert(mapping) }
        let target = SyncTarget(
            connectionID: connectionID, connection: connection, mappings: try await mappings.mappingSet(connection: connectionID))

        // Seed: one invoice template per customer (the scenario's), copied under new ids.
        let seedStart = Date()
        let scenario = BillingScenario.generate(customers: customers, invoicesPerCustomer: 1, creditNoteEvery: 1_000_000, payments: 0)
        var customerIDs: [String: String] = [:]
        var batch = SeedBatch()
        for customer in scenario.customers {
            let document = try DocumentDecoder.decode(BillingCustomer.self, from: customer.json)
            let record = try simulator.addRecord(
                .customer, externalID: customer.lagoID, body: try NetSuitePayloads.customer(document, target: target))
            customerIDs[customer.lagoID] = record.internalID
            batch.add(.customer, customer.lagoID, record.internalID, customer: nil, number: customer.externalID, document: customer.json)
            if batch.count >= 1000 { try await batch.flush(pool, connectionID) }
        }
        let templates = try scenario.invoices.map { ($0, try DocumentDecoder.decode(BillingInvoice.self, from: $0.json)) }
        // Invoices go in unvalidated (`seedRecords`): `addRecord` validates each against the
        // whole account, quadratic over 100,000. Each body is the push's own payload, its total
        // the one NetSuite derives from it (the expected snapshot's).
        var pending: [(externalID: String, body: ExactJSON, total: ExactDecimal?)] = []
        var rows: [(id: String, customer: String, number: String, json: String)] = []
        for index in 0..<invoices {
            let (template, decoded) = templates[index % templates.count]
            let id = "inv-bench-\(index)"
            let number = "BENCH-\(index)"
            let json = template.json.replacingOccurrences(of: template.lagoID, with: id).replacingOccurrences(
                of: decoded.number, with: number)
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: json)
            guard let customerRef = customerIDs[template.customerID] else { throw CLIError.failed("no customer \(template.customerID)") }
            let body = try NetSuitePayloads.invoice(invoice, customerRef: customerRef, target: target)
            let expected = try NetSuiteSnapshot.expected(.invoice(invoice), target: target)
            let total = expected.totalCents.map { ExactDecimal(Money(amountCents: $0, currency: invoice.currency).decimalString) } ?? nil
            pending.append((id, body, total))
            rows.append((id, template.customerID, number, json))
            if pending.count >= 1000 || index == invoices - 1 {
                let records = simulator.seedRecords(.invoice, pending)
                for (record, row) in zip(records, rows) {
                    batch.add(.invoice, row.id, record.internalID, customer: row.customer, number: row.number, document: row.json)
                }
                try await batch.flush(pool, connectionID)
                pending.removeAll(keepingCapacity: true)
                rows.removeAll(keepingCapacity: true)
            }
        }
        try await batch.flush(pool, connectionID)
        try await pool.query("ANALYZE ledgersync.sync_status")
        try await pool.query("ANALYZE ledgersync.external_refs")
        let seedSeconds = Date().timeIntervalSince(seedStart)

        // The reconcile, as its own process: its peak RSS is the figure.
        let output = FileManager.default.temporaryDirectory.appendingPathComponent("ledgersync-bench-reconcile-\(getpid()).jsonl")
        FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Bench.executablePath)
        process.arguments = [
            "reconcile", "--connection", connectionID.uuidString.lowercased(), "--json", "--page-size", "\(pageSize)", "--database-url",
            url,
        ]
        var environment = ProcessInfo.processInfo.environment
        environment["LEDGERSYNC_SECRET_KEY"] = key
        environment["LEDGERSYNC_ALLOW_PRIVATE_NETWORK"] = "1"
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = FileHandle.standardError
        let before = simulator.stats
        let start = Date()
        try process.run()
        // Polled: the reconcile runs for seconds to minutes, a 20 ms poll costs nothing. The
        // child's peak is its own VmHWM, read while it runs: getrusage(RUSAGE_CHILDREN) is no
        // use here, because Linux folds the pre-exec image's high-water mark (this process's,
        // simulator and 100,000 seeded records included) into the child's ru_maxrss at exec.
        var childPeakMiB = 0.0
        while process.isRunning {
            if let memory = ProcessMemory.read(pid: process.processIdentifier) { childPeakMiB = max(childPeakMiB, memory.peakMiB) }
            try await Task.sleep(for: .milliseconds(20))
        }
        let seconds = Date().timeIntervalSince(start)
        let after = simulator.stats
        var own = rusage()
        getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &own)
        let lines = (try? String(contentsOf: output, encoding: .utf8))?.split(separator: "\n") ?? []
        let summary =
            lines.last.flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }?["summary"] as? [String: Any]
        await simulator.stop()
        let checked = summary?["checked"] as? Int ?? 0
        if summary == nil {
            FileHandle.standardError.write(
                Data("the reconcile printed no summary; its last lines:\n\(lines.suffix(5).joined(separator: "\n"))\n".utf8))
        }
        Bench.emit([
            "cmd": "reconcile", "invoices": invoices, "customers": customers, "limit": limit, "page_size": pageSize,
            "exit": Int(process.terminationStatus), "checked": checked, "matched": summary?["matched"] as? Int ?? 0,
            "findings": max(0, lines.count - 1), "requests": after.requests - before.requests,
            "seconds": Bench.round(seconds, 2), "records_per_s": Bench.round(Double(checked) / seconds, 1),
            "peak_rss_mb": Bench.round(childPeakMiB, 1),
            "bench_process_peak_rss_mb": Bench.round(Double(own.ru_maxrss) / 1024, 1), "seed_seconds": Bench.round(seedSeconds, 1),
        ])
        _ = try? await pool.query("DELETE FROM ledgersync.connections WHERE id = $1::uuid", [connectionID.uuidString])
        await pool.close()
    }
}

/// Rows of external_refs and sync_status written 1000 at a time.
private struct SeedBatch {
    var types: [String] = []
    var billingIDs: [String] = []
    var providerIDs: [String] = []
    var customers: [String?] = []
    var numbers: [String?] = []
    var documents: [String] = []

    var count: Int { billingIDs.count }

    mutating func add(
        _ type: ExternalRef.ObjectType, _ billingID: String, _ providerID: String, customer: String?, number: String?, document: String
    ) {
        types.append(type.rawValue)
        billingIDs.append(billingID)
        providerIDs.append(providerID)
        customers.append(customer)
        numbers.append(number)
        documents.append(document)
    }

    mutating func flush(_ pool: ConnectionPool, _ connection: UUID) async throws {
        guard count > 0 else { return }
        try await pool.query(
            """
            WITH rows AS (
                SELECT * FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[])
                    AS x (object_type, billing_id, provider_id, customer_billing_id, document_number, document)
            ), refs AS (
                INSERT INTO ledgersync.external_refs (connection_id, object_type, billing_id, provider_id, customer_billing_id)
                SELECT $1::uuid, object_type, billing_id, provider_id, customer_billing_id FROM rows
            )
            INSERT INTO ledgersync.sync_status
                (connection_id, object_type, billing_id, document_number, customer_billing_id, state, provider_id,
                 last_job_kind, document, synced_at)
            SELECT $1::uuid, object_type, billing_id, document_number, COALESCE(customer_billing_id, billing_id), 'synced', provider_id,
                   CASE object_type WHEN 'customer' THEN 'customer.sync' ELSE 'invoice.push' END, document::jsonb, now()
            FROM rows
            """,
            [connection.uuidString, types, billingIDs, providerIDs, customers, numbers, documents])
        self = SeedBatch()
    }
}
