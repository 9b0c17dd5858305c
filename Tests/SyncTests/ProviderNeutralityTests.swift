import Foundation
import Testing

/// Issue 13: `Sync` and the API know no provider by name; providers are drivers the executable
/// registers (docs/architecture.md, "The provider seam"). Their Swift sources name NetSuite in
/// comments and doc strings only, besides the billing documents' own field names (Lago's
/// `netsuite_subsidiary`, an integration of type "netsuite"). Generated files (the embedded
/// SQL, the OpenAPI document) are prose about the installation and are not read.
@Suite(.timeLimit(.minutes(1)))
struct ProviderNeutralityTests {
    /// Spellings that are a billing document's vocabulary, not a provider's code.
    static let allowed = ["netsuiteSubsidiary", "netsuite_subsidiary", #"integrationType == "netsuite""#]

    static var sourcesDirectory: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Sources")
    }

    /// The line without its comment: nothing when it is a comment line, else the text before a
    /// `//` that is outside a string literal (an even number of quotes before it).
    static func code(_ line: String) -> String {
        let trimmed = line.trimmingCharacters(in: .whitespaces)
        if trimmed.hasPrefix("//") || trimmed.hasPrefix("*") || trimmed.hasPrefix("/*") { return "" }
        var quotes = 0
        var previous: Character = " "
        var index = line.startIndex
        while index < line.endIndex {
            let character = line[index]
            if character == "\"" { quotes += 1 }
            if character == "/", previous == "/", quotes % 2 == 0 {
                return String(line[..<line.index(before: index)])
            }
            previous = character
            index = line.index(after: index)
        }
        return line
    }

    /// Every `netsuite` (any case) in the code of the Swift files under `Sources/<module>`, as
    /// "path:line: text".
    static func mentions(in module: String) throws -> [String] {
        let root = sourcesDirectory.appendingPathComponent(module)
        guard let files = FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil) else { return [] }
        var found: [String] = []
        for case let file as URL in files where file.pathExtension == "swift" && !file.path.contains("/Generated/") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for (number, line) in text.components(separatedBy: "\n").enumerated() {
                var code = code(line)
                for spelling in allowed { code = code.replacingOccurrences(of: spelling, with: "") }
                if code.lowercased().contains("netsuite") {
                    found.append("\(module)/\(file.lastPathComponent):\(number + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        return found
    }

    @Test("Sync and the API name no provider outside comments and doc strings")
    func noProviderNames() throws {
        for module in ["Sync", "API"] {
            let root = Self.sourcesDirectory.appendingPathComponent(module)
            #expect(FileManager.default.fileExists(atPath: root.path), "no sources at \(root.path)")
            let mentions = try Self.mentions(in: module)
            #expect(mentions.isEmpty, "provider names in \(module)'s code:\n\(mentions.joined(separator: "\n"))")
        }
    }

    @Test("the scan sees code and skips comments and the document field names")
    func scanSeesCode() {
        #expect(Self.code("// NetSuite only") == "")
        #expect(Self.code("    /// NetSuite: payments") == "")
        #expect(Self.code(#"let x = "netsuite" // NetSuite"#).contains(#""netsuite""#))
        #expect(!Self.code(#"let x = 1 // NetSuite"#).contains("NetSuite"))
        #expect(Self.code(#"let url = "https://a.netsuite.com""#).contains("netsuite.com"))
    }
}
