import ExactJSON
import Foundation
import Hummingbird

/// `/services/rest/record/v1/…`: the account as the worker sees it. Every request passes
/// the concurrency limit, then Token-Based Authentication, then is routed, validated and
/// written; faults are drawn per write.
extension NetSuiteSimulator {
    static let recordPathPrefix = "/services/rest/record/v1/"
    /// Upsert bodies larger than this are refused; record bodies are a few kilobytes.
    static let maxBodyBytes = 10 << 20

    /// Admits the request under the concurrency limit, processes it, and frees the slot.
    func process(_ request: Request) async -> Outcome {
        let admitted = state.withLock { state -> Bool in
            state.stats.requests += 1
            state.stats.inFlight += 1
            state.stats.maxInFlight = max(state.stats.maxInFlight, state.stats.inFlight)
            guard state.stats.inFlight <= configuration.concurrencyLimit else {
                state.stats.inFlight -= 1
                state.stats.rejectedOverLimit += 1
                return false
            }
            return true
        }
        guard admitted else { return .answer(Self.response(NetSuiteErrorBody.concurrencyLimitExceeded)) }
        defer { state.withLock { $0.stats.inFlight -= 1 } }
        return await processAdmitted(request)
    }

    private func processAdmitted(_ request: Request) async -> Outcome {
        let latency = state.withLock { state -> Double in
            let range = configuration.latency
            return range.lowerBound + (range.upperBound - range.lowerBound) * state.latencyRandom.nextUnit()
        }
        if latency > 0 { try? await Task.sleep(for: .milliseconds(latency)) }

        if let failure = authenticate(request) {
            state.withLock { state in
                state.stats.authFailures += 1
                if state.loginAudit.count >= Self.loginAuditCapacity { state.loginAudit.removeFirst() }
                state.loginAudit.append(
                    LoginAuditEntry(time: Date(), reason: failure, method: request.method.rawValue, path: request.uri.path))
            }
            if failure == .expiredAccessToken || failure == .unknownAccessToken {
                state.withLock { $0.tokenStats.invalidTokenRefusals += 1 }
                return .answer(invalidTokenResponse())
            }
            return .answer(invalidLoginResponse())
        }
        let bearer = request.headers[.authorization]?.lowercased().hasPrefix("bearer ") ?? false
        state.withLock { state in
            if bearer { state.stats.bearerRequests += 1 } else { state.stats.tbaRequests += 1 }
        }

        if request.uri.path == Self.suiteQLPath { return .answer(await suiteQL(request)) }
        if request.uri.path == Self.governanceLimitsPath { return .answer(governanceLimits(method: request.method.rawValue)) }
        if request.method == .get, let type = Self.collectionType(request.uri.path) {
            return .answer(listCollection(type, request: request))
        }
        let route: RecordRoute
        switch RecordRoute.parse(method: request.method.rawValue, path: request.uri.path) {
        case .success(let parsed): route = parsed
        case .failure(let error): return .answer(Self.response(error))
        }
        switch route {
        case .get(let type, let id):
            return .answer(read(type, id))
        case .upsert(let type, let externalID):
            return await write(type, .externalID(externalID), request: request)
        case .update(let type, let id):
            return await write(type, id, request: request, mustExist: true)
        }
    }

    /// Nil when the request is signed by a known token and its nonce is fresh, or carries a
    /// live OAuth 2.0 bearer token (`TokenEndpoint.swift`); else the reason.
    private func authenticate(_ request: Request) -> LoginFailure? {
        if let authorization = request.headers[.authorization], authorization.lowercased().hasPrefix("bearer ") {
            return authenticateBearer(authorization)
        }
        // HTTP/1's Host header arrives as the :authority pseudo-header.
        let host = request.head.authority ?? ""
        let now = Int(Date().timeIntervalSince1970)
        let verified = verifier.verify(
            authorization: request.headers[.authorization], method: request.method.rawValue,
            url: "http://" + host + request.uri.string, now: now)
        switch verified {
        case .failure(let reason):
            return reason
        case .success(let verified):
            // Only now: a forged request must not burn the nonce of a genuine one.
            let fresh = state.withLock { $0.nonces.insert(verified.nonceKey, now: now) }
            return fresh ? nil : .reusedNonce
        }
    }

