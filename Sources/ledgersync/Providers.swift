import NetSuite
import Sync

/// The accounting providers this executable knows: each provider module's driver, registered
/// here once. Nothing else in the CLI, the API or `Sync` names a provider; a new provider is a
/// module beside `NetSuite` and one line here.
enum Providers {
    static let registry = ProviderRegistry([NetSuiteDriver()])
}
