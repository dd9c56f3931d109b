import Autograd
import Foundation
import Tensor
import Vision

extension Retrieval {
    /// A retrieval benchmark in revisitop's layout: a folder with the ground truth
    /// (`gnd_<name>.pkl` or `gnd_<name>.json`) and the images in `jpg/<name>.jpg` (or `.png`).
    public struct Benchmark: Sendable {
        public let folder: URL
        public let truth: GroundTruth
        public let name: String

        /// Opens `folder`; throws naming what is missing.
        public init(folder: URL) throws {
            let files = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            guard let file = files.sorted().first(where: {
                $0.hasPrefix("gnd_") && ($0.hasSuffix(".pkl") || $0.hasSuffix(".json"))
            }) else {
                throw DatasetError("\(folder.path): no ground truth gnd_<name>.pkl or gnd_<name>.json "
                                   + "(revisitop's layout)")
            }
            self.folder = folder
            name = String(file.dropFirst(4).prefix { $0 != "." })
            truth = try GroundTruth.read(folder.appendingPathComponent(file))
        }

        /// The file of image `name` (`jpg/name.jpg`, else `jpg/name.png`).
        public func imageURL(_ name: String) throws -> URL {
            let base = folder.appendingPathComponent("jpg").appendingPathComponent(name)
            for ext in ["jpg", "png"] where FileManager.default.fileExists(atPath: base.path + "." + ext) {
                return base.appendingPathExtension(ext)
            }
            throw DatasetError("\(folder.path): image \(name) is missing (looked for jpg/\(name).jpg and .png)")
        }

        /// What one evaluation gives: scores per difficulty, and each query's ten best database images.
        public struct Result: Codable, Sendable {
            public var benchmark: String
            public var scores: [Difficulty: Scores]
            public var topTen: [[String]]
        }

        /// The descriptor of every database and query image
        /// (``Retrieval/descriptor(of:imageSize:patchSize:multiscale:normalize:extract:)``), cosine
        /// ranking and revisitop's scores. Queries are whole images, as DINO evaluates them
        /// (`cropQueries` crops them to their box first, as revisitop's own protocol does).
        public func evaluate(imageSize: Int, patchSize: Int, multiscale: Bool = false,
                             normalize: any ImageTransform = Normalize(), cropQueries: Bool = false,
                             extract: (Variable) -> Variable) throws -> Result {
            func descriptors(_ names: [String], boxes: [[Double]?]) throws -> Tensor {
                Tensor.concat(try zip(names, boxes).map { name, box in
                    var image = try ImageFile.read(try imageURL(name))
                    if cropQueries, let box, box.count == 4 { image = Self.crop(image, to: box) }
                    return descriptor(of: image, imageSize: imageSize, patchSize: patchSize, multiscale: multiscale,
                                      normalize: normalize, extract: extract)
                })
            }
            let database = try descriptors(truth.images, boxes: truth.images.map { _ in nil })
            let queries = try descriptors(truth.queries, boxes: truth.entries.map(\.box))
            let ranks = ranking(database: database, queries: queries)
            var scores: [Difficulty: Scores] = [:]
            for difficulty in Difficulty.allCases {
                scores[difficulty] = Retrieval.scores(ranking: ranks, truth: truth.entries.map(difficulty.split))
            }
            return Result(benchmark: name, scores: scores,
                          topTen: ranks.map { $0.prefix(10).map { truth.images[$0] } })
        }

        static func crop(_ image: Tensor, to box: [Double]) -> Tensor {
            let (h, w) = (image.shape[1], image.shape[2])
            let y0 = Swift.max(0, Swift.min(h - 1, Int(box[1]))), x0 = Swift.max(0, Swift.min(w - 1, Int(box[0])))
            let y1 = Swift.max(y0 + 1, Swift.min(h, Int(box[3].rounded(.up))))
            let x1 = Swift.max(x0 + 1, Swift.min(w, Int(box[2].rounded(.up))))
            return image.slice(axis: 1, start: y0, end: y1).slice(axis: 2, start: x0, end: x1).contiguous()
        }

        /// Writes a small benchmark of the built-in Shapes in this layout (PNG images, JSON ground
        /// truth `gnd_shapes.json`): `databasePerClass` images of each class plus `junk` clutter-only
        /// pictures as the database, `queriesPerClass` images of each class drawn with another seed as
        /// queries. A query's positives are the database images of its class: easy when the object
        /// covers at least its class's median area, hard when smaller; the clutter-only pictures are junk.
        @discardableResult
        public static func writeShapes(to folder: URL, databasePerClass: Int = 12, queriesPerClass: Int = 2,
                                       junk: Int = 20, imageSize: Int = 64, seed: UInt64 = 0) throws -> Benchmark {
            let classes = Shapes.classNames.count
            let database = Shapes(count: databasePerClass * classes, imageSize: imageSize, seed: seed &+ 101)
            let queries = Shapes(count: queriesPerClass * classes, imageSize: imageSize, seed: seed &+ 202)
            let images = folder.appendingPathComponent("jpg")
            try FileManager.default.createDirectory(at: images, withIntermediateDirectories: true)
            var names: [String] = [], areas: [Double] = []
            for i in 0..<database.count {
                let sample = database.sample(at: i)
                names.append(String(format: "db_%04d_%@", i, Shapes.classNames[sample.label]))
                areas.append(sample.mask.sum().item())
                try ImageFile.writePNG(sample.image, to: images.appendingPathComponent(names.last! + ".png"))
            }
            for j in 0..<junk {
                names.append(String(format: "junk_%04d", j))
                try ImageFile.writePNG(database.clutterImage(at: j),
                                       to: images.appendingPathComponent(names.last! + ".png"))
            }
            var queryNames: [String] = [], entries: [GroundTruth.Entry] = []
            for q in 0..<queries.count {
                let label = queries.label(at: q)
                queryNames.append(String(format: "query_%03d_%@", q, Shapes.classNames[label]))
                try ImageFile.writePNG(queries.image(at: q),
                                       to: images.appendingPathComponent(queryNames.last! + ".png"))
                let same = (0..<database.count).filter { database.label(at: $0) == label }
                let median = same.map { areas[$0] }.sorted()[same.count / 2]
                entries.append(GroundTruth.Entry(easy: same.filter { areas[$0] >= median },
                                                 hard: same.filter { areas[$0] < median },
                                                 junk: Array(database.count..<(database.count + junk)),
                                                 box: [0, 0, Double(imageSize), Double(imageSize)]))
            }
            let truth = try GroundTruth(images: names, queries: queryNames, entries: entries)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            try encoder.encode(truth).write(to: folder.appendingPathComponent("gnd_shapes.json"), options: .atomic)
            return try Benchmark(folder: folder)
        }
    }
}
