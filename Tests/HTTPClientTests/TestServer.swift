import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// The Python test server (`test_server.py`, next to this file), one per test: started on a
/// free 127.0.0.1 port, stopped when the test's suite instance goes away. It also exits by
/// itself when this process does.
final class TestServer {
    private let process: Process
    private let directory: URL

    var baseURL: String { "http://127.0.0.1:\(port)" }

    /// Starts the server. Waits (suspended, never blocking a cooperative thread) at most
    /// 10 s for it to listen.
    static func start() async throws -> TestServer {
        let server = try TestServer()
        do {
            try await server.waitUntilAccepting()
            return server
        } catch {
            Self.stop(server.process)
            throw error
        }
    }

    private var portFile: URL { directory.appendingPathComponent("port") }
    private(set) var port = 0

    private init() throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("test_server.py")
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("ledgersync-http-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)

        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script.path, directory.appendingPathComponent("port").path, String(getpid())]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
    }

    private func waitUntilAccepting() async throws {
        // The server writes its port once it is listening.
        let deadline = ContinuousClock.now + .seconds(10)
        while true {
            if let port = (try? String(contentsOf: portFile, encoding: .utf8)).flatMap({ Int($0) }) {
                self.port = port
                break
            }
            guard process.isRunning else { throw TestServerError("the test server exited at start") }
            guard ContinuousClock.now < deadline else { throw TestServerError("the test server did not start within 10 s") }
            try await Task.sleep(for: .milliseconds(20))
        }
        // Belt and braces: it must accept a TCP connection before a test uses it.
        while !Self.accepts(port: port) {
            guard ContinuousClock.now < deadline else {
                throw TestServerError("the test server does not accept connections on port \(port)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    deinit {
        Self.stop(process)
        try? FileManager.default.removeItem(at: directory)
    }

    /// SIGKILL: nothing to flush, and no waiting on a cooperative thread. Foundation reaps it.
    private static func stop(_ process: Process) {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
    }

    static func accepts(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = loopback(port: port)
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A 127.0.0.1 port that nothing listens on (bound, then released).
    static func unusedPort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestServerError("socket() failed") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestServerError("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    private static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        return address
    }
}

struct TestServerError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
