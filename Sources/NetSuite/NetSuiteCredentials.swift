import Sync

/// The four TBA values of one integration and access token (PROVIDERS 2.1). The same type
/// the connection store seals and opens, so what is stored is exactly what signs requests.
public typealias NetSuiteCredentials = AccountingConnection.Secrets
