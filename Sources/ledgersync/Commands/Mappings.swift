import ArgumentParser

// Placeholder; replaced by the real command.
struct Mappings: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "mappings", abstract: "(not built yet)")
    func run() async throws { throw CLIError.config("not built yet") }
}
