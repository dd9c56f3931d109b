import Foundation
import Testing
import Tensor
@testable import Zoo

@Suite struct CheckpointTests {
    let fixtures = fixturesDirectory

    @Test func readsEveryDtypeAndStridedViewsAsPyTorchSavedThem() throws {
        let state = try TorchCheckpoint.stateDict(fixtures.appendingPathComponent("state_dict.pth"))
        let reference = loadFixtures("state_dict_reference.safetensors").tensors
        #expect(Set(state.keys) == Set(reference.keys))
        for (key, expected) in reference {
            let value = try #require(state[key])
            #expect(value.shape == expected.shape, "\(key)")
            expectClose(value.converted(to: .float64), expected.converted(to: .float64), atol: 0, rtol: 0)
        }
        #expect(state["1.num_batches_tracked"]?.dtype == .int64 && state["1.num_batches_tracked"]?.item() == 5)
        #expect(state["extra.bool"]?.dtype == .bool && state["extra.half"]?.dtype == .float32)
        #expect(state["extra.view"]?.doubles == [1, 3, 5, 7, 9, 11])
    }

    @Test func readsNestedDINOCheckpointsAndStripsPrefixes() throws {
        let url = fixtures.appendingPathComponent("dino_checkpoint.pth")
        let checkpoint = try TorchCheckpoint.load(url)
        if case .int(let epoch) = checkpoint["epoch"] { #expect(epoch == 3) } else { Issue.record("no epoch") }
        if case .string(let arch) = checkpoint["args"]?["arch"] { #expect(arch == "vit_small") } else {
            Issue.record("no args.arch")
        }
        if case .some(PickleValue.none) = checkpoint["fp16_scaler"] {} else {
            Issue.record("fp16_scaler should be None")
        }
        let teacher = try TorchCheckpoint.stateDict(url, entry: "teacher", stripPrefixes: ["backbone."])
        let student = try TorchCheckpoint.stateDict(url, entry: "student", stripPrefixes: ["module.", "backbone."])
        #expect(Set(teacher.keys) == Set(student.keys) && teacher.keys.contains("0.weight"))
        #expect { try TorchCheckpoint.stateDict(url, entry: "model") } throws: { "\($0)".contains("teacher") }
    }

    @Test func legacyAndForeignFilesGetClearErrors() {
        #expect { try TorchCheckpoint.load(fixtures.appendingPathComponent("legacy.pth")) }
            throws: { "\($0)".contains("legacy") }
        #expect { try TorchCheckpoint.load(Data("hello".utf8), name: "x.pth") }
            throws: { "\($0)".contains("not a PyTorch checkpoint") }
    }

    @Test func refusesArbitraryGlobals() {
        // c os\nsystem\n (S'ls' tR.  — the classic pickle exploit.
        let exploit = Array("cos\nsystem\n(X\u{2}\0\0\0lstR.".utf8)
        let unpickler = Unpickler(bytes: exploit, context: "evil.pth") { _, _, _, _ in Tensor.zeros([1]) }
        #expect { try unpickler.load() } throws: { "\($0)".contains("refusing global os.system") }
    }

    @Test func truncatedAndGarbledFilesAlwaysThrowOrLoad() throws {
        let original = [UInt8](try Data(contentsOf: fixtures.appendingPathComponent("dino_checkpoint.pth")))
        for cut in stride(from: 0, to: original.count, by: 97) {
            #expect(throws: CheckpointError.self) {
                try TorchCheckpoint.load(Data(original.prefix(cut)), name: "cut.pth")
            }
        }
        let rng = RandomGenerator(seed: 17)
        var loaded = 0
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + rng.nextInt(below: 6)) {
                bytes[rng.nextInt(below: bytes.count)] = UInt8(rng.nextInt(below: 256))
            }
            do {
                _ = try TorchCheckpoint.load(Data(bytes), name: "garbled.pth")
                loaded += 1
            } catch is CheckpointError {}
        }
        // Flips inside tensor data leave a loadable file; flips in structure are errors. Never a crash.
        #expect(loaded < 300)
    }

    @Test func convertsToSafetensors() throws {
        let out = FileManager.default.temporaryDirectory
            .appendingPathComponent("converted-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: out) }
        let count = try TorchCheckpoint.convert(fixtures.appendingPathComponent("dino_checkpoint.pth"), to: out,
                                                entry: "teacher", stripPrefixes: ["backbone."])
        let back = try SafeTensors.read(out).tensors
        #expect(back.count == count && back["1.running_var"] != nil)
    }
}
