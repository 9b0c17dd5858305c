import ExactJSON
import Foundation
import Hummingbird
import Sync

// What a GET of the record API answers beyond the record's own body fields: sublists as links
// unless `expandSubResources=true`, and the account's currency records.
extension NetSuiteSimulator {
    /// Whether the request asks for `expandSubResources=true`. Oracle, "Format of Sublists and
    /// Subrecords" (https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545141947.html):
    /// "REST web services do not automatically expand sublists and subrecords. You can use the
    /// expandSubResources query parameter to expand sublists and subrecords."
    static func expandsSubResources(_ request: Request) -> Bool {
        request.uri.queryParameters[values: "expandSubResources"].contains { $0.lowercased() == "true" }
    }

    /// The record's answer with its sublists (`{"items": [...]}` members) expanded, each with a
    /// `links` self link, or, unexpanded, as links only. Same page: "If the query parameter is
    /// not used, the response contains only the body fields of the record, and the sublists
    /// and subrecords are represented by links", e.g. `"addressbook": {"links": [{"rel":
    /// "self", "href": "…/customer/107/addressbook"}], "items": [...]}` when expanded.
    static func presentingSublists(_ record: ExactJSON, expanded: Bool, recordURL: String) -> ExactJSON {
        .object(
            record.objectMembers.map { member in
                guard let object = member.value.objectValue, let items = object["items"]?.arrayValue else { return member }
                let links: ExactJSON = .array([.object([("rel", .string("self")), ("href", .string("\(recordURL)/\(member.key)"))])])
                let value: ExactJSON = expanded ? .object([("links", links), ("items", .array(items))]) : .object([("links", links)])
                return (key: member.key, value: value)
            })
    }

    /// `GET …/record/v1/currency/{id}`: a currency of the catalogue. Oracle, "Currency" (REST
    /// record, https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_0818023012.html,
    /// fields in the REST API Browser's currency page): `name`, `symbol` (the ISO code) and
    /// `currencyPrecision`, from the catalogue's reference data (`Catalogue.reference`, whose
    /// defaults give ids 1–4 as USD, EUR, JPY and KWD). A catalogue id without one answers a
    /// made-up name only; an id not in the catalogue is a 404 like any missing record. Nil:
    /// not a currency read.
    func currencyRead(_ request: Request) -> Response? {
        let prefix = Self.recordPathPrefix + "currency/"
        guard request.method == .get, request.uri.path.lowercased().hasPrefix(prefix.lowercased()) else { return nil }
        let id = String(request.uri.path.dropFirst(prefix.count))
        guard configuration.catalogue.currencies.contains(id) else { return Self.response(.recordNotFound) }
        var members: [(key: String, value: ExactJSON)] = [("id", .string(id))]
        if let known = configuration.catalogue.reference.currencies[id] {
            members += [("name", .string(known.name)), ("symbol", .string(known.code))]
            if let precision = Currency.named(known.code)?.minorUnits {
                members.append(("currencyPrecision", .number(String(precision))))
            }
        } else {
            members.append(("name", .string("Currency \(id)")))
        }
        return Self.json(.object(members))
    }
}
