import Foundation

/// One outgoing HTTP request. A plain value so callers (provider clients, webhook
/// delivery) can build, sign and log it before it is sent.
public struct HTTPRequest: Sendable {
    /// The method, sent as is (`GET`, `POST`, `PUT`, `PATCH`, `DELETE`, …).
    public var method: String
    /// An absolute `http` or `https` URL. Other schemes are refused so a URL taken from
    /// configuration can never make the worker read `file://` or speak another protocol.
    public var url: String
    /// Headers in order; a list, not a dictionary, because order and repeated names
    /// matter to some signatures. They often carry credentials, so no error or log
    /// message of this module ever contains them.
    public var headers: [(name: String, value: String)]
    /// The body, sent with a `Content-Length`. `nil` sends none (`POST`, `PUT` and
    /// `PATCH` then send an empty body with `Content-Length: 0`).
    public var body: Data?
    /// The budget of the whole exchange, connecting included: a provider that hangs must
    /// not hold a worker slot (and the job's lease) for ever.
    public var timeout: Duration

    public init(
        method: String,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: Data? = nil,
        timeout: Duration = .seconds(30)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A complete HTTP response. Every status is a response, 4xx and 5xx included: what a
/// status means (retry, rate limit, permanent refusal) is the provider's business, not
/// the transport's.
public struct HTTPResponse: Sendable {
    public let status: Int
    /// The headers of the final response, in the order received (interim `100 Continue`
    /// responses are dropped).
    public let headers: [(name: String, value: String)]
    public let body: Data

    public init(status: Int, headers: [(name: String, value: String)], body: Data) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header called `name`, compared case-insensitively as HTTP requires
    /// (`Location`, `location` and `LOCATION` are one header).
    public func header(_ name: String) -> String? {
        let wanted = name.lowercased()
        return headers.first { $0.name.lowercased() == wanted }?.value
    }
}
