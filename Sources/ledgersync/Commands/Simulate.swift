import ArgumentParser
import Foundation
import LedgerCrypto
import Logging
import NetSuite
import ServiceLifecycle
import Simulators

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a stand-in of an accounting provider, for tests, demos and benchmarks.",
        subcommands: [SimulateNetSuite.self, SimulateZohoBooks.self])
}

struct SimulateNetSuite: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "netsuite",
        abstract: "Serve NetSuite's REST record API for one account, in memory, until SIGTERM/SIGINT.",
        discussion: """
            Checks Token-Based Authentication, validates and upserts records by external id, enforces the concurrency limit and injects seeded faults, as docs/netsuite.md describes. Point a connection's base URL at the printed address. What it holds: GET /_simulator/records/{recordType}, /_simulator/stats, /_simulator/login-audit; POST /_simulator/faults {"rate": 0.1}, /_simulator/reset.

            What records may reference (items, subsidiaries, currencies, locations, nexuses, tax types, tax codes, legacy tax items) is the simulated account's catalogue: --print-catalogue prints it as JSON. The built-in one holds the ids README.md and docs/connections.md use (items 900 fallback, 510 subscription, 520, 530, 540, 550, 601 api_calls, 602 setup_fee, 700 not taxable; subsidiary 1; currencies 1-4; locations 1-3; nexus 1; tax types 10, 11; tax codes 20, 21; tax item 30). --catalogue FILE replaces each list the file names ({"items": [{"id": "599", "name": "Fallback"}], "currencies": ["1", "5"]}), or adds to them with "extend": true; --item, --subsidiary, --currency and --location add one entry each (see docs/netsuite.md, "The catalogue").

            The token set defaults to demo values (demo-consumer-key, demo-consumer-secret, demo-token-id, demo-token-secret); the options, or LEDGERSYNC_SIM_CONSUMER_KEY, LEDGERSYNC_SIM_CONSUMER_SECRET, LEDGERSYNC_SIM_TOKEN_ID and LEDGERSYNC_SIM_TOKEN_SECRET, replace them.
            """)

    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Option(help: "Port to listen on (0 picks a free one).") var port = 8089
    @Option(help: "The account id; requests must name its realm (1234567_SB1).") var account = "1234567_SB1"
    @Option(help: "Consumer key accepted.") var consumerKey: String?
    @Option(help: "Consumer secret accepted.") var consumerSecret: String?
    @Option(help: "Token id accepted.") var tokenID: String?
    @Option(help: "Token secret accepted.") var tokenSecret: String?
    @Option(help: "Requests processed at once; one more gets 429.") var concurrencyLimit = 5
    @Option(help: "Probability of a fault on each write, from 0 to 1.") var faultRate = 0.0
    @Option(help: "Comma-separated faults drawn from: serverError, timeout, dropConnection.")
    var faults = NetSuiteSimulator.Fault.allCases.map(\.rawValue).joined(separator: ",")
    @Option(help: "Seed of the fault draws.") var seed: UInt64 = 42
    @Option(help: "Processing time of each request in milliseconds: a number, or a range such as 5-20.")
    var latencyMs = LatencyRange(0...0)
    @Option(help: "How late the answer of a timeout fault comes.") var timeoutDelay = DurationArgument(.seconds(30))
    @Option(
        help:
            "How long an OAuth 2.0 access token from the token endpoint works (NetSuite: 1 hour). The demo M2M mapping is always accepted.")
    var tokenLifetime = DurationArgument(.seconds(3600))
    @Flag(help: "Require a location on invoices, sales orders and credit memos (a form rule).") var locationRequired = false
    @Option(
        help: ArgumentHelp(
            "A JSON file of the account's items, subsidiaries, currencies, locations and tax ids, replacing the built-in lists it names (\"extend\": true adds to them).",
            valueName: "file"))
    var catalogue: String?
    @Option(help: ArgumentHelp("Add an item (taxable) that transaction lines may name; repeat it.", valueName: "id[=name]"))
    var item: [String] = []
    @Option(help: ArgumentHelp("Add a subsidiary customers may belong to; repeat it.", valueName: "id")) var subsidiary: [String] = []
    @Option(help: ArgumentHelp("Add a currency records may name; repeat it.", valueName: "id")) var currency: [String] = []
    @Option(help: ArgumentHelp("Add a location transactions may name; repeat it.", valueName: "id")) var location: [String] = []
    @Flag(help: "Print the catalogue these options give, as a JSON file --catalogue reads, and exit.") var printCatalogue = false
    @Option(
        name: .customLong("m2m-mapping"),
        help: ArgumentHelp(
            "Add an OAuth 2.0 client credentials (M2M) mapping: the integration's client id, the certificate id, and the certificate (or public key) PEM file uploaded for it; repeat it. The demo mapping stays.",
            valueName: "client_id,certificate_id,file"))
    var m2mMapping: [String] = []

    func validate() throws {
        guard (0...65_535).contains(port) else { throw ValidationError("--port must be from 0 to 65535, got \(port)") }
        do {
            _ = try NetSuiteAccount(accountID: account)
        } catch let error as NetSuiteConfigError {
            throw ValidationError("--account: \(error.message)")
        }
        guard tokenLifetime.duration >= .seconds(1) else { throw ValidationError("--token-lifetime must be at least 1s") }
        guard concurrencyLimit >= 1 else { throw ValidationError("--concurrency-limit must be at least 1, got \(concurrencyLimit)") }
        guard (0...1).contains(faultRate) else {
            throw ValidationError("--fault-rate must be from 0 to 1, got \(String(format: "%g", faultRate))")
        }
        _ = try faultSet()
        _ = try accountCatalogue()
        _ = try m2mMappings()
        for (option, value) in [
            ("--consumer-key", consumerKey), ("--consumer-secret", consumerSecret), ("--token-id", tokenID),
            ("--token-secret", tokenSecret),
        ] {
            if let value, value.isEmpty { throw ValidationError("\(option) must not be empty") }
        }
    }

    func faultSet() throws -> Set<NetSuiteSimulator.Fault> {
        let names = faults.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        return Set(
            try names.map { name in
                guard let fault = NetSuiteSimulator.Fault(rawValue: name) else {
                    let known = NetSuiteSimulator.Fault.allCases.map(\.rawValue).joined(separator: ", ")
                    throw ValidationError("--faults: unknown fault \"\(name)\" (known: \(known))")
                }
                return fault
            })
    }

    /// The built-in catalogue, then `--catalogue`, then the single entries.
    func accountCatalogue() throws -> NetSuiteSimulator.Catalogue {
        var result = NetSuiteSimulator.Catalogue.defaults
        if let catalogue {
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: catalogue))
            } catch {
                throw ValidationError("--catalogue: cannot read \(catalogue): \((error as NSError).localizedDescription)")
            }
            do {
                result = try NetSuiteSimulator.Catalogue.parse(data)
            } catch {
                throw ValidationError("--catalogue \(catalogue): \(error.message)")
            }
        }
        func id(_ text: String, _ option: String) throws -> String {
            do {
                return try NetSuiteSimulator.Catalogue.internalID(text.trimmingCharacters(in: .whitespaces), at: option)
            } catch {
                throw ValidationError(error.message)
            }
        }
        for entry in item {
            let parts = entry.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let itemID = try id(String(parts[0]), "--item")
            let name = parts.count == 2 ? parts[1].trimmingCharacters(in: .whitespaces) : ""
            result.items.removeAll { $0.id == itemID }
            result.items.append(.init(id: itemID, name: name.isEmpty ? "Item \(itemID)" : name))
        }
        for entry in subsidiary { result.subsidiaries.insert(try id(entry, "--subsidiary")) }
        for entry in currency { result.currencies.insert(try id(entry, "--currency")) }
        for entry in location { result.locations.insert(try id(entry, "--location")) }
        return result
    }

    /// The demo mapping and every `--m2m-mapping`, whose certificate must load as a public key.
    func m2mMappings() throws -> [NetSuiteSimulator.M2MMapping] {
        var mappings = [NetSuiteSimulator.Configuration.demoM2MMapping]
        for entry in m2mMapping {
            let parts = entry.split(separator: ",", maxSplits: 2, omittingEmptySubsequences: false).map {
                $0.trimmingCharacters(in: .whitespaces)
            }
            guard parts.count == 3, parts.allSatisfy({ !$0.isEmpty }) else {
                throw ValidationError("--m2m-mapping must be CLIENT_ID,CERTIFICATE_ID,FILE; got \"\(entry.prefix(80))\"")
            }
            guard let data = FileManager.default.contents(atPath: parts[2]), let pem = String(data: data, encoding: .utf8) else {
                throw ValidationError("--m2m-mapping: cannot read the certificate file \(parts[2])")
            }
            guard (try? JWTPublicKey(pem: pem)) != nil else {
                throw ValidationError("--m2m-mapping: \(parts[2]) is not a certificate or public key PEM (RSA or EC)")
            }
            mappings.append(.init(clientID: parts[0], certificateID: parts[1], publicKeyPEM: pem))
        }
        return mappings
    }

    /// The option, else the environment variable, else the demo value.
    func credentials() -> NetSuiteCredentials {
        let environment = ProcessInfo.processInfo.environment
        let demo = NetSuiteSimulator.Configuration.demoCredentials
        func pick(_ option: String?, _ variable: String, _ fallback: String) -> String {
            option ?? environment[variable].flatMap { $0.isEmpty ? nil : $0 } ?? fallback
        }
        return NetSuiteCredentials(
            consumerKey: pick(consumerKey, "LEDGERSYNC_SIM_CONSUMER_KEY", demo.consumerKey),
            consumerSecret: pick(consumerSecret, "LEDGERSYNC_SIM_CONSUMER_SECRET", demo.consumerSecret),
            tokenID: pick(tokenID, "LEDGERSYNC_SIM_TOKEN_ID", demo.tokenID),
            tokenSecret: pick(tokenSecret, "LEDGERSYNC_SIM_TOKEN_SECRET", demo.tokenSecret))
    }

    func run() async throws {
        let accountCatalogue = try accountCatalogue()
        if printCatalogue { return print(accountCatalogue.json) }
        let logger = Logger(label: "ledgersync.simulate")
        var configuration = NetSuiteSimulator.Configuration(
            accountID: account, credentials: [credentials()], concurrencyLimit: concurrencyLimit,
            faultRate: faultRate, faults: try faultSet(), seed: seed, latency: latencyMs.milliseconds,
            timeoutDelay: timeoutDelay.duration, locationRequired: locationRequired, catalogue: accountCatalogue)
        configuration.tokenLifetime = tokenLifetime.duration
        configuration.m2mMappings = try m2mMappings()
        let simulator = NetSuiteSimulator(configuration: configuration, logger: logger)
        let service = SimulatorService(simulator: simulator, host: host, port: port, account: account)
        let group = ServiceGroup(
            configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        do {
            try await group.run()
        } catch {
            throw CLIError.unavailable("netsuite simulator cannot listen on \(host):\(port): \(error)")
        }
    }
}

