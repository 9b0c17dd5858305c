import HTTPClient

extension SyncError {
    /// A request that got no HTTP answer at all. Transient when the network or server had a
    /// bad moment (`HTTPClientError.isTransient`), permanent otherwise (bad URL, TLS, …).
    /// The message is the client error's own, which by contract names the method and the
    /// URL without query or user info and never contains headers or bodies.
    /// Shared by every provider module.
    public init(from error: HTTPClientError) {
        self.init(error.isTransient ? .transient : .permanent, error.description)
    }

    /// As `init(from:)`, for a request to a server that goes on processing requests whose
    /// caller went away: when the client gave up waiting (`timedOut`), the server may still
    /// be processing it for up to `serverTimeLimit`, and the error says so
    /// (`providerMayStillRunFor`). A connection the other side closed (`connectionDropped`)
    /// is taken as the server being done with the request: holding a slot for 15 minutes
    /// after every dropped connection would stall a flaky network's account for nothing.
    public init(from error: HTTPClientError, serverTimeLimit: Duration) {
        let mayStillRun = error.code == .timedOut
        self.init(
            error.isTransient ? .transient : .permanent, error.description,
            providerMayStillRunFor: mayStillRun ? serverTimeLimit : nil)
    }
}
