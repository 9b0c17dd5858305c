import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Testing

@testable import Sync

private let testKey = try! SecretBox(key: Array(0..<32))
private let otherKey = try! SecretBox(key: Array(repeating: 7, count: 32))

/// A fresh database with the queue and sync lines, dropped afterwards (also on failure).
private func withSyncDatabase(_ body: (TestDatabase) async throws -> Void) async throws {
    try await TestDatabase.with(migrations: JobQueue.migrations + SyncSchema.migrations, body)
}

private let secrets = ConnectionSecrets([
    "consumer_key": "ck-3f9a1c77e2", "consumer_secret": "cs-b8d04e19aa", "token_id": "tid-51c7e0d3f4", "token_secret": "ts-9e2a6b4c10",
])

private func sampleConnection(accountID: String = "1234567_SB1") -> AccountingConnection {
    AccountingConnection(
        provider: "netsuite", name: "NetSuite sandbox", accountID: accountID,
        settings: .init(
            objectsToSync: ["customer", "invoice"], baseURL: "http://127.0.0.1:9999/netsuite",
            concurrencyLimit: 5, extra: ["default_subsidiary": "2"]),
        secrets: secrets)
}

/// The field named by the error `create` throws for the changed sample connection.
private func failedField(_ store: ConnectionStore, _ change: (inout AccountingConnection) -> Void) async -> String? {
    var connection = sampleConnection()
    change(&connection)
    do {
        _ = try await store.create(connection)
        return nil
    } catch {
        return (error as? StoreError)?.field
    }
}

private func field(of error: any Error) -> String? { (error as? StoreError)?.field }

@Suite("StoreTests", .timeLimit(.minutes(3)))
struct StoreTests {
    @Test func connectionRoundTrip() async throws {
        try await withSyncDatabase { db in
            let store = ConnectionStore(pool: db.pool, secretBox: testKey)
            let created = try await store.create(sampleConnection())
            let id = try #require(created.id)
            let read = try await store.get(id)
            #expect(read == created)
            #expect(read.secrets == secrets)
            #expect(read.settings.concurrencyLimit == 5)
            #expect(read.settings.objectsToSync == ["customer", "invoice"])
            #expect(read.settings.extra == ["default_subsidiary": "2"])

            var changed = read
            changed.name = "NetSuite production"
            changed.secrets["token_secret"] = "ts-rotated-77aa"
            changed.settings.concurrencyLimit = 10
            let updated = try await store.update(changed)
            #expect(try await store.get(id) == updated)
            #expect(updated.secrets["token_secret"] == "ts-rotated-77aa")
            #expect(updated.name == "NetSuite production")

            _ = try await store.create(sampleConnection(accountID: "7654321"))
            #expect(try await store.list().map(\.accountID) == ["1234567_SB1", "7654321"])

            #expect(try await store.delete(id))
            #expect(try await !store.delete(id))
            let error = await #expect(throws: StoreError.self) { try await store.get(id) }
            #expect(error?.code == .notFound)
        }
    }

    @Test func secretsNeverStoredOrDescribedInClear() async throws {
        try await withSyncDatabase { db in
            let connections = ConnectionStore(pool: db.pool, secretBox: testKey)
            let webhooks = WebhookEndpointStore(pool: db.pool, secretBox: testKey)
            let connection = try await connections.create(sampleConnection())
            let endpoint = try await webhooks.create(url: "https://hooks.example.com/ls", secret: "whsec-4d2c9f81be")

            let stored = try await db.pool.query(
                """
                SELECT t::text AS row FROM ledgersync.connections t
                UNION ALL SELECT t::text FROM ledgersync.webhook_endpoints t
                """
            ).rows.map { try $0.decode("row", as: String.self) }
            #expect(stored.count == 2)
            let all = secrets.fields.values.sorted() + ["whsec-4d2c9f81be"]
            for text in stored {
                for secret in all { #expect(!text.contains(secret), "a secret is stored in clear") }
                #expect(text.contains("v2:\(testKey.keyID):"))
            }

            var dumped = ""
            dump(connection, to: &dumped)
            var dumpedEndpoint = ""
            dump(endpoint, to: &dumpedEndpoint)
            let shown = [
                String(describing: connection), String(reflecting: connection), String(describing: connection.secrets),
                "\(connection)", dumped, String(describing: endpoint), dumpedEndpoint,
            ]
            for text in shown {
                for secret in all { #expect(!text.contains(secret), "a secret is shown: \(text)") }
            }
            #expect(String(describing: connection).contains("secrets: redacted"))
            #expect(endpoint.secret == "whsec-4d2c9f81be")
        }
    }

    @Test func wrongKeyFailsClearly() async throws {
        try await withSyncDatabase { db in
            let created = try await ConnectionStore(pool: db.pool, secretBox: testKey).create(sampleConnection())
            _ = try await WebhookEndpointStore(pool: db.pool, secretBox: testKey).create(url: "https://h.example.com", secret: "whsec-1")

            let error = await #expect(throws: StoreError.self) {
                try await ConnectionStore(pool: db.pool, secretBox: otherKey).get(created.id!)
            }
            #expect(error?.code == .secretsUnreadable)
            #expect(error?.message.contains("wrong key") == true)
            #expect(error?.message.contains(created.id!.uuidString.lowercased()) == true)

            let webhookError = await #expect(throws: StoreError.self) {
                try await WebhookEndpointStore(pool: db.pool, secretBox: otherKey).list()
            }
            #expect(webhookError?.code == .secretsUnreadable)
        }
    }

