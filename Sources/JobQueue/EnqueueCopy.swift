import ExactJSON
import Foundation
import Postgres

/// `JobQueue.enqueueMany`'s fast path: a batch sent with `COPY … FROM STDIN` instead of
/// enqueue_batch.sql's `INSERT … SELECT FROM unnest(…)`. COPY writes the rows with the heap's
/// multi-insert (a WAL record per page of rows rather than per row) and without an executor
/// row per job: on this project's bench machine the server spends ~6.5 ms on a batch of 1,000
/// (the ids and the COPY) against ~10.5 ms for the INSERT (docs/performance.md, "Bulk enqueue
/// by COPY"). The rows go in COPY's binary format, streamed as they are written (a further
/// ~8% on a bulk enqueue: docs/performance.md, "Binary COPY, streamed").
///
/// It is taken only for a batch the INSERT would insert whole, with the same rows: no unique
/// keys (COPY has no ON CONFLICT), and every job already valid by the rules the INSERT checks
/// on the server (its args a JSON object within `ArgsBounds`, the same bounds as migration
/// 007's; priority 0–9; max_attempts from 1 to the column's integer range; no NUL; a run_at
/// with a 64-bit microsecond count). Any other batch goes through the INSERT, which names
/// what is wrong as before. What the INSERT fills in on the server comes
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
            // A run_at binary COPY can carry (CopyBinaryWriter.microseconds); the server
            // checks its own range for both paths.
            if let runAt = request.runAt, CopyBinaryWriter.microseconds(runAt) == nil { return nil }
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
        let now: Int64 = try reserved.decode("now_microseconds")
        let kindText: String = try reserved.decode("kind_max_attempts")
        let kindMaxAttempts = try JSONDecoder().decode([String: Int].self, from: Data(kindText.utf8))

        // Binary COPY (CopyBinaryWriter: no text parsing of ids, numbers and timestamps on
        // the server), sent a piece at a time so the server inserts the first rows while the
        // last are still being written here.
        var rows = zip(ids, requests).makeIterator()
        var row = rows.next()
        var writer = CopyBinaryWriter()
        writer.header()
        let copied = try await connection.copyIn(
            "COPY ledgersync.jobs (id, kind, args, queue, priority, run_at, max_attempts, serial_key, limit_key) FROM STDIN WITH (FORMAT binary)"
        ) { piece in
            while let (id, request) = row, writer.bytes.count < Self.pieceBytes {
                writer.row(fields: 9)
                writer.int8(id)
                writer.text(request.kind)
                writer.jsonb(request.args.text)
                writer.text(request.queue)
                writer.int2(Int16(request.priority))
                // init? took only run_at values with a microsecond count.
                writer.timestamptz(microseconds: request.runAt.flatMap(CopyBinaryWriter.microseconds) ?? now)
                let maxAttempts = request.maxAttempts ?? kindMaxAttempts[request.kind] ?? 20
                guard let maxAttempts = Int32(exactly: maxAttempts) else {
                    throw PostgresError(.server, "job_kinds gave \(request.kind) a max_attempts of \(maxAttempts), past integer")
                }
                writer.int4(maxAttempts)
                writer.text(request.serialKey)
                writer.text(request.limitKey)
                row = rows.next()
            }
            if row == nil { writer.trailer() }
            writer.take(into: &piece)
            return row != nil
        }
        guard copied == ids.count else { throw PostgresError(.server, "COPY inserted \(copied) of \(ids.count) jobs") }
        return ids
    }

    /// About libpq's own send threshold (8 KiB): each piece leaves for the server as it is written.
    private static let pieceBytes = 8_192
}
