import CCurl
import Foundation
import Logging
import Synchronization

/// Sends HTTP requests over libcurl. One client is meant to live as long as the process
/// and be shared by every task: it keeps idle curl handles, and with them open
/// connections, so the next request to the same host skips the TCP and TLS handshakes.
///
/// curl blocks, so every transfer runs on a dedicated thread (see `TransferThreads`) and
/// never on Swift's cooperative pool; the calling task is suspended, not blocked.
/// Cancelling the calling task aborts its transfer at once.
///
/// It refuses to connect to loopback, private, link-local and unique-local addresses
/// (`NetworkGuard`) unless made with `allowPrivateNetworks`: it checks the address each
/// connection is actually opened to, so DNS rebinding does not pass.
///
/// What it deliberately does not do: follow redirects (a provider API that redirects is
/// misconfigured, following would resend signed credentials to another URL, and a redirect
/// could point into the private network), retry
/// (the job queue owns retries and their backoff), or decompress bodies.
public final class HTTPClient: Sendable {
    /// Requests beyond this many at once wait for a free thread, in order.
    public let maxConcurrentRequests: Int
    /// A response body larger than this fails with `responseTooLarge` instead of growing
    /// the worker's memory without bound.
    public let maxResponseBytes: Int
    /// Whether requests may go to loopback, private and link-local addresses.
    public let allowPrivateNetworks: Bool
    /// `CURLOPT_RESOLVE` entries (`host:port:address`), pinning names to addresses.
    private let resolve: [String]
    private let logger: Logger
    private let threads: TransferThreads

    /// How many idle handles (and so, roughly, kept-alive connections) are kept.
    private static let maxIdleHandles = 16

    private struct State {
        var idle: [CurlHandle] = []
        var running: [ObjectIdentifier: Transfer] = [:]
        var closed = false
    }
    private let state = Mutex(State())

    /// - Parameters:
    ///   - maxResponseBytes: the largest response body accepted (10 MiB by default: far
    ///     above any accounting API response, far below a memory problem).
    ///   - maxConcurrentRequests: the number of transfer threads, at most.
    ///   - allowPrivateNetworks: whether requests may reach loopback, private, link-local
    ///     and unique-local addresses; by default, what `LEDGERSYNC_ALLOW_PRIVATE_NETWORK`
    ///     says (refused when it is not set).
    ///   - resolve: `host:port:address` entries that pin a name to an address, as
    ///     `curl --resolve` does (tests use it to make a name resolve where they want).
    ///   - logger: where each request is logged at debug level (method, URL without its
    ///     query, status, duration; never headers or bodies).
    public init(
        maxResponseBytes: Int = 10 * 1024 * 1024,
        maxConcurrentRequests: Int = 64,
        allowPrivateNetworks: Bool = NetworkGuard.privateNetworksAllowed(),
        resolve: [String] = [],
        logger: Logger = Logger(label: "ledgersync.http")
    ) {
        ensureCurlInitialised()
        self.maxResponseBytes = maxResponseBytes
        self.allowPrivateNetworks = allowPrivateNetworks
        self.resolve = resolve
        self.maxConcurrentRequests = maxConcurrentRequests
        self.logger = logger
        self.threads = TransferThreads(maxThreads: maxConcurrentRequests)
    }

    deinit {
        shutdown()
    }

