import Hummingbird
import Logging

/// The context of one API request: who it is (the token, once authenticated) and the body
/// limit.
public struct APIRequestContext: RequestContext {
    /// Largest request body accepted: a batch of a thousand invoices fits; anything larger is
    /// refused with 413 before it is read into memory.
    public static let bodyLimit = 1 << 20

    public var coreContext: CoreRequestContextStorage
    /// The token that authenticated this request, set by `BearerAuthMiddleware`.
    public var token: AuthenticatedToken?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
    }

    public var maxUploadSize: Int { Self.bodyLimit }
}