/// The simulator as a service of the group: serves until SIGTERM/SIGINT, then stops at once.
/// It has nothing to hand back, and a delayed answer (the timeout fault) must not hold the
/// shutdown.
private struct SimulatorService: Service {
    let simulator: NetSuiteSimulator
    let host: String
    let port: Int
    let account: String

    func run() async throws {
        _ = try await simulator.start(host: host, port: port)
        // Unbuffered: a parent process waits for this line on a pipe.
        FileHandle.standardOutput.write(Data("netsuite simulator listening on \(simulator.baseURL) (account \(account))\n".utf8))
        try? await gracefulShutdown()
        await simulator.stop()
    }
}

/// `--latency-ms`: `10` or `5-20` milliseconds.
struct LatencyRange: ExpressibleByArgument, CustomStringConvertible, Sendable {
    let milliseconds: ClosedRange<Double>

    init(_ milliseconds: ClosedRange<Double>) { self.milliseconds = milliseconds }

    init?(argument: String) {
        let bounds = argument.split(separator: "-", maxSplits: 1).map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard let low = bounds.first ?? nil, let high = bounds.count == 2 ? bounds[1] : low,
            low.isFinite, high.isFinite, low >= 0, low <= high
        else { return nil }
        milliseconds = low...high
    }

    var description: String {
        func text(_ value: Double) -> String { value == value.rounded() ? String(Int(value)) : String(value) }
        let (low, high) = (milliseconds.lowerBound, milliseconds.upperBound)
        return low == high ? text(low) : "\(text(low))-\(text(high))"
    }
}
