import Foundation
import Testing
@testable import Tensor

@Suite struct SafeTensorsTests {
    func temporaryURL() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("tessera-\(UUID().uuidString).safetensors")
    }

    @Test func roundTripsEveryDtypeAndMetadata() throws {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        let tensors: [String: Tensor] = [
            "f32": Tensor.randn([3, 4], generator: RandomGenerator(seed: 1)).transposed(),  // written contiguous
            "f64": Tensor([1.5, -2.25]),
            "i64": Tensor([Int64.max, -1]),
            "i32": Tensor([Int32(-7)]),
            "mask": Tensor([true, false, true]),
            "empty": Tensor.zeros([0, 5]),
            "scalar": Tensor(scalar: Float(3)),
        ]
        try SafeTensors.write(tensors, metadata: ["epoch": "3"], to: url)
        let (back, metadata) = try SafeTensors.read(url)
        #expect(metadata == ["epoch": "3"])
        #expect(Set(back.keys) == Set(tensors.keys))
        for (name, t) in tensors {
            #expect(back[name]!.dtype == t.dtype && back[name]!.shape == t.shape, "\(name)")
            #expect(back[name]!.doubles == t.doubles, "\(name)")
        }
    }

    @Test func readsFilesWrittenByThePythonLibrary() throws {
        let ops = Fixtures.ops
        #expect(ops["dtype.f32"]!.doubles == [0, 0.25, 0.5, 0.75, 1, 1.25])
        #expect(ops["dtype.i32"]!.doubles == [-2, 0, 7])
        #expect(ops["dtype.i64"]!.scalars(as: Int64.self) == [1 << 40, -5])
        #expect(ops["dtype.bool"]!.doubles == [1, 0, 1])
        #expect(ops["dtype.f16"]!.doubles == [0.5, -1.25, 65504])
        let bf16 = try SafeTensors.read(Fixtures.directory.appendingPathComponent("bf16.safetensors"),
                                        widenHalfPrecision: true)
        #expect(bf16.tensors["x"]!.doubles == [1, -2.5, 3.140625])
        #expect(throws: TensorFileError.self) {
            try SafeTensors.read(Fixtures.directory.appendingPathComponent("bf16.safetensors"))
        }
    }

    @Test func mappedTensorsAreCopyOnWrite() throws {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(["w": Tensor.ones([4])], to: url)
        var w = try SafeTensors.read(url).tensors["w"]!
        w += 1
        #expect(try SafeTensors.read(url).tensors["w"]!.doubles == [1, 1, 1, 1])
    }

    /// A valid little file to damage.
    func validBytes() throws -> [UInt8] {
        let url = temporaryURL()
        defer { try? FileManager.default.removeItem(at: url) }
        try SafeTensors.write(["a": Tensor([1.0, 2, 3]), "b": Tensor([Int32(1), 2])], to: url)
        return Array(try Data(contentsOf: url))
    }

    func header(_ json: String, data: Int) -> [UInt8] {
        var bytes = withUnsafeBytes(of: UInt64(json.utf8.count).littleEndian, Array.init)
        bytes += Array(json.utf8) + [UInt8](repeating: 0, count: data)
        return bytes
    }

    func expectError(_ bytes: [UInt8], mentioning phrase: String, sourceLocation: SourceLocation = #_sourceLocation) {
        do {
            _ = try SafeTensors.parse(bytes, name: "bad.safetensors")
            Issue.record("expected an error mentioning \"\(phrase)\"", sourceLocation: sourceLocation)
        } catch {
            #expect("\(error)".contains(phrase), "\(error)", sourceLocation: sourceLocation)
        }
    }

    @Test func hostileFilesGiveDescriptiveErrors() throws {
        expectError([1, 2, 3], mentioning: "too short")
        expectError(withUnsafeBytes(of: UInt64.max, Array.init) + [0], mentioning: "exceeds")
        expectError(withUnsafeBytes(of: UInt64(1000), Array.init) + [0x7b], mentioning: "runs past the end")
        expectError(header("not json", data: 0), mentioning: "not a JSON object")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 80]}}"#, data: 8),
                    mentioning: "outside")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}"#, data: 8),
                    mentioning: "span 8 bytes")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}"#, data: 8),
                    mentioning: "invalid shape")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [4611686018427387904, 4], "#
                           + #""data_offsets": [0, 0]}}"#, data: 0),
                    mentioning: "too large")
        expectError(header(#"{"x": {"dtype": "U8", "shape": [1], "data_offsets": [0, 1]}}"#, data: 1),
                    mentioning: "unsupported dtype")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [1]}}"#, data: 4), mentioning: "lacks")
        expectError(header(#"{"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, "#
                           + #""y": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}"#, data: 8),
                    mentioning: "overlap")
        expectError(header(#"{"x": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}"#, data: 0) + [7],
                    mentioning: "BOOL byte")
        expectError(header(#"{"__metadata__": {"k": 1}}"#, data: 0), mentioning: "not a string")
        #expect(throws: TensorFileError.self) {
            try SafeTensors.read(URL(fileURLWithPath: "/nonexistent/x.safetensors"))
        }
    }

    @Test func fuzzedFilesNeverCrash() throws {
        let valid = try validBytes()
        let g = RandomGenerator(seed: 99)
        var accepted = 0
        for trial in 0..<3000 {
            var bytes = valid
            switch trial % 3 {
            case 0: bytes = Array(bytes.prefix(g.nextInt(below: bytes.count)))      // truncation
            case 1:
                for _ in 0..<(1 + g.nextInt(below: 4)) {
                    bytes[g.nextInt(below: bytes.count)] = UInt8(g.nextInt(below: 256))
                }
            default: bytes[g.nextInt(below: 16)] ^= UInt8(1 << g.nextInt(below: 8))  // header length and first bytes
            }
            if let parsed = try? SafeTensors.parse(bytes) {
                accepted += 1
                for t in parsed.tensors.values { _ = t.doubles }  // whatever was accepted is readable
            }
        }
        #expect(accepted < 3000)
    }
}

@Suite struct DescriptionTests {
    @Test func printsLikePyTorch() {
        #expect(Tensor([[Float(1), -2.5], [3, 4]]).description ==
                "tensor([[ 1.0000, -2.5000],\n        [ 3.0000,  4.0000]])")
        #expect(Tensor([Int64(1), 20]).description == "tensor([ 1, 20])")
        #expect(Tensor([0.5]).description == "tensor([0.5000], dtype=float64)")
        #expect(Tensor([true, false]).description == "tensor([ True, False])")
        #expect(Tensor.zeros([0, 2]).description.contains("size=[0, 2]"))
        let big = Tensor.arange(0, 5000, dtype: .float32).description
        #expect(big.contains("...") && big.count < 200)
    }
}
