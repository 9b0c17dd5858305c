import ArgumentParser
import Foundation
import Postgres
import Sync

struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Add, list and remove the endpoints Ledgersync sends its webhooks to.",
        discussion: """
            Every delivery is signed the Standard Webhooks way (webhook-id, webhook-timestamp, webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>) under the endpoint's secret, which is sealed with LEDGERSYNC_SECRET_KEY in the database and never printed after add or rotate-secret.
            """,
        subcommands: [Add.self, List.self, Remove.self, RotateSecret.self])

    static let eventTypes = WebhookDelivery.eventTypes

    static let secretVariable = "LEDGERSYNC_WEBHOOK_SECRET"
}

/// What `--json` prints of an endpoint: never its secret.
struct WebhookEndpointSummary: Encodable {
    let id: String
    let url: String
    /// nil: every event type.
    let eventTypes: [String]?
    let disabled: Bool
    let createdAt: Date

    init(_ endpoint: WebhookEndpoint) {
        id = endpoint.id.uuidString.lowercased()
        url = endpoint.url
        eventTypes = endpoint.eventTypes
        disabled = endpoint.disabled
        createdAt = endpoint.createdAt
    }

    /// Writes `event_types: null` rather than leaving it out: null means "all events".
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(id, forKey: .id)
        try container.encode(url, forKey: .url)
        try container.encode(eventTypes, forKey: .eventTypes)
        try container.encode(disabled, forKey: .disabled)
        try container.encode(createdAt, forKey: .createdAt)
    }

    enum CodingKeys: String, CodingKey { case id, url, eventTypes, disabled, createdAt }
}

