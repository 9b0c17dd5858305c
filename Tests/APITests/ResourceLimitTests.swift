import API
import Foundation
import JobQueue
import JobQueueTesting
import Postgres
import Testing

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Opens once; everyone waiting goes on.
private actor LimitGate {
    private var isOpen = false
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func open() {
        isOpen = true
        for waiter in waiters { waiter.resume() }
        waiters.removeAll()
    }

    func wait() async {
        if isOpen { return }
        await withCheckedContinuation { waiters.append($0) }
    }
}

/// A plain TCP connection to the server, to see what HTTP clients hide: when the server
/// closes a connection by itself.
private final class RawSocket: @unchecked Sendable {
    let descriptor: Int32

    init(port: Int) throws {
        descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw POSIXError(.EIO) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(descriptor)
            throw POSIXError(.ECONNREFUSED)
        }
        // A generous bound on any one read, so a server that never closes fails the test
        // instead of hanging it; the test asserts the close, not how fast it came.
        var timeout = timeval(tv_sec: 60, tv_usec: 0)
        setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until the server closes the connection (returns what came, and true) or the
    /// 60 s bound passes (false).
    func readUntilClosed() async -> (text: String, closed: Bool) {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                var received: [UInt8] = []
                var buffer = [UInt8](repeating: 0, count: 4096)
                while true {
                    let count = buffer.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, 0) }
                    if count > 0 {
                        received += buffer[0..<count]
                        continue
                    }
                    // 0: the peer closed; -1 with EAGAIN: the bound passed; ECONNRESET counts as closed.
                    let closed = count == 0 || errno == ECONNRESET
                    continuation.resume(returning: (String(decoding: received, as: UTF8.self), closed))
                    return
                }
            }
        }
    }

    /// Sends a head one byte at a time, a byte every 50 ms (slowloris), until the server
    /// closes the connection; true when it did within `bytes` bytes.
    func dribbleUntilClosed(bytes: Int) async -> Bool {
        await withCheckedContinuation { continuation in
            Thread.detachNewThread {
                self.send("GET /healthz HTTP/1.1\r\nX-Slow: ")
                var scratch = [UInt8](repeating: 0, count: 64)
                for _ in 0..<bytes {
                    self.send("a")
                    usleep(50_000)
                    let count = scratch.withUnsafeMutableBytes { recv(self.descriptor, $0.baseAddress, $0.count, Int32(MSG_DONTWAIT)) }
                    if count == 0 || (count < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
                        continuation.resume(returning: true)
                        return
                    }
                }
                continuation.resume(returning: false)
            }
        }
    }

    deinit { close(descriptor) }
}

/// The API's resource limits: a bounded wait for a database connection, statement_timeout
/// on its connections, and an HTTP idle timeout.
@Suite(.timeLimit(.minutes(3)))
struct ResourceLimitTests {
    @Test("every API database connection held: a request gets 503 database_busy, and is served once one is free")
    func poolExhaustionIs503() async throws {
        var limits = APIHarness.Limits()
        limits.poolSize = 2
        limits.poolWaitTimeout = .milliseconds(250)
        try await APIHarness.with(limits: limits) { api in
            let release = LimitGate()
            let held = AsyncStream<Void>.makeStream()
            let holders = (0..<2).map { _ in
                Task {
                    try await api.apiPool.withConnection { _ in
                        held.continuation.yield()
                        await release.wait()
                    }
                }
            }
            var holding = 0
            for await _ in held.stream {
                holding += 1
                if holding == 2 { break }
            }
            let busy = try await api.get("/v1/jobs")
            #expect(busy.status == 503, "\(busy)")
            #expect(
                busy.error["code"] as? String == "database_busy" && (busy.error["message"] as? String)?.contains("busy") == true, "\(busy)")
            #expect(busy.header("Retry-After") != nil)
            await release.open()
            for holder in holders { try await holder.value }
            let served = try await api.get("/v1/jobs")
            #expect(served.status == 200, "\(served)")
        }
    }

    @Test("statement_timeout is in force on the API's connections: SHOW through its pool, and a blocked statement ends in 503")
    func statementTimeout() async throws {
        var limits = APIHarness.Limits()
        limits.statementTimeout = .seconds(2)
        try await APIHarness.with(limits: limits) { api in
            let shown: String = try await api.apiPool.query("SHOW statement_timeout").rows[0].decode("statement_timeout")
            #expect(shown == "2s")
            let testSide: String = try await api.pool.query("SHOW statement_timeout").rows[0].decode("statement_timeout")
            #expect(testSide == "0", "the setting is the API pool's, not the server default")

            // Hold a lock the jobs list needs until the API's statement gives up.
            let release = LimitGate()
            let locked = AsyncStream<Void>.makeStream()
            let locker = Task {
                try await api.pool.withTransaction { connection in
                    try await connection.execute("LOCK TABLE ledgersync.jobs IN ACCESS EXCLUSIVE MODE")
                    locked.continuation.yield()
                    await release.wait()
                }
            }
            for await _ in locked.stream { break }
            let blocked = try await api.get("/v1/jobs")
            await release.open()
            try await locker.value
            #expect(blocked.status == 503 && blocked.error["code"] as? String == "database_timeout", "\(blocked)")
            #expect(try await api.get("/v1/jobs").status == 200)
        }
    }

    @Test("the server closes a connection left idle, and one whose request head never finishes or only dribbles in")
    func idleConnectionsAreClosed() async throws {
        var limits = APIHarness.Limits()
        limits.idleTimeout = .milliseconds(500)
        try await APIHarness.with(limits: limits) { api in
            // A request answered, then silence: the answer comes, then the close.
            let served = try RawSocket(port: api.port)
            served.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            let afterRequest = await served.readUntilClosed()
            #expect(afterRequest.closed, "the idle connection was not closed")
            #expect(afterRequest.text.hasPrefix("HTTP/1.1 200") && afterRequest.text.contains("\"ok\""), "\(afterRequest.text)")

            // Connected and never a byte.
            let silent = try RawSocket(port: api.port)
            let nothing = await silent.readUntilClosed()
            #expect(nothing.closed && nothing.text.isEmpty, "\(nothing)")

            // A head that never ends (slowloris): closed without an answer.
            let trickle = try RawSocket(port: api.port)
            trickle.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            let partial = await trickle.readUntilClosed()
            #expect(partial.closed && partial.text.isEmpty, "\(partial)")

            // A head that keeps arriving, a byte at a time, never resets the timer: the bytes
            // are not a request until the head is whole. (1200 bytes is a minute of dribbling.)
            let dribble = try RawSocket(port: api.port)
            #expect(await dribble.dribbleUntilClosed(bytes: 1200), "a dribbled head kept the connection open")
        }
    }
}
