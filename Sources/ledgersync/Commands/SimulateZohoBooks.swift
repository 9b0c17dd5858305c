import ArgumentParser
import Foundation
import Logging
import ServiceLifecycle
import Simulators

struct SimulateZohoBooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "zoho-books",
        abstract: "Serve Zoho Books API v3 and Zoho's accounts server, in memory, until SIGTERM/SIGINT.",
        discussion: """
            One self client and one organization in the chosen data centre (docs/zoho-books.md, "Zoho Books simulator"): POST /oauth/v2/token exchanges a grant code (single use, expiring) or a refresh token; /books/v3/contacts, /books/v3/invoices and /books/v3/creditnotes need Authorization: Zoho-oauthtoken <token> and ?organization_id=; PUT /books/v3/invoices with X-Unique-Identifier-Key, X-Unique-Identifier-Value and X-Upsert: true upserts by a unique custom field. Requests under /dc/<dc>/ go to another data centre, which knows none of these. A grant code is printed at start; POST /_simulator/grant-codes {"client_id": "…"} makes another. Inspection: GET /_simulator/records/{contacts|invoices|creditnotes}, /_simulator/stats, /_simulator/token-requests; POST /_simulator/faults {"rate": 0.1}, /_simulator/reset.

            The self client defaults to demo values (client id 1000.DEMOSELFCLIENT, secret demo-self-client-secret); --client-id and --client-secret, or LEDGERSYNC_SIM_ZOHO_CLIENT_ID and LEDGERSYNC_SIM_ZOHO_CLIENT_SECRET, replace them.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8090
    @Option(help: "The data centre of requests without a /dc/<dc> prefix (com, eu, in, com.au, jp, ca, sa, com.cn).")
    var dataCenter = "com"
    @Option(help: "The self client's id.") var clientID: String?
    @Option(help: "The self client's secret.") var clientSecret: String?
    @Option(help: "The organization id requests must name.") var organizationID = ZohoBooksSimulator.Organization.demo.id
    @Option(help: "API requests per organization per window (Zoho: 100 per minute).") var requestsPerWindow = 100
    @Option(help: "Length of the request window (Zoho: 60s).") var window = DurationArgument(.seconds(60))
    @Option(help: "API requests per organization per day (Zoho: 1000 to 10000 by plan).") var dailyQuota = 1000
    @Option(help: "Length of the quota's day.") var dayLength = DurationArgument(.seconds(86_400))
    @Option(help: "API calls of an organization in processing at once; one more gets 429.") var concurrencyLimit = 10
    @Option(help: "How long an access token works (Zoho: 1 hour).") var tokenLifetime = DurationArgument(.seconds(3600))
    @Option(help: "How long a grant code can be exchanged (Zoho's default: 3 minutes).") var grantCodeLifetime = DurationArgument(
        .seconds(180))
    @Option(help: "Access tokens per refresh token per refresh window.") var refreshLimit = 10
    @Option(help: "Length of the refresh window.") var refreshWindow = DurationArgument(.seconds(600))
    @Option(
        help: ArgumentHelp(
            "A custom field configured to refuse duplicate values, which X-Unique-Identifier-Key may name; repeat it. Default: cf_ledgersync_id on contacts, invoices, creditnotes, salesorders and customerpayments.",
            valueName: "module=cf_name"))
    var uniqueField: [String] = []
    @Option(help: "Probability of a fault on each write, from 0 to 1.") var faultRate = 0.0
    @Option(help: "Comma-separated faults drawn from: serverError, timeout, dropConnection.")
    var faults = ZohoBooksSimulator.Fault.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Seed of the fault draws.") var seed: UInt64 = 42
    @Option(help: "How late the answer of a timeout fault comes.") var timeoutDelay = DurationArgument(.seconds(30))

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        for (option, value) in [
            ("--requests-per-window", requestsPerWindow), ("--daily-quota", dailyQuota),
            ("--concurrency-limit", concurrencyLimit), ("--refresh-limit", refreshLimit),
        ]
        where value < 1 {
            throw ValidationError("\(option) must be at least 1, got \(value)")
        }
        for (option, value) in [
            ("--window", window), ("--day-length", dayLength), ("--token-lifetime", tokenLifetime),
            ("--grant-code-lifetime", grantCodeLifetime), ("--refresh-window", refreshWindow),
        ]
        where value.duration < .seconds(1) {
            throw ValidationError("\(option) must be at least 1s")
        }
        guard (0...1).contains(faultRate) else {
            throw ValidationError("--fault-rate must be from 0 to 1, got \(String(format: "%g", faultRate))")
        }
        guard !organizationID.isEmpty else { throw ValidationError("--organization-id must not be empty") }
        _ = try faultSet()
        _ = try uniqueFields()
    }

    func faultSet() throws -> Set<ZohoBooksSimulator.Fault> {
        let names = faults.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return Set(
            try names.map { name in
                guard let fault = ZohoBooksSimulator.Fault(rawValue: name) else {
                    let known = ZohoBooksSimulator.Fault.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ValidationError("--faults: unknown fault \"\(name)\" (known: \(known))")
                }
                return fault
            })
    }

    func uniqueFields() throws -> [String: Set<String>] {
        guard !uniqueField.isEmpty else { return ZohoBooksSimulator.Configuration().uniqueCustomFields }
        var fields: [String: Set<String>] = [:]
        for entry in uniqueField {
            let parts = entry.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard parts.count == 2, ["contacts", "invoices", "creditnotes", "salesorders", "customerpayments"].contains(parts[0]),
                parts[1].hasPrefix("cf_")
            else {
                throw ValidationError(
                    "--unique-field must be MODULE=cf_NAME with MODULE contacts, invoices, creditnotes, salesorders or customerpayments; got \"\(entry.prefix(80))\""
                )
            }
            fields[parts[0], default: []].insert(parts[1])
        }
        return fields
    }

    func run() async throws {
        let environment = ProcessInfo.processInfo.environment
        func pick(_ option: String?, _ variable: String, _ fallback: String) -> String {
            option ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        }
        let client = ZohoBooksSimulator.SelfClient(
            clientID: pick(clientID, "LEDGERSYNC_SIM_ZOHO_CLIENT_ID", ZohoBooksSimulator.SelfClient.demo.clientID),
            clientSecret: pick(clientSecret, "LEDGERSYNC_SIM_ZOHO_CLIENT_SECRET", ZohoBooksSimulator.SelfClient.demo.clientSecret),
            dataCenter: dataCenter)
        let configuration = ZohoBooksSimulator.Configuration(
            dataCenter: dataCenter, selfClients: [client],
            organizations: [.init(id: organizationID, dataCenter: dataCenter)],
            grantCodeLifetime: grantCodeLifetime.duration, accessTokenLifetime: tokenLifetime.duration,
            accessTokensPerRefreshWindow: refreshLimit, refreshWindow: refreshWindow.duration,
            requestsPerWindow: requestsPerWindow, minuteWindow: window.duration, dailyQuota: dailyQuota,
            dayLength: dayLength.duration, concurrencyLimit: concurrencyLimit, uniqueCustomFields: try uniqueFields(),
            faultRate: faultRate, faults: try faultSet(), seed: seed, timeoutDelay: timeoutDelay.duration)
        let logger = Logger(label: "ledgersync.simulate")
        let simulator = ZohoBooksSimulator(configuration: configuration, logger: logger)
        let service = ZohoBooksSimulatorService(
            simulator: simulator, host: host, port: port, client: client, organizationID: organizationID)
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw CLIError.unavailable("zoho-books simulator cannot listen on \(host):\(port): \(error)")
        }
    }
}

/// Serves until SIGTERM/SIGINT, then stops at once.
private struct ZohoBooksSimulatorService: Service {
    let simulator: ZohoBooksSimulator
    let host: String
    let port: Int
    let client: ZohoBooksSimulator.SelfClient
    let organizationID: String

    func run() async throws {
        _ = try await simulator.start(host: host, port: port)
        let code = try simulator.issueGrantCode(clientID: client.clientID)
        // Unbuffered: a parent process waits for the first line on a pipe. The grant code is
        // a one-time test value of a stand-in, not a secret of a real account.
        FileHandle.standardOutput.write(
            Data(
                """
                zoho-books simulator listening on \(simulator.baseURL) (data centre \(client.dataCenter), organization \(organizationID))
                grant code for client \(client.clientID): \(code)

                """.utf8))
        try? await gracefulShutdown()
        await simulator.stop()
    }
}
