import Foundation

/// One thing a reconciliation found that does not match (docs/reconciliation.md).
public struct ReconcileFinding: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Equatable, Codable, CaseIterable {
        /// Synced here (a provider id is known), no record at the provider any more.
        case missing
        /// At the provider, but one field differs from the last document synced.
        case changed
        /// At the provider with an external id, but no billing object here is that record.
        case extra
        /// Known here, never written: its last job failed or needs a person.
        case unlinked
    }

    public let kind: Kind
    public let objectType: String
    public let billingID: String?
    public let documentNumber: String?
    public let providerID: String?
    /// For `changed`: `total`, `tax`, `lines`, `lines[1].amount`, `lines[1].item`, `applied`,
    /// `amount_due`, `status`, `customer`, `name`, `currency`.
    public let field: String?
    /// Both values as people read them: amounts formatted in the document's currency
    /// (`120.00 USD`), ids and statuses as they are.
    public let expected: String?
    public let actual: String?
    /// Amounts in minor units, when the field is an amount.
    public let expectedMinor: Int64?
    public let actualMinor: Int64?
    /// Whether `--repair` fixes it (a re-push of the stored document).
    public let repairable: Bool
    /// What to do about it.
    public let action: String
    /// The job `--repair` enqueued to fix it.
    public var repairJobID: Int64?

    public init(
        kind: Kind, objectType: String, billingID: String?, documentNumber: String?, providerID: String?, field: String? = nil,
        expected: String? = nil, actual: String? = nil, expectedMinor: Int64? = nil, actualMinor: Int64? = nil, repairable: Bool,
        action: String
    ) {
        self.kind = kind
        self.objectType = objectType
        self.billingID = billingID
        self.documentNumber = documentNumber
        self.providerID = providerID
        self.field = field
        self.expected = expected
        self.actual = actual
        self.expectedMinor = expectedMinor
        self.actualMinor = actualMinor
        self.repairable = repairable
        self.action = action
    }

    enum CodingKeys: String, CodingKey {
        case kind
        case objectType = "object_type"
        case billingID = "billing_id"
        case documentNumber = "document_number"
        case providerID = "provider_id"
        case field, expected, actual
        case expectedMinor = "expected_minor"
        case actualMinor = "actual_minor"
        case repairable, action
        case repairJobID = "repair_job_id"
    }

    func repaired(by job: Int64) -> ReconcileFinding {
        guard repairable else { return self }
        var copy = self
        copy.repairJobID = job
        return copy
    }

    /// The CSV header and one row (RFC 4180 quoting).
    public static let csvHeader =
        "kind,object_type,billing_id,document_number,provider_id,field,expected,actual,expected_minor,actual_minor,repairable,action,repair_job_id"

    public var csvRow: String {
        [
            kind.rawValue, objectType, billingID ?? "", documentNumber ?? "", providerID ?? "", field ?? "", expected ?? "",
            actual ?? "", expectedMinor.map(String.init) ?? "", actualMinor.map(String.init) ?? "", repairable ? "true" : "false",
            action, repairJobID.map(String.init) ?? "",
        ].map(Self.csvField).joined(separator: ",")
    }

    static func csvField(_ text: String) -> String {
        guard text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return text }
        return "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }
}

/// The counts of a reconciliation run.
public struct ReconcileSummary: Sendable, Equatable, Codable {
    public var connectionID: UUID
    public var startedAt: Date
    public var finishedAt: Date
    /// Records read back from the provider.
    public var checked = 0
    /// Of those, the ones that matched in every compared field.
    public var matched = 0
    public var missing = 0
    /// Objects with at least one changed field; `changedFields` counts the fields.
    public var changed = 0
    public var changedFields = 0
    public var extra = 0
    public var unlinked = 0
    /// Pending objects with no provider record yet (a job is on its way): not drift.
    public var inFlight = 0
    /// Records found whose stored document could not be read: compared for existence only.
    public var notCompared = 0
    /// Re-pushes `--repair` enqueued (one per object).
    public var repairsEnqueued = 0

    public init(connectionID: UUID, startedAt: Date) {
        self.connectionID = connectionID
        self.startedAt = startedAt
        finishedAt = startedAt
    }

    /// Whether anything drifted.
    public var hasDrift: Bool { missing + changed + extra + unlinked > 0 }

    enum CodingKeys: String, CodingKey {
        case connectionID = "connection_id"
        case startedAt = "started_at"
        case finishedAt = "finished_at"
        case checked, matched, missing, changed
        case changedFields = "changed_fields"
        case extra, unlinked
        case inFlight = "in_flight"
        case notCompared = "not_compared"
        case repairsEnqueued = "repairs_enqueued"
    }
}
