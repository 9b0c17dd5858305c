import Foundation
import LedgerCrypto
import Postgres

/// Every column that holds a sealed value, with the table's key column: what the start-up
/// check samples and what `rotateKey` re-seals. A new sealed column is added here.
public struct SealedColumn: Sendable {
    public let table: String
    public let keyColumn: String
    /// The key column's SQL type, so a row is found through the primary key's index.
    public let keyType: String
    public let column: String

    public static let all = [
        SealedColumn(table: "connections", keyColumn: "id", keyType: "uuid", column: "secrets_sealed"),
        SealedColumn(table: "webhook_endpoints", keyColumn: "id", keyType: "uuid", column: "secret_sealed"),
        SealedColumn(table: "webhook_endpoints", keyColumn: "id", keyType: "uuid", column: "previous_secret_sealed"),
        SealedColumn(table: "inbound_secrets", keyColumn: "connection_id", keyType: "uuid", column: "secret_sealed"),
        SealedColumn(table: "provider_tokens", keyColumn: "connection_id", keyType: "uuid", column: "access_token_sealed"),
        SealedColumn(table: "secret_key_check", keyColumn: "singleton", keyType: "boolean", column: "sealed"),
    ]

    func context(row: String) -> SealContext { SealContext(table: table, row: row, column: column) }
}

/// The key check every process that opens secrets runs at start-up: a wrong
/// `LEDGERSYNC_SECRET_KEY` refuses to start with one line naming the key id the database
/// expects, instead of running and failing every job it touches.
public enum SecretKeyCheck {
    /// What the check row holds, sealed.
    static let knownPlaintext = "ledgersync secret key check"
    static let context = SealContext(table: "secret_key_check", row: "true", column: "sealed")

    /// A key that does not open this database's secrets. `message` is one line, names the
    /// key ids involved and never any key material.
    public struct Mismatch: Error, CustomStringConvertible, Sendable {
        public let message: String
        public var description: String { message }
    }

    /// Checks that `box` opens this database's secrets: the sealed check row (written under
    /// the sealing key the first time, after checking the secrets already stored, if any).
    /// Throws `Mismatch` when it does not.
    public static func verify(pool: ConnectionPool, box: SecretBox) async throws {
        let rows = try await pool.query("SELECT sealed FROM ledgersync.secret_key_check").rows
        if let row = rows.first {
            try check(try row.decode("sealed"), box: box, what: "the key check row (ledgersync.secret_key_check)")
            return
        }
        // No check row yet (a database sealed before it existed, or a new one): any sealed
        // value already stored must open, then the check row records the key.
        for sealed in SealedColumn.all where sealed.table != "secret_key_check" {
            let sample = try await pool.query(
                "SELECT \(sealed.keyColumn)::text AS row_key, \(sealed.column) AS value FROM ledgersync.\(sealed.table) "
                    + "WHERE \(sealed.column) IS NOT NULL LIMIT 1"
            ).rows
            guard let row = sample.first else { continue }
            let value: String = try row.decode("value")
            let rowKey: String = try row.decode("row_key")
            do {
                _ = try box.open(value, for: sealed.context(row: rowKey))
            } catch let error as CryptoError {
                throw mismatch(value, box: box, what: "ledgersync.\(sealed.table).\(sealed.column)", error: error)
            }
        }
        try await pool.query(
            "INSERT INTO ledgersync.secret_key_check (singleton, sealed) VALUES (true, $1) ON CONFLICT (singleton) DO NOTHING",
            [try box.seal(knownPlaintext, for: context)])
        // Another process may have written it first, under its own key.
        let written: String = try await pool.query("SELECT sealed FROM ledgersync.secret_key_check").rows[0].decode("sealed")
        try check(written, box: box, what: "the key check row (ledgersync.secret_key_check)")
    }

