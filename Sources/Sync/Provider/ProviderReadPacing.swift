/// How a provider read (`ChangeReading.changes(of:since:page:)`, which gets no `SyncTarget`)
/// paces the requests after the first of one call, the way a write uses
/// `SyncTarget.beforeFurtherRequest`: a job that reads sets it for the call,
///
///     try await ProviderReadPacing.$beforeFurtherRequest.withValue({ try await context.takeRateWindowStart() }) {
///         try await reader.changes(of: .payment, since: cursor, page: nil)
///     }
///
/// and a provider that counts requests per window (Zoho Books) calls it before each request of
/// the call after the first. As with writes, the call's first request is paid by the job's
/// start (or, for a later call of the same job, by the caller spending a start before it).
/// Unset (tests, the CLI): requests are not paced.
public enum ProviderReadPacing {
    @TaskLocal public static var beforeFurtherRequest: @Sendable () async throws -> Void = {}
}
