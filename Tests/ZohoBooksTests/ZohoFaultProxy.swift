import Foundation
import Hummingbird
import Logging
import ServiceLifecycle
import Synchronization

/// A pass-through HTTP proxy in front of the Zoho Books simulator that makes the NEXT write
/// (POST or PUT under `/books/v3/`) fail one way, and only that one: what the conformance
/// suite's `inject` needs. The simulator's own faults are drawn at random per write; this
/// chooses the one. The failures are those of the network and of Zoho:
/// - `serverError`: HTTP 500 with Zoho's internal-error envelope, the request never sent on;
/// - `answerLost`: the request is applied by the simulator, its answer held back past the
///   client's timeout;
/// - `dropConnection`: the request is applied, then the connection is closed without an answer;
/// - `rateLimited`: HTTP 429 with the envelope of the request window (code 44), not sent on.
final class ZohoFaultProxy: Sendable {
    enum Fault: Sendable {
        case serverError, answerLost, dropConnection, rateLimited
    }

    /// Sends a request on to the simulator: (method, URL, headers, body) → (status, headers, body).
    typealias Forward = @Sendable (String, String, [(String, String)], Data?) async throws -> (Int, [(String, String)], Data)

    let upstream: String
    let forward: Forward
    /// How long a lost answer is held back (longer than the client's timeout).
    let holdBack: Duration
    private let armed = Mutex<Fault?>(nil)
    private let task = Mutex<Task<Void, Never>?>(nil)
    private let listening = Mutex<String?>(nil)
    private let shutdown = Mutex<(@Sendable () async -> Void)?>(nil)

    init(upstream: String, holdBack: Duration, forward: @escaping Forward) {
        self.upstream = upstream
        self.forward = forward
        self.holdBack = holdBack
    }

    /// The next write fails with `fault`.
    func arm(_ fault: Fault) { armed.withLock { $0 = fault } }

    var baseURL: String { listening.withLock { $0 } ?? "http://127.0.0.1:0" }

    func start() async throws {
        let (events, continuation) = AsyncStream.makeStream(of: Result<Void, any Error>.self)
        let proxy = self
        let running = Task.detached {
            let app = Application(
                responder: ProxyResponder(proxy: proxy),
                configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "Zoho fault proxy"),
                onServerRunning: { channel in
                    let port = channel.localAddress?.port ?? 0
                    proxy.listening.withLock { $0 = "http://127.0.0.1:\(port)" }
                    continuation.yield(.success(()))
                })
            // Stopped by a graceful shutdown, as the simulators are (SimulatorStop): cancelling
            // a server's task can drop an accepted, unread connection, on which NIO traps.
            let group = ServiceGroup(configuration: .init(services: [app], logger: Logger(label: "ledgersync.test.zoho-proxy")))
            proxy.shutdown.withLock { $0 = { await group.triggerGracefulShutdown() } }
            do { try await group.run() } catch { continuation.yield(.failure(error)) }
            continuation.finish()
        }
        task.withLock { $0 = running }
        for await event in events {
            try event.get()
            return
        }
        throw TestBedError("the fault proxy stopped before it was listening")
    }

    func stop() async {
        let shutdown = self.shutdown.withLock { $0 }
        await shutdown?()
        guard let running = task.withLock({ $0 }) else { return }
        // A held-back answer may still be sleeping: cut it after a moment.
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await running.value }
            group.addTask {
                try? await Task.sleep(for: .seconds(1))
                running.cancel()
            }
            await group.next()
            group.cancelAll()
        }
    }

    /// Takes the armed fault if `request` is a write.
    func takeFault(method: HTTPRequest.Method, path: String) -> Fault? {
        guard method == .post || method == .put, path.contains("/books/v3/") else { return nil }
        return armed.withLock { fault in
            defer { fault = nil }
            return fault
        }
    }

    static func envelope(_ status: HTTPResponse.Status, code: Int, message: String) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json;charset=UTF-8"],
            body: .init(byteBuffer: ByteBuffer(string: #"{"code":\#(code),"message":"\#(message)"}"#)))
    }
}

/// What a handler can do besides answering: close the connection.
struct ProxyContext: InitializableFromSource {
    let closeConnection: @Sendable () async -> Void

    init(source: ApplicationRequestContextSource) {
        let channel = source.channel
        closeConnection = { try? await channel.close().get() }
    }
}

struct ProxyResponder: HTTPResponder {
    let proxy: ZohoFaultProxy

    func respond(to request: Request, context: ProxyContext) async throws -> Response {
        let fault = proxy.takeFault(method: request.method, path: request.uri.path)
        switch fault {
        case .serverError?: return ZohoFaultProxy.envelope(.internalServerError, code: 1000, message: "Internal error")
        case .rateLimited?:
            return ZohoFaultProxy.envelope(
                .tooManyRequests, code: 44, message: "You have made too many requests. Please try again after some time.")
        default: break
        }
        var request = request
        let body = try await request.collectBody(upTo: 4 << 20)
        var headers: [(String, String)] = []
        for field in request.headers where !["host", "content-length"].contains(field.name.rawName.lowercased()) {
            headers.append((field.name.rawName, field.value))
        }
        let (status, answerHeaders, answerBody) = try await proxy.forward(
            request.method.rawValue, proxy.upstream + request.uri.description, headers,
            body.readableBytes > 0 ? Data(body.readableBytesView) : nil)
        switch fault {
        case .answerLost?: try? await Task.sleep(for: proxy.holdBack)
        case .dropConnection?:
            await context.closeConnection()
            return Response(status: .internalServerError)
        default: break
        }
        // The simulator's answers are JSON: their content type is all a client reads.
        let type = answerHeaders.first { $0.0.lowercased() == "content-type" }?.1 ?? "application/json"
        return Response(
            status: .init(code: status), headers: [.contentType: type], body: .init(byteBuffer: ByteBuffer(bytes: Array(answerBody))))
    }
}
