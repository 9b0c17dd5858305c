import Foundation
import Hummingbird
import NetSuite

/// What a request handler can do besides answering: close the connection without an
/// answer, for the `.dropConnection` fault.
struct ConnectionContext: InitializableFromSource {
    let closeConnection: @Sendable () async -> Void

    init(source: ApplicationRequestContextSource) {
        let channel = source.channel
        closeConnection = { try? await channel.close().get() }
    }
}

/// Routes every request: `/services/…` is the account (concurrency limit, TBA, records),
/// `/_simulator/…` the unauthenticated inspection API.
struct SimulatorResponder: HTTPResponder {
    let simulator: NetSuiteSimulator

    func respond(to request: Request, context: ConnectionContext) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/_simulator/") {
            return await simulator.inspectionResponse(to: request)
        }
        if path == NetSuiteM2M.tokenPath {
            // OAuth 2.0 client credentials; outside the concurrency limit of REST requests.
            guard request.method == .post else {
                return NetSuiteSimulator.json(.object([("error", .string("invalid_request"))]), status: .methodNotAllowed)
            }
            return await simulator.tokenEndpoint(request)
        }
        switch await simulator.process(request) {
        case .answer(let response):
            return response
        case .answerLate(let response, let delay):
            // Cancelled only when the simulator stops; the answer then goes nowhere anyway.
            try? await Task.sleep(for: delay)
            return response
        case .dropConnection:
            await context.closeConnection()
            // Written to a closed channel, so never seen.
            return Response(status: .internalServerError)
        }
    }
}

/// The fate of a `/services` request, decided while it holds a concurrency slot and
/// carried out after the slot is free.
enum Outcome {
    case answer(Response)
    case answerLate(Response, Duration)
    case dropConnection
}
