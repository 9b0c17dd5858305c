import CLibPQ
import Dispatch
import Foundation
import Logging

/// One libpq connection. libpq calls block, so every call runs on the connection's own
/// serial dispatch queue and never on Swift's cooperative thread pool; an `async` caller
/// is suspended, not blocked, while the server works.
///
/// A connection is used by one caller at a time (the pool makes sure of that); the serial
/// queue also makes concurrent misuse safe, only slower.
public final class Connection: @unchecked Sendable {
    private let queue: DispatchQueue
    // Touched only on `queue`.
    private var handle: OpaquePointer?
    private var preparedNames: [String: String] = [:]
    private var broken = false

    /// The server's process id for this connection (for `pg_terminate_backend` in tests, logs).
    public let backendPID: Int32

    private init(handle: OpaquePointer, queue: DispatchQueue) {
        self.handle = handle
        self.queue = queue
        self.backendPID = PQbackendPID(handle)
    }

    /// Opens a connection from a libpq URI (`postgresql://user@host:port/db?sslmode=…`) or a
    /// `key=value` string. Sessions run in UTC with ISO dates so timestamps parse exactly.
    public static func connect(url: String, applicationName: String = "ledgersync") async throws -> Connection {
        let queue = DispatchQueue(label: "ledgersync.postgres.connection")
        let opened: UnsafeHandle = try await run(on: queue) {
            // libpq reads these in order and expands the URL (the last one) over them, so a
            // setting in the URL wins over these defaults.
            let keys = ["fallback_application_name", "options", "connect_timeout", "dbname"]
            let values = [applicationName, "-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres", "10", url]
            guard
                let handle = withCStrings(
                    keys,
                    { keyPointers in
                        withCStrings(values) { valuePointers in
                            PQconnectdbParams(keyPointers, valuePointers, 1)
                        }
                    })
            else {
                throw PostgresError(.connectionFailed, "could not allocate a libpq connection")
            }
            guard PQstatus(handle) == CONNECTION_OK else {
                let message = oneLine(PQerrorMessage(handle))
                PQfinish(handle)
                throw PostgresError(.connectionFailed, "cannot connect to PostgreSQL: \(message)")
            }
            // NOTICEs ("schema already exists, skipping") are not errors; keep them off stderr.
            PQsetNoticeProcessor(handle, { _, _ in }, nil)
            return UnsafeHandle(pointer: handle)
        }
        return Connection(handle: opened.pointer, queue: queue)
    }

    deinit {
        if let handle { PQfinish(handle) }
    }

    /// True once the connection is known to be unusable; the pool then drops it.
    public var isBroken: Bool { queue.sync { broken || handle == nil || PQstatus(handle) != CONNECTION_OK } }

    /// True when the connection can be lent again: alive and not left inside a transaction.
    public var isReusable: Bool {
        queue.sync {
            guard let handle, !broken, PQstatus(handle) == CONNECTION_OK else { return false }
            return PQtransactionStatus(handle) == PQTRANS_IDLE
        }
    }

    /// Closes the connection. Later calls fail with `connectionLost`.
    public func close() {
        queue.sync {
            if let handle { PQfinish(handle) }
            handle = nil
        }
    }

    /// Runs one parameterised statement and returns its rows. `$1`, `$2`, … in `sql` take
    /// `binds` in order. With `prepare: true` the statement is prepared once per connection
    /// and executed by name afterwards (for the hot path: fetch, complete, heartbeat).
    @discardableResult
    public func query(_ sql: String, _ binds: [any PostgresEncodable] = [], prepare: Bool = false) async throws -> QueryResult {
        let texts = binds.map { $0.postgresText }
        // C strings end at NUL, and PostgreSQL text cannot hold one anyway: refuse rather
        // than silently send a shortened value.
        if let index = texts.firstIndex(where: { $0?.utf8.contains(0) == true }) {
            throw PostgresError(.usage, "parameter $\(index + 1) contains a NUL character, which PostgreSQL text cannot hold")
        }
        return try await Self.run(on: queue) { [self] in
            let handle = try liveHandle()
            let result: OpaquePointer?
            if prepare {
                let name = try preparedName(for: sql, handle: handle)
                result = withOptionalCStrings(texts) { PQexecPrepared(handle, name, Int32(texts.count), $0, nil, nil, 0) }
            } else {
                result = withOptionalCStrings(texts) { PQexecParams(handle, sql, Int32(texts.count), nil, $0, nil, nil, 0) }
            }
            return try consume(result, handle: handle)
        }
    }

