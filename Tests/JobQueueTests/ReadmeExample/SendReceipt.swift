import JobQueue

struct SendReceipt: JobHandler {
    struct Args: Codable, Sendable {
        let invoiceID: String
        let email: String
    }

    static let kind = "receipt.send"

    func run(_ args: Args, context: JobContext) async throws {
        guard args.email.contains("@") else {
            // Retrying cannot fix this: fail now, with a class and a message.
            throw JobError.permanent("email \"\(args.email)\" is not an address")
        }
        // … send it; any other error thrown here is retried with the kind's backoff.
        context.logger.info("receipt sent", metadata: ["invoice": "\(args.invoiceID)"])
    }
}
