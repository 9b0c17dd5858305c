/// A request that produced no HTTP response. It always says what went wrong in one line
/// (the method, the URL without its query or user info, and curl's own words) and never
/// contains request headers or bodies, which carry credentials and customer data.
public struct HTTPClientError: Error, CustomStringConvertible, Sendable {
    public enum Code: Sendable, Equatable {
        /// The URL could not be parsed, or its scheme is not `http`/`https`.
        case invalidURL
        /// The method or a header cannot be sent as is (e.g. a header value with a line
        /// break, which would let one header smuggle in others).
        case invalidRequest
        /// No connection could be made: refused, host name not resolved, no route.
        case connectionFailed
        /// The request's `timeout` ran out, while connecting or while waiting for data.
        case timedOut
        /// The connection broke during the exchange: reset, closed before any reply, or
        /// closed before the whole body arrived.
        case connectionDropped
        /// The TLS handshake failed or the server's certificate was not trusted.
        case tls
        /// The address connected to is loopback, private, link-local or unique-local, and
        /// the client does not allow private networks (`NetworkGuard`).
        case addressNotAllowed
        /// The response body exceeded the client's `maxResponseBytes`.
        case responseTooLarge
        /// The calling task was cancelled (or the client shut down) before the response
        /// was complete.
        case cancelled
        /// Anything else curl reported (out of memory, a reply that is not HTTP, …).
        case other
    }

    public let code: Code
    public let message: String
    /// curl's `CURLcode`, when the failure came from curl (for logs and bug reports).
    public let curlCode: Int?

    public init(_ code: Code, _ message: String, curlCode: Int? = nil) {
        self.code = code
        self.message = message
        self.curlCode = curlCode
    }

    public var description: String {
        if let curlCode { return "\(message) (curl \(curlCode))" }
        return message
    }

    /// True when sending the same request again later may succeed: the network or the
    /// server had a bad moment (`connectionFailed`, `timedOut`, `connectionDropped`).
    ///
    /// `tls` is not transient: a certificate that is not trusted, an expired one or a
    /// protocol mismatch stays so until someone changes configuration, and retrying a
    /// failed verification quietly would hide an interception. `cancelled` is the
    /// caller's own decision, `responseTooLarge` and `invalidURL` will fail the same way
    /// again, and `other` is not known to be safe to repeat.
    ///
    /// A transient failure after the request was sent (`timedOut`, `connectionDropped`)
    /// may mean the server did act on it: only repeat requests that are idempotent.
    public var isTransient: Bool {
        switch code {
        case .connectionFailed, .timedOut, .connectionDropped: true
        case .invalidURL, .invalidRequest, .addressNotAllowed, .tls, .responseTooLarge, .cancelled, .other: false
        }
    }
}
