import ExactJSON
import Foundation
import Hummingbird

/// `PATCH /services/rest/record/v1/{type}/{internalId}`: updates an existing record by its
/// internal id (what a worker sends for a billing object linked to a record it did not
/// create, docs/linking.md).
///
/// Oracle NetSuite Help Center, "Updating a Record Instance"
/// (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545142173.html):
/// PATCH takes the fields GET shows; "Any omitted fields are considered unchanged"; a body
/// field set to null is deleted; success is 204 with the record's URL in Location. A record
/// that does not exist is a 404 (NONEXISTENT_ID, as for GET).
extension NetSuiteSimulator {
    func update(_ type: RecordType, internalID: String, request: Request) async -> Outcome {
        let fault = state.withLock { state -> Fault? in
            guard let fault = state.faultPlan.draw() else { return nil }
            state.stats.faultsInjected[fault, default: 0] += 1
            return fault
        }
        if fault == .serverError { return .answer(Self.response(.unexpectedError)) }

        let response: Response
        do {
            var request = request
            let buffer = try await request.collectBody(upTo: Self.maxBodyBytes)
            let patch = try ExactJSON.parse(buffer.readableBytesView)
            guard case .object = patch else { throw NetSuiteErrorBody.userError("The request body must be a JSON object.") }
            let host = request.head.authority ?? ""
            let stored = try state.withLock { state throws(NetSuiteErrorBody) -> Record in
                guard let existing = state.store.record(type, internalID: internalID) else { throw .recordNotFound }
                if let externalID = patch["externalId"], externalID.stringValue != existing.externalID {
                    // Oracle lets a PATCH set another external id; the simulator keys records
                    // by theirs, and no client of it changes one, so it refuses rather than
                    // pretend.
                    throw .userError("The simulator does not change a record's externalId by PATCH.", path: "externalId")
                }
                let merged = Self.mergedForUpdate(existing.body, patch)
                let validator = RecordValidator(
                    store: state.store, items: state.items, catalogue: configuration.catalogue,
                    locationRequired: state.locationRequired)
                let total = try validator.validate(type, externalID: existing.externalID, body: merged)
                guard let stored = state.store.replaceBody(type, internalID: internalID, body: merged, total: total, now: Date()) else {
                    throw .recordNotFound
                }
                state.stats.writes += 1
                return stored
            }
            let location = "http://\(host)\(Self.recordPathPrefix)\(type.rawValue)/\(stored.internalID)"
            response = Response(status: .noContent, headers: [.location: location])
        } catch let error as NetSuiteErrorBody {
            response = Self.response(error)
        } catch let error as ExactJSON.ParseError {
            response = Self.response(.userError("The request body is not valid JSON: \(error)."))
        } catch {
            response = Self.response(.userError("The request body could not be read: it must be JSON of at most \(Self.maxBodyBytes) bytes."))
        }

        switch fault {
        case .timeout?: return .answerLate(response, configuration.timeoutDelay)
        case .dropConnection?: return .dropConnection
        case .serverError?, nil: return .answer(response)
        }
    }

    /// The record's body after a PATCH: the patch's members replace the record's, omitted
    /// members are kept, a null member is deleted ("Updating a Record Instance").
    // MERGE: sublists are replaced whole here. Oracle merges them (PROVIDERS 2.2a: non-keyed
    // lines are appended unless `?replace=` names the sublist); the "updates" branch adds that
    // merge to RecordStore for PUT-eid upserts. At merge, call it here too (with the request's
    // `replace` query parameter) so a PATCH by internal id follows the same rules.
    static func mergedForUpdate(_ body: ExactJSON, _ patch: ExactJSON) -> ExactJSON {
        var members = body.objectMembers
        for member in patch.objectMembers {
            if let index = members.firstIndex(where: { $0.key == member.key }) {
                if case .null = member.value { members.remove(at: index) } else { members[index] = member }
            } else if member.value != .null {
                members.append(member)
            }
        }
        return .object(members)
    }

    /// Puts a record into the account as if someone had made it in NetSuite (a person, a CRM
    /// integration): validated as an upsert is, counted in no statistic. For tests and demos
    /// of linking. Returns the record, or the error NetSuite would give for the body.
    public func addRecord(_ type: RecordType, externalID: String, body: ExactJSON) throws -> Record {
        try state.withLock { state throws(NetSuiteErrorBody) -> Record in
            let validator = RecordValidator(
                store: state.store, items: state.items, catalogue: configuration.catalogue,
                locationRequired: state.locationRequired)
            let total = try validator.validate(type, externalID: externalID, body: body)
            return state.store.upsert(type, externalID: externalID, body: body, total: total, now: Date())
        }
    }
}

extension NetSuiteErrorBody: CustomStringConvertible {
    var description: String { "NetSuite \(status) \(code): \(detail)" }
}
