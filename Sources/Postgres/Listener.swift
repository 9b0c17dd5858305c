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
    private let continuation: AsyncStream<Event>.Continuation
    private let stopped = Atomic<Bool>(false)
    private let url: String
    private let channels: [String]
    private let logger: Logger

    /// Starts listening on `channels` (plain identifiers). Returns once the first LISTEN
    /// is in force, or throws if the first connection fails.
    public init(url: String, channels: [String], logger: Logger) async throws {
        for channel in channels where !Self.isIdentifier(channel) {
            throw PostgresError(.usage, "not a valid channel name: '\(channel)'")
        }
        self.url = url
        self.channels = channels
        self.logger = logger
        (events, continuation) = AsyncStream.makeStream(of: Event.self, bufferingPolicy: .bufferingNewest(1024))
        let first = UnsafeHandle(pointer: try Self.open(url: url, channels: channels))
        let thread = Thread { [self] in self.readLoop(first.pointer) }
        thread.name = "ledgersync-listener"
        thread.start()
    }

    /// Stops the reader thread and finishes `events`.
    public func stop() {
        stopped.store(true, ordering: .relaxed)
    }

    deinit { stopped.store(true, ordering: .relaxed) }

    static func isIdentifier(_ name: String) -> Bool {
        guard let first = name.unicodeScalars.first, first == "_" || first.properties.isAlphabetic else { return false }
        return name.unicodeScalars.allSatisfy { $0 == "_" || $0.properties.isAlphabetic || ("0"..."9").contains($0) }
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

    private func readLoop(_ first: OpaquePointer) {
        var handle: OpaquePointer? = first
        var retryDelay = 0.1
        while !stopped.load(ordering: .relaxed) {
            guard let live = handle else {
                Thread.sleep(forTimeInterval: retryDelay)
                do {
                    handle = try Self.open(url: url, channels: channels)
                    retryDelay = 0.1
                    logger.info("listener reconnected", metadata: ["channels": "\(channels)"])
                    continuation.yield(.reconnected)
                } catch {
                    retryDelay = min(retryDelay * 2, 5)
                    logger.warning("listener cannot reconnect yet", metadata: ["error": "\(error)"])
                }
                continue
            }
            // Wait up to 100 ms for the socket so `stop()` is noticed promptly.
            var descriptor = pollfd(fd: PQsocket(live), events: Int16(POLLIN), revents: 0)
            let ready = poll(&descriptor, 1, 100)
            if ready < 0 && errno != EINTR { handle = drop(live) ; continue }
            if ready > 0 {
                guard PQconsumeInput(live) == 1 else {
                    logger.warning("listener connection lost", metadata: ["error": "\(oneLine(PQerrorMessage(live)))"])
                    handle = drop(live)
                    continue
                }
                while let notify = PQnotifies(live) {
                    let channel = String(cString: notify.pointee.relname)
                    let payload = String(cString: notify.pointee.extra)
                    PQfreemem(notify)
                    continuation.yield(.notification(channel: channel, payload: payload))
                }
            }
            if PQstatus(live) != CONNECTION_OK { handle = drop(live) }
        }
        if let handle { PQfinish(handle) }
        continuation.finish()
    }

    private func drop(_ handle: OpaquePointer) -> OpaquePointer? {
        PQfinish(handle)
        return nil
    }
}