    private func read(_ type: RecordType, _ id: RecordID) -> Response {
        let record = state.withLock { state in
            switch id {
            case .internalID(let internalID): state.store.record(type, internalID: internalID)
            case .externalID(let externalID): state.store.record(type, externalID: externalID)
            }
        }
        guard let record else { return Self.response(.recordNotFound) }
        var members: [(key: String, value: ExactJSON)] = [("id", .string(record.internalID)), ("externalId", .string(record.externalID))]
        if let total = record.total { members.append(("total", .number(total))) }
        let derived = state.withLock { $0.store.derivedFields(record) }
        for member in record.body.objectMembers
        where !["id", "externalId", "total"].contains(member.key) && !derived.contains(where: { $0.key == member.key }) {
            members.append(member)
        }
        members.append(contentsOf: derived)
        members.removeAll { $0.key == "dateCreated" || $0.key == "lastModifiedDate" }
        members.append(contentsOf: Self.dateFields(record))
        return Self.json(.object(members))
    }

    /// The sublist names of `?replace=a,b` (Oracle's "Replacing a Sublist" page; several
    /// names are comma-separated as in its `replace=item,taxDetails`-style examples).
    static func replacedSublists(_ request: Request) -> Set<String> {
        Set(request.uri.queryParameters[values: "replace"].flatMap { $0.split(separator: ",").map(String.init) })
    }

    /// `PUT …/eid:{externalId}` (upsert: creates, or updates the record with that external
    /// id) and `PATCH …/{internalId}` (updates; 404 when there is no such record). Either
    /// way an update is `RecordStore.merge(existing:update:replace:)`, and the merged record
    /// is what is validated, totalled and stored.
    private func write(_ type: RecordType, _ id: RecordID, request: Request, mustExist: Bool = false) async -> Outcome {
        let forced = state.withLock { $0.forcedFaults.isEmpty ? nil : $0.forcedFaults.removeFirst() }
        if forced == .accountConcurrencyLimit { return .answer(Self.response(.concurrencyLimitExceeded)) }
        let fault = state.withLock { state -> Fault? in
            guard let fault = forced?.fault ?? state.faultPlan.draw() else { return nil }
            state.stats.faultsInjected[fault, default: 0] += 1
            return fault
        }
        if fault == .serverError { return .answer(Self.response(.unexpectedError)) }

        let response: Response
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
            let host = request.head.authority ?? ""
            let received = ReceivedRequest(
                method: request.method.rawValue, url: "http://" + host + request.uri.string,
                body: String(decoding: buffer.readableBytesView, as: UTF8.self))
            state.withLock { state in
                if state.receivedWrites.count >= Self.receivedWritesCapacity { state.receivedWrites.removeFirst() }
                state.receivedWrites.append(received)
            }
            let update = try ExactJSON.parse(buffer.readableBytesView)
            let replace = Self.replacedSublists(request)
            let stored = try state.withLock { state throws(NetSuiteErrorBody) -> Record in
                let existing: Record?
                let externalID: String
                switch id {
                case .externalID(let eid):
                    existing = state.store.record(type, externalID: eid)
                    if mustExist && existing == nil { throw .recordNotFound }
                    externalID = eid
                case .internalID(let internalID):
                    guard let record = state.store.record(type, internalID: internalID) else { throw .recordNotFound }
                    existing = record
                    externalID = record.externalID
                }
                guard case .object = update else { throw .userError("The request body must be a JSON object.") }
                let body = RecordStore.merge(existing: existing?.body, update: update, replace: replace)
                let validator = RecordValidator(
                    store: state.store, items: state.items, catalogue: configuration.catalogue,
                    locationRequired: state.locationRequired)
                let total = try validator.validate(type, externalID: externalID, body: body)
                state.stats.writes += 1
                return state.store.upsert(
                    type, externalID: externalID, body: body, total: total,
                    now: SimulatorTime.wholeSeconds(Date().addingTimeInterval(state.clockOffset)))
            }
            let location = "http://\(host)\(Self.recordPathPrefix)\(type.rawValue)/\(stored.internalID)"
            response = Response(status: .noContent, headers: [.location: location])
        } catch let error as NetSuiteErrorBody {
            response = Self.response(error)
        } catch let error as ExactJSON.ParseError {
            response = Self.response(.userError("The request body is not valid JSON: \(error)."))
        } catch {
            response = Self.response(
                .userError("The request body could not be read: it must be JSON of at most \(Self.maxBodyBytes) bytes."))
        }

