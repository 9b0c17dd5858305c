// swift-tools-version:6.1
import PackageDescription

// The module map of the project (see docs/architecture.md). Arrows point one way:
// ledgersync → JobQueue → Postgres → CLibPQ. JobQueue knows nothing of accounting,
// so a user can take it alone.
let package = Package(
    name: "ledgersync",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "ledgersync", targets: ["ledgersync"]),
        .library(name: "Postgres", targets: ["Postgres"]),
        .library(name: "JobQueue", targets: ["JobQueue"]),
        .library(name: "JobQueueTesting", targets: ["JobQueueTesting"]),
        .library(name: "Sync", targets: ["Sync"]),
        .library(name: "LedgerCrypto", targets: ["LedgerCrypto"]),
        .library(name: "Simulators", targets: ["Simulators"]),
        .library(name: "SyncTesting", targets: ["SyncTesting"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        // Percentiles of `ledgersync bench latency`.
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
    ],
    targets: [
        // libpq, the PostgreSQL client library, through a module map (Debian: libpq-dev).
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // libcurl (Debian: libcurl4-openssl-dev) and OpenSSL's libcrypto (libssl-dev).
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .systemLibrary(name: "CCrypto", pkgConfig: "libcrypto", providers: [.apt(["libssl-dev"])]),
        // A small, safe Swift face over libpq. Knows nothing of jobs.
        .target(
            name: "Postgres",
            dependencies: [
                "CLibPQ",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The generic durable queue. Knows nothing of accounting or HTTP.
        .target(
            name: "JobQueue",
            dependencies: [
                "Postgres",
                "ExactJSON",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // A JSON value that keeps numbers as their exact text and members in order, with a
        // strict parser: money goes to providers and comes back from them without Double.
        .target(name: "ExactJSON"),
        // Outgoing HTTP over libcurl: timeouts, connection reuse, TLS. Knows nothing of the domain.
        .target(
            name: "HTTPClient",
            dependencies: ["CCurl", .product(name: "Logging", package: "swift-log")]
        ),
        // Crypto over libcrypto, shared by Sync, the API, NetSuite and the simulators: sealed
        // secrets (AES-256-GCM), SHA-256, HMAC-SHA256, random bytes, and JWT signatures
        // (PS256/ES256…) for OAuth 2.0 client assertions. Knows nothing of the domain.
        .target(name: "LedgerCrypto", dependencies: ["CCrypto"]),
        // The accounting-sync domain: billing documents, money, connections, mappings.
        .target(
            name: "Sync",
            // HTTPClient for delivering webhooks; it knows nothing of any provider's wire format.
            dependencies: [
                "JobQueue", "Postgres", "HTTPClient", "LedgerCrypto", "ExactJSON", .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Oracle NetSuite: TBA signing, REST record payloads, error parsing.
        .target(
            name: "NetSuite",
            dependencies: ["Sync", "HTTPClient", "LedgerCrypto", "ExactJSON", .product(name: "Logging", package: "swift-log")]
        ),
        // Zoho Books API v3: the self client's OAuth 2.0 tokens, contacts, invoices, sales
        // orders, credit notes and customer payments, the envelope's errors. A module beside
        // NetSuite; neither knows the other.
        .target(
            name: "ZohoBooks",
            dependencies: ["Sync", "HTTPClient", "LedgerCrypto", "ExactJSON", .product(name: "Logging", package: "swift-log")]
        ),
        // Stand-ins for the providers over real HTTP (Hummingbird 2), for tests, the demo and
        // the benchmark. Uses NetSuite's signer to check signatures (the signer itself is held
        // to answers computed outside Swift), never the worker.
        .target(
            name: "Simulators",
            dependencies: [
                "NetSuite", "Sync", "ExactJSON", "LedgerCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                // To stop a simulator gracefully (SimulatorStop).
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The HTTP API, /metrics and the dashboard (Hummingbird 2). Calls the same JobQueue
        // admin functions and Sync stores as the CLI; never libpq directly.
        .target(
            name: "API",
            dependencies: [
                "JobQueue", "Sync", "NetSuite", "Postgres", "ExactJSON", "LedgerCrypto",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        // Helpers for tests of the queue and of code built on it: throwaway databases,
        // child worker processes, waiting on conditions. Some are meant for users too.
        .target(
            name: "JobQueueTesting",
            dependencies: ["JobQueue", "Postgres"]
        ),
        // For people writing or testing a provider: `ProviderConformance`, the checks every
        // `AccountingProvider` must pass, and `FakeDriver`, an in-process provider. No Testing
        // dependency: checks return their failures, the caller asserts them.
        .target(
            name: "SyncTesting",
            dependencies: ["Sync", "ExactJSON"]
        ),
        // Test support for the NetSuite simulator: `RecordChecker` says whether a simulated
        // record equals the latest billing document (SimulatorTests, EndToEndTests).
        .target(
            name: "NetSuiteTesting",
            dependencies: ["Simulators", "Sync", "ExactJSON"]
        ),
        .executableTarget(
            name: "ledgersync",
            dependencies: [
                "API",
                "JobQueue",
                "Sync",
                "ExactJSON",
                "LedgerCrypto",
                "NetSuite",
                "ZohoBooks",
                "Simulators",
                "HTTPClient",
                "Postgres",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ]
        ),
        .testTarget(
            name: "PostgresTests",
            dependencies: ["Postgres", "JobQueueTesting", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(
            name: "JobQueueTests",
            dependencies: [
                // Sync and API only for their migrations: these tests run the ledgersync binary,
                // which requires every migration line it knows to be applied. Simulators for its
                // seeded generator.
                "JobQueue", "JobQueueTesting", "Postgres", "Sync", "API", "Simulators", "LedgerCrypto",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(name: "HTTPClientTests", dependencies: ["HTTPClient"], exclude: ["test_server.py"]),
        .testTarget(
            name: "NetSuiteTests", dependencies: ["NetSuite", "Sync", "Simulators", "ExactJSON", "LedgerCrypto", "HTTPClient"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "ZohoBooksTests",
            dependencies: [
                "ZohoBooks", "Sync", "SyncTesting", "Simulators", "HTTPClient", "ExactJSON", "LedgerCrypto", "JobQueue", "JobQueueTesting",
                "Postgres", .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "SyncTests", dependencies: ["Sync", "SyncTesting", "JobQueue", "JobQueueTesting", "HTTPClient", "LedgerCrypto"],
            resources: [.copy("Fixtures")]),
        .testTarget(
            name: "SimulatorTests",
            dependencies: ["Simulators", "NetSuite", "NetSuiteTesting", "Sync", "SyncTesting", "HTTPClient", "ExactJSON", "LedgerCrypto"]
        ),
        // The HTTP API over real HTTP on 127.0.0.1 and a real database.
        .testTarget(
            name: "APITests",
            dependencies: [
                // NetSuite for its driver: the connection routes are tested with a real provider.
                "API", "JobQueue", "JobQueueTesting", "Postgres", "Sync", "HTTPClient", "NetSuite", "LedgerCrypto",
                // FakeLedger, the remote side of the third provider a test registers (ThirdProviderTests).
                "SyncTesting",
                // The simulators: the sync status tests (SyncStatusTests), the record actions
                // (RecordActionsAPITests) and the changes read back (ChangePollSimulatorTests).
                "Simulators", "ZohoBooks", "ExactJSON",
                .product(name: "Hummingbird", package: "hummingbird"),
                // An in-process worker delivers the inbound flow's webhooks.
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The whole path over real processes, a real database and the simulators.
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "Simulators", "NetSuite", "NetSuiteTesting", "ZohoBooks", "Sync", "JobQueue", "JobQueueTesting", "Postgres", "HTTPClient",
                "ExactJSON", "LedgerCrypto",
                // Only for its migrations: the binary requires every line it knows.
                "API",
                // A stand-in for the billing system's webhook receiver.
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
