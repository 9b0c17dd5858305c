import NetSuite
import Sync
import ZohoBooks

/// The accounting providers this executable knows: each provider module's driver, registered
/// here once. Nothing else in the CLI, the API or `Sync` names a provider; a new provider is a
/// module beside `NetSuite` and `ZohoBooks` and one entry here.
enum Providers {
    static let registry = ProviderRegistry([NetSuiteDriver(), ZohoBooksDriver()])
}
