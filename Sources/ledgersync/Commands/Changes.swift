import ArgumentParser
import Foundation
import Postgres
import Sync

/// `ledgersync changes …`: what the change polls read back from the providers
/// (docs/changes.md).
struct Changes: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Records created or changed at the provider, as the connection's change polls read them back.",
        discussion: """
            A connection reads changes back when its settings say so (read_changes: paid_invoices, customer, invoice, sales_order, credit_memo, payment; poll_interval in seconds). See docs/changes.md.

            Environment: DATABASE_URL (or --database-url).
            """,
        subcommands: [List.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a connection's change events after an event id, oldest first, and where its polls stand.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Option(help: "Only events after this event id.") var since: Int64 = 0
        @Option(help: "Only events of this record type.") var objectType: String?
        @Option(help: "At most this many (1…1000).") var limit = 100
        @Flag(help: "Print JSON: {\"changes\": [...], \"next_since\": N}.") var json = false

        func validate() throws {
            if let objectType { _ = try Refs.objectType(objectType) }
            guard (1...ChangeEventStore.maxLimit).contains(limit) else { throw ValidationError("--limit must be from 1 to 1000") }
            guard since >= 0 else { throw ValidationError("--since must be an event id (0 or more)") }
        }

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let store = ChangeEventStore(pool: pool)
            let events: [ChangeEvent]
            let cursors: [ChangeEventStore.Cursor]
            do {
                events = try await withStoreErrors {
                    try await store.events(
                        connection: connection.uuid, since: since, objectType: try objectType.map(Refs.objectType), limit: limit)
                }
                cursors = try await store.cursors(connection: connection.uuid)
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
            if json {
                let items = try events.map { try $0.json() }.joined(separator: ",")
                return print("{\"changes\":[\(items)],\"next_since\":\(events.last?.id ?? since)}")
            }
            if events.isEmpty {
                print("no change events after \(since)")
            } else {
                var table = [["ID", "OBJECT TYPE", "CHANGE", "PROVIDER ID", "BILLING ID", "NUMBER", "AMOUNT", "MODIFIED"]]
                for event in events {
                    table.append([
                        String(event.id), event.objectType.rawValue, event.change.rawValue, event.providerID,
                        truncate(event.billingID ?? "", 40), truncate(event.number ?? "", 30),
                        [event.amount, event.currency].compactMap { $0 }.joined(separator: " "), format(event.modifiedAt),
                    ])
                }
                printTable(table)
            }
            for cursor in cursors {
                print(
                    "poll \(cursor.objectType): read up to \(format(cursor.modifiedSince))"
                        + (cursor.polledAt.map { ", last poll \(format($0))" } ?? ", not polled yet")
                        + (cursor.lastError.map { "; last error: \($0)" } ?? ""))
            }
        }
    }
}
