import Foundation
import Synchronization

/// A real `ledgersync` OS process (usually `ledgersync worker …`), for tests that kill,
/// signal and count processes. Its stderr goes to a file the test can read on failure.
///
/// It cannot outlive its test: when the last reference goes away (the test returned or
/// threw), a process still running is killed (SIGKILL) and Foundation reaps it.
public final class LedgersyncProcess: @unchecked Sendable {
    public let process: Process
    public let logURL: URL
    /// Fired by the process's termination handler: waiting for exit is a signal, not a poll.
    private let exited = ExitSignal()

    /// Starts `ledgersync <arguments>` with DATABASE_URL set to `databaseURL`.
    public init(_ arguments: [String], databaseURL: String?, environment: [String: String] = [:]) throws {
        process = Process()
        process.executableURL = try Self.binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env["DATABASE_URL"] = databaseURL
        if databaseURL == nil { env.removeValue(forKey: "DATABASE_URL") }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        logURL = FileManager.default.temporaryDirectory.appendingPathComponent("ledgersync-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        let log = try FileHandle(forWritingTo: logURL)
        process.standardError = log
        process.standardOutput = log
        process.standardInput = FileHandle.nullDevice
        // Captures the signal only: capturing self would keep the process object alive
        // through its own handler, and deinit (the reaper) would never run.
        process.terminationHandler = { [exited] finished in exited.fire(finished.terminationStatus) }
        try process.run()
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    public var pid: Int32 { process.processIdentifier }

    public func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for the process to exit; returns its exit status, or nil after `timeout`.
    /// Always ends: nil also when the calling task is cancelled.
    public func waitForExit(timeout: Duration) async -> Int32? {
        await withTaskGroup(of: Int32?.self) { group in
            group.addTask { [exited] in await exited.wait() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            group.cancelAll()
            return first ?? exited.status
        }
    }

    /// Everything the process wrote so far.
    public var output: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Kills the process if it still runs.
    public func stop() {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    /// Runs `ledgersync <arguments>` to the end; returns its exit status, stdout and stderr.
    public static func run(
        _ arguments: [String], databaseURL: String?, timeout: Duration = .seconds(60)
    ) async throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = try binary()
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        env.removeValue(forKey: "DATABASE_URL")
        if let databaseURL { env["DATABASE_URL"] = databaseURL }
        process.environment = env
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Read both pipes while it runs, so a chatty process cannot fill one and stall.
        async let stdout = Task.detached { out.fileHandleForReading.readDataToEndOfFile() }.value
        async let stderr = Task.detached { err.fileHandleForReading.readDataToEndOfFile() }.value
        let deadline = ContinuousClock.now + timeout
        while process.isRunning {
            if ContinuousClock.now >= deadline {
                kill(process.processIdentifier, SIGKILL)
                break
            }
            do {
                try await Task.sleep(for: .milliseconds(10))
            } catch {
                // Cancelled (the test's time limit, a failing sibling): the child goes too.
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                throw error
            }
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: await stdout, as: UTF8.self), String(decoding: await stderr, as: UTF8.self))
    }

    /// `LEDGERSYNC_BIN`, or the debug build beside the package.
    public static func binary() throws -> URL {
        if let path = ProcessInfo.processInfo.environment["LEDGERSYNC_BIN"], !path.isEmpty {
            return URL(fileURLWithPath: path)
        }
        var directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        while directory.path != "/" {
            let candidate = directory.appendingPathComponent(".build/debug/ledgersync")
            if FileManager.default.isExecutableFile(atPath: candidate.path) { return candidate }
            directory.deleteLastPathComponent()
        }
        throw CocoaError(
            .fileNoSuchFile, userInfo: [NSLocalizedDescriptionKey: "no ledgersync binary: run `swift build` or set LEDGERSYNC_BIN"])
    }
}

/// A process's exit, once: `wait()` returns its status, or nil when the waiting task is
/// cancelled first.
final class ExitSignal: Sendable {
    private struct State {
        var status: Int32?
        var waiters: [UInt64: CheckedContinuation<Int32?, Never>] = [:]
        var cancelled: Set<UInt64> = []
        var nextID: UInt64 = 0
    }
    private let state = Mutex(State())

    var status: Int32? { state.withLock { $0.status } }

    func fire(_ status: Int32) {
        let waiters = state.withLock { state -> [CheckedContinuation<Int32?, Never>] in
            state.status = status
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume(returning: status) }
    }

    func wait() async -> Int32? {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let resumeNow: Int32?? = state.withLock { state in
                    if let status = state.status { return .some(status) }
                    if state.cancelled.remove(id) != nil { return .some(nil) }
                    state.waiters[id] = continuation
                    return .none
                }
                if let value = resumeNow { continuation.resume(returning: value) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<Int32?, Never>? in
                if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
                state.cancelled.insert(id)
                return nil
            }
            waiter?.resume(returning: nil)
        }
    }
}
