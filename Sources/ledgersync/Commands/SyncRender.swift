import ArgumentParser
import Foundation
import Postgres
import Sync

/// `ledgersync sync …`: commands about what the sync sends.
struct SyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sync",
        abstract: "Check what the sync sends to an accounting provider.",
        subcommands: [Render.self])

    struct Render: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the requests a sync job would send to the provider for a document, without sending them.",
            discussion: """
                Reads a job's args from stdin: the billing document, bare or in its envelope ({"invoice": {…}}), with "customer_id" when the document does not name its customer. Prints each request the worker would send — method, URL (with ?replace=), headers, body — exactly as it would send them, built by the same code, except the Authorization header (it carries a signature and is never printed). Refs the document needs (its customer, its invoice) are read from the connection's external_refs; one that is not there is shown as a placeholder, with a note (lines starting with #) saying what the worker would do.

                Kinds: \(SyncJobKind.names).
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The job kind: \(SyncJobKind.names).") var kind: String
        @Option(help: "The connection, by id or by name.") var connection: String

        func validate() throws {
            let kinds = SyncJobKind.allCases.map(\.rawValue)
            guard kinds.contains(kind) else {
                throw ValidationError("unknown kind \"\(kind)\"; one of \(kinds.joined(separator: ", "))")
            }
        }

        func run() async throws {
            let args = String(decoding: FileHandle.standardInput.readDataToEndOfFile(), as: UTF8.self)
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            do {
                let rendered = try await withStoreErrors {
                    let store = ConnectionStore(pool: pool, secretBox: box)
                    let chosen: AccountingConnection
                    if let id = UUID(uuidString: connection.trimmingCharacters(in: .whitespaces)) {
                        chosen = try await store.get(id)
                    } else {
                        let named = try await store.list().filter { $0.name == connection }
                        guard named.count == 1, let only = named.first else {
                            throw StoreError(
                                .notFound, field: "connection",
                                named.isEmpty
                                    ? "no connection is named \"\(connection)\""
                                    : "\(named.count) connections are named \"\(connection)\"; give the id")
                        }
                        chosen = only
                    }
                    guard let id = chosen.id else { throw StoreError(.notFound, field: "connection", "the connection has no id") }
                    let driver = try Providers.registry.driver(chosen.provider)
                    guard let renderer = driver as? any RequestRendering, renderer.renderableKinds.contains(kind) else {
                        throw StoreError.invalid("kind", "\(driver.displayName) connections cannot render \(kind) jobs")
                    }
                    let mappings = try await MappingStore(pool: pool).mappingSet(connection: id)
                    let refs = ExternalRefStore(pool: pool)
                    let target = SyncTarget(connectionID: id, connection: chosen, mappings: mappings)
                    return try await renderer.render(kind: kind, args: args, connection: chosen, target: target) { type, billingID in
                        try await refs.lookup(connection: id, objectType: type, billingID: billingID)
                    }
                }
                await pool.close()
                print(rendered, terminator: "")
            } catch {
                await pool.close()
                throw error
            }
        }
    }
}
