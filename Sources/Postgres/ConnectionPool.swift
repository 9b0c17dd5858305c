import Logging

/// A fixed-size pool of connections to one database. Callers borrow a connection for the
/// length of a closure; a connection that broke during it (server restart, terminated
/// backend) is dropped and a fresh one is opened on the next borrow, so the pool heals
/// itself after the server comes back.
public final class ConnectionPool: Sendable {
    public let url: String
    public let maxConnections: Int
    /// How long a borrower waits for a free connection before `PostgresError(.poolExhausted)`;
    /// nil waits as long as it takes (a worker's own pool: its slots are sized to it). A server
    /// answering requests sets one, so a flood of slow requests turns into quick refusals
    /// instead of a queue of callers that only grows.
    public let waitTimeout: Duration?
    /// Session settings every connection of this pool gets when it opens (`statement_timeout`
    /// for the API's), applied with `set_config` so a value cannot smuggle in another option.
    public let sessionSettings: [String: String]
    private let state: PoolState
    private let applicationName: String

    public init(
        url: String, maxConnections: Int = 4, applicationName: String = "ledgersync", waitTimeout: Duration? = nil,
        sessionSettings: [String: String] = [:]
    ) {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.url = url
        self.maxConnections = maxConnections
        self.applicationName = applicationName
        self.waitTimeout = waitTimeout
        self.sessionSettings = sessionSettings
        self.state = PoolState(maxConnections: maxConnections)
    }

    /// Lends a connection to `body`, returning it afterwards.
    public func withConnection<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        let connection = try await checkOut()
        do {
            let value = try await body(connection)
            await state.checkIn(connection)
            return value
        } catch {
            await state.checkIn(connection)
            throw error
        }
    }

    /// Runs `body` in a transaction on a borrowed connection.
    public func withTransaction<T: Sendable>(_ body: (Connection) async throws -> T) async throws -> T {
        try await withConnection { connection in try await connection.transaction(body) }
    }

    /// One statement on any free connection.
    @discardableResult
    public func query(_ sql: String, _ binds: [any PostgresEncodable] = [], prepare: Bool = false) async throws -> QueryResult {
        try await withConnection { try await $0.query(sql, binds, prepare: prepare) }
    }

    /// Closes idle connections; borrowed ones close when they come back.
    public func close() async {
        await state.close()
    }

    private func checkOut() async throws -> Connection {
        switch try await state.reserve(waitTimeout: waitTimeout) {
        case .existing(let connection):
            return connection
        case .openNew:
            do {
                let connection = try await Connection.connect(url: url, applicationName: applicationName)
                do {
                    for (name, value) in sessionSettings.sorted(by: { $0.key < $1.key }) {
                        try await connection.query("SELECT set_config($1, $2, false)", [name, value])
                    }
                } catch {
                    connection.close()
                    throw error
                }
                return connection
            } catch {
                await state.release()
                throw error
            }
        }
    }
}

private actor PoolState {
    enum Reservation {
        case existing(Connection)
        case openNew
    }

    /// A borrower waiting for a connection; `timer` resumes it with false at its deadline.
    struct Waiter {
        let id: UInt64
        let continuation: CheckedContinuation<Bool, Never>
        var timer: Task<Void, Never>?
    }

    let maxConnections: Int
    var idle: [Connection] = []
    var open = 0
    var waiters: [Waiter] = []
    var nextWaiterID: UInt64 = 0
    var closed = false

    init(maxConnections: Int) { self.maxConnections = maxConnections }

    func reserve(waitTimeout: Duration?) async throws -> Reservation {
        let deadline = waitTimeout.map { ContinuousClock.now.advanced(by: $0) }
        while true {
            if closed { throw PostgresError(.usage, "the connection pool is closed") }
            while let connection = idle.popLast() {
                if !connection.isBroken { return .existing(connection) }
                open -= 1
            }
            if open < maxConnections {
                open += 1
                return .openNew
            }
            if let deadline, let waitTimeout, ContinuousClock.now >= deadline {
                throw PostgresError(
                    .poolExhausted,
                    "no database connection became free within \(Self.describe(waitTimeout)): all \(maxConnections) of the pool's connections are busy"
                )
            }
            await wait(until: deadline)
        }
    }

    /// Waits for `wakeOne`, or until `deadline` when there is one.
    private func wait(until deadline: ContinuousClock.Instant?) async {
        nextWaiterID += 1
        let id = nextWaiterID
        _ = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            var waiter = Waiter(id: id, continuation: continuation, timer: nil)
            if let deadline {
                waiter.timer = Task { [weak self] in
                    try? await Task.sleep(until: deadline, clock: .continuous)
                    await self?.timeOut(id)
                }
            }
            waiters.append(waiter)
        }
    }

    private func timeOut(_ id: UInt64) {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return }
        waiters.remove(at: index).continuation.resume(returning: false)
    }

    func checkIn(_ connection: Connection) {
        if !connection.isReusable || closed {
            connection.close()
            open -= 1
        } else {
            idle.append(connection)
        }
        wakeOne()
    }

    func release() {
        open -= 1
        wakeOne()
    }

    func close() {
        closed = true
        for connection in idle { connection.close() }
        open -= idle.count
        idle.removeAll()
        let waiting = waiters
        waiters.removeAll()
        for waiter in waiting {
            waiter.timer?.cancel()
            waiter.continuation.resume(returning: true)
        }
    }

    private func wakeOne() {
        guard !waiters.isEmpty else { return }
        let waiter = waiters.removeFirst()
        waiter.timer?.cancel()
        waiter.continuation.resume(returning: true)
    }

    private static func describe(_ duration: Duration) -> String {
        let milliseconds = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
        return milliseconds % 1000 == 0 ? "\(milliseconds / 1000)s" : "\(milliseconds)ms"
    }
}
