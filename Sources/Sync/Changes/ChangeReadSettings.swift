import Foundation

/// What a connection reads back from its provider (docs/changes.md), from its settings:
///
/// - `read_changes`: a list of `paid_invoices` (payments at the provider on invoices
///   Ledgersync synced become `invoice.paid_in_provider` webhooks) and record types
///   (`customer`, `invoice`, `sales_order`, `credit_memo`, `payment`: every record of the
///   type created or changed at the provider, by someone other than Ledgersync, becomes a
///   change event and a `<type>.changed_in_provider` webhook). Default: none, nothing is
///   polled and no request is sent.
/// - `poll_interval`: seconds between two polls of one record type (default 60; from 0.2 to
///   86,400).
///
/// Common to every provider: validated with the connection (`AccountingConnection.validate`),
/// not by the drivers.
public enum ChangeReadSettings {
    /// The `read_changes` value that asks for `invoice.paid_in_provider`.
    public static let paidInvoices = "paid_invoices"
    public static let defaultPollInterval: Double = 60
    public static let pollIntervalRange: ClosedRange<Double> = 0.2...86_400

    /// Every value `read_changes` takes.
    public static var choices: [String] { [paidInvoices] + ExternalRef.ObjectType.allCases.map(\.rawValue) }

    public static func validate(_ settings: AccountingConnection.Settings) throws {
        for (index, value) in settings.readChanges.enumerated() where !choices.contains(value) {
            throw StoreError.invalid(
                "settings.read_changes[\(index)]", "unknown value \"\(value.prefix(40))\" (expected: \(choices.joined(separator: ", ")))")
        }
        if let interval = settings.pollInterval, !(interval.isFinite && pollIntervalRange.contains(interval)) {
            throw StoreError.invalid("settings.poll_interval", "must be a number of seconds from 0.2 to 86400, got \(interval)")
        }
    }

    /// The record types polled for `settings` (`paid_invoices` reads the payments), in the
    /// order of `ExternalRef.ObjectType`.
    public static func polledTypes(_ settings: AccountingConnection.Settings) -> [ExternalRef.ObjectType] {
        let wanted = Set(settings.readChanges.map { $0 == paidInvoices ? ExternalRef.ObjectType.payment.rawValue : $0 })
        return ExternalRef.ObjectType.allCases.filter { wanted.contains($0.rawValue) }
    }

    /// Whether changes of `objectType` become change events (opted in by its own name).
    public static func emitsEvents(_ settings: AccountingConnection.Settings, for objectType: ExternalRef.ObjectType) -> Bool {
        settings.readChanges.contains(objectType.rawValue)
    }

    public static func emitsPaidInvoices(_ settings: AccountingConnection.Settings) -> Bool {
        settings.readChanges.contains(paidInvoices)
    }

    public static func pollInterval(_ settings: AccountingConnection.Settings) -> Duration {
        .milliseconds(Int64(((settings.pollInterval ?? defaultPollInterval) * 1000).rounded()))
    }
}
