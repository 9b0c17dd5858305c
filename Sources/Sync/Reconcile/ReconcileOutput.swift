import Foundation

/// How `ledgersync reconcile` writes a report as it streams: a table (default), JSON lines
/// (`--json`: one finding object per line, then one `{"summary": …}` line), or CSV (`--csv`:
/// a header, one row per finding; the counts go to stderr). Each finding is written when it
/// is found, so the output never waits for (nor holds) the whole report.
public enum ReconcileFormat: String, Sendable, CaseIterable {
    case table, json, csv

    /// Exit status of a run: 0 clean, `driftExitCode` when anything drifted.
    public static let driftExitCode: Int32 = 3

    /// The lines to write before the first finding.
    public var header: [String] {
        switch self {
        case .table:
            [ReconcileFormat.tableRow(["KIND", "OBJECT", "BILLING ID", "NUMBER", "PROVIDER ID", "FIELD", "EXPECTED", "ACTUAL", "ACTION"])]
        case .json: []
        case .csv: [ReconcileFinding.csvHeader]
        }
    }

    /// One finding as one line.
    public func line(_ finding: ReconcileFinding) throws -> String {
        switch self {
        case .table:
            var action = finding.action
            if let job = finding.repairJobID { action = "re-push enqueued (job \(job))" }
            return Self.tableRow([
                finding.kind.rawValue, finding.objectType, finding.billingID ?? "-", finding.documentNumber ?? "-",
                finding.providerID ?? "-", finding.field ?? "-", finding.expected ?? "-", finding.actual ?? "-", action,
            ])
        case .json: return try Self.json(finding)
        case .csv: return finding.csvRow
        }
    }

    /// The lines after the last finding (for CSV, none: the counts go to stderr).
    public func footer(_ summary: ReconcileSummary) throws -> [String] {
        switch self {
        case .table: return ["", Self.sentence(summary)]
        case .json:
            struct Wrapper: Encodable { let summary: ReconcileSummary }
            return [try Self.json(Wrapper(summary: summary))]
        case .csv: return []
        }
    }

    /// "checked 120: 117 matched, 1 missing, 2 changed (3 fields), 1 extra, 0 unlinked, 0 in flight".
    public static func sentence(_ summary: ReconcileSummary) -> String {
        var text =
            "checked \(summary.checked): \(summary.matched) matched, \(summary.missing) missing, \(summary.changed) changed (\(summary.changedFields) fields), \(summary.extra) extra, \(summary.unlinked) unlinked, \(summary.inFlight) in flight"
        if summary.notCompared > 0 { text += ", \(summary.notCompared) not compared (stored document unreadable)" }
        if summary.repairsEnqueued > 0 { text += "; \(summary.repairsEnqueued) re-pushes enqueued" }
        text += summary.hasDrift ? " — drift" : " — clean"
        return text
    }

    static let widths = [9, 12, 24, 16, 12, 16, 18, 18]

    /// Fixed-width columns (a value too long for its column is cut with "…"); the last
    /// column (the action) is written whole.
    static func tableRow(_ cells: [String]) -> String {
        var out = ""
        for (index, cell) in cells.enumerated() {
            guard index < widths.count else {
                out += cell
                break
            }
            let width = widths[index]
            let text = cell.count > width ? String(cell.prefix(width - 1)) + "…" : cell
            out += text + String(repeating: " ", count: width - text.count + 1)
        }
        return out
    }

    static func json(_ value: some Encodable) throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return String(decoding: try encoder.encode(value), as: UTF8.self)
    }
}
