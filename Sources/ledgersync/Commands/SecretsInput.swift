import ArgumentParser
import Foundation
import LedgerCrypto
import Postgres
import Sync

// Secrets reach the CLI through the environment, a file or stdin, never through an argument:
// arguments land in shell history and in `ps` for every user of the machine to read.

/// Where `connections add` and `connections update --rotate-secrets` read a connection's
/// credentials from: a JSON file of the provider's credential fields, or the environment
/// variables its driver names (`ProviderDriver.credentialFields`).
struct ConnectionSecretsOptions: ParsableArguments {
    @Option(
        name: .customLong("secrets-file"),
        help: ArgumentHelp(
            "A JSON object of the provider's credential fields (docs/connections.md); '-' reads it from stdin. Without it the provider's variables are read (NETSUITE_* for netsuite).",
            valueName: "path"))
    var secretsFile: String?

    @Option(
        help: ArgumentHelp(
            "A one-time grant code (Zoho Books: a self client's \"Generate Code\"), exchanged at once at the provider for what is kept (a refresh token); the code itself is never stored. It may go on the command line: it works once, for minutes.",
            valueName: "code"))
    var grantCode: String?

    /// The secrets from `--secrets-file` when given, else from the environment. Errors name
    /// what is missing and never echo a value. The driver checks which fields it needs.
    func read(for driver: any ProviderDriver, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> ConnectionSecrets
    {
        var secrets = try secretsFile.map(Self.readFile) ?? Self.readEnvironment(driver, environment, grantCode: grantCode)
        if let grantCode = grantCode.map(trimmed), !grantCode.isEmpty { secrets["grant_code"] = grantCode }
        do {
            try driver.validateSecrets(secrets)
        } catch let error as StoreError {
            // Point at the variable a user sets, not only at the field.
            let name = error.field.map { $0.hasPrefix("secrets.") ? String($0.dropFirst("secrets.".count)) : $0 }
            if secretsFile == nil, let field = driver.credentialFields.first(where: { $0.name == name }) {
                throw CLIError.usage("\(field.environment) (\(error.field ?? "secrets")): \(error.message)")
            }
            throw CLIError.usage("\(error.field ?? "secrets")\(secretsFile.map { " in --secrets-file \($0)" } ?? ""): \(error.message)")
        }
        return secrets
    }

    /// Every credential variable of the driver that is set (`<VARIABLE>_FILE` for one that
    /// may be a file, such as a PEM key).
    static func readEnvironment(_ driver: any ProviderDriver, _ environment: [String: String], grantCode: String? = nil) throws
        -> ConnectionSecrets
    {
        var secrets = ConnectionSecrets()
        for field in driver.credentialFields {
            if let value = environment[field.environment].map(trimmed), !value.isEmpty {
                secrets[field.name] = value
            } else if field.mayBeFile, let path = environment[field.environment + "_FILE"], !path.isEmpty {
                let data = try readSecretInput(path, option: field.environment + "_FILE")
                guard let text = String(data: data, encoding: .utf8) else {
                    throw CLIError.usage("\(field.environment)_FILE \(path) is not UTF-8 text")
                }
                secrets[field.name] = trimmed(text)
            }
        }
        guard !secrets.fields.isEmpty || grantCode != nil else {
            var kinds: [String: [String]] = [:]
            for field in driver.credentialFields { kinds[field.authKind ?? "all", default: []].append(field.environment) }
            let choices = kinds.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value.joined(separator: ", "))" }.joined(
                separator: "; or ")
            throw CLIError.usage(
                "no credentials: set the \(driver.name) variables (\(choices)) or pass --secrets-file (secrets never go on the command line)"
            )
        }
        return secrets
    }

    static func readFile(_ path: String) throws -> ConnectionSecrets {
        let data = try readSecretInput(path, option: "--secrets-file")
        // JSONSerialization, not Codable: a decoding error may quote the text it choked on,
        // and that text is a secret.
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw CLIError.usage("--secrets-file \(path) is not a JSON object of credential fields")
        }
        var secrets = ConnectionSecrets()
        for key in fields.keys.sorted() {
            guard let value = (fields[key] as? String).map(trimmed), !value.isEmpty else {
                throw CLIError.usage("--secrets-file \(path): \(key.prefix(40)) must be a non-empty string")
            }
            secrets[key] = value
        }
        return secrets
    }
}

/// The bytes of a file that holds a secret, or of stdin for `-`.
func readSecretInput(_ path: String, option: String) throws -> Data {
    if path == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CLIError.usage("cannot read \(option) \(path): no such file, or not readable")
    }
    return data
}

private func trimmed(_ value: String) -> String {
    // A trailing newline from `echo` or an editor is never part of a token.
    value.trimmingCharacters(in: .whitespacesAndNewlines)
}

/// The box over LEDGERSYNC_SECRET_KEY; a missing or malformed key is a configuration problem (78).
func secretBoxFromEnvironment() throws -> SecretBox {
    do {
        return try SecretBox.fromEnvironment()
    } catch let error as CryptoError {
        throw CLIError.config(error.message)
    }
}

/// Refuses to go on with a key that does not open this database's secrets (78, one line
/// naming the key id the database expects): a worker or an API with the wrong key would
/// otherwise run and fail everything it touches, and a command would seal new secrets under
/// a key nobody else holds.
func checkSecretKey(_ box: SecretBox, pool: ConnectionPool) async throws {
    do {
        try await SecretKeyCheck.verify(pool: pool, box: box)
    } catch let error as SecretKeyCheck.Mismatch {
        await pool.close()
        throw CLIError.config(error.message)
    }
}

/// A box for store calls that seal and open nothing (deletes), so that removing a connection
/// or an endpoint does not need LEDGERSYNC_SECRET_KEY. Its key is random and thrown away.
func unusedSecretBox() -> SecretBox {
    try! SecretBox(key: SecureRandom.bytes(SecretBox.keyByteCount))
}

/// The option that sets a provider's own field: `--setting key=…` for its settings.
private func providerOption(_ field: String) -> String? {
    field.hasPrefix("settings.") ? "--setting \(field.dropFirst("settings.".count))=…" : nil
}

/// Runs store calls, turning their errors into exit codes: a bad field is a bad argument
/// (64), a missing row is not found (2), sealed secrets that do not open mean the wrong
/// LEDGERSYNC_SECRET_KEY (78). `options` names the command-line option of a store field, so
/// the message points at what to change.
func withStoreErrors<T>(options: [String: String] = [:], _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        var message = error.description
        if let field = error.field, let option = options[field] ?? providerOption(field) {
            message = "\(field) (\(option)): \(error.message)"
        }
        switch error.code {
        case .invalidField: throw CLIError.usage(message)
        case .notFound: throw CLIError.notFound(message)
        case .secretsUnreadable: throw CLIError.config(message + " (is LEDGERSYNC_SECRET_KEY the key they were sealed with?)")
        case .invalidMapping: throw CLIError.failed(message)
        }
    } catch let error as CryptoError {
        throw CLIError.config(error.message)
    }
}
