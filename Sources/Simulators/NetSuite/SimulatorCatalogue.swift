import ExactJSON
import Foundation

extension NetSuiteSimulator {
    /// The records of the simulated account that customers and transactions may reference by
    /// internal id: a reference to anything else is refused the way NetSuite refuses it
    /// (`INVALID_KEY_OR_REF`, naming the field). The built-in lists (`defaults`) hold every id
    /// the demo, the tests and the docs use; `ledgersync simulate netsuite --catalogue FILE`
    /// (docs/netsuite.md, "The catalogue") replaces or extends them for a user's own mappings.
    public struct Catalogue: Sendable, Equatable {
        /// Items that transaction lines may name.
        public var items: [Item]
        /// Subsidiaries a customer may belong to.
        public var subsidiaries: Set<String>
        /// Currencies a customer, transaction or payment may name.
        public var currencies: Set<String>
        /// Locations a transaction may name.
        public var locations: Set<String>
        /// SuiteTax nexuses a transaction may name.
        public var nexuses: Set<String>
        /// SuiteTax tax types of `taxDetails` rows.
        public var taxTypes: Set<String>
        /// SuiteTax tax codes of `taxDetails` rows.
        public var taxCodes: Set<String>
        /// Legacy tax items (`taxItem`) of accounts without SuiteTax.
        public var taxItems: Set<String>
        /// Names and details SuiteQL answers for these ids (`SimulatorReferenceData.swift`);
        /// not part of a catalogue file.
        public var reference: ReferenceData = .defaults

        public init(
            items: [Item] = Item.defaults, subsidiaries: Set<String> = ["1"], currencies: Set<String> = ["1", "2", "3", "4"],
            locations: Set<String> = ["1", "2", "3"], nexuses: Set<String> = ["1"], taxTypes: Set<String> = ["10", "11"],
            taxCodes: Set<String> = ["20", "21"], taxItems: Set<String> = ["30"]
        ) {
            self.items = items
            self.subsidiaries = subsidiaries
            self.currencies = currencies
            self.locations = locations
            self.nexuses = nexuses
            self.taxTypes = taxTypes
            self.taxCodes = taxCodes
            self.taxItems = taxItems
        }

        /// What `ledgersync simulate netsuite` serves without `--catalogue`: the ids of
        /// `BillingScenario.mappings` and of the examples in README.md and docs/connections.md.
        public static let defaults = Catalogue()

        /// The JSON members of a catalogue file, in the order `json` writes them.
        public static let members = ["items", "subsidiaries", "currencies", "locations", "nexuses", "tax_types", "tax_codes", "tax_items"]

        /// Reads a catalogue file: a JSON object whose members (`members`) each replace the
        /// built-in list of that kind, or, with `"extend": true`, add to it. Items are
        /// `{"id": "599", "name": "Fallback", "taxable": true}` (`name` and `taxable` optional);
        /// every other list holds internal ids as strings. Errors name the member at fault.
        public static func parse(_ data: Data, base: Catalogue = .defaults) throws(CatalogueError) -> Catalogue {
            let root: ExactJSON
            do {
                root = try ExactJSON.parse(data)
            } catch {
                throw CatalogueError("the catalogue is not valid JSON: \(error)")
            }
            guard case .object(let members) = root else { throw CatalogueError("the catalogue must be a JSON object") }
            // The parser has refused a member given twice already.
            for member in members where !Self.members.contains(member.key) && member.key != "extend" {
                throw CatalogueError("unknown member \"\(member.key.prefix(40))\" (known: \(Self.members.joined(separator: ", ")), extend)")
            }
            let extend: Bool
            switch root["extend"] {
            case nil: extend = false
            case .bool(let flag)?: extend = flag
            default: throw CatalogueError("extend must be true or false")
            }
            var catalogue = base
            if let value = root["items"] {
                let items = try parseItems(value)
                catalogue.items = extend ? catalogue.items.filter { old in !items.contains { $0.id == old.id } } + items : items
            }
            func ids(_ member: String, _ keyPath: WritableKeyPath<Catalogue, Set<String>>) throws(CatalogueError) {
                guard let value = root[member] else { return }
                guard let list = value.arrayValue else {
                    throw CatalogueError("\(member) must be an array of internal ids such as [\"1\"]")
                }
                var parsed: Set<String> = []
                for (index, element) in list.enumerated() {
                    parsed.insert(try internalID(element, at: "\(member)[\(index)]"))
                }
                catalogue[keyPath: keyPath] = extend ? catalogue[keyPath: keyPath].union(parsed) : parsed
            }
            try ids("subsidiaries", \.subsidiaries)
            try ids("currencies", \.currencies)
            try ids("locations", \.locations)
            try ids("nexuses", \.nexuses)
            try ids("tax_types", \.taxTypes)
            try ids("tax_codes", \.taxCodes)
            try ids("tax_items", \.taxItems)
            return catalogue
        }

