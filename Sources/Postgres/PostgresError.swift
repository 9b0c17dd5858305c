/// An error from the database layer. It always says what went wrong in one line; the
/// server's SQLSTATE is kept so callers can tell a unique violation from a lost connection.
public struct PostgresError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The connection could not be opened (bad URL, server down, authentication).
        case connectionFailed
        /// The connection was lost during a call (server restarted, backend terminated).
        case connectionLost
        /// The server refused the statement; `sqlState` says why.
        case server
        /// A value in a result could not be read as the requested Swift type.
        case decoding
        /// The caller used the API wrongly (e.g. nested transactions).
        case usage
        /// Every connection of a pool stayed busy for longer than its `waitTimeout`.
        case poolExhausted
    }

    public let code: Code
    public let message: String
    /// The SQLSTATE the server sent (`23505` is unique_violation), when there was one.
    public let sqlState: String?

    public init(_ code: Code, _ message: String, sqlState: String? = nil) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
    }

    public var description: String {
        if let sqlState { return "\(message) (SQLSTATE \(sqlState))" }
        return message
    }

    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// True when retrying on a fresh connection may succeed.
    public var isConnectionProblem: Bool {
        code == .connectionLost || code == .connectionFailed
            || sqlState.map { $0.hasPrefix("08") || $0 == "57P01" || $0 == "57P02" || $0 == "57P03" } == true
    }
}
