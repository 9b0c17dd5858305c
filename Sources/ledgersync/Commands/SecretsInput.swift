import ArgumentParser
import Foundation
import LedgerCrypto
import Postgres
import Sync

// Secrets reach the CLI through the environment, a file or stdin, never through an argument:
// arguments land in shell history and in `ps` for every user of the machine to read.

/// Where `connections add` and `connections update --rotate-secrets` read the four NetSuite
/// token-based authentication values from.
struct ConnectionSecretsOptions: ParsableArguments {
    @Option(
        name: .customLong("secrets-file"),
        help: ArgumentHelp(
            "A JSON object {consumer_key, consumer_secret, token_id, token_secret}; '-' reads it from stdin. Without it the NETSUITE_* variables are read.",
            valueName: "path"))
    var secretsFile: String?

    /// The environment variable of each secret, by its key in the secrets file.
    static let variables: [(key: String, variable: String)] = [
        ("consumer_key", "NETSUITE_CONSUMER_KEY"),
        ("consumer_secret", "NETSUITE_CONSUMER_SECRET"),
        ("token_id", "NETSUITE_TOKEN_ID"),
        ("token_secret", "NETSUITE_TOKEN_SECRET"),
    ]

    /// The secrets from `--secrets-file` when given, else from the environment. Errors name
    /// what is missing and never echo a value.
    func read(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> AccountingConnection.Secrets {
        let values = try secretsFile.map(Self.readFile) ?? Self.readEnvironment(environment)
        return AccountingConnection.Secrets(
            consumerKey: values["consumer_key"]!, consumerSecret: values["consumer_secret"]!,
            tokenID: values["token_id"]!, tokenSecret: values["token_secret"]!)
    }

    static func readEnvironment(_ environment: [String: String]) throws -> [String: String] {
        var values: [String: String] = [:]
        var missing: [String] = []
        for (key, variable) in variables {
            if let value = environment[variable].map(trimmed), !value.isEmpty { values[key] = value } else { missing.append(variable) }
        }
        guard missing.isEmpty else {
            let subject = missing.count == 1 ? "\(missing[0]) is not set" : "\(missing.joined(separator: ", ")) are not set"
            throw CLIError.usage(
                "\(subject): set \(variables.map(\.variable).joined(separator: ", ")) or pass --secrets-file (secrets never go on the command line)")
        }
        return values
    }

    static func readFile(_ path: String) throws -> [String: String] {
        let data = try readSecretInput(path, option: "--secrets-file")
        // JSONSerialization, not Codable: a decoding error may quote the text it choked on,
        // and that text is a secret.
        guard let object = try? JSONSerialization.jsonObject(with: data), let fields = object as? [String: Any] else {
            throw CLIError.usage("--secrets-file \(path) is not a JSON object {consumer_key, consumer_secret, token_id, token_secret}")
        }
        let expected = variables.map(\.key)
        if let unknown = fields.keys.sorted().first(where: { !expected.contains($0) }) {
            throw CLIError.usage("--secrets-file \(path) has an unknown key \"\(unknown.prefix(40))\" (expected \(expected.joined(separator: ", ")))")
        }
        var values: [String: String] = [:]
        for key in expected {
            guard let value = (fields[key] as? String).map(trimmed), !value.isEmpty else {
                throw CLIError.usage("--secrets-file \(path) lacks \(key) (a non-empty string)")
            }
            values[key] = value
        }
        return values
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

/// The start of a key or token id, enough to tell two connections apart and no more (the
/// same rule as `AccountingConnection.Secrets.description`).
func secretHint(_ id: String) -> String {
    id.count <= 6 ? String(repeating: "*", count: id.count) : String(id.prefix(6)) + "…"
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

/// Runs store calls, turning their errors into exit codes: a bad field is a bad argument
/// (64), a missing row is not found (2), sealed secrets that do not open mean the wrong
/// LEDGERSYNC_SECRET_KEY (78). `options` names the command-line option of a store field, so
/// the message points at what to change.
func withStoreErrors<T>(options: [String: String] = [:], _ body: () async throws -> T) async throws -> T {
    do {
        return try await body()
    } catch let error as StoreError {
        var message = error.description
        if let field = error.field, let option = options[field] {
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
