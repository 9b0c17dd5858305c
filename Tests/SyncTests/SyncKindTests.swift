import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Testing

@testable import Sync

/// The one description of each sync kind: Swift's `SyncKindDescription` is the source, and
/// `ledgersync.sync_kinds` (sql/sync/014), which the SQL key derivation and dependency
/// functions read, must say the same.
@Suite(.timeLimit(.minutes(3)))
struct SyncKindTests {
    static let migrations = JobQueue.migrations + SyncSchema.migrations

    /// What differs between the table and Swift, one line each; empty when they agree.
    static func mismatches(_ pool: ConnectionPool) async throws -> [String] {
        let (stored, unknown) = try await SyncKindDescription.stored(pool: pool)
        var lines = unknown.map { "\($0): in ledgersync.sync_kinds, not a SyncJobKind (or names an unknown object type)" }
        let swift = SyncJobKind.allCases.map(\.definition)
        for description in swift where !stored.contains(where: { $0.kind == description.kind }) {
            lines.append("\(description.kind.rawValue): a SyncJobKind with no row in ledgersync.sync_kinds")
        }
        for row in stored {
            guard let description = swift.first(where: { $0.kind == row.kind }) else { continue }
            if row != description { lines.append("\(row.kind.rawValue): the table says \(row), Swift says \(description)") }
        }
        if unknown.isEmpty, stored.map(\.kind) != swift.map(\.kind), lines.isEmpty {
            lines.append("the table's order \(stored.map(\.kind.rawValue)) is not SyncJobKind's \(swift.map(\.kind.rawValue))")
        }
        return lines
    }

    @Test func theTableEqualsTheSwiftDescriptions() async throws {
        try await TestDatabase.with(migrations: Self.migrations) { db in
            let mismatches = try await Self.mismatches(db.pool)
            #expect(mismatches.isEmpty, "\(mismatches)")
        }
    }

    @Test func aKindOnOneSideOnlyIsFound() async throws {
        try await TestDatabase.with(migrations: Self.migrations) { db in
            // A kind added in SQL alone.
            try await db.pool.query(
                """
                INSERT INTO ledgersync.sync_kinds (kind, position, envelopes, object_type, creates, customer_paths)
                VALUES ('refund.push', 99, '{refund}', 'payment', false, '{lago_customer_id}')
                """)
            let added = try await Self.mismatches(db.pool)
            #expect(added.contains { $0.hasPrefix("refund.push: in ledgersync.sync_kinds") }, "\(added)")
            // A Swift kind whose row is gone (as if added in Swift alone).
            try await db.pool.query("DELETE FROM ledgersync.sync_kinds WHERE kind IN ('refund.push', 'credit_memo.void')")
            let missing = try await Self.mismatches(db.pool)
            #expect(missing == ["credit_memo.void: a SyncJobKind with no row in ledgersync.sync_kinds"], "\(missing)")
            // A row that says something else than Swift.
            try await db.pool.query(
                """
                INSERT INTO ledgersync.sync_kinds (kind, position, envelopes, object_type, creates, customer_paths, invoice_paths, depends_on)
                VALUES ('credit_memo.void', 7, '{credit_note}', 'credit_memo', false, '{customer.lago_id,lago_customer_id}',
                        '{lago_invoice_id}', '{customer,invoice}')
                """)
            let differing = try await Self.mismatches(db.pool)
            #expect(differing.count == 1 && differing.first?.hasPrefix("credit_memo.void: the table says") == true, "\(differing)")
        }
    }

    /// Every document envelope a kind names is its document type's (the decoders'), and one
    /// kind creates each object type that a kind depends on.
    @Test func theDescriptionsAgreeWithTheDocumentsAndDependencies() {
        for kind in SyncJobKind.allCases {
            let definition = kind.definition
            #expect(definition.kind == kind)
            #expect(!definition.envelopes.isEmpty && !definition.customerPaths.isEmpty)
            for needed in definition.dependsOn {
                #expect(SyncJobKind.creator(of: needed) != nil, "\(kind.rawValue) depends on \(needed.rawValue), which no kind creates")
            }
        }
        #expect(SyncJobKind.creator(of: .invoice) == .invoicePush, "a void does not create what it voids")
        #expect(SyncJobKind.creator(of: .creditMemo) == .creditMemoPush)
        #expect(SyncJobKind.salesOrderPush.definition.envelopes == BillingSalesOrder.envelopeKeys)
        #expect(SyncJobKind.salesOrderPush.definition.envelope(in: ["invoice": [:]]) == "invoice")
        #expect(SyncJobKind.salesOrderPush.definition.envelope(in: ["lago_id": "so_1", "invoice": [:]]) == nil, "a bare document")
    }

