import Foundation
import Testing

/// Holds the test sources to the project's rules for tests, so a new suite cannot quietly
/// break them: every suite carries a `.timeLimit` (a hung test fails instead of holding CI
/// for hours), every file of tests declares its suite, and no test is skipped by a
/// condition of the machine it runs on.
@Suite(.timeLimit(.minutes(2))) struct TestHygieneTests {
    static let testsRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()

    /// Every `.swift` file under Tests/ with its lines (the fuzz targets have no tests).
    static func sources() throws -> [(path: String, lines: [String])] {
        let enumerator = try #require(FileManager.default.enumerator(at: testsRoot, includingPropertiesForKeys: nil))
        var files: [(String, [String])] = []
        for case let url as URL in enumerator where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            files.append((String(url.path.dropFirst(testsRoot.path.count + 1)), text.components(separatedBy: "\n")))
        }
        return files.sorted { $0.0 < $1.0 }
    }

    @Test func everySuiteHasATimeLimit() throws {
        let files = try Self.sources()
        #expect(files.count > 30, "the scan found the test sources")
        var suites = 0
        for (path, lines) in files {
            for (index, line) in lines.enumerated() where line.trimmingCharacters(in: .whitespaces).hasPrefix("@Suite") {
                suites += 1
                #expect(line.contains(".timeLimit("), "\(path):\(index + 1): a suite without .timeLimit: \(line)")
            }
        }
        #expect(suites >= 40, "found \(suites) suites")
    }

    @Test func everyFileOfTestsDeclaresASuite() throws {
        for (path, lines) in try Self.sources()
        where lines.contains(where: { $0.contains("@Test") }) && path != "SyncTests/TestHygieneTests.swift" {
            #expect(
                lines.contains { $0.trimmingCharacters(in: .whitespaces).hasPrefix("@Suite") },
                "\(path) has tests but no @Suite (so no time limit)")
        }
    }

    @Test func noTestIsSkipped() throws {
        let skips = [".enabled(if", ".disabled(", "withKnownIssue"]
        for (path, lines) in try Self.sources() where path != "SyncTests/TestHygieneTests.swift" {
            for (index, line) in lines.enumerated() {
                for skip in skips where line.contains(skip) {
                    Issue.record("\(path):\(index + 1): a skipped or excused test: \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
    }
}