    /// Sends `request` and returns the response, whatever its status. Throws
    /// `HTTPClientError` when there is no complete response (see `HTTPClientError.Code`).
    public func execute(_ request: HTTPRequest) async throws -> HTTPResponse {
        try Self.validate(request)
        let transfer = Transfer(maxResponseBytes: maxResponseBytes, refusesPrivateNetworks: !allowPrivateNetworks)
        let registered = state.withLock { state -> Bool in
            guard !state.closed else { return false }
            state.running[ObjectIdentifier(transfer)] = transfer
            return true
        }
        guard registered else { throw Self.shutDownError(request) }
        defer { _ = state.withLock { $0.running.removeValue(forKey: ObjectIdentifier(transfer)) } }

        let started = ContinuousClock.now
        do {
            let response = try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                    let submitted = threads.submit { [self] in
                        continuation.resume(with: Result { try perform(request, transfer) })
                    }
                    if !submitted { continuation.resume(throwing: Self.shutDownError(request)) }
                }
            } onCancel: {
                transfer.cancel()
            }
            logger.debug(
                "HTTP request done",
                metadata: [
                    "http.method": "\(request.method)", "http.url": "\(redactedURL(request.url))",
                    "http.status": "\(response.status)", "http.duration_ms": "\(milliseconds(ContinuousClock.now - started))",
                ])
            return response
        } catch {
            logger.debug(
                "HTTP request failed",
                metadata: [
                    "http.method": "\(request.method)", "http.url": "\(redactedURL(request.url))",
                    "error": "\(error)", "http.duration_ms": "\(milliseconds(ContinuousClock.now - started))",
                ])
            throw error
        }
    }

    /// Refuses new requests, aborts running ones (they fail with `cancelled`) and frees idle
    /// handles and their connections. Idempotent; also done when the client is released.
    public func shutdown() {
        let (running, idle) = state.withLock { state -> ([Transfer], [CurlHandle]) in
            state.closed = true
            let result = (Array(state.running.values), state.idle)
            state.idle = []
            return result
        }
        for transfer in running { transfer.cancel() }
        _ = idle // released here, outside the lock
        threads.close()
    }

    // MARK: - On a transfer thread

    private func perform(_ request: HTTPRequest, _ transfer: Transfer) throws -> HTTPResponse {
        if transfer.isCancelled { throw cancelledError(request) }
        guard let handle = checkOut() else {
            if state.withLock({ $0.closed }) { throw Self.shutDownError(request) }
            throw HTTPClientError(.other, "HTTP \(request.method) \(redactedURL(request.url)): could not create a curl handle")
        }
        defer { checkIn(handle) }

        var headerList: UnsafeMutablePointer<curl_slist>?
        defer { curl_slist_free_all(headerList) }
        var resolveList: UnsafeMutablePointer<curl_slist>?
        for entry in resolve { resolveList = curl_slist_append(resolveList, entry) }
        defer { curl_slist_free_all(resolveList) }
        let unmanaged = Unmanaged.passUnretained(transfer)
        let configured = withExtendedLifetime(transfer) {
            configure(handle.easy, request, userdata: unmanaged.toOpaque(), errorBuffer: transfer.errorBuffer, headerList: &headerList)
        }
        if configured == CURLE_OK, let resolveList {
            let code = setopt(handle.easy, CURLOPT_RESOLVE, UnsafeRawPointer(resolveList))
            if code != CURLE_OK { throw error(for: code, request, transfer) }
        }
        if configured != CURLE_OK { throw error(for: configured, request, transfer) }

        let code = try withExtendedLifetime(transfer) { try transfer.run(on: handle).get() }
        guard code == CURLE_OK else { throw error(for: code, request, transfer) }
        return HTTPResponse(status: responseCode(handle.easy), headers: transfer.headers, body: transfer.body)
    }

    /// Sets every option of one request on a freshly reset handle; returns the first failure.
    private func configure(
        _ easy: UnsafeMutableRawPointer, _ request: HTTPRequest, userdata: UnsafeMutableRawPointer,
        errorBuffer: UnsafeMutablePointer<CChar>, headerList: inout UnsafeMutablePointer<curl_slist>?
    ) -> CURLcode {
        let timeout = max(1, milliseconds(request.timeout))
        // A host that has not completed the TCP handshake in 10 s is down; failing early
        // leaves the rest of a long budget to the queue's retry.
        let connectTimeout = min(timeout, 10_000)

        if !request.headers.contains(where: { $0.name.lowercased() == "expect" }) {
            // curl would otherwise send `Expect: 100-continue` for larger bodies and wait up
            // to a second for a `100` that many servers never send.
            headerList = curl_slist_append(headerList, "Expect:")
        }
        for header in request.headers {
            // "Name:" would tell curl to remove the header; "Name;" sends it empty.
            let line = header.value.isEmpty ? "\(header.name);" : "\(header.name): \(header.value)"
            headerList = curl_slist_append(headerList, line)
        }

        var options: [(CURLoption, () -> CURLcode)] = [
            (CURLOPT_NOSIGNAL, { setopt(easy, CURLOPT_NOSIGNAL, 1) }), // signals and threads do not mix
            (CURLOPT_ERRORBUFFER, { setopt(easy, CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorBuffer)) }),
            (CURLOPT_URL, { setopt(easy, CURLOPT_URL, request.url) }),
            (CURLOPT_PROTOCOLS_STR, { setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https") }),
            (CURLOPT_FOLLOWLOCATION, { setopt(easy, CURLOPT_FOLLOWLOCATION, 0) }),
            (CURLOPT_HTTP_VERSION, { setopt(easy, CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_1_1)) }),
            (CURLOPT_SSL_VERIFYPEER, { setopt(easy, CURLOPT_SSL_VERIFYPEER, 1) }),
            (CURLOPT_SSL_VERIFYHOST, { setopt(easy, CURLOPT_SSL_VERIFYHOST, 2) }),
            (CURLOPT_TIMEOUT_MS, { setopt(easy, CURLOPT_TIMEOUT_MS, timeout) }),
            (CURLOPT_CONNECTTIMEOUT_MS, { setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, connectTimeout) }),
            (CURLOPT_TCP_KEEPALIVE, { setopt(easy, CURLOPT_TCP_KEEPALIVE, 1) }),
            (CURLOPT_USERAGENT, { setopt(easy, CURLOPT_USERAGENT, "ledgersync") }),
            (CURLOPT_MAXFILESIZE_LARGE, { setopt(easy, CURLOPT_MAXFILESIZE_LARGE, self.maxResponseBytes) }),
            (CURLOPT_WRITEFUNCTION, { setopt(easy, CURLOPT_WRITEFUNCTION, unsafeBitCast(writeCallback, to: UnsafeRawPointer.self)) }),
            (CURLOPT_WRITEDATA, { setopt(easy, CURLOPT_WRITEDATA, UnsafeRawPointer(userdata)) }),
            (CURLOPT_HEADERFUNCTION, { setopt(easy, CURLOPT_HEADERFUNCTION, unsafeBitCast(headerCallback, to: UnsafeRawPointer.self)) }),
            (CURLOPT_HEADERDATA, { setopt(easy, CURLOPT_HEADERDATA, UnsafeRawPointer(userdata)) }),
            (
                CURLOPT_XFERINFOFUNCTION,
                { setopt(easy, CURLOPT_XFERINFOFUNCTION, unsafeBitCast(progressCallback, to: UnsafeRawPointer.self)) }
            ),
            (CURLOPT_XFERINFODATA, { setopt(easy, CURLOPT_XFERINFODATA, UnsafeRawPointer(userdata)) }),
            (CURLOPT_NOPROGRESS, { setopt(easy, CURLOPT_NOPROGRESS, 0) }),
            // Every new connection's address passes the private-network guard (the
            // callback reads the transfer's `refusesPrivateNetworks`).
            (
                CURLOPT_OPENSOCKETFUNCTION,
                { setopt(easy, CURLOPT_OPENSOCKETFUNCTION, unsafeBitCast(openSocketCallback, to: UnsafeRawPointer.self)) }
            ),
            (CURLOPT_OPENSOCKETDATA, { setopt(easy, CURLOPT_OPENSOCKETDATA, UnsafeRawPointer(userdata)) }),
        ]
        let list = headerList
        options.append((CURLOPT_HTTPHEADER, { setopt(easy, CURLOPT_HTTPHEADER, UnsafeRawPointer(list)) }))

        let method = request.method
        if let body = request.body ?? (["POST", "PUT", "PATCH"].contains(method) ? Data() : nil) {
            // The body goes through a read callback, not POSTFIELDS, and there is no seek
            // callback: curl then cannot rewind it. curl silently resends a request whose
            // reused connection closed before any answer; a resent signed request carries
            // the same OAuth nonce, which NetSuite refuses as a replay (401) even though the
            // first one may have been applied. Without a rewind curl fails the transfer
            // instead (CURLE_SEND_FAIL_REWIND → connectionDropped), and the job queue's
            // retry signs afresh.
            transferUpload(userdata).upload = body
            options.append((CURLOPT_POST, { setopt(easy, CURLOPT_POST, 1) }))
            options.append((CURLOPT_POSTFIELDSIZE_LARGE, { setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, body.count) }))
            options.append(
                (CURLOPT_READFUNCTION, { setopt(easy, CURLOPT_READFUNCTION, unsafeBitCast(readCallback, to: UnsafeRawPointer.self)) }))
            options.append((CURLOPT_READDATA, { setopt(easy, CURLOPT_READDATA, UnsafeRawPointer(userdata)) }))
            if method != "POST" { options.append((CURLOPT_CUSTOMREQUEST, { setopt(easy, CURLOPT_CUSTOMREQUEST, method) })) }
        } else if method == "GET" {
            options.append((CURLOPT_HTTPGET, { setopt(easy, CURLOPT_HTTPGET, 1) }))
        } else if method == "HEAD" {
            options.append((CURLOPT_NOBODY, { setopt(easy, CURLOPT_NOBODY, 1) }))
        } else {
            options.append((CURLOPT_CUSTOMREQUEST, { setopt(easy, CURLOPT_CUSTOMREQUEST, method) }))
        }

        for (_, apply) in options {
            let code = apply()
            if code != CURLE_OK { return code }
        }
        return CURLE_OK
    }

    // MARK: - Handle pool

    /// An idle handle (the most recently used, whose connection is most likely still
    /// open), or a new one. `curl_easy_reset` clears the previous request's options but
    /// keeps the handle's connections and DNS and TLS session caches.
    private func checkOut() -> CurlHandle? {
        let reused = state.withLock { state -> CurlHandle? in
            guard !state.closed else { return nil }
            return state.idle.popLast()
        }
        if let reused {
            curl_easy_reset(reused.easy)
            return reused
        }
        if state.withLock({ $0.closed }) { return nil }
        return CurlHandle()
    }

    private func checkIn(_ handle: CurlHandle) {
        // Released outside the lock when not kept: freeing closes connections.
        let dropped: CurlHandle? = state.withLock { state in
            guard !state.closed, state.idle.count < Self.maxIdleHandles else { return handle }
            state.idle.append(handle)
            return nil
        }
        _ = dropped
    }

    // MARK: - Errors

    private static func validate(_ request: HTTPRequest) throws {
        let method = request.method
        guard !method.isEmpty, method.utf8.allSatisfy(isTokenByte) else {
            throw HTTPClientError(.invalidRequest, "HTTP request to \(redactedURL(request.url)): the method is not a valid HTTP token")
        }
        for header in request.headers {
            guard !header.name.isEmpty, header.name.utf8.allSatisfy(isTokenByte) else {
                throw HTTPClientError(
                    .invalidRequest, "HTTP \(method) \(redactedURL(request.url)): a header name is not a valid HTTP token")
            }
            // Name only: the value may be a credential.
            guard !header.value.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) else {
                throw HTTPClientError(
                    .invalidRequest, "HTTP \(method) \(redactedURL(request.url)): header \(header.name) contains a line break or NUL")
            }
        }
        guard !request.url.isEmpty, !request.url.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) else {
            throw HTTPClientError(
                .invalidURL, "HTTP \(method) \(redactedURL(request.url)): the URL is empty or contains spaces or control characters")
        }
    }

    private static func shutDownError(_ request: HTTPRequest) -> HTTPClientError {
        HTTPClientError(.cancelled, "HTTP \(request.method) \(redactedURL(request.url)): the HTTP client is shut down")
    }

    private func cancelledError(_ request: HTTPRequest) -> HTTPClientError {
        if state.withLock({ $0.closed }) { return Self.shutDownError(request) }
        return HTTPClientError(.cancelled, "HTTP \(request.method) \(redactedURL(request.url)): cancelled")
    }

    private func error(for code: CURLcode, _ request: HTTPRequest, _ transfer: Transfer) -> HTTPClientError {
        let prefix = "HTTP \(request.method) \(redactedURL(request.url))"
        let detail = transfer.errorBuffer.pointee != 0 ? String(cString: transfer.errorBuffer) : String(cString: curl_easy_strerror(code))
        let curlText = detail.split(whereSeparator: \.isNewline).joined(separator: "; ")
        let curlCode = Int(code.rawValue)

        if transfer.tooLarge || code == CURLE_FILESIZE_EXCEEDED {
            return HTTPClientError(.responseTooLarge, "\(prefix): the response body exceeds \(maxResponseBytes) bytes", curlCode: curlCode)
        }
        if code == CURLE_ABORTED_BY_CALLBACK, transfer.isCancelled { return cancelledError(request) }
        if let refusal = transfer.refusal {
            return HTTPClientError(.addressNotAllowed, "\(prefix): \(NetworkGuard.explain(refusal))", curlCode: curlCode)
        }

        let kind: HTTPClientError.Code
        switch code {
        case CURLE_URL_MALFORMAT, CURLE_UNSUPPORTED_PROTOCOL:
            kind = .invalidURL
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY, CURLE_COULDNT_CONNECT:
            kind = .connectionFailed
        case CURLE_OPERATION_TIMEDOUT:
            kind = .timedOut
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE:
            kind = .connectionDropped
        case CURLE_SEND_FAIL_REWIND:
            // A kept-alive connection closed before any answer and curl wanted to resend
            // (see `configure`): the server may or may not have acted on the request.
            return HTTPClientError(
                .connectionDropped, "\(prefix): the connection closed before any answer (the request was not resent)",
                curlCode: curlCode)
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER,
            CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
            CURLE_SSL_SHUTDOWN_FAILED, CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_PINNEDPUBKEYNOTMATCH,
            CURLE_SSL_INVALIDCERTSTATUS, CURLE_USE_SSL_FAILED:
            kind = .tls
        default:
            kind = .other
        }
        return HTTPClientError(kind, "\(prefix): \(curlText)", curlCode: curlCode)
    }
}

