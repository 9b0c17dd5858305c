import Foundation
import JobQueueTesting
import NetSuite
import NetSuiteTesting
import Simulators
import Sync
import Testing

/// `ledgersync sync render` prints what the worker sends: for each job kind, a worker process
/// runs the document against the simulator, then `NetSuiteRender` (what the command calls)
/// renders the same job args, and the two requests must be equal byte for byte — method,
/// URL with `?replace=`, body.
@Suite("sync render equals what the worker sends", .serialized, .timeLimit(.minutes(5)))
struct RenderTests {
    @Test("customer.sync, invoice.push, sales_order.push, credit_memo.push, payment.apply: rendered = received")
    func renderMatchesWorker() async throws {
        let scenario = BillingScenario.generate(customers: 2, invoicesPerCustomer: 2, creditNoteEvery: 2, payments: 2)
        let mappings: (UUID) -> [Mapping] = { id in
            BillingScenario.mappings(connection: id) + [
                Mapping(connectionID: id, kind: .customField, billingKey: "number", recordType: "invoice", providerID: "custbody_number"),
                Mapping(
                    connectionID: id, kind: .customField, billingKey: "metadata.region", recordType: "invoice",
                    providerID: "custbody_region"),
            ]
        }
        try await SyncHarness.with(simulator: SyncHarness.simulatorConfiguration(), mappings: mappings) { harness in
            var jobs: [(kind: String, id: Int64)] = []
            jobs.append(("customer.sync", try await harness.enqueue(.customerSync, scenario.customers[0].json)))
            for invoice in scenario.invoices { jobs.append(("invoice.push", try await harness.enqueue(.invoicePush, invoice.json))) }
            jobs.append(("sales_order.push", try await harness.enqueue(.salesOrderPush, scenario.invoices[0].json)))
            for note in scenario.creditNotes { jobs.append(("credit_memo.push", try await harness.enqueue(.creditMemoPush, note.json))) }
            for payment in scenario.payments {
                jobs.append(("payment.apply", try await harness.enqueue(.paymentApply, payment.json, customerID: payment.customerID)))
            }
            #expect(Set(jobs.map(\.kind)).count == 5)
            let workers = try harness.startWorkers(1)
            try await harness.waitUntilIdle(timeout: .seconds(120), workers: workers)
            await stop(workers)
            #expect(try await harness.jobStates().keys.allSatisfy { $0.hasSuffix("/completed") })

            let connection = try await ConnectionStore(pool: harness.pool, secretBox: harness.box).get(harness.connectionID)
            let account = try NetSuiteAccount(accountID: connection.accountID, baseURLOverride: connection.settings.baseURL)
            let target = SyncTarget(
                connectionID: harness.connectionID, connection: connection,
                mappings: try await MappingStore(pool: harness.pool).mappingSet(connection: harness.connectionID))
            let refs = harness.refs
            let connectionID = harness.connectionID
            let received = harness.simulator.receivedWrites
            for job in jobs {
                let row = try #require(
                    try await harness.pool.query("SELECT args::text AS args FROM ledgersync.jobs WHERE id = $1", [job.id]).rows.first)
                let args: String = try row.decode("args")
                let rendered = try await NetSuiteRender.render(kind: job.kind, args: args, account: account, target: target) {
                    type, billingID in
                    try await refs.lookup(connection: connectionID, objectType: type, billingID: billingID)
                }
                #expect(rendered.notes.isEmpty, "\(job.kind): \(rendered.notes)")
                let request = try #require(rendered.requests.last)
                #expect(!rendered.text.contains("Authorization"))
                let sent = try #require(received.last { $0.url == request.url }, "\(job.kind): the worker sent nothing to \(request.url)")
                #expect(sent.method == request.method)
                #expect(sent.body == request.body, "\(job.kind) \(request.url)")
                if job.kind != "customer.sync" { #expect(request.url.contains("?replace=")) }

                // And what the worker left equals the document (RecordChecker on every kind).
                let differences = try await Self.check(kind: job.kind, args: args, harness: harness, target: target)
                #expect(differences == [], "\(job.kind)")

                // The command prints exactly what the function renders.
                if job.kind == "invoice.push" || job.kind == "payment.apply" {
                    let printed = try Self.runRender(
                        kind: job.kind, connection: harness.connectionID.uuidString, args: args, databaseURL: harness.database.url)
                    #expect(printed.status == 0, "\(printed.stderr)")
                    #expect(printed.stdout == rendered.text)
                }
            }
        }
    }

