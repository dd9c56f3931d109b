import Foundation

/// The built executable `name` beside the test bundle: the runner may be inside the .xctest bundle,
/// so look upwards from it.
public func builtExecutable(_ name: String) -> URL {
    var folder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent(name).path)
          && folder.pathComponents.count > 2 {
        folder.deleteLastPathComponent()
    }
    return folder.appendingPathComponent(name)
}

/// A timeout of ``ChildProcess/wait(seconds:)``.
public struct ChildTimeout: Error, CustomStringConvertible {
    public let description: String
}

/// A child process whose output goes to a temporary file, not a pipe: a blocking read of a
/// pipe fails with EINTR in Foundation when another child exits meanwhile (tests run in parallel).
public struct ChildProcess {
    public let process = Process()
    let file = FileManager.default.temporaryDirectory
        .appendingPathComponent("tessera-child-\(UUID().uuidString).txt")

    public init(_ executable: URL, _ arguments: [String], standardError: Bool,
                environment: [String: String]? = nil) throws {
        _ = FileManager.default.createFile(atPath: file.path, contents: nil)
        let handle = try FileHandle(forWritingTo: file)
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = handle
        process.standardError = standardError ? handle : FileHandle.nullDevice
        if let environment { process.environment = environment }
        try process.run()
        try handle.close()
    }

    /// Waits for the process to exit; a process still running after `seconds` is killed, so a
    /// hung child fails the test instead of stalling CI.
    public func wait(seconds: Double = 300) throws {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        guard !process.isRunning else {
            process.terminate()
            process.waitUntilExit()
            throw ChildTimeout(description: "\(process.executableURL?.lastPathComponent ?? "child") "
                                            + "did not exit within \(Int(seconds)) s; killed")
        }
    }

    /// Everything written so far; removes the file once the process has exited.
    public func output() throws -> String {
        let text = try String(contentsOf: file, encoding: .utf8)
        if !process.isRunning { try? FileManager.default.removeItem(at: file) }
        return text
    }
}
