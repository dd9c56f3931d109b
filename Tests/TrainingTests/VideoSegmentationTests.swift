import Autograd
import Foundation
import Testing
import Tensor
import TestSupport
@testable import Training
import Vision

@Suite struct VideoSegmentationTests {
    struct Fixture: Decodable {
        struct Stats: Decodable { let j: [Double], f: [Double] }
        struct Propagation: Decodable {
            let height, width, neighborhood, topk: Int
            let target: [[Double]]
            let contexts: [[[Double]]]
            let labels: [[[[Double]]]]
            let expected: [[[Double]]]
        }
        let annotations, predictions: [[[Int]]]
        let j, f: [[Double]]
        let statistics: [Stats]
        let j_and_f_mean: Double
        let long, long_statistics: [Double]
        let propagation: Propagation
    }

    static let fixture = Result {
        try JSONDecoder().decode(Fixture.self, from: Data(contentsOf: fixturesDirectory
            .appendingPathComponent("video_segmentation.json")))
    }

    static func labelMap(_ rows: [[Int]]) -> Tensor {
        Tensor(rows.flatMap { $0 }.map { Int32($0) }, shape: [rows.count, rows[0].count])
    }

    /// davis2017-evaluation's semi-supervised scores (scripts/make_video_segmentation_fixtures.py)
    /// of a 9-frame video with two objects, void pixels and a frame where the prediction loses an
    /// object: J and F per object and frame, Mean / Recall / Decay, J&F-Mean.
    @Test func metricsMatchDAVIS() throws {
        let f = try Self.fixture.get()
        let objects = try VideoSegmentation.evaluate(video: "fixture", annotations: f.annotations.map(Self.labelMap),
                                                     predictions: f.predictions.map(Self.labelMap))
        #expect(objects.count == 2)
        for (k, o) in objects.enumerated() {
            #expect(o.regionSimilarity.count == 7)
            for (a, b) in zip(o.regionSimilarity, f.j[k]) { #expect(abs(a - b) < 1e-12, "J object \(k + 1)") }
            for (a, b) in zip(o.boundaryF, f.f[k]) { #expect(abs(a - b) < 1e-12, "F object \(k + 1)") }
            let (j, fs) = (f.statistics[k].j, f.statistics[k].f)
            for (a, b) in zip([o.j.mean, o.j.recall, o.j.decay], j) { #expect(abs(a - b) < 1e-12) }
            for (a, b) in zip([o.f.mean, o.f.recall, o.f.decay], fs) { #expect(abs(a - b) < 1e-12) }
        }
        #expect(abs(VideoSegmentation.Summary(objects).jAndFMean - f.j_and_f_mean) < 1e-12)
        let s = VideoSegmentation.Statistics(f.long)
        for (a, b) in zip([s.mean, s.recall, s.decay], f.long_statistics) { #expect(abs(a - b) < 1e-12) }
    }

    @Test func badPredictionsAreRefusedByName() throws {
        let f = try Self.fixture.get()
        let annotations = f.annotations.map(Self.labelMap)
        var predictions = f.predictions.map(Self.labelMap)
        predictions[3] = predictions[3] + 2
        #expect { try VideoSegmentation.evaluate(video: "v", annotations: annotations, predictions: predictions) }
            throws: { "\($0)".contains("frame 3: the prediction holds object 4 but the first annotation has 2") }
        #expect { try VideoSegmentation.evaluate(video: "v", annotations: annotations,
                                                 predictions: Array(predictions.prefix(5))) }
            throws: { "\($0)".contains("5 predicted masks for 9 annotated frames") }
    }

    /// DINO's label_propagation on random features and soft labels of three context frames, with a
    /// 2-patch window and top-5: the same soft labels.
    @Test func propagationMatchesDINO() throws {
        let p = try Self.fixture.get().propagation
        let rows = { (m: [[Double]]) in Tensor(m.flatMap { $0 }.map { Float($0) }, shape: [m.count, m[0].count]) }
        let contexts = zip(p.contexts, p.labels).map { features, labels in
            (rows(features), Tensor(labels.flatMap { $0.flatMap { $0 } }.map { Float($0) },
                                    shape: [labels.count, p.height, p.width]))
        }
        let got = VideoSegmentation.propagate(target: rows(p.target), contexts: contexts, height: p.height,
                                              width: p.width,
                                              parameters: .init(neighborhood: p.neighborhood, topK: p.topk))
        #expect(got.shape == [3, p.height, p.width])
        for (a, b) in zip(got.scalars(as: Float.self), p.expected.flatMap { $0.flatMap { $0 } }) {
            #expect(abs(Double(a) - b) < 1e-5)
        }
    }

    /// DAVIS's layout end to end on moving-Shapes videos: features that see colour (each patch's
    /// mean colour, a stand-in for a model) track the objects far better than features of noise;
    /// masks come back as palette PNGs and an overlay strip is written.
    @Test func movingShapesEndToEnd() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("tessera-vos-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: folder) }
        let benchmark = try VideoSegmentation.Benchmark.writeMovingShapes(to: folder, videos: 2, frames: 10,
                                                                          imageSize: 64)
        #expect(benchmark.videos == ["shapes-00", "shapes-01"])
        let patch = 8
        let colour: (Variable) -> Variable = { x in
            let (b, c, h, w) = (x.shape[0], x.shape[1], x.shape[2] / patch, x.shape[3] / patch)
            let cells = x.data.reshaped([b, c, h, patch, w, patch]).mean(axes: [3, 5]).reshaped([b, c, h * w])
            let tokens = cells.permuted([0, 2, 1]).contiguous()
            return Variable(Tensor.concat([tokens.slice(axis: 1, start: 0, end: 1), tokens], axis: 1))
        }
        let noise: (Variable) -> Variable = { x in
            let n = (x.shape[2] / patch) * (x.shape[3] / patch)
            return Variable(Tensor.randn([1, 1 + n, 8], generator: RandomGenerator(seed: UInt64(x.data.sum().item()
                                                                                                 * 1000))))
        }
        let parameters = VideoSegmentation.Parameters(shorterSide: 64)
        let output = folder.appendingPathComponent("results")
        let good = try benchmark.evaluate(patchSize: patch, parameters: parameters, output: output, tokens: colour)
        let bad = try benchmark.evaluate(patchSize: patch, parameters: parameters, tokens: noise)
        #expect(good.summary.jAndFMean > bad.summary.jAndFMean + 0.15,
                "colour J&F \(good.summary.jAndFMean), noise \(bad.summary.jAndFMean)")
        #expect(good.videos.count == 2 && good.videos[0].objects.count == 2 && good.framesPerSecond > 0)
        let mask = try ImageFile.readIndexed(output.appendingPathComponent("shapes-00/00004.png"))
        #expect(mask.indices.shape == [64, 64] && mask.palette.count == 768)
        let strip = try ImageFile.read(output.appendingPathComponent("shapes-00_overlay.png"))
        #expect(strip.shape[0] == 3 && strip.shape[2] > 6 * 64)

        let missing = folder.appendingPathComponent("Annotations/480p/shapes-01/00003.png")
        try FileManager.default.removeItem(at: missing)
        #expect { try benchmark.evaluate(patchSize: patch, parameters: parameters, tokens: colour) } throws: {
            "\($0)".contains("shapes-01: no annotation for frame 00003.jpg")
        }
        #expect { try VideoSegmentation.Benchmark(folder: output) } throws: { "\($0)".contains("no JPEGImages/480p/") }
        #expect { try VideoSegmentation.Parameters(topK: 0).validate() } throws: {
            "\($0)".contains("topK must be ≥ 1, got 0")
        }
    }
}
