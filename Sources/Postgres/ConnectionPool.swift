import Logging

/// A fixed-size pool of connections to one database. Callers borrow a connection for the
/// length of a closure; a connection that broke during it (server restart, terminated
/// backend) is dropped and a fresh one is opened on the next borrow, so the pool heals
/// itself after the server comes back.
public final class ConnectionPool: Sendable {
    public let url: String
    public let maxConnections: Int
    private let state: PoolState
    private let applicationName: String

    public init(url: String, maxConnections: Int = 4, applicationName: String = "ledgersync") {
        precondition(maxConnections > 0, "a pool needs at least one connection")
        self.url = url
        self.maxConnections = maxConnections
        self.applicationName = applicationName
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
        switch try await state.reserve() {
        case .existing(let connection):
            return connection
        case .openNew:
            do {
                return try await Connection.connect(url: url, applicationName: applicationName)
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

    let maxConnections: Int
    var idle: [Connection] = []
    var open = 0
    var waiters: [CheckedContinuation<Void, Never>] = []
    var closed = false

    init(maxConnections: Int) { self.maxConnections = maxConnections }

    func reserve() async throws -> Reservation {
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
            await withCheckedContinuation { waiters.append($0) }
        }
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
        idle.forEach { $0.close() }
        open -= idle.count
        idle.removeAll()
        let waiting = waiters
        waiters.removeAll()
        waiting.forEach { $0.resume() }
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
    }
}