    /// Runs `COPY … FROM STDIN` (`sql`) with `data` as its input and returns the rows copied.
    /// `data` is in the format the statement names, which the caller writes; for the text
    /// format: one line per row, columns separated by tabs, `\N` for NULL, and backslash, tab,
    /// newline and carriage return inside a value written `\\`, `\t`, `\n`, `\r`.
    public func copyIn(_ sql: String, data: [UInt8]) async throws -> Int {
        var offset = 0
        // 1 MiB pieces: PQputCopyData takes an Int32 length.
        return try await copyIn(sql) { piece in
            let end = min(offset + (1 << 20), data.count)
            piece += data[offset..<end]
            offset = end
            return offset < data.count
        }
    }

    /// Runs `COPY … FROM STDIN` (`sql`) and returns the rows copied, its input written by
    /// `produce` a piece at a time on the connection's thread: each call appends the next
    /// piece to the buffer it is given (empty at each call) and returns whether more follow.
    /// Each piece is sent before the next is written, so the server inserts the first rows
    /// while the caller is still encoding the last (a piece of some 8 KiB, libpq's own send
    /// threshold, keeps both busy). An error thrown by `produce` ends the COPY with it, and
    /// the server rolls the COPY back.
    public func copyIn(_ sql: String, produce: sending @escaping (inout [UInt8]) throws -> Bool) async throws -> Int {
        let producer = HandedOver(produce)
        return try await Self.run(on: queue) { [self] in
            let produce = producer.value
            let handle = try liveHandle()
            guard let started = PQexec(handle, sql) else { return try consume(nil, handle: handle).affectedRows }
            guard PQresultStatus(started) == PGRES_COPY_IN else { return try consume(started, handle: handle).affectedRows }
            PQclear(started)
            // Blocking connection: each call returns once libpq has queued or sent the bytes.
            var sent = true
            var more = true
            var producerError: (any Error)?
            var piece: [UInt8] = []
            while sent, more {
                piece.removeAll(keepingCapacity: true)
                do { more = try produce(&piece) } catch {
                    producerError = error
                    break
                }
                guard !piece.isEmpty else { continue }
                guard piece.count <= Int(Int32.max) else {
                    producerError = PostgresError(.usage, "a COPY piece of \(piece.count) bytes is past PQputCopyData's Int32 length")
                    break
                }
                sent = piece.withUnsafeBytes { bytes in
                    bytes.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) == 1 }
                }
            }
            // An abandoned COPY is ended with an error message so the server rolls it back.
            let abandoned = !sent ? "ledgersync: COPY data could not be sent" : producerError != nil ? "ledgersync: COPY input failed" : nil
            let ended = PQputCopyEnd(handle, abandoned)
            if ended != 1 { return try consume(nil, handle: handle).affectedRows }
            var copied = 0
            var failure: (any Error)?
            while let result = PQgetResult(handle) {
                do { copied = try consume(result, handle: handle).affectedRows } catch { failure = failure ?? error }
            }
            if let producerError { throw producerError }
            if let failure { throw failure }
            return copied
        }
    }

    /// Runs one or more statements without parameters (migrations, `BEGIN`, `LISTEN`).
    public func execute(_ sql: String) async throws {
        _ = try await Self.run(on: queue) { [self] in
            let handle = try liveHandle()
            return try consume(PQexec(handle, sql), handle: handle)
        }
    }

    /// Runs `body` inside `BEGIN … COMMIT`, rolling back if it throws.
    public func transaction<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        try await execute("BEGIN")
        do {
            let value = try await body(self)
            try await execute("COMMIT")
            return value
        } catch {
            try? await execute("ROLLBACK")
            throw error
        }
    }

    // MARK: - On the connection's queue

    private func liveHandle() throws -> OpaquePointer {
        guard let handle, !broken else { throw PostgresError(.connectionLost, "the connection to PostgreSQL is closed") }
        return handle
    }

    private func preparedName(for sql: String, handle: OpaquePointer) throws -> String {
        if let name = preparedNames[sql] { return name }
        let name = "ledgersync_\(preparedNames.count + 1)"
        _ = try consume(PQprepare(handle, name, sql, 0, nil), handle: handle)
        preparedNames[sql] = name
        return name
    }

    private func consume(_ result: OpaquePointer?, handle: OpaquePointer) throws -> QueryResult {
        guard let result else {
            broken = PQstatus(handle) != CONNECTION_OK
            throw PostgresError(broken ? .connectionLost : .server, "PostgreSQL: \(oneLine(PQerrorMessage(handle)))")
        }
        defer { PQclear(result) }
        let status = PQresultStatus(result)
        switch status {
        case PGRES_COMMAND_OK, PGRES_EMPTY_QUERY:
            return QueryResult(rows: [], affectedRows: Int(String(cString: PQcmdTuples(result))) ?? 0)
        case PGRES_TUPLES_OK:
            let rowCount = Int(PQntuples(result))
            let columnCount = Int(PQnfields(result))
            let columns = (0..<columnCount).map { String(cString: PQfname(result, Int32($0))) }
            var rows: [Row] = []
            rows.reserveCapacity(rowCount)
            for row in 0..<rowCount {
                var values: [String?] = []
                values.reserveCapacity(columnCount)
                for column in 0..<columnCount {
                    if PQgetisnull(result, Int32(row), Int32(column)) == 1 {
                        values.append(nil)
                    } else {
                        values.append(String(cString: PQgetvalue(result, Int32(row), Int32(column))))
                    }
                }
                rows.append(Row(columns: columns, values: values))
            }
            return QueryResult(rows: rows, affectedRows: rowCount)
        default:
            let sqlState = PQresultErrorField(result, Int32(UInt8(ascii: "C"))).map { String(cString: $0) }
            let message = oneLine(PQresultErrorMessage(result))
            broken = PQstatus(handle) != CONNECTION_OK
            let code: PostgresError.Code = broken ? .connectionLost : .server
            throw PostgresError(code, message.isEmpty ? "PostgreSQL: statement failed" : message, sqlState: sqlState)
        }
    }

    static func run<T: Sendable>(on queue: DispatchQueue, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try work() })
            }
        }
    }
}

