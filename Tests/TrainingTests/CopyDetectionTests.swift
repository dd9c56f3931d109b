import Autograd
import Foundation
import Testing
import Tensor
import TestSupport
@testable import Training
import Vision

@Suite struct CopyDetectionTests {
    struct Fixture: Decodable {
        struct APCase: Decodable { let ranks: [Int], positives: Int, ap: Double }
        let whitening, originals, distractors, copies, strong, projection, queries_whitened: [[Double]]
        let mean: [Double]
        let original_names, strong_names: [String]
        let topk_indices: [[Int]]
        let topk_similarities: [[Double]]
        let aps: [Double]
        let tokens: [[[Double]]]
        let descriptor: [[Double]]
        let ap_cases: [APCase]
    }

    static let fixture = Result {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixturesDirectory
            .appendingPathComponent("copy_detection.json")))
    }

    static func tensor(_ rows: [[Double]]) -> Tensor { Tensor(rows.flatMap { $0 }, shape: [rows.count, rows[0].count]) }

    /// eval_copy_detection's GeM descriptor (scripts/make_copy_detection_fixtures.py).
    @Test func descriptorMatchesDINO() throws {
        let f = try Self.fixture.get()
        let tokens = Tensor(f.tokens.flatMap { $0.flatMap { $0 } }.map { Float($0) }, shape: [2, 7, 5])
        let got = CopyDetection.descriptor(tokens: tokens).converted(to: .float64).scalars(as: Double.self)
        for (a, b) in zip(got, f.descriptor.flatMap { $0 }) { #expect(abs(a - b) < 1e-6 * max(1, abs(b))) }
    }

    /// The Holidays package's score_ap_from_ranks_1, as DINO copies it.
    @Test func averagePrecisionMatchesHolidays() throws {
        for c in try Self.fixture.get().ap_cases {
            #expect(abs(CopyDetection.averagePrecision(ranks: c.ranks, positives: c.positives) - c.ap) < 1e-12,
                    "\(c.ranks) of \(c.positives)")
        }
    }

    /// DINO's whitening (utils.PCA, whit 0.5, on the uncentred second moments, one eigenvalue
    /// floored), cosine top-20 and AP per query on random descriptors: the projection up to each
    /// row's sign (eigenvectors have none), the similarities, rankings and APs.
    @Test func whiteningSearchAndScoresMatchDINO() throws {
        let f = try Self.fixture.get()
        let pca = try PCAWhitening(learningFrom: Self.tensor(f.whitening))
        let p = pca.projection.scalars(as: Double.self), d = f.mean.count
        for (r, expected) in f.projection.enumerated() {
            let row = Array(p[(r * d)..<((r + 1) * d)])
            let sign: Double = zip(row, expected).map { $0 * $1 }.reduce(0, +) < 0 ? -1 : 1
            let scale = expected.map(abs).max()!
            for (a, b) in zip(row, expected) { #expect(abs(sign * a - b) < 1e-4 * scale, "row \(r)") }
        }
        for (a, b) in zip(pca.mean.scalars(as: Double.self), f.mean) { #expect(abs(a - b) < 1e-6) }
        let database = pca(Self.tensor(f.originals + f.distractors))
        let queries = pca(Self.tensor(f.copies + f.strong))
        let (indices, similarities) = CopyDetection.search(queries: queries, database: database, k: 20)
        #expect(indices.count == f.topk_indices.count)
        for q in indices.indices {
            for (a, b) in zip(similarities[q], f.topk_similarities[q]) { #expect(abs(a - b) < 1e-4, "query \(q)") }
            // Ranks may swap only between near-equal similarities.
            for k in indices[q].indices where indices[q][k] != f.topk_indices[q][k] {
                #expect(abs(f.topk_similarities[q][k] - f.topk_similarities[q][max(0, k - 1)]) < 1e-4
                        || abs(f.topk_similarities[q][k] - f.topk_similarities[q][min(19, k + 1)]) < 1e-4)
            }
        }
        let originals = f.original_names
        for (q, retrieved) in indices.enumerated() {
            let positives = q < f.copies.count ? [q] : originals.indices.filter {
                originals[$0].prefix(4) == f.strong_names[q - f.copies.count].prefix(4)
            }
            let ranks = retrieved.indices.filter { positives.contains(retrieved[$0]) }
            #expect(abs(CopyDetection.averagePrecision(ranks: ranks, positives: positives.count) - f.aps[q]) < 1e-6,
                    "query \(q)")
        }
    }

    /// The Copydays layout end to end on a small set made from the committed photographs: a
    /// thumbnail descriptor (class and patch tokens a 4×4 colour thumbnail) finds
    /// JPEG copies near perfectly and the strong edits less well; whitening and distractors take
    /// part; inconsistent folders are refused by name.
    @Test func smallCopydaysSetEndToEnd() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-cd-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let photos = ["chelsea.png", "coffee.png", "china.jpg"].map {
            fixturesDirectory.appendingPathComponent("images").appendingPathComponent($0)
        }
        let folders = try CopyDetection.Benchmark.writeSmallSet(photographs: photos, to: folder, imageSize: 64,
                                                                 qualities: [5, 50], cropPercents: [20],
                                                                 distractors: 10, whitening: 12)
        let benchmark = try CopyDetection.Benchmark(folder: folders.benchmark)
        #expect(benchmark.blocks.map(\.name) == ["original", "strong", "jpegqual/5", "jpegqual/50", "crops/20"])
        #expect(benchmark.blocks[0].files.count == 12 && benchmark.blocks[1].files.count == 24)
        #expect(benchmark.positives(ofBlock: 1)[3] == [1])
        let thumbnail: (Variable) -> Variable = { x in
            let small = Resize(.exactly(height: 4, width: 4), antialias: true)
            let rows = (0..<x.shape[0]).map { small(x.data.select(axis: 0, index: $0), seed: 0) }
            let t = Tensor.stack(rows).reshaped([x.shape[0], 1, 48])
            return Variable(Tensor.concat([t, t, t], axis: 1))
        }
        let result = try benchmark.evaluate(imageSize: 32, normalize: Normalize(), distractors: folders.distractors,
                                            whitening: folders.whitening, tokens: thumbnail)
        let map = Dictionary(uniqueKeysWithValues: result.blocks.map { ($0.block, $0.meanAveragePrecision) })
        #expect(result.originals == 12 && result.distractors == 10 && result.whiteningImages == 12)
        #expect(map["original"]! > 0.99 && map["jpegqual/50"]! > 0.9, "\(map)")
        #expect(map["strong"]! < map["jpegqual/50"]!, "\(map)")
        #expect(result.blocks[1].queries[0].retrieved.count == 20)

        try FileManager.default.removeItem(at: folders.benchmark.appendingPathComponent("crops/20")
            .appendingPathComponent(benchmark.blocks[0].files[0]))
        #expect { try CopyDetection.Benchmark(folder: folders.benchmark) } throws: {
            "\($0)".contains("crops/20: 11 images for 12 originals")
        }
        #expect { try CopyDetection.Benchmark(folder: folder) } throws: { "\($0)".contains("no original/ folder") }
    }
}
