import Foundation
import Testing
import TestSupport

/// Runs each example program (built beside the test bundle) in its tiny mode, so they never rot.
@Suite struct ExampleTests {
    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let child = try ChildProcess(builtExecutable(name), arguments, standardError: false)
        try child.wait()
        return (child.process.terminationStatus, try child.output())
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
        let child = try ChildProcess(builtExecutable("tessera"), arguments, standardError: true)
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
