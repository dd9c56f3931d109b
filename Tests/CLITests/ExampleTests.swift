import Foundation
import Testing
import TestSupport

/// Runs each example program (built beside the test bundle) in its tiny mode, so they never rot.
@Suite struct ExampleTests {
    static let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    /// The built executable `name`: the runner may be inside the .xctest bundle, so look upwards.
    static func executable(_ name: String) -> URL {
        var folder = buildFolder
        while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent(name).path)
              && folder.pathComponents.count > 2 {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent(name)
    }

    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = try Child(Self.executable(name), arguments, standardError: false)
        try child.wait()
        return (child.process.terminationStatus, try child.output())
    }

    struct Timeout: Error, CustomStringConvertible { let description: String }

    /// A child process whose output goes to a temporary file, not a pipe: a blocking read of a
    /// pipe fails with EINTR in Foundation when another child exits meanwhile (tests run in parallel).
    struct Child {
        let process = Process()
        let file = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-child-\(UUID().uuidString).txt")

        init(_ executable: URL, _ arguments: [String], standardError: Bool) throws {
            _ = FileManager.default.createFile(atPath: file.path, contents: nil)
            let handle = try FileHandle(forWritingTo: file)
            process.executableURL = executable
            process.arguments = arguments
            process.standardOutput = handle
            process.standardError = standardError ? handle : FileHandle.nullDevice
            try process.run()
            try handle.close()
        }

        /// Waits for the process to exit; a process still running after `seconds` is killed, so a
        /// hung example fails the test instead of stalling CI.
        func wait(seconds: Double = 300) throws {
            let deadline = Date().addingTimeInterval(seconds)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            guard !process.isRunning else {
                process.terminate()
                process.waitUntilExit()
                throw Timeout(description: "\(process.executableURL?.lastPathComponent ?? "child") "
                                           + "did not exit within \(Int(seconds)) s; killed")
            }
        }

        /// Everything written so far; removes the file once the process has exited.
        func output() throws -> String {
            let text = try String(contentsOf: file, encoding: .utf8)
            if !process.isRunning { try? FileManager.default.removeItem(at: file) }
            return text
        }
    }

    @Test func trainViT() throws {
        let r = try run("train-vit", ["--tiny"])
        #expect(r.status == 0 && r.output.contains("final loss"), "\(r.output)")
    }

    @Test func dinoFeatures() throws {
        let r = try run("dino-features", ["--tiny"])
        #expect(r.status == 0 && r.output.contains("k-NN top-1"), "\(r.output)")
    }

    @Test func attentionMaps() throws {
        let r = try run("attention-maps",
                        [fixturesDirectory.appendingPathComponent("images/chelsea.png").path, "--tiny"])
        #expect(r.status == 0 && r.output.contains("heads"), "\(r.output)")
    }

    /// Ctrl-C during training writes a checkpoint, says where it is, and exits non-zero.
    @Test func interruptWritesACheckpoint() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-sigint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = ["train", "supervised", "--arch", "resnet18", "--train-images", "2000",
                         "--epochs", "3", "--batch-size", "32", "--output", folder.path]
        let child = try Child(Self.executable("tessera"), arguments, standardError: true)
        let process = child.process
        let log = folder.appendingPathComponent("log.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline,
              ((try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 2 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        try child.wait()
        let output = try child.output()
        #expect(process.terminationStatus != 0)
        #expect(output.contains("interrupted at step") && output.contains("checkpoint"), "\(output)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.safetensors").path))
    }
}
