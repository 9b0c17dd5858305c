import CCurl
import Foundation
import Synchronization

// MARK: - Calling curl

/// Runs `curl_global_init` exactly once, before the first handle exists (a Swift global
/// is initialised once, thread-safely).
private let curlInitialised: Void = {
    let code = curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    precondition(code == CURLE_OK, "curl_global_init failed: \(String(cString: curl_easy_strerror(code)))")
}()

func ensureCurlInitialised() {
    _ = curlInitialised
}

/// `curl_easy_setopt` with an object or function pointer, through the typed wrappers in
/// CCurl's shim.h (the variadic C function cannot be called from Swift).
func setopt(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: UnsafeRawPointer?) -> CURLcode {
    ls_curl_setopt_pointer(easy, option, value)
}

/// `curl_easy_setopt` with a number: a `curl_off_t` for the `…_LARGE` options (curl's
/// option numbers from CURLOPTTYPE_OFF_T up), a `long` for the others.
func setopt(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: Int) -> CURLcode {
    let offTypeRange = Int(CURLOPTTYPE_OFF_T)..<Int(CURLOPTTYPE_BLOB)
    if offTypeRange.contains(Int(option.rawValue)) {
        return ls_curl_setopt_off(easy, option, curl_off_t(value))
    }
    return ls_curl_setopt_long(easy, option, value)
}

/// `curl_easy_setopt` with a string: curl copies option strings, so the pointer only has to
/// live for the call.
func setopt(_ easy: UnsafeMutableRawPointer, _ option: CURLoption, _ value: String) -> CURLcode {
    value.withCString { ls_curl_setopt_pointer(easy, option, $0) }
}

func responseCode(_ easy: UnsafeMutableRawPointer) -> Int {
    var code = 0
    return ls_curl_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK ? code : 0
}

// MARK: - Handles

/// An easy handle together with the multi handle that drives it. The multi handle holds
/// the connection cache, so keeping the pair together (rather than `curl_easy_perform`,
/// which hides its multi handle) keeps connections alive between requests and lets another
/// thread interrupt a transfer at once with `curl_multi_wakeup`.
///
/// Used by one thread at a time: the client lends it out of its idle pool.
final class CurlHandle: @unchecked Sendable {
    let easy: UnsafeMutableRawPointer
    let multi: UnsafeMutableRawPointer

    init?() {
        ensureCurlInitialised()
        guard let easy = curl_easy_init() else { return nil }
        guard let multi = curl_multi_init() else {
            curl_easy_cleanup(easy)
            return nil
        }
        self.easy = easy
        self.multi = multi
    }

    deinit {
        // The easy handle is never left attached to the multi handle (see `Transfer.run`).
        curl_easy_cleanup(easy)
        curl_multi_cleanup(multi)
    }
}

// MARK: - One transfer

/// The state of one request while curl runs it. curl's callbacks receive it through their
/// userdata pointer (`Unmanaged`, unretained: the transfer outlives the `run` call that
/// registers it), since a C function pointer cannot capture Swift context.
final class Transfer: @unchecked Sendable {
    let maxResponseBytes: Int
    /// Whether `openSocketCallback` refuses non-public addresses (see `NetworkGuard`).
    let refusesPrivateNetworks: Bool

    // Touched only on the transfer thread, inside `run` and curl's callbacks.
    var body = Data()
    var headers: [(name: String, value: String)] = []
    var tooLarge = false
    /// The request body and how much of it curl has read (see `readCallback`).
    var upload = Data()
    var uploadOffset = 0
    /// Why the connect-time guard refused the address curl was about to connect to.
    var refusal: String?
    let errorBuffer: UnsafeMutablePointer<CChar>

    // Touched from any thread (the cancellation handler, `shutdown`).
    private struct Shared {
        var cancelled = false
        /// The multi handle while the transfer is running, so a cancel can wake it.
        var multi: UnsafeMutableRawPointer?
    }
    private let shared = Mutex(Shared())

    init(maxResponseBytes: Int, refusesPrivateNetworks: Bool) {
        self.maxResponseBytes = maxResponseBytes
        self.refusesPrivateNetworks = refusesPrivateNetworks
        errorBuffer = .allocate(capacity: Int(CURL_ERROR_SIZE) + 1)
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE) + 1)
    }

    deinit {
        errorBuffer.deallocate()
    }

    var isCancelled: Bool { shared.withLock { $0.cancelled } }

    /// Marks the transfer cancelled and wakes its thread if it is waiting on the network.
    /// Safe from any thread, before, during or after the transfer.
    func cancel() {
        shared.withLock { state in
            state.cancelled = true
            // Thread-safe by contract; the handle cannot be freed while it is recorded here.
            if let multi = state.multi { _ = curl_multi_wakeup(multi) }
        }
    }

    /// Runs the configured transfer on `handle` until it finishes or is cancelled.
    /// Returns curl's result; a cancelled transfer ends as `CURLE_ABORTED_BY_CALLBACK`.
    func run(on handle: CurlHandle) -> Result<CURLcode, HTTPClientError> {
        let attached = shared.withLock { state -> Bool in
            guard !state.cancelled else { return false }
            state.multi = handle.multi
            return true
        }
        guard attached else { return .success(CURLE_ABORTED_BY_CALLBACK) }
        defer { shared.withLock { $0.multi = nil } }

        let added = curl_multi_add_handle(handle.multi, handle.easy)
        guard added == CURLM_OK else {
            return .failure(HTTPClientError(.other, "curl_multi_add_handle failed: \(String(cString: curl_multi_strerror(added)))"))
        }
        // Removing a handle whose transfer is unfinished closes its connection, which is
        // what an aborted exchange needs; a finished one goes back to the cache.
        defer { curl_multi_remove_handle(handle.multi, handle.easy) }

        while true {
            if isCancelled { return .success(CURLE_ABORTED_BY_CALLBACK) }
            var running: Int32 = 0
            let performed = curl_multi_perform(handle.multi, &running)
            guard performed == CURLM_OK else {
                return .failure(HTTPClientError(.other, "curl_multi_perform failed: \(String(cString: curl_multi_strerror(performed)))"))
            }
            var queued: Int32 = 0
            while let message = curl_multi_info_read(handle.multi, &queued) {
                if message.pointee.msg == CURLMSG_DONE { return .success(message.pointee.data.result) }
            }
            if isCancelled { return .success(CURLE_ABORTED_BY_CALLBACK) }
            // Returns when a socket is ready, when curl's own timers (the request timeout)
            // are due, or at once on `curl_multi_wakeup`; the 1 s cap is only a backstop.
            let polled = curl_multi_poll(handle.multi, nil, 0, 1000, nil)
            guard polled == CURLM_OK else {
                return .failure(HTTPClientError(.other, "curl_multi_poll failed: \(String(cString: curl_multi_strerror(polled)))"))
            }
        }
    }
}

