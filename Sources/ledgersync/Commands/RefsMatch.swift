import ArgumentParser
import Foundation
import Postgres
import Sync

extension Refs {
    /// `refs match`: proposes links for billing customers that have no ref yet, by exact email
    /// or name through SuiteQL; links only with --apply.
    struct Match: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Propose links of billing customers to customers at the provider with exactly the same email or name.",
            discussion: """
                The billing customers are read from --customers (a file, or - for stdin): a JSON array of customer documents (Lago's shape: lago_id, name, legal_name, email; a {"customer": {…}} envelope is fine), or one document per line. Customers that already have a ref on the connection are left out.

                For each, one query asks the provider (NetSuite: SuiteQL) for the customers whose email (--by email, the default) or company name (--by name: legal_name, else name, what customer.sync writes) is exactly the same, case included. One match is proposed; none is reported; two or more are ambiguous and listed, never linked; a provider customer proposed for two billing customers is ambiguous too.

                Without --apply nothing is written. With --apply the proposals are linked as `refs link` does.
                """)
        @OptionGroup var database: DatabaseOptions
        @Option(help: "The connection id.") var connection: UUIDArgument
        @Option(help: "email or name.") var by = "email"
        @Option(help: "The billing customers: a JSON file, or - for stdin.") var customers: String
        @Flag(help: "Link the proposed matches (default: only print them).") var apply = false
        @Flag(help: "Print the result as JSON.") var json = false

        func validate() throws {
            guard CustomerField(rawValue: by) != nil else { throw ValidationError("--by must be email or name; got \"\(by.prefix(40))\"") }
        }

        struct Customer {
            let lagoID: String
            let value: String?
        }

        /// What happened to one billing customer.
        struct Outcome: Encodable {
            let billingId: String
            let by: String
            let value: String?
            /// proposed, linked, no_match, ambiguous, no_value, refused
            var result: String
            var providerIds: [String]
            var message: String?
        }

        func run() async throws {
            let field = CustomerField(rawValue: by) ?? .email
            let documents = try readCustomers(field)
            let pool = try await database.openPool(maxConnections: 2)
            let store = ExternalRefStore(pool: pool)
            let refs = try await store.lookup(connection: connection.uuid, objectType: .customer, billingIDs: documents.map(\.lagoID))
            let (provider, driver, http) = try await Refs.provider(connection.uuid, pool: pool)
            defer { http.shutdown() }
            guard let finder = provider as? any CustomerFinding else {
                await pool.close()
                throw CLIError.usage("\(driver.displayName) connections cannot search customers")
            }

            var outcomes: [Outcome] = []
            for customer in documents where refs[customer.lagoID] == nil {
                var outcome = Outcome(
                    billingId: customer.lagoID, by: field.rawValue, value: customer.value, result: "no_value", providerIds: [])
                if let value = customer.value {
                    let candidates: [FoundRecord]
                    do {
                        candidates = try await Self.withRetries { try await finder.findCustomers(by: field, value) }
                    } catch let error as SyncError {
                        await pool.close()
                        throw CLIError.unavailable("the query for \(customer.lagoID) failed: \(error.message)")
                    }
                    outcome.providerIds = candidates.map(\.providerID)
                    outcome.result = candidates.isEmpty ? "no_match" : candidates.count == 1 ? "proposed" : "ambiguous"
                }
                outcomes.append(outcome)
            }
            // One provider customer proposed for two billing customers: neither is linked.
            var proposedFor: [String: Int] = [:]
            for outcome in outcomes where outcome.result == "proposed" { proposedFor[outcome.providerIds[0], default: 0] += 1 }
            for index in outcomes.indices
            where outcomes[index].result == "proposed" && proposedFor[outcomes[index].providerIds[0], default: 0] > 1 {
                outcomes[index].result = "ambiguous"
                outcomes[index].message = "provider customer \(outcomes[index].providerIds[0]) matches several billing customers"
            }
            if apply {
                for index in outcomes.indices where outcomes[index].result == "proposed" {
                    do {
                        try await store.link(
                            connection: connection.uuid, objectType: .customer, billingID: outcomes[index].billingId,
                            providerID: outcomes[index].providerIds[0])
                        outcomes[index].result = "linked"
                    } catch let error as RefLinkConflict {
                        outcomes[index].result = "refused"
                        outcomes[index].message = error.message
                    }
                }
            }
            await pool.close()
            if json { return try printJSON(outcomes) }
            report(outcomes, skipped: documents.count - outcomes.count)
        }

        /// Runs `body` again after a rate limit (the account's workers may hold every slot) or a
        /// transient failure, waiting the provider's hint or 1, 2, 4, 8 s; at most 5 attempts.
        static func withRetries<T>(_ body: () async throws -> T) async throws -> T {
            try await SyncError.retryingTransient(attempts: 5, body)
        }

        func report(_ outcomes: [Outcome], skipped: Int) {
            var table = [["BILLING ID", by.uppercased(), "RESULT", "NETSUITE CUSTOMER"]]
            for outcome in outcomes {
                let result = outcome.result.replacingOccurrences(of: "_", with: " ")
                table.append([
                    truncate(outcome.billingId, 40), truncate(outcome.value ?? "", 50),
                    result + (outcome.message.map { ": \($0)" } ?? ""), outcome.providerIds.joined(separator: ", "),
                ])
            }
            if !outcomes.isEmpty { printTable(table) }
            let count = { (result: String) in outcomes.filter { $0.result == result }.count }
            var summary =
                "\(count("linked")) linked, \(count("proposed")) proposed, \(count("ambiguous")) ambiguous (not linked), \(count("no_match")) without a match"
            if count("refused") > 0 { summary += ", \(count("refused")) refused" }
            if skipped > 0 { summary += "; \(skipped) already have a ref" }
            print(summary)
            if !apply && count("proposed") > 0 { print("nothing was linked; run again with --apply to link the proposed ones") }
        }

        /// The billing customers of --customers, with the value to match.
        func readCustomers(_ field: CustomerField) throws -> [Customer] {
            let data: Data
            do {
                data =
                    customers == "-"
                    ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: customers))
            } catch {
                throw CLIError.usage("--customers: cannot read \(customers)")
            }
            guard data.count <= 64 << 20 else { throw CLIError.usage("--customers: more than 64 MiB") }
            var objects: [Any] = []
            if let array = try? JSONSerialization.jsonObject(with: data) as? [Any] {
                objects = array
            } else if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
                objects = [object]
            } else {
                for (number, line) in String(decoding: data, as: UTF8.self).split(whereSeparator: \.isNewline).enumerated()
                where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                    guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
                        throw CLIError.usage(
                            "--customers: line \(number + 1) is not a JSON object (give a JSON array, or one object per line)")
                    }
                    objects.append(object)
                }
            }
            guard objects.count <= 10_000 else { throw CLIError.usage("--customers: at most 10000 customers at once") }
            var seen: Set<String> = []
            return try objects.enumerated().compactMap { index, element in
                guard var object = element as? [String: Any] else { throw CLIError.usage("--customers: [\(index)] is not a JSON object") }
                if let envelope = object["customer"] as? [String: Any] { object = envelope }
                guard let lagoID = (object["lago_id"] as? String)?.trimmingCharacters(in: .whitespaces), !lagoID.isEmpty else {
                    throw CLIError.usage("--customers: [\(index)].lago_id is required")
                }
                guard !lagoID.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw CLIError.usage("--customers: [\(index)].lago_id must not contain control characters")
                }
                guard seen.insert(lagoID).inserted else { return nil }
                // A value with control characters cannot be an exact match of anything a SuiteQL
                // literal may hold (NetSuiteClient.suiteQLLiteral): it counts as no value.
                let text = { (key: String) in
                    (object[key] as? String).map { $0.trimmingCharacters(in: .whitespaces) }.flatMap {
                        $0.isEmpty || $0.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7F } ? nil : $0
                    }
                }
                let value: String? =
                    switch field {
                    case .email: text("email")?.split(separator: ",").first.map { $0.trimmingCharacters(in: .whitespaces) }
                    case .name: text("legal_name") ?? text("name")
                    }
                return Customer(lagoID: lagoID, value: value)
            }
        }
    }
}
