import ExactJSON
import Foundation
import Hummingbird

/// `/_simulator/*`: what the simulator holds, for tests in other processes and for people
/// (`curl localhost:8089/_simulator/stats`). No authentication, no concurrency limit, no
/// faults: looking must not change what is looked at.
extension NetSuiteSimulator {
    func inspectionResponse(to request: Request) async -> Response {
        let path = request.uri.path.dropFirst("/_simulator/".count)
        let method = request.method.rawValue
        switch (method, path) {
        case ("GET", "stats"):
            return Self.json(statsJSON(stats))
        case ("GET", "login-audit"):
            return Self.json(.array(loginAudit.map(Self.auditJSON)))
        case ("GET", "requests"):
            // The write requests as received (method, URL with query, body), oldest first.
            return Self.json(
                .array(
                    receivedWrites.map { .object([("method", .string($0.method)), ("url", .string($0.url)), ("body", .string($0.body))]) }))
        case ("GET", "token-requests"):
            return Self.json(tokenRequestsJSON())
        case ("POST", "forget-tokens"):
            // Every issued access token stops working (401 invalid_token), as after a revocation.
            forgetTokens()
            return Response(status: .noContent)
        case ("POST", "faults"):
            return await setFaultRate(from: request)
        case ("POST", "reset"):
            reset()
            return Response(status: .noContent)
        case ("GET", _) where path.hasPrefix("records/"):
            guard let type = RecordType(pathSegment: path.dropFirst("records/".count)) else {
                let known = RecordType.allCases.map(\.rawValue).joined(separator: ", ")
                return Self.inspectionError(.notFound, "unknown record type; known: \(known)")
            }
            return Self.json(.array(records(type).map(Self.recordJSON)))
        default:
            return Self.inspectionError(
                .notFound,
                "no such endpoint; try GET /_simulator/records/{recordType}, GET /_simulator/requests, GET /_simulator/token-requests, POST /_simulator/forget-tokens, GET /_simulator/stats, GET /_simulator/login-audit, POST /_simulator/faults, POST /_simulator/reset"
            )
        }
    }

    /// `{"rate": 0.1}` → the new fault rate.
    private func setFaultRate(from request: Request) async -> Response {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 4096),
            let body = try? ExactJSON.parse(buffer.readableBytesView),
            let rate = body["rate"]?.numberText.flatMap(Double.init), (0...1).contains(rate)
        else { return Self.inspectionError(.badRequest, "the body must be {\"rate\": <number from 0 to 1>}") }
        setFaultRate(rate)
        return Self.json(.object([("rate", .number(String(rate)))]))
    }

    private func statsJSON(_ stats: Stats) -> ExactJSON {
        let faultRate = state.withLock { $0.faultPlan.rate }
        return .object([
            ("requests", .number(String(stats.requests))),
            ("inFlight", .number(String(stats.inFlight))),
            ("maxInFlight", .number(String(stats.maxInFlight))),
            ("rejectedOverLimit", .number(String(stats.rejectedOverLimit))),
            ("authFailures", .number(String(stats.authFailures))),
            ("tbaRequests", .number(String(stats.tbaRequests))),
            ("bearerRequests", .number(String(stats.bearerRequests))),
            ("writes", .number(String(stats.writes))),
            ("queries", .number(String(stats.queries))),
            ("faultsInjected", .object(Fault.allCases.map { ($0.rawValue, .number(String(stats.faultsInjected[$0] ?? 0))) })),
            ("faultRate", .number(String(faultRate))),
            ("concurrencyLimit", .number(String(configuration.concurrencyLimit))),
        ])
    }

    /// The token endpoint: counts, the most requests in flight at once, and each request.
    private func tokenRequestsJSON() -> ExactJSON {
        let stats = tokenStats
        let requests = tokenRequests
        return .object([
            ("count", .number(String(stats.requests))),
            ("issued", .number(String(stats.issued))),
            ("refused", .number(String(stats.refused))),
            ("inFlight", .number(String(stats.inFlight))),
            ("maxInFlight", .number(String(stats.maxInFlight))),
            ("invalidTokenRefusals", .number(String(stats.invalidTokenRefusals))),
            ("liveTokens", .number(String(liveTokenCount))),
            ("tokenLifetimeSeconds", .number(String(configuration.tokenLifetime.components.seconds))),
            (
                "requests",
                .array(
                    requests.map { entry in
                        .object([
                            ("time", .string(entry.time.formatted(.iso8601))),
                            ("clientId", entry.clientID.map(ExactJSON.string) ?? .null),
                            ("outcome", .string(entry.refusal == nil ? "issued" : "refused")),
                            ("error", entry.refusal.map { .string($0.errorCode) } ?? .null),
                            ("reason", entry.refusal.map { .string($0.rawValue) } ?? .null),
                        ])
                    })
            ),
        ])
    }

    private static func recordJSON(_ record: Record) -> ExactJSON {
        .object([
            ("internalId", .string(record.internalID)),
            ("externalId", .string(record.externalID)),
            ("fields", record.body),
            ("total", record.total.map(ExactJSON.number) ?? .null),
            ("writeCount", .number(String(record.writeCount))),
            ("createdAt", .string(record.createdAt.formatted(.iso8601))),
            ("updatedAt", .string(record.updatedAt.formatted(.iso8601))),
        ])
    }

    private static func auditJSON(_ entry: LoginAuditEntry) -> ExactJSON {
        .object([
            ("time", .string(entry.time.formatted(.iso8601))),
            ("reason", .string(entry.reason.rawValue)),
            ("method", .string(entry.method)),
            ("path", .string(entry.path)),
        ])
    }

    private static func inspectionError(_ status: HTTPResponse.Status, _ message: String) -> Response {
        json(.object([("error", .string(message))]), status: status)
    }
}
