import Foundation
import Testing

/// docs/traps.md lists every site in Sources/ that can trap by design (`!`, `try!`, `as!`,
/// `precondition`, `preconditionFailure`, `fatalError`, `unsafelyUnwrapped`) with why no
/// input reaches it. This scan holds the page to the code: a site added, changed or removed
/// without the page saying so fails here, naming it.
@Suite(.timeLimit(.minutes(2))) struct TrapInventoryTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A site: the file and its trimmed line (a line with two sites counts twice).
    struct Site: Hashable, CustomStringConvertible {
        let file: String
        let line: String
        var description: String { "\(file): \(line)" }
    }

    /// `try!`, `as!`, a postfix `!` (after a name, `)`, `]` or `?`, not `!=`), and the calls.
    static var pattern: Regex<(Substring, Substring)> {
        #/(try!|as!|[A-Za-z0-9_)\]?]!(?!=)|\bprecondition\(|\bpreconditionFailure\(|\bfatalError\(|\bunsafelyUnwrapped\b)/#
    }

    /// The code of a line without its string literals and end-of-line comment, so that a
    /// `!` in a message or a comment is not a site.
    static func code(of line: String) -> String {
        var out = ""
        var inString = false
        var escaped = false
        var previous: Character = " "
        for character in line {
            if inString {
                if escaped { escaped = false } else if character == "\\" { escaped = true } else if character == "\"" { inString = false }
                previous = character
                continue
            }
            if character == "/" && previous == "/" {
                out.removeLast()
                break
            }
            if character == "\"" {
                inString = true
                out.append("\"\"")
            } else {
                out.append(character)
            }
            previous = character
        }
        return out
    }

    static func scan(_ text: String, file: String) -> [Site] {
        var sites: [Site] = []
        var inBlockString = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init) {
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            // Multi-line string literals (SQL, help texts) hold no code.
            if trimmed.hasSuffix("\"\"\"") || trimmed.hasPrefix("\"\"\"") {
                let quotes = line.components(separatedBy: "\"\"\"").count - 1
                if quotes % 2 == 1 {
                    inBlockString.toggle()
                    continue
                }
            }
            if inBlockString || trimmed.hasPrefix("//") || trimmed.hasPrefix("///") { continue }
            for _ in code(of: line).matches(of: pattern) { sites.append(Site(file: file, line: trimmed)) }
        }
        return sites
    }

    static func sourceSites() throws -> [Site] {
        let sources = root.appendingPathComponent("Sources")
        guard let files = FileManager.default.enumerator(at: sources, includingPropertiesForKeys: nil) else { return [] }
        var sites: [Site] = []
        for case let url as URL in files where url.pathExtension == "swift" && !url.pathComponents.contains("Generated") {
            let relative = String(url.path.dropFirst(root.path.count + 1))
            sites += scan(try String(contentsOf: url, encoding: .utf8), file: relative)
        }
        return sites
    }

    /// `- `file`: ``line``` bullets of docs/traps.md, each followed by its reason.
    static func listedSites() throws -> (sites: [Site], unexplained: [Site]) {
        let text = try String(contentsOf: root.appendingPathComponent("docs/traps.md"), encoding: .utf8)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        let bullet = #/^- `([^`]+)`: ``(.+)``$/#
        var sites: [Site] = []
        var unexplained: [Site] = []
        for (index, line) in lines.enumerated() {
            guard let match = line.wholeMatch(of: bullet) else { continue }
            let site = Site(file: String(match.1), line: String(match.2))
            sites.append(site)
            let reason = index + 1 < lines.count ? lines[index + 1].trimmingCharacters(in: .whitespaces) : ""
            if reason.isEmpty || reason.hasPrefix("- ") { unexplained.append(site) }
        }
        return (sites, unexplained)
    }

    static func counts(_ sites: [Site]) -> [Site: Int] { sites.reduce(into: [:]) { $0[$1, default: 0] += 1 } }

    @Test("every trap site in Sources/ is listed in docs/traps.md with a reason, and every listed site exists")
    func inventoryMatchesTheCode() throws {
        let found = Self.counts(try Self.sourceSites())
        let (listedSites, unexplained) = try Self.listedSites()
        let listed = Self.counts(listedSites)
        #expect(!found.isEmpty, "the scan found no site at all: is Sources/ at \(Self.root.path)?")
        let missing = found.filter { listed[$0.key, default: 0] < $0.value }.map {
            "\($0.key) (\($0.value)× in the code, \(listed[$0.key, default: 0])× listed)"
        }
        let stale = listed.filter { found[$0.key, default: 0] < $0.value }.map {
            "\($0.key) (\($0.value)× listed, \(found[$0.key, default: 0])× in the code)"
        }
        #expect(
            missing.isEmpty, "sites in Sources/ that docs/traps.md does not list (add each with why it cannot fire): \(missing.sorted())")
        #expect(stale.isEmpty, "sites docs/traps.md lists that Sources/ no longer has (remove or update them): \(stale.sorted())")
        #expect(unexplained.isEmpty, "sites listed without a reason: \(unexplained)")
    }

    @Test("the scan finds each kind of site and skips strings, comments and !=")
    func scanFindsSites() {
        let text = """
            let a = b!
            let c = try! f()
            let d = e as! String
            precondition(x > 0, "must be positive!")
            fatalError("no")
            if a != b { print("hello!") } // really!
            let f = g?.h!.i
            /// let doc = comment!
            """
        let sites = Self.scan(text, file: "F.swift").map(\.line)
        #expect(
            sites == [
                "let a = b!", "let c = try! f()", "let d = e as! String", "precondition(x > 0, \"must be positive!\")",
                "fatalError(\"no\")", "let f = g?.h!.i",
            ])
    }
}
