import Foundation
import Testing
import Tensor
import TestSupport

/// Runs Tests/DistributedChecks under `mpirun -np 2` on this machine and compares with one process.
/// Skipped, saying so, where Open MPI's mpirun is not installed.
@Suite(.serialized) struct DistributedTests {
    static let mpirun = ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first {
        FileManager.default.isExecutableFile(atPath: $0)
    }

    /// `mpirun -np ranks distributed-checks arguments…` (or the checks alone with one rank); its status and output.
    static func run(ranks: Int, _ arguments: [String], seconds: Double = 240) throws -> (status: Int32, output: String) {
        let checks = builtExecutable("DistributedChecks")
        var environment = ProcessInfo.processInfo.environment
        environment["OPENBLAS_NUM_THREADS"] = "1"
        let child: ChildProcess
        if ranks > 1, let mpirun {
            // Root in a container needs --allow-run-as-root; two ranks on a 2-core machine need no binding.
            child = try ChildProcess(URL(fileURLWithPath: mpirun),
                                     ["--allow-run-as-root", "--oversubscribe", "--bind-to", "none",
                                      "-np", "\(ranks)", checks.path] + arguments,
                                     standardError: true, environment: environment)
        } else {
            child = try ChildProcess(checks, arguments, standardError: true, environment: environment)
        }
        try child.wait(seconds: seconds)
        return (child.process.terminationStatus, try child.output())
    }

    static func temporaryFile(_ name: String) -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-dist-\(UUID().uuidString)-\(name)")
    }

    @Test(.enabled(if: mpirun != nil, "Open MPI's mpirun is not installed (scripts/install-deps installs it)"))
    func collectivesAcrossTwoRanks() throws {
        let r = try Self.run(ranks: 2, ["collectives"])
        #expect(r.status == 0, "\(r.output)")
        #expect(r.output.contains("collectives ok: rank 0 of 2") && r.output.contains("collectives ok: rank 1 of 2"),
                "\(r.output)")
        #expect(r.output.contains("local 1 of 2, 1 host(s)"), "\(r.output)")
    }

    @Test func collectivesInOneProcess() throws {
        let r = try Self.run(ranks: 1, ["collectives"])
        #expect(r.status == 0 && r.output.contains("collectives ok: rank 0 of 1"), "\(r.output)")
    }

    /// 2 ranks × batch 4 take the steps of 1 rank × batch 8, in float64, with many buckets (a
    /// boundary inside every layer), with gradient accumulation over noSync micro-batches, and
    /// with a layer that gets no gradient (its weight decay must not run).
    @Test(.enabled(if: mpirun != nil, "Open MPI's mpirun is not installed"),
          arguments: [["--bucket-bytes", "512"], ["--bucket-bytes", "512", "--accumulate", "2"], []])
    func dataParallelMatchesOneProcess(_ extra: [String]) throws {
        let (two, one) = (Self.temporaryFile("two.safetensors"), Self.temporaryFile("one.safetensors"))
        defer { for f in [two, one] { try? FileManager.default.removeItem(at: f) } }
        let r2 = try Self.run(ranks: 2, ["mlp", "--batch", "4", "--steps", "6", "--out", two.path] + extra)
        #expect(r2.status == 0, "\(r2.output)")
        let r1 = try Self.run(ranks: 1, ["mlp", "--batch", "8", "--steps", "6", "--out", one.path] + extra)
        #expect(r1.status == 0, "\(r1.output)")
        if extra.contains("512") { #expect(r2.output.contains("5 buckets"), "\(r2.output)") }
        let a = try SafeTensors.read(two).tensors, b = try SafeTensors.read(one).tensors
        #expect(Set(a.keys) == Set(b.keys) && a.count == 8)
        for (key, value) in a {
            let difference = (value - b[key]!).abs().max().item()
            #expect(difference < 1e-10, "\(key) differs by \(difference)")
        }
    }
}
