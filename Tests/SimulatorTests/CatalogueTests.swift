import ExactJSON
import Foundation
import HTTPClient
import NetSuite
import Simulators
import Sync
import Testing

/// The simulated account's catalogue: what records may reference, refused as NetSuite refuses
/// an unknown reference, and configurable by a file or the CLI (docs/netsuite.md, "The catalogue").
@Suite("NetSuiteSimulator catalogue", .timeLimit(.minutes(2)))
struct NetSuiteSimulatorCatalogueTests {
    /// A reference to an id the catalogue lacks fails as NetSuite's INVALID_KEY_OR_REF at the
    /// field's path, and the worker reads it as permanent (not a dependency to wait for).
    static func expectUnknownReference(
        _ response: HTTPResponse, path: String, id: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(response.status == 400, "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.netSuiteError.code == "INVALID_KEY_OR_REF", sourceLocation: sourceLocation)
        #expect(response.netSuiteError.path == path, sourceLocation: sourceLocation)
        #expect(response.netSuiteError.detail?.contains(id) == true, sourceLocation: sourceLocation)
        #expect(response.errorClass == .permanent, sourceLocation: sourceLocation)
    }

    @Test("the built-in catalogue refuses a currency, location, nexus, tax type, tax code or tax item it does not list")
    func unknownReferencesRefused() async throws {
        try await SimulatorHarness.run { sim in
            let customer = try await sim.createCustomer("cus_1")
            Self.expectUnknownReference(
                try await sim.upsert("customer", "cus_2", Bodies.customer("cus_2", extra: #", "currency": {"id": "9"}"#)), path: "currency",
                id: "9")
            let cases: [(extra: String, path: String, id: String)] = [
                (#", "currency": {"id": "9"}"#, "currency", "9"),
                (#", "location": {"id": "44"}"#, "location", "44"),
                (#", "nexus": {"id": "7"}"#, "nexus", "7"),
                (#", "taxItem": {"id": "31"}"#, "taxItem", "31"),
                (
                    #", "taxDetailsOverride": true, "taxDetails": {"items": [{"taxDetailsReference": "fee_0", "taxType": {"id": "2"}, "taxCode": {"id": "20"}, "taxAmount": 0.20}]}"#,
                    "taxDetails.items[0].taxType", "2"
                ),
                (
                    #", "taxDetailsOverride": true, "taxDetails": {"items": [{"taxDetailsReference": "fee_0", "taxType": {"id": "10"}, "taxCode": {"id": "3"}, "taxAmount": 0.20}]}"#,
                    "taxDetails.items[0].taxCode", "3"
                ),
            ]
            for (index, c) in cases.enumerated() {
                let response = try await sim.upsert(
                    "invoice", "inv_\(index)", Bodies.invoice("inv_\(index)", customer: customer, amounts: ["1.00"], extra: c.extra))
                Self.expectUnknownReference(response, path: c.path, id: c.id)
            }
            let payment = try await sim.upsert(
                "customerPayment", "pay_1",
                #"{"customer": {"id": "\#(customer)"}, "payment": 1.00, "currency": {"id": "12"}}"#)
            Self.expectUnknownReference(payment, path: "currency", id: "12")
            #expect(sim.simulator.records(.invoice).isEmpty)
            #expect(sim.simulator.stats.writes == 1, "only the first customer was written")

            // Every id of the built-in lists is accepted, in the same places.
            let listed =
                #", "currency": {"id": "4"}, "location": {"id": "2"}, "nexus": {"id": "1"}, "taxItem": {"id": "30"}, "taxDetailsOverride": true, "taxDetails": {"items": [{"taxDetailsReference": "fee_0", "taxType": {"id": "11"}, "taxCode": {"id": "21"}, "taxAmount": 0.20}]}"#
            let accepted = try await sim.upsert(
                "invoice", "inv_ok", Bodies.invoice("inv_ok", customer: customer, amounts: ["1.00"], extra: listed))
            #expect(accepted.status == 204, "\(accepted.text)")
            #expect(sim.simulator.records(.invoice).map(\.externalID) == ["inv_ok"])
        }
    }

    @Test("a configured catalogue replaces the built-in lists: its ids are accepted, the built-in ones no longer")
    func configuredCatalogue() async throws {
        let file =
            #"{"items": [{"id": "599", "name": "Fallback"}, {"id": "501", "taxable": false}], "subsidiaries": ["3"], "currencies": ["8"]}"#
        let catalogue = try NetSuiteSimulator.Catalogue.parse(Data(file.utf8))
        #expect(catalogue.items == [.init(id: "599", name: "Fallback"), .init(id: "501", name: "Item 501", taxable: false)])
        #expect(catalogue.subsidiaries == ["3"] && catalogue.currencies == ["8"])
        #expect(
            catalogue.locations == NetSuiteSimulator.Catalogue.defaults.locations, "a list the file does not name keeps its built-in ids")

        try await SimulatorHarness.run(.init(credentials: [SimulatorHarness.credentials], catalogue: catalogue)) { sim in
            Self.expectUnknownReference(try await sim.upsert("customer", "cus_1", Bodies.customer("cus_1")), path: "subsidiary", id: "1")
            let created = try await sim.upsert(
                "customer", "cus_1", Bodies.customer("cus_1", subsidiary: "3", extra: #", "currency": {"id": "8"}"#))
            #expect(created.status == 204, "\(created.text)")
            let customer = try #require(sim.simulator.records(.customer).first?.internalID)

            Self.expectUnknownReference(
                try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"], item: "510")),
                path: "item.items[0].item", id: "510")
            #expect(
                try await sim.upsert("invoice", "inv_1", Bodies.invoice("inv_1", customer: customer, amounts: ["1.00"], item: "599")).status
                    == 204)
            let untaxable = try await sim.upsert(
                "invoice", "inv_2",
                Bodies.invoice("inv_2", customer: customer, amounts: ["1.00"], item: "501", extra: #", "taxDetailsOverride": true"#))
            #expect(untaxable.netSuiteError.detail?.contains("not taxable") == true, "\(untaxable.text)")
            #expect(sim.simulator.records(.invoice).map(\.externalID) == ["inv_1"])
        }
    }

    @Test("\"extend\": true adds to the built-in lists instead of replacing them, and replaces an item by id")
    func extendedCatalogue() throws {
        let file =
            #"{"extend": true, "items": [{"id": "599"}, {"id": "700", "name": "Service", "taxable": true}], "tax_codes": ["3"], "currencies": []}"#
        let catalogue = try NetSuiteSimulator.Catalogue.parse(Data(file.utf8))
        let defaults = NetSuiteSimulator.Catalogue.defaults
        #expect(catalogue.items.map(\.id).sorted() == (defaults.items.map(\.id) + ["599"]).sorted())
        #expect(catalogue.items.first { $0.id == "700" } == .init(id: "700", name: "Service", taxable: true))
        #expect(catalogue.taxCodes == defaults.taxCodes.union(["3"]))
        #expect(catalogue.currencies == defaults.currencies)
    }

    @Test("the printed catalogue is a file that reads back as the same catalogue")
    func printedCatalogueRoundTrips() throws {
        let defaults = NetSuiteSimulator.Catalogue.defaults
        let json = defaults.json
        #expect(
            try NetSuiteSimulator.Catalogue.parse(
                Data(json.utf8),
                base: .init(
                    items: [], subsidiaries: [], currencies: [], locations: [],
                    nexuses: [], taxTypes: [], taxCodes: [], taxItems: [])) == defaults)
        let root = try ExactJSON.parse(json)
        #expect(root.objectMembers.map(\.key) == NetSuiteSimulator.Catalogue.members)
        #expect(root["items"]?.arrayValue?.first { $0["id"] == .string("700") }?["taxable"] == .bool(false))
    }

    @Test("a bad catalogue file is refused with a message naming the member at fault")
    func badFilesNamed() {
        let cases: [(String, String)] = [
            ("[1]", "must be a JSON object"),
            ("{\"items\": [", "not valid JSON"),
            (#"{"itmes": []}"#, #"unknown member "itmes""#),
            (#"{"currencies": [1]}"#, "currencies[0] must be a string"),
            (#"{"currencies": "1"}"#, "currencies must be an array"),
            (#"{"locations": ["a b"]}"#, #"locations[0]: "a b" is not an internal id"#),
            (#"{"items": [{"id": "1"}, {"id": "1"}]}"#, "items[1].id: item 1 is listed twice"),
            (#"{"items": [{"name": "x"}]}"#, "items[0].id is missing"),
            (#"{"items": [{"id": "1", "price": 3}]}"#, "items[0].price is not an item member"),
            (#"{"items": [{"id": "1", "taxable": "yes"}]}"#, "items[0].taxable must be true or false"),
            (#"{"extend": 1}"#, "extend must be true or false"),
            (#"{"nexuses": [], "nexuses": []}"#, #"member "nexuses" appears twice"#),
        ]
        for (file, message) in cases {
            do {
                _ = try NetSuiteSimulator.Catalogue.parse(Data(file.utf8))
                Issue.record("\(file) was accepted")
            } catch {
                #expect(error.message.contains(message), "\(file): \(error.message)")
            }
        }
    }

    /// The CLI's options, through the real binary (scripts/test.sh sets LEDGERSYNC_BIN).
    @Test("ledgersync simulate netsuite: --catalogue, --item, --subsidiary, --currency, --location and their errors")
    func commandLine() throws {
        let binary = try #require(
            ProcessInfo.processInfo.environment["LEDGERSYNC_BIN"], "LEDGERSYNC_BIN is not set: run the tests with scripts/test.sh")
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("catalogue-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("catalogue.json")
        try Data(#"{"items": [{"id": "599", "name": "Fallback"}], "currencies": ["8"]}"#.utf8).write(to: file)

        let printed = try Self.run(
            binary,
            [
                "simulate", "netsuite", "--catalogue", file.path, "--item", "501=API calls", "--subsidiary", "2",
                "--currency", "9", "--location", "12", "--print-catalogue",
            ])
        #expect(printed.status == 0, "\(printed.stderr)")
        let catalogue = try NetSuiteSimulator.Catalogue.parse(Data(printed.stdout.utf8))
        #expect(catalogue.items == [.init(id: "599", name: "Fallback"), .init(id: "501", name: "API calls")])
        #expect(catalogue.subsidiaries == ["1", "2"] && catalogue.currencies == ["8", "9"])
        #expect(catalogue.locations == NetSuiteSimulator.Catalogue.defaults.locations.union(["12"]))

        let builtIn = try Self.run(binary, ["simulate", "netsuite", "--print-catalogue"])
        #expect(try NetSuiteSimulator.Catalogue.parse(Data(builtIn.stdout.utf8)) == .defaults)

        let missing = try Self.run(
            binary, ["simulate", "netsuite", "--catalogue", directory.appendingPathComponent("absent.json").path, "--print-catalogue"])
        #expect(missing.status == 64 && missing.stderr.contains("--catalogue: cannot read"), "\(missing.stderr)")
        try Data(#"{"currencies": [1]}"#.utf8).write(to: file)
        let bad = try Self.run(binary, ["simulate", "netsuite", "--catalogue", file.path, "--print-catalogue"])
        #expect(bad.status == 64 && bad.stderr.contains("currencies[0] must be a string"), "\(bad.stderr)")
        let badItem = try Self.run(binary, ["simulate", "netsuite", "--item", "=x", "--print-catalogue"])
        #expect(badItem.status == 64 && badItem.stderr.contains("--item"), "\(badItem.stderr)")
    }

    static func run(_ binary: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // The outputs here are a few kilobytes at most: read one, then the other, then wait.
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        let err = stderr.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: out, as: UTF8.self), String(decoding: err, as: UTF8.self))
    }
}