// MARK: - Callbacks (C function pointers: no captured context, state via userdata)

let writeCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return length }
    if transfer.body.count + length > transfer.maxResponseBytes {
        transfer.tooLarge = true
        return 0 // anything but `length` makes curl stop with CURLE_WRITE_ERROR
    }
    transfer.body.append(UnsafeRawPointer(data).assumingMemoryBound(to: UInt8.self), count: length)
    return length
}

let headerCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    data, size, count, userdata in
    guard let userdata else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = size * count
    guard length > 0, let data else { return length }
    let bytes = UnsafeRawBufferPointer(start: data, count: length)
    let line = String(decoding: bytes, as: UTF8.self)
    if line.hasPrefix("HTTP/") {
        // A new status line: an interim response (100 Continue) came before; keep only
        // the headers of the final one.
        transfer.headers.removeAll()
        return length
    }
    let trimmed = line.trimmingCharacters(in: .newlines)
    if trimmed.isEmpty { return length }
    if let first = trimmed.first, first == " " || first == "\t", !transfer.headers.isEmpty {
        // An obsolete folded continuation line belongs to the previous header.
        transfer.headers[transfer.headers.count - 1].value += " " + trimmed.trimmingCharacters(in: .whitespaces)
        return length
    }
    guard let colon = trimmed.firstIndex(of: ":") else { return length }
    let name = trimmed[..<colon].trimmingCharacters(in: .whitespaces)
    let value = trimmed[trimmed.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    transfer.headers.append((name: name, value: value))
    return length
}

/// The transfer behind a userdata pointer, for setting it up on the transfer thread.
func transferUpload(_ userdata: UnsafeMutableRawPointer) -> Transfer {
    Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
}

/// Hands curl the next piece of the request body. There is deliberately no seek callback,
/// so curl cannot rewind the body to resend the request on its own (HTTPClient.configure).
let readCallback: @convention(c) (UnsafeMutablePointer<CChar>?, Int, Int, UnsafeMutableRawPointer?) -> Int = {
    buffer, size, count, userdata in
    guard let userdata, let buffer else { return 0 }
    let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
    let length = min(size * count, transfer.upload.count - transfer.uploadOffset)
    guard length > 0 else { return 0 }
    transfer.upload.withUnsafeBytes { bytes in
        let start = bytes.baseAddress!.advanced(by: transfer.uploadOffset)
        UnsafeMutableRawPointer(buffer).copyMemory(from: start, byteCount: length)
    }
    transfer.uploadOffset += length
    return length
}

/// Called by curl during the transfer; a non-zero return aborts it. The wake-up in
/// `Transfer.cancel` makes the abort prompt; this is the check inside curl itself.
let progressCallback: @convention(c) (UnsafeMutableRawPointer?, curl_off_t, curl_off_t, curl_off_t, curl_off_t) -> Int32 = {
    userdata, _, _, _, _ in
    guard let userdata else { return 0 }
    return Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue().isCancelled ? 1 : 0
}

/// Opens each socket curl connects with, after checking the address it is about to connect
/// to: this sees the address DNS gave at this moment (or a `CURLOPT_RESOLVE` pin), so a name
/// that passed the check at creation and resolves to a private address now is still
/// refused. Returning `CURL_SOCKET_BAD` makes curl try its next address, and fail with
/// `CURLE_COULDNT_CONNECT` when there is none.
let openSocketCallback: @convention(c) (UnsafeMutableRawPointer?, curlsocktype, UnsafeMutablePointer<curl_sockaddr>?) -> curl_socket_t = {
    userdata, _, address in
    guard let address else { return -1 }
    if let userdata {
        let transfer = Unmanaged<Transfer>.fromOpaque(userdata).takeUnretainedValue()
        if transfer.refusesPrivateNetworks {
            let offset = MemoryLayout<curl_sockaddr>.offset(of: \.addr) ?? 16
            let socketAddress = UnsafeRawPointer(address).advanced(by: offset)
            guard let (family, bytes) = NetworkGuard.socketAddress(socketAddress) else {
                transfer.refusal = "the connection is not to an internet address"
                return -1
            }
            if let kind = NetworkGuard.classify(family: family, bytes: bytes) {
                transfer.refusal = "the connection goes to \(NetworkGuard.format(family: family, bytes: bytes)), a \(kind) address"
                return -1
            }
        }
    }
    return socket(address.pointee.family, address.pointee.socktype, address.pointee.protocol)
}