        private static func parseItems(_ value: ExactJSON) throws(CatalogueError) -> [Item] {
            guard let list = value.arrayValue else {
                throw CatalogueError("items must be an array of {\"id\", \"name\", \"taxable\"} objects")
            }
            var items: [Item] = []
            for (index, element) in list.enumerated() {
                let path = "items[\(index)]"
                guard case .object(let members) = element else {
                    throw CatalogueError("\(path) must be an object such as {\"id\": \"599\", \"name\": \"Fallback\"}")
                }
                if let unknown = members.first(where: { !["id", "name", "taxable"].contains($0.key) }) {
                    throw CatalogueError("\(path).\(unknown.key.prefix(40)) is not an item member (id, name, taxable)")
                }
                guard let idValue = element["id"] else { throw CatalogueError("\(path).id is missing") }
                let id = try internalID(idValue, at: "\(path).id")
                guard !items.contains(where: { $0.id == id }) else { throw CatalogueError("\(path).id: item \(id) is listed twice") }
                let name: String
                switch element["name"] {
                case nil: name = "Item \(id)"
                case .string(let text)? where !text.isEmpty && text.count <= 200: name = text
                default: throw CatalogueError("\(path).name must be a string of 1 to 200 characters")
                }
                let taxable: Bool
                switch element["taxable"] {
                case nil: taxable = true
                case .bool(let flag)?: taxable = flag
                default: throw CatalogueError("\(path).taxable must be true or false")
                }
                items.append(Item(id: id, name: name, taxable: taxable))
            }
            return items
        }

        /// An internal id: a string of 1 to 64 letters, digits, `_` and `-` (NetSuite's are
        /// digits; a JSON number is refused so that `"007"` and `7` cannot be confused).
        public static func internalID(_ text: String, at path: String) throws(CatalogueError) -> String {
            try internalID(ExactJSON.string(text), at: path)
        }

        static func internalID(_ value: ExactJSON, at path: String) throws(CatalogueError) -> String {
            guard let text = value.stringValue else {
                throw CatalogueError("\(path) must be a string such as \"599\", got \(String(describing: value).prefix(40))")
            }
            let allowed = text.unicodeScalars.allSatisfy {
                $0.isASCII && (CharacterSet.alphanumerics.contains($0) || $0 == "_" || $0 == "-")
            }
            guard !text.isEmpty, text.count <= 64, allowed else {
                throw CatalogueError("\(path): \"\(text.prefix(40))\" is not an internal id (1 to 64 letters, digits, '_' or '-')")
            }
            return text
        }

        /// The catalogue as a file `parse` reads back (ids sorted), for `--print-catalogue`.
        public var json: String {
            func list(_ ids: Set<String>) -> String {
                "[" + ids.sorted { ($0.count, $0) < ($1.count, $1) }.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
            }
            func quoted(_ text: String) -> String { ExactJSON.string(text).description }
            let itemLines = items.map { "    {\"id\": \(quoted($0.id)), \"name\": \(quoted($0.name)), \"taxable\": \($0.taxable)}" }
            return """
                {
                  "items": [
                \(itemLines.joined(separator: ",\n"))
                  ],
                  "subsidiaries": \(list(subsidiaries)),
                  "currencies": \(list(currencies)),
                  "locations": \(list(locations)),
                  "nexuses": \(list(nexuses)),
                  "tax_types": \(list(taxTypes)),
                  "tax_codes": \(list(taxCodes)),
                  "tax_items": \(list(taxItems))
                }
                """
        }
    }

    /// A catalogue file that cannot be used; the message names the member at fault.
    public struct CatalogueError: Error, CustomStringConvertible, Sendable {
        public let message: String
        init(_ message: String) { self.message = message }
        public var description: String { message }
    }
}
