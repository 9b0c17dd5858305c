import Foundation

/// SHA-256 as coreutils' `sha256sum` computes it (gnulib's own implementation, not the
/// OpenSSL the project's `SHA256` wraps): the expected value of a test that checks a
/// stored hash, computed outside the code under test.
public func sha256sumHex(_ data: Data) throws -> String {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["sha256sum", "-b", "-"]
    let input = Pipe()
    let output = Pipe()
    process.standardInput = input
    process.standardOutput = output
    process.standardError = FileHandle.nullDevice
    try process.run()
    // sha256sum reads all its input before it writes its one line, so writing first cannot
    // deadlock however long the input is.
    input.fileHandleForWriting.write(data)
    try input.fileHandleForWriting.close()
    let text = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    guard process.terminationStatus == 0, let digest = text.split(separator: " ").first, digest.count == 64 else {
        throw CocoaError(
            .fileReadUnknown, userInfo: [NSLocalizedDescriptionKey: "sha256sum failed: status \(process.terminationStatus), output \(text)"]
        )
    }
    return String(digest)
}

public func sha256sumHex(_ text: String) throws -> String { try sha256sumHex(Data(text.utf8)) }
