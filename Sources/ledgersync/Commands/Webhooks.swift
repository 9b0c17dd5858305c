import ArgumentParser

// Placeholder; replaced by the real command.
struct Webhooks: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "webhooks", abstract: "(not built yet)")
    func run() async throws { throw CLIError.config("not built yet") }
}