    private static func check(_ sealed: String, box: SecretBox, what: String) throws {
        do {
            guard try box.open(sealed, for: context) == knownPlaintext else {
                throw Mismatch(message: "\(what) holds an unexpected value; was it written by another installation?")
            }
        } catch let error as CryptoError {
            throw mismatch(sealed, box: box, what: what, error: error)
        }
    }

    private static func mismatch(_ sealed: String, box: SecretBox, what: String, error: CryptoError) -> Mismatch {
        let held = box.keyIDs.joined(separator: ", ")
        if let expected = SecretBox.sealedKeyID(sealed) {
            return Mismatch(
                message: "wrong secret key: this database's secrets are sealed under key id \(expected), "
                    + "but LEDGERSYNC_SECRET_KEY (and LEDGERSYNC_SECRET_KEY_PREVIOUS) hold key id \(held); "
                    + "set LEDGERSYNC_SECRET_KEY to the key with id \(expected)")
        }
        return Mismatch(
            message: "wrong secret key: LEDGERSYNC_SECRET_KEY (key id \(held)) does not open \(what) (\(error.message)); "
                + "set it to the key the database's secrets were sealed with")
    }
}

/// Re-seals every sealed value under the box's sealing key (`ledgersync secrets rotate-key`).
public enum SecretKeyRotation {
    public struct Report: Sendable, Equatable {
        /// Values re-sealed, per `table.column`.
        public var resealed: [String: Int] = [:]
        /// Values already sealed under the sealing key.
        public var current = 0
        public var total: Int { resealed.values.reduce(0, +) }
    }

    /// Re-seals, row by row, each in its own short transaction (`SELECT … FOR UPDATE`, open
    /// with any key of the ring, seal under the sealing key, `UPDATE`), every value not yet
    /// sealed under the sealing key: v1 values and v2 values under a previous key. Readers
    /// are never blocked for more than one row, and read either the old or the new value,
    /// both of which a process holding both keys opens. Safe to run again (it skips what is
    /// current) and alongside the API and the workers.
    public static func rotate(pool: ConnectionPool, box: SecretBox, progress: @Sendable (String) -> Void = { _ in }) async throws -> Report
    {
        var report = Report()
        for sealed in SealedColumn.all {
            let name = "\(sealed.table).\(sealed.column)"
            let rows = try await pool.query(
                "SELECT \(sealed.keyColumn)::text AS row_key, \(sealed.column) AS value FROM ledgersync.\(sealed.table) "
                    + "WHERE \(sealed.column) IS NOT NULL ORDER BY 1"
            ).rows
            for row in rows {
                let rowKey: String = try row.decode("row_key")
                let value: String = try row.decode("value")
                guard box.needsResealing(value) else {
                    report.current += 1
                    continue
                }
                let changed = try await pool.withTransaction { connection -> Bool in
                    let locked = try await connection.query(
                        "SELECT \(sealed.column) AS value FROM ledgersync.\(sealed.table) "
                            + "WHERE \(sealed.keyColumn) = $1::\(sealed.keyType) FOR UPDATE", [rowKey]
                    ).rows
                    // Deleted, cleared or re-sealed by someone else meanwhile: nothing to do.
                    guard let current: String = try locked.first?.decodeIfPresent("value"), box.needsResealing(current) else {
                        return false
                    }
                    let plaintext: String
                    do {
                        plaintext = try box.open(current, for: sealed.context(row: rowKey))
                    } catch let error as CryptoError {
                        throw StoreError(.secretsUnreadable, "cannot open ledgersync.\(name) of row \(rowKey): \(error.message)")
                    }
                    try await connection.query(
                        "UPDATE ledgersync.\(sealed.table) SET \(sealed.column) = $2 WHERE \(sealed.keyColumn) = $1::\(sealed.keyType)",
                        [rowKey, try box.seal(plaintext, for: sealed.context(row: rowKey))])
                    return true
                }
                if changed {
                    report.resealed[name, default: 0] += 1
                } else {
                    report.current += 1
                }
            }
            progress("\(name): \(report.resealed[name] ?? 0) re-sealed")
        }
        return report
    }
}