extension Webhooks {
    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add a webhook endpoint; prints its id.",
            discussion: """
                The signing secret comes from LEDGERSYNC_WEBHOOK_SECRET or --secret-file (a file, or - for stdin), never from the command line. With neither, a random one (whsec_ and base64 of 32 bytes) is generated and printed once: store it at the receiver, it will not be shown again.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Where deliveries are POSTed (http:// or https://).") var url: String
        @Option(
            help:
                "Event types to receive, comma-separated (default: all): customer.accounting_provider_error, integration.provider_error, invoice.paid_in_provider."
        )
        var events: String?
        @Option(help: ArgumentHelp("A file holding the signing secret; '-' reads it from stdin.", valueName: "path")) var secretFile:
            String?
        @Flag(help: "Print JSON (with the secret only when it was generated).") var json = false

        func validate() throws {
            _ = try eventTypes()
        }

        func eventTypes() throws -> [String]? {
            guard let events else { return nil }
            let types = events.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
            guard !types.isEmpty else { throw ValidationError("--events must name at least one event type, or be left out for all") }
            if let unknown = types.first(where: { !Webhooks.eventTypes.contains($0) }) {
                throw ValidationError(
                    "--events: unknown event type \"\(unknown.prefix(60))\" (known: \(Webhooks.eventTypes.joined(separator: ", ")))")
            }
            var unique: [String] = []
            for type in types where !unique.contains(type) { unique.append(type) }
            return unique
        }

        /// The secret, and whether it was generated here (and so must be shown once).
        func secret() throws -> (value: String, generated: Bool) {
            if let secretFile {
                let text = String(decoding: try readSecretInput(secretFile, option: "--secret-file"), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw CLIError.usage("--secret-file \(secretFile) is empty") }
                return (text, false)
            }
            if let text = ProcessInfo.processInfo.environment[Webhooks.secretVariable]?.trimmingCharacters(in: .whitespacesAndNewlines),
                !text.isEmpty
            {
                return (text, false)
            }
            return (StandardWebhooks.generateSecret(), true)
        }

        func run() async throws {
            let eventTypes = try eventTypes()
            let box = try secretBoxFromEnvironment()
            let secret = try secret()
            let pool = try await database.openPool(maxConnections: 1)
            try await checkSecretKey(box, pool: pool)
            let endpoint = try await withStoreErrors(options: ["url": "--url", "event_types": "--events"]) {
                try await WebhookEndpointStore(pool: pool, secretBox: box).create(
                    url: url.trimmingCharacters(in: .whitespaces), secret: secret.value, eventTypes: eventTypes)
            }
            await pool.close()
            let note = "this is the only time the signing secret is shown: it will not be shown again"
            if json {
                struct Created: Encodable {
                    let endpoint: WebhookEndpointSummary
                    let secret: String?
                }
                try printJSON(Created(endpoint: WebhookEndpointSummary(endpoint), secret: secret.generated ? secret.value : nil))
                // On stderr, so the JSON on stdout stays parseable.
                if secret.generated { FileHandle.standardError.write(Data("ledgersync: \(note)\n".utf8)) }
                return
            }
            print("added webhook endpoint \(endpoint.id.uuidString.lowercased())")
            if secret.generated {
                print("signing secret: \(secret.value)")
                print("(\(note); store it at the receiver now)")
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List webhook endpoints, oldest first (no secrets).")
        @OptionGroup var database: DatabaseOptions
        @Flag(help: "Print JSON.") var json = false

        func run() async throws {
            // The store opens every secret as it reads; a wrong key fails here, not at the
            // first delivery.
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            let endpoints = try await withStoreErrors { try await WebhookEndpointStore(pool: pool, secretBox: box).list() }
            await pool.close()
            let summaries = endpoints.map(WebhookEndpointSummary.init)
            if json { return try printJSON(summaries) }
            guard !summaries.isEmpty else { return print("no webhook endpoints") }
            var table = [["ID", "EVENTS", "DISABLED", "CREATED", "URL"]]
            for summary in summaries {
                table.append([
                    summary.id, summary.eventTypes?.joined(separator: ",") ?? "all", summary.disabled ? "yes" : "no",
                    format(summary.createdAt), summary.url,
                ])
            }
            printTable(table)
        }
    }

    struct RotateSecret: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate-secret",
            abstract: "Give an endpoint a new signing secret; the old one keeps signing beside it for --overlap.",
            discussion: """
                Prints the new secret once (or takes it from LEDGERSYNC_WEBHOOK_SECRET or --secret-file). Until the overlap ends, every delivery carries two signatures in webhook-signature, one per secret, so the receiver can switch to the new secret at any moment; then the old one stops signing.
                """)
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The endpoint id.") var id: UUIDArgument
        @Option(help: "How long the old secret keeps signing (e.g. 24h, 30m, 0 to retire it now; at most 30d).")
        var overlap = DurationArgument(.seconds(86_400))
        @Option(help: ArgumentHelp("A file holding the new signing secret; '-' reads it from stdin.", valueName: "path")) var secretFile:
            String?
        @Flag(help: "Print JSON.") var json = false

        func validate() throws {
            guard overlap.duration <= .seconds(30 * 86_400) else { throw ValidationError("--overlap must be at most 30d") }
        }

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            var given: String?
            if let secretFile {
                let text = String(decoding: try readSecretInput(secretFile, option: "--secret-file"), as: UTF8.self)
                    .trimmingCharacters(in: .whitespacesAndNewlines)
                guard !text.isEmpty else { throw CLIError.usage("--secret-file \(secretFile) is empty") }
                given = text
            } else if let text = ProcessInfo.processInfo.environment[Webhooks.secretVariable]?.trimmingCharacters(
                in: .whitespacesAndNewlines),
                !text.isEmpty
            {
                given = text
            }
            let pool = try await database.openPool(maxConnections: 2)
            try await checkSecretKey(box, pool: pool)
            let (endpoint, secret) = try await withStoreErrors(options: ["overlap": "--overlap"]) {
                try await WebhookEndpointStore(pool: pool, secretBox: box).rotateSecret(id.uuid, overlap: overlap.duration, secret: given)
            }
            await pool.close()
            let until = endpoint.previousSecretExpiresAt.map(format) ?? "now"
            if json {
                struct Rotated: Encodable {
                    let endpoint: WebhookEndpointSummary
                    let secret: String?
                    let previousSecretExpiresAt: Date?
                }
                return try printJSON(
                    Rotated(
                        endpoint: WebhookEndpointSummary(endpoint), secret: given == nil ? secret : nil,
                        previousSecretExpiresAt: endpoint.previousSecretExpiresAt))
            }
            print("rotated the signing secret of webhook endpoint \(id.text); the previous secret signs until \(until)")
            if given == nil {
                print("signing secret: \(secret)")
                print("(this is the only time it is shown; store it at the receiver now)")
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a webhook endpoint.",
            discussion: "Deliveries already queued for it fail when they run. Needs no LEDGERSYNC_SECRET_KEY.")
        @OptionGroup var database: DatabaseOptions
        @Argument(help: "The endpoint id.") var id: UUIDArgument

        func run() async throws {
            let pool = try await database.openPool(maxConnections: 1)
            let removed = try await WebhookEndpointStore(pool: pool, secretBox: unusedSecretBox()).delete(id.uuid)
            await pool.close()
            guard removed else { throw CLIError.notFound("no webhook endpoint \(id.text)") }
            print("removed webhook endpoint \(id.text)")
        }
    }
}
