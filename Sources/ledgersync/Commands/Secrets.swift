import ArgumentParser
import Foundation
import LedgerCrypto
import Postgres
import Sync

struct Secrets: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check and rotate the key that seals secrets at rest (LEDGERSYNC_SECRET_KEY).",
        discussion: """
            Every secret in the database (connection credentials, webhook and inbound secrets) is sealed with AES-256-GCM under LEDGERSYNC_SECRET_KEY, bound to its table, row and column, and tagged with the key's id. LEDGERSYNC_SECRET_KEY_PREVIOUS (keys separated by commas) lists older keys that still open what they sealed. docs/operations.md gives the rotation procedure.
            """,
        subcommands: [Check.self, RotateKey.self, GenerateKey.self])
}

extension Secrets {
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check that the key opens this database's secrets; print the key ids.",
            discussion:
                "Exits 78 with one line naming the expected key id when it does not (the check the worker and the API run at start-up).")
        @OptionGroup var database: DatabaseOptions

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            await pool.close()
            print(
                "the key opens this database's secrets; sealing key id \(box.keyID), keys that open: \(box.keyIDs.joined(separator: ", "))")
        }
    }

    struct RotateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-key",
            abstract: "Re-seal every secret under LEDGERSYNC_SECRET_KEY, opening old ones with LEDGERSYNC_SECRET_KEY_PREVIOUS.",
            discussion: """
                Runs alongside the API and the workers: each row is re-sealed in its own short transaction, and a process that holds both keys reads every row before, during and after. Safe to run again; it skips what is already sealed under the new key. See docs/operations.md for the whole procedure.
                """)
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 2)
            try await checkSecretKey(box, pool: pool)
            let report = try await withStoreErrors {
                try await SecretKeyRotation.rotate(pool: pool, box: box)
            }
            await pool.close()
            if json {
                struct Result: Encodable {
                    let keyID: String
                    let resealed: [String: Int]
                    let alreadyCurrent: Int
                }
                return try printJSON(Result(keyID: box.keyID, resealed: report.resealed, alreadyCurrent: report.current))
            }
            let detail = report.resealed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
            print(
                "re-sealed \(report.total) secrets under key id \(box.keyID)\(detail.isEmpty ? "" : " (\(detail))"); \(report.current) were already current"
            )
        }
    }

    struct GenerateKey: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "generate-key", abstract: "Print a new random key (base64 of 32 bytes) and its key id.")
        @Flag(help: "Print JSON.") var json = false

        func run() throws {
            let key = SecretBox.generateKey()
            let id = SecretBox.keyID(of: [UInt8](Data(base64Encoded: key) ?? Data()))
            if json {
                struct Generated: Encodable {
                    let key: String
                    let keyID: String
                }
                return try printJSON(Generated(key: key, keyID: id))
            }
            print(key)
            FileHandle.standardError.write(Data("ledgersync: key id \(id)\n".utf8))
        }
    }
}
