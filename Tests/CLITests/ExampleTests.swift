import Foundation
import Testing
import TestSupport

/// Runs each example program (built beside the test bundle) in its tiny mode, so they never rot.
@Suite struct ExampleTests {
    static let buildFolder = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()

    func run(_ name: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        var folder = Self.buildFolder
        // The runner may be inside the .xctest bundle; executables sit in the build folder above it.
        while !FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent(name).path) && folder.pathComponents.count > 2 {
            folder.deleteLastPathComponent()
        }
        process.executableURL = folder.appendingPathComponent(name)
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
}
