import ArgumentParser

// Placeholder; replaced by the real command.
struct Connections: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "connections", abstract: "(not built yet)")
    func run() async throws { throw CLIError.config("not built yet") }
}