/// A libpq handle moved between threads; only ever used by one thread at a time.
struct UnsafeHandle: @unchecked Sendable {
    let pointer: OpaquePointer
}

/// A value sent to the connection's thread and used only there (`sending`: the caller
/// keeps no reference to it).
struct HandedOver<Value>: @unchecked Sendable {
    let value: Value
    init(_ value: sending Value) { self.value = value }
}

/// What a statement returned: its rows (empty for commands) and how many rows it touched.
public struct QueryResult: Sendable {
    public let rows: [Row]
    public let affectedRows: Int
}

/// libpq messages end in a newline and sometimes span lines ("ERROR: …\nDETAIL: …");
/// logs and CLI errors want one line.
func oneLine(_ message: UnsafePointer<CChar>?) -> String {
    guard let message else { return "unknown error" }
    return String(cString: message)
        .split(whereSeparator: \.isNewline)
        .map { $0.trimmingCharacters(in: .whitespaces) }
        .filter { !$0.isEmpty }
        .joined(separator: "; ")
}

func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    withOptionalCStrings(strings.map(Optional.some)) { pointer in
        pointer.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: strings.count + 1) { body($0) }
    }
}

/// Calls `body` with a NULL-terminated array of C strings (a nil element stays NULL, which
/// libpq reads as SQL NULL), freeing them afterwards.
func withOptionalCStrings<R>(_ strings: [String?], _ body: (UnsafePointer<UnsafePointer<CChar>?>) -> R) -> R {
    let pointers: [UnsafeMutablePointer<CChar>?] = strings.map { $0.map { strdup($0) } } + [nil]
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { buffer in
        buffer.baseAddress!.withMemoryRebound(to: UnsafePointer<CChar>?.self, capacity: pointers.count) { body($0) }
    }
}
