import API
import Foundation
import JobQueue
import JobQueueTesting
import LedgerCrypto
import Postgres
import Simulators
import Sync
import Testing

/// `ledgersync provider list …` and `ledgersync mappings suggest` as a user runs them: the real
/// binary, a real database, a Zoho Books connection added with `connections add` to the
/// simulator over HTTP.
@Suite(.timeLimit(.minutes(3)))
struct ReferenceDataCommandTests {
    typealias Add = ZohoBooksConnectionsAddTests

    @Test("provider list reads each kind by connection name or id; mappings suggest proposes, writes only with --apply")
    func listAndSuggest() async throws {
        let simulator = ZohoBooksSimulator(configuration: .init())
        _ = try await simulator.start()
        let database = try await TestDatabase.create(migrations: JobQueue.migrations + SyncSchema.migrations + APISchema.migrations)
        do {
            let added = try await Add.add(
                database, baseURL: simulator.baseURL, grantCode: try simulator.issueGrantCode(clientID: Add.client.clientID))
            #expect(added.status == 0, "\(added)")
            let id = added.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let run = { (arguments: [String]) in try await Add.ledgersync(arguments, database: database, environment: [:]) }

            // By name, as a table: the demo's items with their ids.
            let table = try await run(["provider", "list", "items", "--connection", "Zoho Books"])
            #expect(table.status == 0, "\(table)")
            #expect(table.stdout.hasPrefix("ID"), "\(table)")
            for item in ZohoBooksSimulator.ReferenceData.demo.items { #expect(table.stdout.contains(item.id), "\(table)") }
            // By id, as JSON.
            let currencies = try await run(["provider", "list", "currencies", "--connection", id, "--json"])
            #expect(currencies.status == 0, "\(currencies)")
            let listed = try JSONSerialization.jsonObject(with: Data(currencies.stdout.utf8)) as? [[String: Any]] ?? []
            #expect(listed.compactMap { $0["code"] as? String } == ZohoBooksSimulator.ReferenceData.demo.currencies.map(\.code))
            #expect(listed.first?["id"] as? String == "460000000000097" && listed.first?["inactive"] as? Bool == false)
            // Zoho Books has no subsidiaries: exit 1, one line naming them; an unknown kind: 64.
            let subsidiaries = try await run(["provider", "list", "subsidiaries", "--connection", id])
            #expect(subsidiaries.status == 1 && subsidiaries.stderr.contains("subsidiaries"), "\(subsidiaries)")
            #expect(subsidiaries.stderr.split(whereSeparator: \.isNewline).count == 1, "\(subsidiaries)")
            let unknown = try await run(["provider", "list", "widgets", "--connection", id])
            #expect(unknown.status == 64, "\(unknown)")
            let nobody = try await run(["provider", "list", "items", "--connection", "No Such Books"])
            #expect(nobody.status == 2 && nobody.stderr.contains("No Such Books"), "\(nobody)")

            // A queued invoice (for tomorrow: no worker runs here) with one item the demo has
            // by name and one it has not.
            let connection = try #require(UUID(uuidString: id))
            let invoice = try MappingSuggestTests_Documents.invoice(
                fees: [("setup", "Setup fee", 25_000), ("mystery", "Mystery", 500)], currency: "EUR")
            _ = try await SyncQueue(pool: database.pool).enqueue(
                connection: connection, kind: .invoicePush, document: JSONText(invoice),
                options: .init(runAt: Date().addingTimeInterval(86_400)))
            let suggested = try await run(["mappings", "suggest", "--connection", id, "--json"])
            #expect(suggested.status == 0, "\(suggested)")
            let outcomes = (try JSONSerialization.jsonObject(with: Data(suggested.stdout.utf8)) as? [[String: Any]] ?? []).map {
                "\($0["kind"] as? String ?? "") \($0["billing_key"] as? String ?? "") \($0["result"] as? String ?? "") \($0["provider_id"] as? String ?? "-")"
            }
            #expect(
                outcomes == ["item mystery unmatched -", "item setup proposed 460000000020015", "currency EUR proposed 460000000000099"],
                "\(suggested)")
            #expect(try await MappingStore(pool: database.pool).list(connection: connection).isEmpty)
            let applied = try await run(["mappings", "suggest", "--connection", id, "--apply"])
            #expect(applied.status == 0, "\(applied)")
            #expect(applied.stdout.contains("2 applied"), "\(applied)")
            let written = try await MappingStore(pool: database.pool).list(connection: connection).map {
                "\($0.kind.rawValue) \($0.billingKey) \($0.providerID)"
            }
            #expect(Set(written) == ["item setup 460000000020015", "currency EUR 460000000000099"])
            await database.drop()
            await simulator.stop()
        } catch {
            await database.drop()
            await simulator.stop()
            throw error
        }
    }
}

/// A valid invoice document of fees (code, name, cents) for a customer `cus_1`.
enum MappingSuggestTests_Documents {
    static func invoice(fees: [(code: String, name: String, cents: Int64)], currency: String) throws -> String {
        let list: [[String: Any]] = fees.enumerated().map { index, fee in
            [
                "lago_id": "fee-\(index)", "item": ["type": "add_on", "code": fee.code, "name": fee.name], "units": "1",
                "amount_cents": fee.cents, "amount_currency": currency, "taxes_amount_cents": 0, "total_amount_cents": fee.cents,
            ]
        }
        let sum = fees.reduce(Int64(0)) { $0 + $1.cents }
        let invoice: [String: Any] = [
            "lago_id": "inv_1", "number": "INV-1", "issuing_date": "2026-10-01", "invoice_type": "one_off", "status": "finalized",
            "currency": currency,
            "customer": ["lago_id": "cus_1", "external_id": "EXT-cus_1", "name": "Suggest Ltd", "customer_type": "company"],
            "fees": list, "credits": [], "fees_amount_cents": sum, "coupons_amount_cents": 0, "credit_notes_amount_cents": 0,
            "prepaid_credit_amount_cents": 0, "sub_total_excluding_taxes_amount_cents": sum, "taxes_amount_cents": 0,
            "sub_total_including_taxes_amount_cents": sum, "total_amount_cents": sum,
        ]
        let text = String(decoding: try JSONSerialization.data(withJSONObject: ["invoice": invoice], options: [.sortedKeys]), as: UTF8.self)
        _ = try DocumentDecoder.decode(BillingInvoice.self, from: text)
        return text
    }
}
