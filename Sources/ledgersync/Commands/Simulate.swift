import ArgumentParser

// Placeholder; replaced by the real command.
struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "simulate", abstract: "(not built yet)")
    func run() async throws { throw CLIError.config("not built yet") }
}
