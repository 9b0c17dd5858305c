import Foundation
import NetSuite

extension NetSuiteSimulator {
    /// An item record of the simulated account: transaction lines may only name these.
    public struct Item: Sendable, Hashable, Codable {
        /// The internal id lines reference (`{"item": {"id": "510"}}`).
        public var id: String
        public var name: String
        /// A line with this item may sit on a transaction with `taxDetailsOverride`.
        public var taxable: Bool

        public init(id: String, name: String, taxable: Bool = true) {
            self.id = id
            self.name = name
            self.taxable = taxable
        }

        /// The items the billing scenario's mappings point at (all taxable), plus one that is
        /// not taxable for tests of the SuiteTax rule.
        public static let defaults: [Item] = [
            Item(id: "900", name: "Billing (fallback)"),
            Item(id: "510", name: "Subscription"),
            Item(id: "520", name: "Minimum commitment"),
            Item(id: "530", name: "Coupon"),
            Item(id: "540", name: "Credit note"),
            Item(id: "550", name: "Prepaid credit"),
            Item(id: "601", name: "API calls"),
            Item(id: "602", name: "Setup fee"),
            Item(id: "700", name: "Non-taxable service", taxable: false),
        ]
    }

    /// How the simulated account behaves. Everything has a default, so a test states only
    /// what it is about.
    public struct Configuration: Sendable {
        /// The account id in either spelling; the expected TBA realm is derived from it
        /// (upper-case, `-` → `_`: `1234567_SB1`).
        public var accountID: String
        /// Token sets the account accepts; a request must be signed with one of them.
        public var credentials: [NetSuiteCredentials]
        /// Requests processed at once; one more gets 429.
        public var concurrencyLimit: Int
        /// Probability that a write gets one of `faults` (0 to 1).
        public var faultRate: Double
        /// The kinds of fault drawn from, uniformly.
        public var faults: Set<Fault>
        /// Seed of the fault draws: the same seed and the same writes give the same faults.
        public var seed: UInt64
        /// Milliseconds each request spends being processed, drawn uniformly from this range
        /// (with `latencyDistribution` `.uniform`, the default).
        public var latency: ClosedRange<Double>
        /// How each request's processing time is drawn: uniformly from `latency`, or from a
        /// skewed (log-normal) distribution, seeded either way.
        public var latencyDistribution: LatencyDistribution = .uniform
        /// How late the answer of a `.timeout` fault comes.
        public var timeoutDelay: Duration
        /// The form rule "location is mandatory" on transactions.
        public var locationRequired: Bool
        /// How far an `oauth_timestamp` may be from the simulator's clock, either way.
        public var timestampTolerance: Duration
        /// The OAuth 2.0 M2M mappings: whose client assertions the token endpoint accepts
        /// (`TokenEndpoint.swift`). The demo one by default.
        public var m2mMappings: [M2MMapping] = [Configuration.demoM2MMapping]
        /// How long an access token from the token endpoint works (NetSuite: 60 minutes;
        /// `ledgersync simulate netsuite --token-lifetime 20s`). Whole seconds, at least 1.
        public var tokenLifetime: Duration = .seconds(3600)
        /// How long the token endpoint takes to answer.
        public var tokenEndpointLatency: Duration = .milliseconds(50)
        /// What customers and transactions may reference: items, subsidiaries, currencies,
        /// locations, tax codes (`SimulatorCatalogue.swift`).
        public var catalogue: Catalogue
        /// How the concurrency limit is shared out, as `governanceLimits` reports it
        /// (`Governance.swift`).
        public var governance: Governance = Governance()
        /// The account's clock: what `dateCreated` and `lastModifiedDate` of a record are set
        /// from (a test of changes since a time moves it instead of sleeping).
        public var clock: @Sendable () -> Date = { Date() }
        /// Internal ids of the subsidiaries a customer may belong to.
        public var subsidiaries: Set<String> {
            get { catalogue.subsidiaries }
            set { catalogue.subsidiaries = newValue }
        }
        public var items: [Item] {
            get { catalogue.items }
            set { catalogue.items = newValue }
        }

        public init(
            accountID: String = "1234567_SB1",
            credentials: [NetSuiteCredentials] = [Configuration.demoCredentials],
            concurrencyLimit: Int = 5,
            faultRate: Double = 0,
            faults: Set<Fault> = [.serverError, .timeout, .dropConnection],
            seed: UInt64 = 42,
            latency: ClosedRange<Double> = 0...0,
            timeoutDelay: Duration = .seconds(30),
            locationRequired: Bool = false,
            timestampTolerance: Duration = .seconds(300),
            catalogue: Catalogue = .defaults
        ) {
            self.accountID = accountID
            self.credentials = credentials
            self.concurrencyLimit = concurrencyLimit
            self.faultRate = faultRate
            self.faults = faults
            self.seed = seed
            self.latency = latency
            self.timeoutDelay = timeoutDelay
            self.locationRequired = locationRequired
            self.timestampTolerance = timestampTolerance
            self.catalogue = catalogue
        }

        /// The token set of the demo (`ledgersync simulate netsuite` without options). Not a
        /// secret: it opens nothing but a simulator.
        public static let demoCredentials = NetSuiteCredentials(
            consumerKey: "demo-consumer-key", consumerSecret: "demo-consumer-secret",
            tokenID: "demo-token-id", tokenSecret: "demo-token-secret")

        /// The TBA realm requests must name.
        public var realm: String {
            String(accountID.map { $0 == "-" ? "_" : $0 }).uppercased()
        }
    }
}
