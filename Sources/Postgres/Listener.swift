import CLibPQ
import Foundation
import Logging
import Synchronization

/// LISTEN/NOTIFY on a connection of its own, read by a dedicated thread that waits on the
/// socket (so no Swift task blocks). Events come out of `events`, an AsyncStream.
///
/// After the connection breaks, the listener reconnects with backoff and emits
/// `.reconnected`: notifications sent meanwhile are lost, so a consumer should treat it as
/// "look for work now".
public final class Listener: Sendable {
    public enum Event: Sendable, Equatable {
        /// A `NOTIFY channel, 'payload'` arrived.
        case notification(channel: String, payload: String)
        /// LISTEN is (again) in force after a (re)connection.
        case reconnected
    }

    public let events: AsyncStream<Event>
    private let stopped = StopFlag()

    /// Shared with the reader thread, which must not hold the listener itself: dropping
    /// the last reference to the listener is what stops the thread.
    private final class StopFlag: Sendable {
        let value = Atomic<Bool>(false)
    }

    /// Starts listening on `channels` (plain identifiers). Returns once the first LISTEN
    /// is in force, or throws if the first connection fails.
    public init(url: String, channels: [String], logger: Logger) async throws {
        for channel in channels where !Self.isIdentifier(channel) {
            throw PostgresError(.usage, "not a valid channel name: '\(channel)'")
        }
        let (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
        self.events = events
        let first = UnsafeHandle(pointer: try Self.open(url: url, channels: channels))
        let stopped = self.stopped
        let thread = Thread {
            Self.readLoop(first.pointer, stopped: stopped, url: url, channels: channels, logger: logger, continuation: continuation)
        }
        thread.name = "ledgersync-listener"
        thread.start()
    }

    /// Stops the reader thread and finishes `events`.
    public func stop() {
        stopped.value.store(true, ordering: .relaxed)
    }

    deinit { stopped.value.store(true, ordering: .relaxed) }

    /// `[a-z_][a-z0-9_]*`, at most 63 bytes: a name that means the same quoted or not, so
    /// `NOTIFY name` (which folds to lower case) and `pg_notify('name', …)` both reach us.
    static func isIdentifier(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard let first = bytes.first, bytes.count <= 63, first == 95 || (97...122).contains(first) else { return false }
        return bytes.allSatisfy { $0 == 95 || (97...122).contains($0) || (48...57).contains($0) }
    }

    private static func open(url: String, channels: [String]) throws -> OpaquePointer {
        let keys = ["fallback_application_name", "connect_timeout", "dbname"]
        let values = ["ledgersync-listener", "10", url]
        guard let handle = withCStrings(keys, { k in withCStrings(values) { v in PQconnectdbParams(k, v, 1) } }) else {
            throw PostgresError(.connectionFailed, "could not allocate a libpq connection")
        }
        guard PQstatus(handle) == CONNECTION_OK else {
            let message = oneLine(PQerrorMessage(handle))
            PQfinish(handle)
            throw PostgresError(.connectionFailed, "cannot connect to PostgreSQL: \(message)")
        }
        // The server's FATAL on a terminated backend is handled below, not printed.
        PQsetNoticeProcessor(handle, { _, _ in }, nil)
        let sql = channels.map { "LISTEN \"\($0)\";" }.joined()
        let result = PQexec(handle, sql)
        defer { PQclear(result) }
        guard PQresultStatus(result) == PGRES_COMMAND_OK else {
            let message = oneLine(PQerrorMessage(handle))
            PQfinish(handle)
            throw PostgresError(.connectionFailed, "LISTEN failed: \(message)")
        }
        return handle
    }

    private static func readLoop(
        _ first: OpaquePointer, stopped: StopFlag, url: String, channels: [String], logger: Logger,
        continuation: AsyncStream<Event>.Continuation
    ) {
        var handle: OpaquePointer? = first
        var retryDelay = 0.1
        // A notification read together with the LISTEN reply already sits in libpq's buffer.
        deliver(from: first, to: continuation)
        while !stopped.value.load(ordering: .relaxed) {
            guard let live = handle else {
                Thread.sleep(forTimeInterval: retryDelay)
                do {
                    let reopened = try Self.open(url: url, channels: channels)
                    handle = reopened
                    retryDelay = 0.1
                    logger.info("listener reconnected", metadata: ["channels": "\(channels)"])
                    continuation.yield(.reconnected)
                    deliver(from: reopened, to: continuation)
                } catch {
                    retryDelay = min(retryDelay * 2, 5)
                    logger.warning("listener cannot reconnect yet", metadata: ["error": "\(error)"])
                }
                continue
            }
            // Wait up to 100 ms for the socket so `stop()` is noticed promptly.
            var descriptor = pollfd(fd: PQsocket(live), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0 && errno != EINTR {
                handle = drop(live)
                continue
            }
            if ready > 0 {
                guard PQconsumeInput(live) == 1 else {
                    logger.warning("listener connection lost", metadata: ["error": "\(oneLine(PQerrorMessage(live)))"])
                    handle = drop(live)
                    continue
                }
                deliver(from: live, to: continuation)
            }
            if PQstatus(live) != CONNECTION_OK { handle = drop(live) }
        }
        if let handle { PQfinish(handle) }
        continuation.finish()
    }

    private static func deliver(from handle: OpaquePointer, to continuation: AsyncStream<Event>.Continuation) {
        while let notify = PQnotifies(handle) {
            let channel = String(cString: notify.pointee.relname)
            let payload = String(cString: notify.pointee.extra)
            PQfreemem(notify)
            continuation.yield(.notification(channel: channel, payload: payload))
        }
    }

    private static func drop(_ handle: OpaquePointer) -> OpaquePointer? {
        PQfinish(handle)
        return nil
    }
}