    @Test func connectionValidationNamesTheField() async throws {
        try await withSyncDatabase { db in
            let store = ConnectionStore(pool: db.pool, secretBox: testKey)
            func failure(_ change: (inout AccountingConnection) -> Void) async -> String? {
                await failedField(store, change)
            }
            #expect(await failure { $0.accountID = "  " } == "account_id")
            #expect(await failure { $0.name = "" } == "name")
            #expect(await failure { $0.settings.concurrencyLimit = 0 } == "settings.concurrency_limit")
            #expect(await failure { $0.settings.baseURL = "ftp://example.com" } == "settings.base_url")
            #expect(await failure { $0.settings.baseURL = "example.com/api" } == "settings.base_url")
            #expect(await failure { $0.settings.objectsToSync = ["widget"] } == "settings.objects_to_sync")
            // Which providers exist is the registry's business; the store checks the name's shape.
            #expect(await failure { $0.provider = "Net Suite" } == "provider")
            #expect(await failure { $0.provider = "" } == "provider")
            let stored = try await store.list()
            #expect(stored.isEmpty)

            // The CHECKs hold even for a writer that bypasses the store: each insert is refused
            // by its own named constraint (SQLSTATE 23514 check_violation), not by any error.
            let zeroLimit = await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    """
                    INSERT INTO ledgersync.connections (provider, name, account_id, settings, secrets_sealed)
                    VALUES ('netsuite', 'x', '1', '{"concurrency_limit": 0}', 'v1:abc')
                    """)
            }
            #expect(zeroLimit?.sqlState == "23514", "\(zeroLimit.map(String.init(describing:)) ?? "")")
            #expect(zeroLimit?.message.contains("\"concurrency_limit_positive\"") == true, "\(zeroLimit?.message ?? "")")
            let plaintext = await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    "INSERT INTO ledgersync.connections (provider, name, account_id, secrets_sealed) VALUES ('netsuite', 'x', '1', 'plaintext')"
                )
            }
            #expect(plaintext?.sqlState == "23514", "\(plaintext.map(String.init(describing:)) ?? "")")
            #expect(plaintext?.message.contains("\"secrets_are_sealed\"") == true, "\(plaintext?.message ?? "")")
            let badName = await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    "INSERT INTO ledgersync.connections (provider, name, account_id, secrets_sealed) VALUES ('Net Suite', 'x', '1', 'v1:abc')"
                )
            }
            #expect(badName?.message.contains("\"provider_name_shape\"") == true, "\(badName?.message ?? "")")
            let stillNone = try #require(try await db.pool.query("SELECT count(*) FROM ledgersync.connections").rows.first)
            #expect(try stillNone.decode(stillNone.columns[0], as: Int.self) == 0)
        }
    }

    @Test func itemResolutionOrder() async throws {
        try await withSyncDatabase { db in
            let connection = try await ConnectionStore(pool: db.pool, secretBox: testKey).create(sampleConnection()).id!
            let mappings = MappingStore(pool: db.pool)

            let missing = await #expect(throws: StoreError.self) {
                try await mappings.resolveItem(connection: connection, feeKind: .charge, code: "api_calls")
            }
            #expect(missing?.code == .invalidMapping)
            #expect(missing?.jobError.errorClass == "invalid_mapping")
            #expect(missing?.jobError.action == .fail)
            #expect(missing?.message.contains("\"api_calls\"") == true)
            #expect(missing?.message.contains("no fallback item") == true)
            let missingDefault = await #expect(throws: StoreError.self) {
                try await mappings.resolveItem(connection: connection, feeKind: .subscription)
            }
            #expect(missingDefault?.message.contains("no default item for subscription") == true)

            try await mappings.upsert(.fallbackItem(connectionID: connection, providerID: "900"))
            #expect(try await mappings.resolveItem(connection: connection, feeKind: .charge, code: "api_calls").providerID == "900")
            #expect(try await mappings.resolveItem(connection: connection, feeKind: .subscription).providerID == "900")

            try await mappings.upsert(.defaultItem(connectionID: connection, for: .subscription, providerID: "510", accountCode: "4000"))
            #expect(try await mappings.resolveItem(connection: connection, feeKind: .subscription, code: "pro_plan").providerID == "510")
            // A charge has no default item: it still falls back.
            #expect(try await mappings.resolveItem(connection: connection, feeKind: .charge, code: "api_calls").providerID == "900")

            try await mappings.upsert(
                .item(connectionID: connection, code: "api_calls", providerID: "321", providerName: "API calls", accountCode: "4100"))
            let item = try await mappings.resolveItem(connection: connection, feeKind: .charge, code: "api_calls")
            #expect(item.providerID == "321")
            #expect(item.accountCode == "4100")
            #expect(item.kind == .item)
            // Another code still gets the fallback; the one-to-one item belongs to its code only.
            #expect(try await mappings.resolveItem(connection: connection, feeKind: .addOn, code: "setup").providerID == "900")
        }
    }

    @Test func mappingsAreUniquePerKeyAndRoundTrip() async throws {
        try await withSyncDatabase { db in
            let connection = try await ConnectionStore(pool: db.pool, secretBox: testKey).create(sampleConnection()).id!
            let mappings = MappingStore(pool: db.pool)

            try await mappings.upsert(.item(connectionID: connection, code: "seats", providerID: "1"))
            try await mappings.upsert(.item(connectionID: connection, code: "seats", providerID: "2", providerName: "Seats"))
            let items = try await mappings.list(connection: connection, kind: .item)
            #expect(items.count == 1)
            #expect(items.first?.providerID == "2")
            #expect(items.first?.providerName == "Seats")

            let tax = Mapping(
                connectionID: connection, kind: .tax, billingKey: "vat_20", providerID: "77",
                details: ["nexus": "GB", "tax_type": "VAT", "tax_code": "S-GB", "legacy_tax_item": "12"])
            #expect(try await mappings.upsert(tax) == tax)
            try await mappings.upsert(Mapping(connectionID: connection, kind: .currency, billingKey: "EUR", providerID: "4"))
            // Same key, different record types: two mappings; same record type again: one.
            for recordType in ["invoice", "customer", "invoice"] {
                try await mappings.upsert(
                    Mapping(
                        connectionID: connection, kind: .customField, billingKey: "metadata.po_number", recordType: recordType,
                        providerID: "custbody_po_\(recordType)"))
            }
            #expect(try await mappings.list(connection: connection, kind: .customField).map(\.recordType) == ["customer", "invoice"])
            #expect(try await mappings.get(connection: connection, kind: .tax, billingKey: "vat_20") == tax)
            #expect(try await mappings.list(connection: connection).count == 5)

            // A second fallback replaces the first.
            try await mappings.upsert(.fallbackItem(connectionID: connection, providerID: "900"))
            try await mappings.upsert(.fallbackItem(connectionID: connection, providerID: "901"))
            #expect(try await mappings.list(connection: connection, kind: .fallbackItem).map(\.providerID) == ["901"])

            // The unique index holds for writers that bypass the store.
            let duplicate = await #expect(throws: PostgresError.self) {
                try await db.pool.query(
                    "INSERT INTO ledgersync.mappings (connection_id, kind, billing_key, provider_id) VALUES ($1::uuid, 'item', 'seats', '3')",
                    [connection.uuidString])
            }
            #expect(duplicate?.isUniqueViolation == true)

            #expect(
                try await mappings.delete(
                    connection: connection, kind: .customField, billingKey: "metadata.po_number", recordType: "invoice"))
            #expect(try await mappings.list(connection: connection, kind: .customField).map(\.recordType) == ["customer"])

            // Validation names the field.
            let bad: [(Mapping, String)] = [
                (Mapping(connectionID: connection, kind: .item, billingKey: "x", providerID: " "), "provider_id"),
                (Mapping(connectionID: connection, kind: .defaultItem, billingKey: "charge", providerID: "1"), "billing_key"),
                (Mapping(connectionID: connection, kind: .item, billingKey: "", providerID: "1"), "billing_key"),
                (Mapping(connectionID: connection, kind: .customField, billingKey: "k", providerID: "custbody_x"), "record_type"),
                (Mapping(connectionID: connection, kind: .item, billingKey: "k", recordType: "invoice", providerID: "1"), "record_type"),
                (Mapping(connectionID: UUID(), kind: .item, billingKey: "k", providerID: "1"), "connection_id"),
            ]
            for (mapping, expected) in bad {
                do {
                    try await mappings.upsert(mapping)
                    Issue.record("accepted an invalid mapping: \(mapping)")
                } catch {
                    #expect(field(of: error) == expected)
                }
            }
        }
    }

    @Test func externalRefsUpsertAndLookups() async throws {
        try await withSyncDatabase { db in
            let connection = try await ConnectionStore(pool: db.pool, secretBox: testKey).create(sampleConnection()).id!
            let refs = ExternalRefStore(pool: db.pool)

            #expect(try await refs.lookup(connection: connection, objectType: .invoice, billingID: "inv_1") == nil)
            let first = try await refs.record(connection: connection, objectType: .invoice, billingID: "inv_1", providerID: "1001")
            let second = try await refs.record(connection: connection, objectType: .invoice, billingID: "inv_1", providerID: "1002")
            #expect(second.providerID == "1002")
            #expect(second.syncedAt >= first.syncedAt)
            try await refs.record(connection: connection, objectType: .customer, billingID: "inv_1", providerID: "1001")

            let byBilling = try await refs.lookup(connection: connection, objectType: .invoice, billingID: "inv_1")
            #expect(byBilling?.providerID == "1002")
            let byProvider = try await refs.lookup(connection: connection, objectType: .invoice, providerID: "1002")
            #expect(byProvider?.billingID == "inv_1")
            #expect(try await refs.lookup(connection: connection, objectType: .invoice, providerID: "1001") == nil)
            #expect(try await refs.lookup(connection: connection, objectType: .customer, providerID: "1001")?.billingID == "inv_1")

            let count = try await db.pool.query("SELECT count(*)::int AS n FROM ledgersync.external_refs").rows[0].decode("n", as: Int.self)
            #expect(count == 2)

            let error = await #expect(throws: StoreError.self) {
                try await refs.record(connection: UUID(), objectType: .payment, billingID: "p", providerID: "1")
            }
            #expect(error?.field == "connection_id")
        }
    }

    @Test func deletingAConnectionCascades() async throws {
        try await withSyncDatabase { db in
            let connections = ConnectionStore(pool: db.pool, secretBox: testKey)
            let doomed = try await connections.create(sampleConnection()).id!
            let kept = try await connections.create(sampleConnection(accountID: "999")).id!
            let mappings = MappingStore(pool: db.pool)
            let refs = ExternalRefStore(pool: db.pool)
            for connection in [doomed, kept] {
                try await mappings.upsert(.fallbackItem(connectionID: connection, providerID: "900"))
                try await refs.record(connection: connection, objectType: .customer, billingID: "cus_1", providerID: "55")
            }
            #expect(try await connections.delete(doomed))
            #expect(try await mappings.list(connection: doomed).isEmpty)
            #expect(try await refs.lookup(connection: doomed, objectType: .customer, billingID: "cus_1") == nil)
            #expect(try await mappings.list(connection: kept).count == 1)
            #expect(try await refs.lookup(connection: kept, objectType: .customer, billingID: "cus_1") != nil)
        }
    }

    @Test func webhookEndpointsFilterByEventType() async throws {
        try await withSyncDatabase { db in
            let store = WebhookEndpointStore(pool: db.pool, secretBox: testKey)
            let all = try await store.create(url: "https://a.example.com/hook", secret: "s-all")
            let errorsOnly = try await store.create(
                url: "http://b.example.com/hook", secret: "s-err", eventTypes: ["customer.accounting_provider_error"])
            _ = try await store.create(url: "https://c.example.com/hook", secret: "s-off", disabled: true)

            #expect(try await store.list().count == 3)
            #expect(try await store.endpoints(for: "customer.accounting_provider_error").map(\.id) == [all.id, errorsOnly.id])
            let invoiceHooks = try await store.endpoints(for: "invoice.synced")
            #expect(invoiceHooks.map(\.id) == [all.id])
            #expect(invoiceHooks.first?.secret == "s-all")
            #expect(invoiceHooks.first?.eventTypes == nil)
            #expect(errorsOnly.eventTypes == ["customer.accounting_provider_error"])
            #expect(errorsOnly.wants("customer.accounting_provider_error") && !errorsOnly.wants("x"))

            #expect(try await store.delete(all.id))
            #expect(try await store.endpoints(for: "invoice.synced").isEmpty)

            for (url, secret, events, expected) in [
                ("ftp://x.example.com", "s", nil, "url"), ("https://x.example.com", "", nil, "secret"),
                ("https://x.example.com", "s", [String](), "event_types"),
                ("https://user:pass@x.example.com/hook", "s", nil, "url"),
            ] as [(String, String, [String]?, String)] {
                do {
                    _ = try await store.create(url: url, secret: secret, eventTypes: events)
                    Issue.record("accepted an invalid endpoint")
                } catch {
                    #expect(field(of: error) == expected)
                }
            }
        }
    }
}
