import Foundation

/// A small pool of dedicated threads for blocking curl work. A transfer waits on the network
/// for up to its whole timeout; doing that on Swift's cooperative pool (one thread per core)
/// would stall every other task of the process, and a global dispatch queue grows threads
/// slowly under blocking work. Threads start on demand up to `maxThreads` and end after
/// `idleLifetime` without work, so an idle worker holds none.
final class TransferThreads: @unchecked Sendable {
    private let condition = NSCondition()
    // Guarded by `condition`.
    private var pending: [@Sendable () -> Void] = []
    private var threadCount = 0
    private var idleCount = 0
    private var closed = false

    private let maxThreads: Int
    private let idleLifetime: TimeInterval

    init(maxThreads: Int, idleLifetime: TimeInterval = 30) {
        self.maxThreads = max(1, maxThreads)
        self.idleLifetime = idleLifetime
    }

    /// Queues `job` to run on one of the threads. Returns false once the pool is closed.
    /// Jobs beyond `maxThreads` wait their turn in order.
    func submit(_ job: @escaping @Sendable () -> Void) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        pending.append(job)
        if pending.count > idleCount, threadCount < maxThreads {
            threadCount += 1
            let thread = Thread { [self] in loop() }
            thread.name = "ledgersync.http"
            thread.start()
        } else {
            condition.signal()
        }
        return true
    }

    /// Refuses new jobs; queued ones still run (they see the client shut down and fail at
    /// once, so every caller gets an answer), then the threads end.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func loop() {
        condition.lock()
        while true {
            if !pending.isEmpty {
                let job = pending.removeFirst()
                condition.unlock()
                job()
                condition.lock()
                continue
            }
            if closed { break }
            idleCount += 1
            let signalled = condition.wait(until: Date(timeIntervalSinceNow: idleLifetime))
            idleCount -= 1
            if !signalled, pending.isEmpty { break }
        }
        threadCount -= 1
        condition.unlock()
    }
}
