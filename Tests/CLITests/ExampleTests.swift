import Foundation
import Testing
import TestSupport

/// Runs each example program (built beside the test bundle) in its tiny mode, so they never rot.
@Suite struct ExampleTests {
    static let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    /// The built executable `name`: the runner may be inside the .xctest bundle, so look upwards.
    static func executable(_ name: String) -> URL {
        var folder = buildFolder
        while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent(name).path) && folder.pathComponents.count > 2 {
            folder.deleteLastPathComponent()
        }
        return folder.appendingPathComponent(name)
    }

    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = Self.executable(name)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output)
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
        let r = try run("attention-maps", [fixturesDirectory.appendingPathComponent("images/chelsea.png").path, "--tiny"])
        #expect(r.status == 0 && r.output.contains("heads"), "\(r.output)")
    }

    /// Ctrl-C during training writes a checkpoint, says where it is, and exits non-zero.
    @Test func interruptWritesACheckpoint() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-sigint-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let arguments = ["train", "supervised", "--arch", "resnet18", "--train-images", "2000", "--epochs", "3", "--batch-size", "32",
                         "--output", folder.path]
        let process = Process()
        process.executableURL = Self.executable("tessera")
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let log = folder.appendingPathComponent("log.jsonl")
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline, ((try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").count ?? 0) < 2 {
            Thread.sleep(forTimeInterval: 0.05)
        }
        process.interrupt()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus != 0)
        #expect(output.contains("interrupted at step") && output.contains("checkpoint"), "\(output)")
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.safetensors").path))
    }
}
