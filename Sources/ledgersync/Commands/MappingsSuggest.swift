import ArgumentParser
import Foundation
import Postgres
import Sync

extension Mappings {
    /// `mappings suggest`: mappings for the billing codes of queued documents, by exact code or
    /// name at the provider; written only with --apply.
    struct Suggest: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose mappings for the billing codes seen in queued documents, by exact code or name at the provider.",
            discussion: """
                The billing codes are those of the documents of the connection's sync jobs that are waiting, running or retrying, and of those that failed on a missing mapping (invalid_mapping): fee item codes (item mappings), tax codes (tax) and currencies (currency). Codes that already have a mapping of their kind are left out.

                Each is looked up in the provider's reference data (as `ledgersync provider list` reads it): the record whose code is the billing code exactly, else whose name is, else whose name is the billing item's or tax's name (case included). An active record is preferred to an inactive one. One match is proposed; two or more are ambiguous and none is unmatched: neither is written. A proposal the provider would refuse as it stands (NetSuite: a tax mapping needs its SuiteTax nexus and type, or legacy_tax_item) is incomplete: finish it with `mappings set --detail`.

                Without --apply nothing is written. With --apply the proposed mappings are set as `mappings set` sets them; then retry the failed jobs (`ledgersync jobs retry`).
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection: its id, or its name.") var connection: String
        @Flag(help: "Write the proposed mappings (default: only print them).") var apply = false
        @Option(help: "How long one request to the provider may take.") var requestTimeout = DurationArgument(.seconds(60))
        @Flag(help: "Print the result as JSON.") var json = false

        /// What `--json` prints of one suggestion.
        struct Output: Encodable {
            let kind: String
            let billingKey: String
            let billingNames: [String]
            let jobs: Int
            let jobIds: [Int64]
            /// proposed, applied, ambiguous, unmatched, incomplete
            let result: String
            let matchedBy: String?
            let providerId: String?
            let providerName: String?
            let candidates: [ReferenceRecordSummary]
            let message: String?

            init(_ suggestion: MappingSuggestion) {
                kind = suggestion.code.kind.rawValue
                billingKey = suggestion.code.key
                billingNames = suggestion.code.names
                jobs = suggestion.code.jobCount
                jobIds = suggestion.code.jobIDs
                result = suggestion.outcome.rawValue
                matchedBy = suggestion.matchedBy
                providerId = suggestion.mapping?.providerID
                providerName = suggestion.mapping?.providerName
                candidates = suggestion.candidates.map(ReferenceRecordSummary.init)
                message = suggestion.message
            }

            func encode(to encoder: any Encoder) throws {
                var c = encoder.container(keyedBy: CodingKeys.self)
                try c.encode(kind, forKey: .kind)
                try c.encode(billingKey, forKey: .billingKey)
                try c.encode(billingNames, forKey: .billingNames)
                try c.encode(jobs, forKey: .jobs)
                try c.encode(jobIds, forKey: .jobIds)
                try c.encode(result, forKey: .result)
                try c.encode(matchedBy, forKey: .matchedBy)
                try c.encode(providerId, forKey: .providerId)
                try c.encode(providerName, forKey: .providerName)
                try c.encode(candidates, forKey: .candidates)
                try c.encode(message, forKey: .message)
            }

            enum CodingKeys: String, CodingKey {
                case kind, billingKey, billingNames, jobs, jobIds, result, matchedBy, providerId, providerName, candidates, message
            }
        }

        func run() async throws {
            let box = try secretBoxFromEnvironment()
            let pool = try await database.openPool(maxConnections: 1)
            var suggestions: [MappingSuggestion] = []
            do {
                try await checkSecretKey(box, pool: pool)
                let connection = try await ProviderCommand.connection(connection, pool: pool, box: box)
                guard let connectionID = connection.id else { throw CLIError.notFound("the connection has no id") }
                let codes = try await MappingSuggestions.billingCodes(connection: connection, pool: pool)
                let store = MappingStore(pool: pool)
                let existing = try await store.list(connection: connectionID)
                let mapped = Swift.Set(existing.map { "\($0.kind.rawValue)\u{0}\($0.billingKey)" })
                let needed = Swift.Set(
                    codes.filter { !mapped.contains("\($0.kind.rawValue)\u{0}\($0.key)") }.compactMap {
                        BillingCode.referenceKind(of: $0.kind)
                    })
                var reference: [ReferenceDataKind: [ReferenceRecord]] = [:]
                let driver = try await withStoreErrors { try Providers.registry.driver(connection.provider) }
                if !needed.isEmpty {
                    let (provider, _, http) = try await ProviderCommand.open(
                        connection, pool: pool, box: box, requestTimeout: requestTimeout.duration)
                    defer { http.shutdown() }
                    for kind in ReferenceDataKind.allCases where needed.contains(kind) {
                        reference[kind] = try await ProviderCommand.referenceData(kind, of: provider, driver: driver)
                    }
                }
                suggestions = MappingSuggestions.suggest(
                    codes: codes, existing: existing, connectionID: connectionID, reference: reference, validate: driver.validateMapping)
                if apply {
                    for index in suggestions.indices where suggestions[index].outcome == .proposed {
                        guard let mapping = suggestions[index].mapping else { continue }
                        _ = try await withStoreErrors(options: Mappings.fieldOptions) { try await store.upsert(mapping) }
                        suggestions[index].outcome = .applied
                    }
                }
            } catch {
                await pool.close()
                throw error
            }
            await pool.close()
            if json { return try printJSON(suggestions.map(Output.init)) }
            report(suggestions)
        }

        func report(_ suggestions: [MappingSuggestion]) {
            guard !suggestions.isEmpty else {
                return print("no unmapped billing codes in the connection's queued or mapping-failed sync jobs")
            }
            var table = [["KIND", "BILLING KEY", "BILLING NAME", "JOBS", "RESULT", "PROVIDER ID", "PROVIDER NAME", "MATCHED BY"]]
            for suggestion in suggestions {
                let ids =
                    suggestion.outcome == .ambiguous ? suggestion.candidates.map(\.id) : suggestion.mapping.map { [$0.providerID] } ?? []
                table.append([
                    suggestion.code.kind.rawValue, truncate(suggestion.code.key, 40), truncate(suggestion.code.names.first ?? "", 30),
                    "\(suggestion.code.jobCount)",
                    suggestion.outcome.rawValue + (suggestion.message.map { ": \(truncate($0, 80))" } ?? ""),
                    truncate(ids.joined(separator: ", "), 40), truncate(suggestion.mapping?.providerName ?? "", 30),
                    suggestion.matchedBy ?? "",
                ])
            }
            printTable(table)
            let count = { (outcome: MappingSuggestion.Outcome) in suggestions.filter { $0.outcome == outcome }.count }
            print(
                "\(count(.applied)) applied, \(count(.proposed)) proposed, \(count(.ambiguous)) ambiguous, \(count(.unmatched)) unmatched, \(count(.incomplete)) incomplete"
            )
            if !apply && count(.proposed) > 0 { print("nothing was written; run again with --apply to set the proposed mappings") }
        }
    }
}