        switch fault {
        case .timeout?: return .answerLate(response, configuration.timeoutDelay)
        case .dropConnection?: return .dropConnection
        case .serverError?, nil: return .answer(response)
        }
    }

    static func response(_ error: NetSuiteErrorBody) -> Response {
        json(error.json, status: .init(code: error.status))
    }

    static func json(_ value: ExactJSON, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json; charset=utf-8"],
            body: .init(byteBuffer: ByteBuffer(string: value.description)))
    }
}

/// How a record is addressed in a URL: `…/customer/647` or `…/customer/eid:CID002`.
enum RecordID: Equatable {
    case internalID(String)
    case externalID(String)
}

/// The record API operations the simulator serves.
enum RecordRoute: Equatable {
    case get(NetSuiteSimulator.RecordType, RecordID)
    case upsert(NetSuiteSimulator.RecordType, externalID: String)
    /// `PATCH …/{type}/{internalId}` or `…/eid:{externalId}` ("Updating a Record Instance";
    /// an external id goes wherever an id does, "Using External IDs"): the record must exist.
    case update(NetSuiteSimulator.RecordType, RecordID)

    static func parse(method: String, path: String) -> Result<RecordRoute, NetSuiteErrorBody> {
        guard path.hasPrefix(NetSuiteSimulator.recordPathPrefix) else { return .failure(.notFound(path: path)) }
        let segments = path.dropFirst(NetSuiteSimulator.recordPathPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard let typeSegment = segments.first, let type = NetSuiteSimulator.RecordType(pathSegment: typeSegment) else {
            return .failure(.notFound(path: path))
        }
        guard segments.count == 2, !segments[1].isEmpty else {
            if segments.count == 1 {
                return .failure(.methodNotAllowed(method, allowed: "PUT or GET on …/\(type.rawValue)/eid:{externalId}"))
            }
            return .failure(.notFound(path: path))
        }
        let id = segments[1]
        if id.hasPrefix("eid:") {
            let externalID = String(id.dropFirst(4))
            guard !externalID.isEmpty, externalID.unicodeScalars.allSatisfy(isExternalIDCharacter) else {
                return .failure(.userError("External id \"\(externalID)\" may only hold letters, digits, '_' and '-'."))
            }
            switch method {
            case "PUT": return .success(.upsert(type, externalID: externalID))
            case "GET": return .success(.get(type, .externalID(externalID)))
            case "PATCH": return .success(.update(type, .externalID(externalID)))
            default: return .failure(.methodNotAllowed(method, allowed: "PUT, PATCH or GET"))
            }
        }
        guard id.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .failure(.recordNotFound) }
        switch method {
        case "GET": return .success(.get(type, .internalID(String(id))))
        case "PATCH": return .success(.update(type, .internalID(String(id))))
        case "PUT": return .failure(.methodNotAllowed(method, allowed: "GET or PATCH; upserts go to …/\(type.rawValue)/eid:{externalId}"))
        default: return .failure(.methodNotAllowed(method, allowed: "GET or PATCH"))
        }
    }

    /// PROVIDERS 2.2: letters, digits, `_` and `-`.
    private static func isExternalIDCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
    }
}
