import ExactJSON
import Foundation
import Postgres

/// `JobQueue.enqueueMany`'s fast path: a batch sent with `COPY … FROM STDIN` instead of
/// enqueue_batch.sql's `INSERT … SELECT FROM unnest(…)`. COPY writes the rows with the heap's
/// multi-insert (a WAL record per page of rows rather than per row) and without an executor
/// row per job: on this project's bench machine the server spends ~6.5 ms on a batch of 1,000
/// (the ids and the COPY) against ~10.5 ms for the INSERT (docs/performance.md, "Bulk enqueue
/// by COPY").
///
/// It is taken only for a batch the INSERT would insert whole, with the same rows: no unique
/// keys (COPY has no ON CONFLICT), and every job already valid by the rules the INSERT checks
/// on the server (its args a JSON object within `ArgsBounds`, the same bounds as migration
/// 007's; priority 0–9; max_attempts from 1 to the column's integer range; no NUL). Any other batch goes through the
/// INSERT, which names what is wrong as before. What the INSERT fills in on the server comes
/// first in one round trip (reserve_job_ids.sql): the ids, `now()`, the kinds' max_attempts.
/// The table's CHECKs and its statement triggers (NOTIFY, the fetch floor) apply to COPY as
/// to the INSERT.
struct EnqueueCopy {
    private let requests: ArraySlice<EnqueueRequest>

    /// The batch, or nil when it must go through the INSERT.
    init?(_ requests: ArraySlice<EnqueueRequest>) {
        for request in requests {
            guard request.uniqueKey == nil, (0...9).contains(request.priority), (1...Int(Int32.max)).contains(request.maxAttempts ?? 1),
                !request.kind.isEmpty, !request.queue.isEmpty
            else { return nil }
            let keys = [request.kind, request.queue, request.serialKey ?? "", request.limitKey ?? ""]
            guard !keys.contains(where: { $0.utf8.contains(0) }) else { return nil }
            // Larger args are rare in a bulk enqueue; the INSERT measures them by their
            // stored size, as migration 007 defines the bound.
            let args = request.args.text.utf8
            guard args.count <= 65_536, let value = try? ExactJSON.parse(args), case .object = value,
                ArgsBounds.check(value, root: "args") == nil
            else { return nil }
        }
        self.requests = requests
    }

    /// Inserts the batch and returns its ids in input order; nil, having inserted nothing,
    /// when the role may not take ids from the jobs' sequence (the INSERT then goes instead).
    func run(on connection: Connection) async throws -> [Int64]? {
        let kinds = Array(Set(requests.lazy.filter { $0.maxAttempts == nil }.map(\.kind)))
        let reserved = try await connection.query(QueueSQL.reserveJobIds, [requests.count, kinds], prepare: true).rows[0]
        guard let idList = try reserved.decodeIfPresent("ids", as: String.self) else { return nil }
        let ids = idList.split(separator: ",").compactMap { Int64($0) }
        guard ids.count == requests.count else {
            throw PostgresError(.server, "reserving ids for \(requests.count) jobs returned \(ids.count)")
        }
        let now: Date = try reserved.decode("now")
        let kindText: String = try reserved.decode("kind_max_attempts")
        let kindMaxAttempts = try JSONDecoder().decode([String: Int].self, from: Data(kindText.utf8))
        let nowText = now.postgresText

        var data: [UInt8] = []
        data.reserveCapacity(requests.count * 96)
        for (id, request) in zip(ids, requests) {
            Self.append(String(id), to: &data, last: false)
            Self.append(request.kind, to: &data, last: false)
            Self.append(request.args.text, to: &data, last: false)
            Self.append(request.queue, to: &data, last: false)
            Self.append(String(request.priority), to: &data, last: false)
            Self.append(request.runAt.map(\.postgresText) ?? nowText, to: &data, last: false)
            Self.append(String(request.maxAttempts ?? kindMaxAttempts[request.kind] ?? 20), to: &data, last: false)
            Self.append(request.serialKey, to: &data, last: false)
            Self.append(request.limitKey, to: &data, last: true)
        }
        let copied = try await connection.copyIn(
            "COPY ledgersync.jobs (id, kind, args, queue, priority, run_at, max_attempts, serial_key, limit_key) FROM STDIN",
            data: data)
        guard copied == ids.count else { throw PostgresError(.server, "COPY inserted \(copied) of \(ids.count) jobs") }
        return ids
    }

    /// One column of COPY's text format: `\N` for NULL; backslash, tab, newline and carriage
    /// return escaped (JSON text holds backslashes; a key may hold anything but NUL).
    private static func append(_ value: String?, to data: inout [UInt8], last: Bool) {
        if var value {
            value.withUTF8 { bytes in
                // Most values need no escape: copied whole.
                guard bytes.contains(where: { $0 == backslash || $0 == tab || $0 == newline || $0 == carriageReturn }) else {
                    data.append(contentsOf: bytes)
                    return
                }
                for byte in bytes {
                    switch byte {
                    case backslash: data += [backslash, backslash]
                    case tab: data += [backslash, UInt8(ascii: "t")]
                    case newline: data += [backslash, UInt8(ascii: "n")]
                    case carriageReturn: data += [backslash, UInt8(ascii: "r")]
                    default: data.append(byte)
                    }
                }
            }
        } else {
            data += [backslash, UInt8(ascii: "N")]
        }
        data.append(last ? newline : tab)
    }

    private static let backslash = UInt8(ascii: "\\")
    private static let tab = UInt8(ascii: "\t")
    private static let newline = UInt8(ascii: "\n")
    private static let carriageReturn = UInt8(ascii: "\r")
}