/// RFC 9110 `tchar`: the bytes allowed in a method or header name.
private func isTokenByte(_ byte: UInt8) -> Bool {
    switch byte {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        true
    default:
        "!#$%&'*+-.^_`|~".utf8.contains(byte)
    }
}

/// The URL as logs and errors may show it: without user info and without query or
/// fragment, where API keys and signatures sometimes travel. Long URLs are cut.
func redactedURL(_ url: String) -> String {
    var rest = Substring(url)
    if let end = rest.firstIndex(where: { $0 == "?" || $0 == "#" }) { rest = rest[..<end] }
    if let schemeEnd = rest.range(of: "://") {
        let authorityStart = schemeEnd.upperBound
        let authorityEnd = rest[authorityStart...].firstIndex(of: "/") ?? rest.endIndex
        if let at = rest[authorityStart..<authorityEnd].lastIndex(of: "@") {
            rest = rest[..<authorityStart] + rest[rest.index(after: at)...]
        }
    }
    let printable = String(rest.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "?" : Character($0) })
    return printable.count > 200 ? String(printable.prefix(200)) + "…" : printable
}

func milliseconds(_ duration: Duration) -> Int {
    let (seconds, attoseconds) = duration.components
    return Int(seconds) * 1000 + Int((attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000)
}