    /// The functions read the table: the creator SQL names for each object type is Swift's,
    /// and the wake trigger's kind list (a WHEN clause cannot read a table) is the kinds that
    /// create what some kind depends on.
    @Test func theDependencyFunctionsAndTheTriggerFollowTheDescriptions() async throws {
        try await TestDatabase.with(migrations: Self.migrations) { db in
            for objectType in ExternalRef.ObjectType.allCases {
                let row = try await db.pool.query("SELECT kind, envelope FROM ledgersync.dependency_creator($1)", [objectType.rawValue])
                    .rows[0]
                let creator = SyncJobKind.creator(of: objectType)
                #expect(try row.decodeIfPresent("kind", as: String.self) == creator?.rawValue, "\(objectType)")
                #expect(try row.decodeIfPresent("envelope", as: String.self) == creator?.definition.envelope, "\(objectType)")
            }
            let trigger: String = try await db.pool.query(
                "SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgname = 'jobs_wake_waiters_of_ended_job'"
            ).rows[0].decode("def")
            let awaited = Set(SyncJobKind.allCases.flatMap(\.definition.dependsOn).compactMap { SyncJobKind.creator(of: $0) })
            for kind in SyncJobKind.allCases {
                #expect(
                    trigger.contains("'\(kind.rawValue)'") == awaited.contains(kind), "\(kind.rawValue) in the trigger's WHEN: \(trigger)")
            }
        }
    }

    /// The customer each kind's document names, as SQL derives it from the table's paths,
    /// bare and in every envelope the kind takes; and the customer of the invoice a payment
    /// or credit note applies to, through the table's invoice paths.
    @Test func theKeyDerivationReadsThePathsOfTheTable() async throws {
        try await TestDatabase.with(migrations: Self.migrations) { db in
            func customer(_ kind: SyncJobKind, _ document: String) async throws -> String? {
                try await db.pool.query("SELECT ledgersync.document_customer_id($1, $2::jsonb) AS c", [kind.rawValue, document]).rows[0]
                    .decodeIfPresent("c")
            }
            for kind in SyncJobKind.allCases {
                let definition = kind.definition
                let inner =
                    definition.objectType == .customer
                    ? #"{"lago_id": "cus_1"}"# : #"{"lago_id": "doc_1", "customer": {"lago_id": "cus_1"}}"#
                #expect(try await customer(kind, inner) == "cus_1", "\(kind.rawValue) bare")
                for envelope in definition.envelopes {
                    #expect(try await customer(kind, #"{"\#(envelope)": \#(inner)}"#) == "cus_1", "\(kind.rawValue) in \(envelope)")
                }
                if definition.objectType != .customer {
                    #expect(
                        try await customer(kind, #"{"\#(definition.envelope)": {"lago_id": "d", "lago_customer_id": " cus_2 "}}"#)
                            == "cus_2")
                }
            }
            // sales_order.push: the sales_order envelope is preferred over invoice.
            #expect(
                try await customer(.salesOrderPush, #"{"invoice": {"lago_customer_id": "a"}, "sales_order": {"lago_customer_id": "b"}}"#)
                    == "b")

            let box = try SecretBox(key: Array(0..<32))
            let connection = try #require(
                try await ConnectionStore(pool: db.pool, secretBox: box).create(
                    AccountingConnection(
                        provider: "netsuite", name: "k", accountID: "1234567",
                        secrets: ConnectionSecrets(["consumer_key": "ck", "consumer_secret": "cs", "token_id": "ti", "token_secret": "ts"]))
                ).id)
            try await ExternalRefStore(pool: db.pool).record(
                connection: connection, objectType: .invoice, billingID: "inv_9", providerID: "88", customerBillingID: "cus_9")
            for (kind, document) in [
                (SyncJobKind.paymentApply, #"{"payment": {"lago_id": "p", "invoice_ids": ["inv_9", "inv_x"]}}"#),
                (.paymentApply, #"{"lago_id": "p", "invoice_id": "inv_9"}"#),
                (.creditMemoPush, #"{"credit_note": {"lago_id": "cn", "lago_invoice_id": "inv_9"}}"#),
                (.creditMemoVoid, #"{"lago_id": "cn", "lago_invoice_id": "inv_9"}"#),
            ] {
                let keys = try await SyncQueue(pool: db.pool).keys(connection: connection, kind: kind, document: JSONText(document))
                #expect(keys.customerID == "cus_9", "\(kind.rawValue) \(document)")
                #expect(keys.serialKey == "sync:\(connection.uuidString.lowercased()):customer:cus_9")
            }
            // An unknown kind is refused naming every kind, in their order.
            await #expect {
                _ = try await SyncQueue(pool: db.pool).keys(connection: connection, kind: .customerSync, document: JSONText("[]"))
            } throws: { ($0 as? PostgresError)?.message.contains("document must be a JSON object") == true }
            do {
                _ = try await db.pool.query(
                    "SELECT * FROM ledgersync.sync_job_keys($1::uuid, 'refund.push', '{}')", [connection.uuidString])
                Issue.record("an unknown kind was accepted")
            } catch let error as PostgresError {
                #expect(error.sqlState == "22023")
                #expect(error.message.contains("kind must be one of \(SyncJobKind.names); got refund.push"), "\(error.message)")
            }
        }
    }

    /// The functions that find a job's document and customer (PL/pgSQL since sync migration
    /// 020, SQL before) at the edges: NULLs, paths through arrays and into objects, a kind
    /// with no row. Each answer is the one the SQL functions of 014 gave.
    static let documentFunctionEdges: [(call: String, answer: String?)] = [
        (#"sync_path_value(NULL, '{a}')"#, nil),
        (#"sync_path_value('{"a": 1}', NULL)"#, nil),
        (#"sync_path_value('{"a": 1}', '{}')"#, nil),
        (#"sync_path_value('{"a": {"b": null}, "c": "x"}', '{a.b,c}')"#, "x"),
        (#"sync_path_value('{"a": [{"b": 7}]}', '{a.0.b}')"#, "7"),
        (#"sync_path_value('{"a": 1, "c": 2}', ARRAY[NULL, 'c'])"#, "2"),
        (#"sync_path_value('{"a": {"x": 1}}', '{a}')"#, #"{"x": 1}"#),
        (#"sync_path_value('[1, 2]', '{0}')"#, "1"),
        (#"sync_path_value('{"a": 1}', '{{a,b},{c,d}}')"#, "1"),
        (#"sync_document('invoice.push', NULL)"#, nil),
        (
            #"sync_document('invoice.push', '{"lago_id": "x", "invoice": {"lago_id": "y"}}')"#,
            #"{"invoice": {"lago_id": "y"}, "lago_id": "x"}"#
        ),
        (#"sync_document('invoice.push', '{"invoice": {"lago_id": "y"}}')"#, #"{"lago_id": "y"}"#),
        (#"sync_document('refund.push', '{"invoice": {"lago_id": "y"}}')"#, #"{"invoice": {"lago_id": "y"}}"#),
        (#"sync_document(NULL, '{"invoice": 1}')"#, #"{"invoice": 1}"#),
        (#"sync_document('sales_order.push', '{"invoice": {"n": 1}, "sales_order": {"n": 2}}')"#, #"{"n": 2}"#),
        (#"sync_document('invoice.push', '[1]')"#, "[1]"),
        (#"document_customer_id('refund.push', '{"lago_id": "x"}')"#, nil),
        (#"document_customer_id('invoice.push', NULL)"#, nil),
        (#"document_customer_id(NULL, '{"lago_customer_id": "a"}')"#, nil),
        (#"document_customer_id('invoice.push', '{"lago_customer_id": "  "}')"#, nil),
        (#"document_customer_id('invoice.push', '{"invoice": {"customer": {"lago_id": 12}, "lago_customer_id": "b"}}')"#, "12"),
        (#"document_customer_id('customer.sync', '{"customer": {"lago_id": " c "}}')"#, "c"),
    ]

    @Test func theDocumentFunctionsAtTheEdges() async throws {
        try await TestDatabase.with(migrations: Self.migrations) { db in
            for (call, answer) in Self.documentFunctionEdges {
                let row = try await db.pool.query("SELECT ledgersync.\(call)::text AS v").rows[0]
                #expect(try row.decodeIfPresent("v", as: String.self) == answer, "\(call)")
            }
        }
    }
}
