/// A billing document that does not decode or does not validate, with the path of the field
/// at fault as the sender wrote it: `invoice.fees[2].units: must not be negative, got "-3"`.
///
/// Bad data does not get better by retrying, so as a job error it fails the job at once.
public struct DocumentError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A path like "invoice.fees[2].units": the document's root, then JSON keys and indices.
    public let field: String
    /// One line, e.g. `must not be negative, got "-3"`.
    public let message: String

    public init(field: String, message: String) {
        self.field = field
        self.message =
            message
            .split(whereSeparator: \.isNewline).joined(separator: " ")
    }

    public var description: String { "\(field): \(message)" }
}
