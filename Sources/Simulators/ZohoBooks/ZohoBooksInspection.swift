import ExactJSON
import Foundation
import Hummingbird

// The simulator's own unauthenticated API under /_simulator/ (not Zoho's): what tests, the demo
// and a person at a terminal read and steer.
//
//   GET  /_simulator/records/{module}[?organization_id=…]  contacts, invoices, creditnotes,
//                                                          salesorders, customerpayments
//   GET  /_simulator/stats                                 counters (requests, 429s by limit, …)
//   GET  /_simulator/token-requests                        calls of the token endpoints
//   POST /_simulator/grant-codes {"client_id", "scope"?}   "Generate Code" of the API console
//   POST /_simulator/faults {"rate": 0.1}                  the fault rate from now on
//   POST /_simulator/reset                                 records and counters emptied

extension ZohoBooksSimulator {
    func inspectionResponse(to request: Request) async -> Response {
        let path = String(request.uri.path.dropFirst("/_simulator/".count))
        switch (request.method, path) {
        case (.get, "stats"):
            let stats = self.stats
            let faults = ExactJSON.object(Fault.allCases.map { ($0.rawValue, .number(String(stats.faultsInjected[$0] ?? 0))) })
            return Self.json(
                .object([
                    ("requests", count(stats.requests)), ("inFlight", count(stats.inFlight)), ("maxInFlight", count(stats.maxInFlight)),
                    ("rejectedConcurrent", count(stats.rejectedConcurrent)), ("rejectedMinuteWindow", count(stats.rejectedMinuteWindow)),
                    ("rejectedDailyQuota", count(stats.rejectedDailyQuota)), ("authFailures", count(stats.authFailures)),
                    ("writes", count(stats.writes)), ("faultsInjected", faults), ("tokenRequests", count(stats.tokenRequests)),
                    ("tokenRefusals", count(stats.tokenRefusals)), ("tokenMaxInFlight", count(stats.tokenMaxInFlight)),
                ]))
        case (.get, "token-requests"):
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
            return Self.json(
                .array(
                    tokenRequests.map { entry in
                        .object([
                            ("at", .string(formatter.string(from: entry.at))), ("dataCenter", .string(entry.dataCenter)),
                            ("grantType", .string(entry.grantType)), ("clientID", .string(entry.clientID)),
                            ("error", entry.error.map(ExactJSON.string) ?? .null),
                        ])
                    }))
        case (.get, let records) where records.hasPrefix("records/"):
            let module = String(records.dropFirst("records/".count))
            guard Module.all.contains(where: { $0.path == module }) else {
                return Self.json(
                    .object([
                        ("error", .string("unknown module \(module): contacts, invoices, creditnotes, salesorders or customerpayments"))
                    ]), status: .notFound)
            }
            let organizationID = request.uri.queryParameters["organization_id"].map(String.init) ?? Organization.demo.id
            return Self.json(.object([("records", .array(self.records(module, organizationID: organizationID)))]))
        case (.post, "grant-codes"):
            guard let body = await jsonBody(request), let clientID = body["client_id"]?.stringValue else {
                return Self.json(.object([("error", .string("the body must be {\"client_id\": \"…\"}"))]), status: .badRequest)
            }
            do {
                let code = try issueGrantCode(clientID: clientID, scope: body["scope"]?.stringValue ?? "ZohoBooks.fullaccess.all")
                return Self.json(.object([("code", .string(code))]), status: .created)
            } catch {
                return Self.json(.object([("error", .string("\(error)"))]), status: .badRequest)
            }
        case (.post, "faults"):
            guard let body = await jsonBody(request), let text = body["rate"]?.numberText, let rate = Double(text), (0...1).contains(rate)
            else {
                return Self.json(.object([("error", .string("the body must be {\"rate\": <0 to 1>}"))]), status: .badRequest)
            }
            setFaultRate(rate)
            return Response(status: .noContent)
        case (.post, "reset"):
            reset()
            return Response(status: .noContent)
        default:
            return Self.json(.object([("error", .string("no such inspection endpoint"))]), status: .notFound)
        }
    }

    private func count(_ value: Int) -> ExactJSON { .number(String(value)) }

    private func jsonBody(_ request: Request) async -> ExactJSON? {
        var request = request
        guard let buffer = try? await request.collectBody(upTo: 64 << 10) else { return nil }
        return try? ExactJSON.parse(buffer.readableBytesView)
    }
}
