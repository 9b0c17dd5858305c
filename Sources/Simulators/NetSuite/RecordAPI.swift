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
        let start = Date().timeIntervalSince1970
        defer {
            let end = Date().timeIntervalSince1970
            state.withLock { state in
                state.stats.inFlight -= 1
                if state.requestLog.count < Self.requestLogCapacity { state.requestLog.append(RequestSpan(start: start, end: end)) }
            }
        }
        return await processAdmitted(request)
    }

    private func processAdmitted(_ request: Request) async -> Outcome {
        let latency = state.withLock { state -> Double in
            configuration.latencyDistribution.draw(range: configuration.latency, &state.latencyRandom)
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
        if let answer = currencyRead(request) { return .answer(answer) }
        if request.method == .get, let type = Self.collectionType(request.uri.path) {
            return .answer(listCollection(type, request: request))
        }
        let route: RecordRoute
        switch RecordRoute.parse(method: request.method.rawValue, path: request.uri.path) {
        case .success(let parsed): route = parsed
        case .failure(let error): return .answer(Self.response(error))
        }
        switch route {
        case .get(.typed(let type), let id):
            return .answer(read(type, id, expandSubResources: Self.expandsSubResources(request), host: request.head.authority ?? ""))
        case .get(.generic(let type), let id):
            return .answer(readGeneric(type, id))
        case .upsert(let kind, let externalID):
            return await write(kind, .externalID(externalID), request: request)
        case .update(let kind, let id):
            return await write(kind, id, request: request, mustExist: true)
        case .create(let kind):
            return await write(kind, nil, request: request)
        case .delete(let kind, let id):
            return .answer(delete(kind, id))
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

    private func read(_ type: RecordType, _ id: RecordID, expandSubResources: Bool, host: String) -> Response {
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
        where !["id", "externalId", "total", "dateCreated", "lastModifiedDate"].contains(member.key)
            && !derived.contains(where: { $0.key == member.key })
        {
            members.append(member)
        }
        members.append(contentsOf: derived)
        members.append(contentsOf: Self.dates(created: record.createdAt, modified: record.updatedAt))
        let recordURL = "http://\(host)\(Self.recordPathPrefix)\(type.rawValue)/\(record.internalID)"
        return Self.json(Self.presentingSublists(.object(members), expanded: expandSubResources, recordURL: recordURL))
    }

    /// `dateCreated` and `lastModifiedDate` as REST answers datetimes: ISO 8601 in UTC,
    /// whole seconds ("Using Datetime Fields", GenericRecords.swift).
    static func dates(created: Date, modified: Date) -> [(key: String, value: ExactJSON)] {
        [("dateCreated", .string(isoDateTime(created))), ("lastModifiedDate", .string(isoDateTime(modified)))]
    }

    static func isoDateTime(_ date: Date) -> String {
        date.formatted(Date.ISO8601FormatStyle(timeZone: TimeZone(secondsFromGMT: 0) ?? .gmt))
    }

    private func readGeneric(_ type: String, _ id: RecordID) -> Response {
        let record = state.withLock { state in
            switch id {
            case .internalID(let internalID): state.store.genericRecord(type, internalID: internalID)
            case .externalID(let externalID): state.store.genericRecord(type, externalID: externalID)
            }
        }
        guard let record else { return Self.response(.recordNotFound) }
        var members: [(key: String, value: ExactJSON)] = [("id", .string(record.internalID))]
        if let externalID = record.externalID { members.append(("externalId", .string(externalID))) }
        members.append(contentsOf: record.body.objectMembers)
        members.append(contentsOf: Self.dates(created: record.createdAt, modified: record.updatedAt))
        return Self.json(.object(members))
    }

    /// `DELETE …/{type}/{id}` or `…/eid:{externalId}` ("Deleting a Record Instance"): 204, or
    /// 404 when there is no such record; a record others depend on is refused
    /// (`RecordStore.checkDeletable`).
    private func delete(_ kind: RecordKind, _ id: RecordID) -> Response {
        do {
            try state.withLock { state throws(NetSuiteErrorBody) in
                switch kind {
                case .typed(let type):
                    let record: Record? =
                        switch id {
                        case .internalID(let internalID): state.store.record(type, internalID: internalID)
                        case .externalID(let externalID): state.store.record(type, externalID: externalID)
                        }
                    guard let record else { throw .recordNotFound }
                    try state.store.checkDeletable(record)
                    _ = state.store.delete(type, internalID: record.internalID)
                case .generic(let type):
                    let record: GenericRecord? =
                        switch id {
                        case .internalID(let internalID): state.store.genericRecord(type, internalID: internalID)
                        case .externalID(let externalID): state.store.genericRecord(type, externalID: externalID)
                        }
                    guard let record else { throw .recordNotFound }
                    _ = state.store.deleteGeneric(type, internalID: record.internalID)
                }
                state.stats.deletes += 1
            }
            return Response(status: .noContent)
        } catch {
            return Self.response(error)
        }
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
    ///
    /// `id` nil is a create (`POST …/{type}`, "Creating a Record Instance"): a generic record
    /// gets a new internal id (its `externalId` member, optional, must be unused); a record of
    /// a sync type is kept by external id in this simulator, so its body must carry an unused
    /// `externalId` (a simulator limit, not NetSuite's).
    private func write(_ kind: RecordKind, _ id: RecordID?, request: Request, mustExist: Bool = false) async -> Outcome {
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
            let clockNow = configuration.clock()
            let location = try state.withLock { state throws(NetSuiteErrorBody) -> String in
                // The account's clock, moved by `advanceClock(by:)`; NetSuite's datetimes are whole seconds.
                let now = SimulatorTime.wholeSeconds(clockNow.addingTimeInterval(state.clockOffset))
                guard case .typed(let type) = kind else {
                    guard case .generic(let type) = kind else { throw .recordNotFound }
                    let stored = try Self.writeGeneric(&state, type, id, update: update, replace: replace, mustExist: mustExist, now: now)
                    return "\(type)/\(stored.internalID)"
                }
                let existing: Record?
                let externalID: String
                switch id {
                case nil:
                    guard case .object = update else { throw .userError("The request body must be a JSON object.") }
                    guard let eid = update["externalId"]?.stringValue, !eid.isEmpty,
                        eid.unicodeScalars.allSatisfy(RecordRoute.isExternalIDCharacter)
                    else {
                        throw .userError(
                            "The simulator keeps \(type.rawValue) records by external id: a POST must carry externalId (letters, digits, '_' and '-').",
                            path: "externalId")
                    }
                    guard state.store.record(type, externalID: eid) == nil else {
                        throw .userError("A \(type.rawValue) record with external id \(eid) already exists.", path: "externalId")
                    }
                    existing = nil
                    externalID = eid
                case .externalID(let eid)?:
                    existing = state.store.record(type, externalID: eid)
                    if mustExist && existing == nil { throw .recordNotFound }
                    externalID = eid
                case .internalID(let internalID)?:
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
                let stored = state.store.upsert(type, externalID: externalID, body: body, total: total, now: now)
                return "\(type.rawValue)/\(stored.internalID)"
            }
            response = Response(status: .noContent, headers: [.location: "http://\(host)\(Self.recordPathPrefix)\(location)"])
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

    /// The locked part of a write of a generic record: create (`id` nil), upsert by external
    /// id, or update (`mustExist`). Updates merge as for the sync's types.
    private static func writeGeneric(
        _ state: inout State, _ type: String, _ id: RecordID?, update: ExactJSON, replace: Set<String>, mustExist: Bool, now: Date
    ) throws(NetSuiteErrorBody) -> GenericRecord {
        guard case .object = update else { throw .userError("The request body must be a JSON object.") }
        let existing: GenericRecord?
        var externalID: String?
        switch id {
        case nil:
            existing = nil
            switch update["externalId"] {
            case nil, .null?: externalID = nil
            case .string(let eid)? where !eid.isEmpty && eid.unicodeScalars.allSatisfy(RecordRoute.isExternalIDCharacter):
                guard state.store.genericRecord(type, externalID: eid) == nil else {
                    throw .userError("A \(type) record with external id \(eid) already exists.", path: "externalId")
                }
                externalID = eid
            default:
                throw .userError("externalId must be a string of letters, digits, '_' and '-'.", path: "externalId")
            }
        case .externalID(let eid)?:
            existing = state.store.genericRecord(type, externalID: eid)
            if mustExist && existing == nil { throw .recordNotFound }
            externalID = eid
        case .internalID(let internalID)?:
            guard let record = state.store.genericRecord(type, internalID: internalID) else { throw .recordNotFound }
            existing = record
            externalID = record.externalID
            if case .string(let eid)? = update["externalId"] {
                guard !eid.isEmpty, eid.unicodeScalars.allSatisfy(RecordRoute.isExternalIDCharacter) else {
                    throw .userError("externalId must be a string of letters, digits, '_' and '-'.", path: "externalId")
                }
                if let other = state.store.genericRecord(type, externalID: eid), other.internalID != internalID {
                    throw .userError("A \(type) record with external id \(eid) already exists.", path: "externalId")
                }
                externalID = eid
            }
        }
        let body = RecordStore.merge(existing: existing?.body, update: update, replace: replace)
        state.stats.writes += 1
        return state.store.storeGeneric(type, existing: existing, externalID: externalID, body: body, now: now)
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

/// Which kind of record a URL names: one of the sync's types (validated, totalled) or any
/// other type the simulator keeps generically (GenericRecords.swift).
enum RecordKind: Equatable {
    case typed(NetSuiteSimulator.RecordType)
    case generic(String)

    init?(pathSegment: some StringProtocol) {
        if let type = NetSuiteSimulator.RecordType(pathSegment: pathSegment) {
            self = .typed(type)
        } else if let type = GenericRecordTypes.canonical(pathSegment) {
            self = .generic(type)
        } else {
            return nil
        }
    }

    var name: String {
        switch self {
        case .typed(let type): type.rawValue
        case .generic(let type): type
        }
    }
}

/// The record API operations the simulator serves.
enum RecordRoute: Equatable {
    case get(RecordKind, RecordID)
    case upsert(RecordKind, externalID: String)
    /// `PATCH …/{type}/{internalId}` or `…/eid:{externalId}` ("Updating a Record Instance";
    /// an external id goes wherever an id does, "Using External IDs"): the record must exist.
    case update(RecordKind, RecordID)
    /// `POST …/{type}` ("Creating a Record Instance").
    case create(RecordKind)
    /// `DELETE …/{type}/{id}` ("Deleting a Record Instance").
    case delete(RecordKind, RecordID)

    static func parse(method: String, path: String) -> Result<RecordRoute, NetSuiteErrorBody> {
        guard path.hasPrefix(NetSuiteSimulator.recordPathPrefix) else { return .failure(.notFound(path: path)) }
        let segments = path.dropFirst(NetSuiteSimulator.recordPathPrefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard let typeSegment = segments.first, let kind = RecordKind(pathSegment: typeSegment) else {
            return .failure(.notFound(path: path))
        }
        guard segments.count == 2, !segments[1].isEmpty else {
            if segments.count == 1 || (segments.count == 2 && segments[1].isEmpty) {
                if method == "POST" { return .success(.create(kind)) }
                return .failure(.methodNotAllowed(method, allowed: "POST on …/\(kind.name), PUT or GET on …/\(kind.name)/eid:{externalId}"))
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
            case "PUT": return .success(.upsert(kind, externalID: externalID))
            case "GET": return .success(.get(kind, .externalID(externalID)))
            case "PATCH": return .success(.update(kind, .externalID(externalID)))
            case "DELETE": return .success(.delete(kind, .externalID(externalID)))
            default: return .failure(.methodNotAllowed(method, allowed: "PUT, PATCH, GET or DELETE"))
            }
        }
        guard id.allSatisfy({ $0.isASCII && $0.isNumber }) else { return .failure(.recordNotFound) }
        switch method {
        case "GET": return .success(.get(kind, .internalID(String(id))))
        case "PATCH": return .success(.update(kind, .internalID(String(id))))
        case "DELETE": return .success(.delete(kind, .internalID(String(id))))
        case "PUT":
            return .failure(.methodNotAllowed(method, allowed: "GET, PATCH or DELETE; upserts go to …/\(kind.name)/eid:{externalId}"))
        default: return .failure(.methodNotAllowed(method, allowed: "GET, PATCH or DELETE"))
        }
    }

    /// PROVIDERS 2.2: letters, digits, `_` and `-`.
    static func isExternalIDCharacter(_ scalar: Unicode.Scalar) -> Bool {
        scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || scalar == "_" || scalar == "-")
    }
}
