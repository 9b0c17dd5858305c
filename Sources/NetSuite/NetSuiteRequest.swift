import ExactJSON

/// One REST record API request as the worker sends it, before signing: method, URL (query
/// included), the headers other than `Authorization`, and the body text. Built in one place
/// so `ledgersync sync render` prints exactly what `NetSuiteClient` signs and sends.
public struct NetSuiteRequest: Sendable, Equatable {
    public let method: String
    public let url: String
    /// Every header but `Authorization` (which only the client adds: it holds a signature).
    public let headers: [(name: String, value: String)]
    public let body: String?

    public init(method: String, url: String, headers: [(name: String, value: String)], body: String?) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    public static func == (a: NetSuiteRequest, b: NetSuiteRequest) -> Bool {
        a.method == b.method && a.url == b.url && a.body == b.body
            && a.headers.map(\.name) == b.headers.map(\.name) && a.headers.map(\.value) == b.headers.map(\.value)
    }

    static let jsonHeaders: [(name: String, value: String)] = [("Content-Type", "application/json"), ("Accept", "application/json")]

    /// `PUT …/{recordType}/eid:{externalID}?replace=<sublists>` with `body`.
    ///
    /// Oracle's REST web services merge sublists on update ("Updating a Sublist",
    /// https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545295601.html):
    /// lines of a keyed sublist whose keys match are updated and the other request lines
    /// are added; lines of a non-keyed sublist are always appended. Only the `replace` query
    /// parameter ("Replacing a Sublist",
    /// https://docs.oracle.com/en/cloud/saas/netsuite/ns-online-help/section_1545297048.html)
    /// removes the lines not in the request. An upsert by external id is an update when the
    /// record exists ("Using the Upsert Operation", section_156335203191), so without
    /// `replace` a retried or changed push would double the record's lines.
    ///
    /// Every sublist the body carries is named (`replacedSublists(in:)`): the body is the
    /// whole of what the billing document says about that sublist, so the record's lines
    /// must be exactly the body's. A sublist the body leaves out is not named, and keeps
    /// whatever NetSuite holds. `replaceSublists: false` is for tests only (see
    /// `NetSuiteClient.replacesSublists`).
    public static func upsert(
        account: NetSuiteAccount, recordType: String, externalID: String, body: ExactJSON, replaceSublists: Bool = true
    ) -> NetSuiteRequest {
        var url = "\(account.restBaseURL)/\(recordType)/eid:\(PercentEncoding.encode(externalID))"
        let sublists = replaceSublists ? replacedSublists(in: body) : []
        if !sublists.isEmpty {
            // Names are field ids (letters, digits, `_`); the comma separates them as on
            // Oracle's page (`?replace=item,taxDetails`) and is signed like any query value.
            url += "?replace=" + sublists.map(PercentEncoding.encode).joined(separator: ",")
        }
        return NetSuiteRequest(method: "PUT", url: url, headers: jsonHeaders, body: body.description)
    }

    /// `PATCH …/{recordType}/{internalID}?replace=<sublists>` with `body` minus `externalId`:
    /// the write of a record a person linked a billing object to (docs/linking.md). Oracle's
    /// "Updating a Record Instance" (section_1545142173): omitted fields are unchanged, the
    /// sublists merge as on any update, so `replace` is named as for the upsert. The record's
    /// own external id is left alone: only one integration may own a record type's external
    /// ids ("upsert", Limitations on upsert, section_N3532463), and a linked record was made by
    /// someone else.
    public static func update(
        account: NetSuiteAccount, recordType: String, internalID: String, body: ExactJSON, replaceSublists: Bool = true
    ) -> NetSuiteRequest {
        let written = ExactJSON.object(body.objectMembers.filter { $0.key != "externalId" })
        var url = "\(account.restBaseURL)/\(recordType)/\(PercentEncoding.encode(internalID))"
        let sublists = replaceSublists ? replacedSublists(in: written) : []
        if !sublists.isEmpty { url += "?replace=" + sublists.map(PercentEncoding.encode).joined(separator: ",") }
        return NetSuiteRequest(method: "PATCH", url: url, headers: jsonHeaders, body: written.description)
    }

    /// The body's sublists, in body order: every top-level member written as a sublist,
    /// `{"items": [...]}`. For the bodies `NetSuitePayloads` builds that is `item` (and
    /// `taxDetails` with SuiteTax rows) on invoices, sales orders and credit memos, `apply` on
    /// payments and on credit memos that carry one, `addressBook` on customers; never a
    /// sublist in `mergedSublists`.
    public static func replacedSublists(in body: ExactJSON) -> [String] {
        body.objectMembers.compactMap { member in
            guard !mergedSublists.contains(member.key) else { return nil }
            guard let object = member.value.objectValue, object.count == 1, object["items"]?.arrayValue != nil else { return nil }
            return member.key
        }
    }

    /// Sublists a body ADDS to rather than states whole, so they are never named in
    /// `replace`: a customer's `currencyList` carries the currencies an invoice needs, not
    /// all the customer has; replacing it would drop the currencies added for the
    /// customer's other invoices (or by hand), which NetSuite's transactions in them need.
    static let mergedSublists: Set<String> = ["currencyList"]
}
