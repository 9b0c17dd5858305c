import JobQueue

// Apart from DocumentError.swift so that the documents, money and their errors compile
// without the queue (scripts/fuzz.sh builds them alone, with libFuzzer).
extension DocumentError {
    /// A permanent failure with class `invalid_document`: workers fail the job without retrying.
    public var jobError: JobError {
        JobError(action: .fail, errorClass: "invalid_document", message: "\(field): \(message)")
    }
}
