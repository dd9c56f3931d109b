import Autograd
import Foundation
import Testing
import Tensor
import TestSupport
@testable import Training
import Vision

@Suite struct RetrievalTests {
    struct Fixture: Decodable {
        struct Expected: Decodable {
            let map: Double
            let mpr: [Double]
            let aps: [Double?]
            let prs: [[Double]?]
        }
        let truth: Retrieval.GroundTruth
        let ranking: [[Int]]
        let kappas: [Int]
        let expected: [String: Expected]
    }

    static func fixture() throws -> Fixture {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixturesDirectory
            .appendingPathComponent("retrieval_map.json")))
    }

    /// revisitop's compute_map (scripts/make_retrieval_fixtures.py) on random rankings of 40
    /// images for 7 queries: mAP, mP@{1,5,10} and the per-query values of each protocol, with a
    /// query without hard positives (NaN, skipped, under Hard) and one without junk.
    @Test func scoresMatchRevisitop() throws {
        let f = try Self.fixture()
        for difficulty in Retrieval.Difficulty.allCases {
            let expected = try #require(f.expected[difficulty.rawValue])
            let s = Retrieval.scores(ranking: f.ranking, truth: f.truth.entries.map(difficulty.split), kappas: f.kappas)
            #expect(abs(s.meanAveragePrecision - expected.map) < 1e-12, "\(difficulty)")
            for (a, b) in zip(s.meanPrecision, expected.mpr) { #expect(abs(a - b) < 1e-12, "\(difficulty) mP@k") }
            #expect(s.averagePrecisions.count == expected.aps.count)
            for (a, b) in zip(s.averagePrecisions, expected.aps) {
                #expect((a == nil) == (b == nil) && abs((a ?? 0) - (b ?? 0)) < 1e-12, "\(difficulty) AP")
            }
            for (a, b) in zip(s.precisions, expected.prs) {
                #expect((a == nil) == (b == nil))
                for (x, y) in zip(a ?? [], b ?? []) { #expect(abs(x - y) < 1e-12) }
            }
        }
        #expect(f.expected["hard"]?.aps[2] == nil)
    }

    /// The revisitop-style pickle (read with the safe unpickler) holds the JSON's ground truth.
    @Test func groundTruthReadsThePickleAndTheJSON() throws {
        let f = try Self.fixture()
        let fromPickle = try Retrieval.GroundTruth.read(fixturesDirectory.appendingPathComponent("gnd_fixture.pkl"))
        #expect(fromPickle == f.truth)
        #expect(fromPickle.entries[0].box?.count == 4)
    }

    @Test func badGroundTruthIsRefusedByName() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-gnd-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("gnd_bad.json")
        try Data(#"{"imlist": ["a", "b"], "qimlist": ["q"], "gnd": [{"easy": [0], "hard": [5], "junk": []}]}"#.utf8)
            .write(to: file)
        #expect(throws: DatasetError.self) { try Retrieval.GroundTruth.read(file) }
        do { _ = try Retrieval.GroundTruth.read(file) } catch {
            #expect("\(error)".contains("query 0 (q) hard index 5 is outside the 2 database images"), "\(error)")
        }
        try Data("not json".utf8).write(to: file)
        #expect(throws: DatasetError.self) { try Retrieval.GroundTruth.read(file) }
        #expect(throws: DatasetError.self) { try Retrieval.Benchmark(folder: folder.appendingPathComponent("none")) }
    }

    /// Cosine ranking: best first, ties in database order.
    @Test func rankingIsByCosineSimilarity() {
        let database = Tensor([[1.0, 0], [0, 2], [1, 1], [2, 0]])
        let queries = Tensor([[0.0, 1], [3, 0.1]])
        #expect(Retrieval.ranking(database: database, queries: queries) == [[1, 2, 0, 3], [0, 3, 2, 1]])
    }

    /// The Shapes benchmark in revisitop's layout, end to end: a descriptor that sees the objects'
    /// colours (the mean colour of the pixels that differ most from the image's median) ranks the
    /// positives far above chance, and the mean colour of the whole image (background dominated)
    /// does not; the protocol, the files and the metrics are what is tested here.
    @Test func shapesBenchmarkEndToEnd() throws {
        let folder = FileManager.default.temporaryDirectory
            .appendingPathComponent("tessera-shapes-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let benchmark = try Retrieval.Benchmark.writeShapes(to: folder, databasePerClass: 6, queriesPerClass: 1,
                                                            junk: 8, imageSize: 32)
        #expect(benchmark.name == "shapes" && benchmark.truth.images.count == 68 && benchmark.truth.queries.count == 10)
        let reread = try Retrieval.Benchmark(folder: folder)
        #expect(reread.truth == benchmark.truth)
        func evaluate(_ extract: @escaping (Tensor) -> Tensor) throws -> Retrieval.Benchmark.Result {
            try benchmark.evaluate(imageSize: 32, patchSize: 8,
                                   normalize: Normalize(mean: [0, 0, 0], std: [1, 1, 1])) {
                Variable(extract($0.data))
            }
        }
        let objectColour = try evaluate { x in
            let median = x.reshaped([3, 32 * 32]).sorted(axis: 1).values.slice(axis: 1, start: 512, end: 513)
            let far = (x.reshaped([3, 32 * 32]) - median).abs().sum(axes: [0]) .> 0.3
            let weights = far.converted(to: .float32)
            return (x.reshaped([3, 32 * 32]) * weights).sum(axes: [1]).reshaped([1, 3]) / (weights.sum().item() + 1)
        }
        let meanColour = try evaluate { $0.mean(axes: [2, 3]) }
        let (good, plain) = (objectColour.scores[.medium]!.meanAveragePrecision,
                             meanColour.scores[.medium]!.meanAveragePrecision)
        #expect(good > plain + 0.1, "object colour mAP \(good), mean colour \(plain)")
        #expect(objectColour.topTen.count == 10 && objectColour.topTen[0].count == 10)
    }
}