    /// `ledgersync sync render <kind> --connection <id> < args`, the binary under test.
    static func runRender(kind: String, connection: String, args: String, databaseURL: String) throws -> (
        status: Int32, stdout: String, stderr: String
    ) {
        let process = Process()
        process.executableURL = try LedgersyncProcess.binary()
        process.arguments = ["sync", "render", kind, "--connection", connection]
        var environment = ProcessInfo.processInfo.environment
        environment["DATABASE_URL"] = databaseURL
        environment["LEDGERSYNC_SECRET_KEY"] = SyncHarness.secretKey
        process.environment = environment
        let input = Pipe()
        let output = Pipe()
        let errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(args.utf8))
        try input.fileHandleForWriting.close()
        // Small outputs (a few kilobytes): reading to the end after exit cannot stall.
        let stdout = output.fileHandleForReading.readDataToEndOfFile()
        let stderr = errors.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: stdout, as: UTF8.self), String(decoding: stderr, as: UTF8.self))
    }

    /// `RecordChecker`'s differences between the record a job wrote and the job's document.
    static func check(kind: String, args: String, harness: SyncHarness, target: SyncTarget) async throws -> [String] {
        let sim = harness.simulator
        func ref(_ type: ExternalRef.ObjectType, _ id: String) async throws -> String {
            try await harness.refs.lookup(connection: harness.connectionID, objectType: type, billingID: id)?.providerID ?? "missing"
        }
        func withFields(_ recordType: String, _ path: [String]) -> SyncTarget {
            var t = target
            t.customFields = CustomFieldValue.resolve(t.mappings, recordType: recordType, args: args, at: path)
            return t
        }
        switch kind {
        case "customer.sync":
            let customer = try DocumentDecoder.decode(BillingCustomer.self, from: args)
            return RecordChecker.customer(
                customer, record: sim.record(.customer, externalID: customer.lagoID), target: withFields("customer", ["customer"]))
        case "invoice.push":
            let invoice = try DocumentDecoder.decode(BillingInvoice.self, from: args)
            return RecordChecker.invoice(
                invoice, record: sim.record(.invoice, externalID: invoice.lagoID),
                customerRef: try await ref(.customer, invoice.customer?.lagoID ?? ""),
                target: withFields("invoice", ["invoice"]))
        case "sales_order.push":
            let order = try DocumentDecoder.decode(BillingSalesOrder.self, from: args)
            let envelope = DocumentDecoder.envelope(of: BillingSalesOrder.self, in: args) ?? BillingSalesOrder.documentRoot
            return RecordChecker.invoice(
                order.invoice, record: sim.record(.salesOrder, externalID: order.lagoID),
                customerRef: try await ref(.customer, order.invoice.customer?.lagoID ?? ""), target: withFields("sales_order", [envelope]),
                recordType: "sales_order")
        case "credit_memo.push":
            let memo = try DocumentDecoder.decode(BillingCreditMemo.self, from: args)
            let invoice = try #require(
                try await harness.refs.lookup(connection: harness.connectionID, objectType: .invoice, billingID: memo.lagoInvoiceID))
            return RecordChecker.creditMemo(
                memo, record: sim.record(.creditMemo, externalID: memo.lagoID),
                customerRef: try await ref(.customer, memo.customer?.lagoID ?? invoice.customerBillingID ?? ""),
                invoiceRef: invoice.providerID,
                target: withFields("credit_memo", ["credit_note"]))
        default:
            let payment = try DocumentDecoder.decode(BillingPayment.self, from: args)
            let invoice = try #require(
                try await harness.refs.lookup(connection: harness.connectionID, objectType: .invoice, billingID: payment.invoiceID))
            return RecordChecker.payment(
                payment, record: sim.record(.customerPayment, externalID: payment.lagoID),
                customerRef: try await ref(.customer, invoice.customerBillingID ?? ""),
                invoiceRefs: [payment.invoiceID: invoice.providerID],
                target: withFields("payment", ["payment"]))
        }
    }
}
