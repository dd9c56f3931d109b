import Autograd
import Foundation
import Tensor
import Vision

extension CopyDetection {
    /// A copy-detection benchmark in Copydays' layout: a folder with `original/` and query blocks
    /// `strong/`, `jpegqual/<quality>/` and `crops/<percent>/` of image files (`.jpg`, `.jpeg` or
    /// `.png`, taken in name order). As in eval_copy_detection, every block (the originals too) is
    /// queried against the originals plus any distractors; the i-th file of a JPEG-quality or crop
    /// block is a copy of the i-th original, and a strong edit is a copy of every original whose
    /// name starts with the same four characters.
    public struct Benchmark: Sendable {
        public let folder: URL
        /// The blocks in Copydays' order (original, strong, jpegqual by quality, crops by percent)
        /// with their file names.
        public let blocks: [(name: String, files: [String])]

        static let imageExtensions: Set<String> = ["jpg", "jpeg", "png"]

        /// Opens `folder`; throws naming what is missing or inconsistent.
        public init(folder: URL) throws {
            self.folder = folder
            let fm = FileManager.default
            guard fm.fileExists(atPath: folder.appendingPathComponent("original").path) else {
                throw DatasetError("\(folder.path): no original/ folder (Copydays' layout: original/, strong/, "
                                   + "jpegqual/<quality>/, crops/<percent>/)")
            }
            var names = ["original"]
            if fm.fileExists(atPath: folder.appendingPathComponent("strong").path) { names.append("strong") }
            for group in ["jpegqual", "crops"] {
                let levels = (try? fm.contentsOfDirectory(atPath: folder.appendingPathComponent(group).path)) ?? []
                names += levels.compactMap(Int.init).sorted().map { "\(group)/\($0)" }
            }
            blocks = try names.map { ($0, try Self.imageFiles(in: folder.appendingPathComponent($0))) }
            let originals = blocks[0].files.count
            guard originals > 0 else { throw DatasetError("\(folder.path)/original holds no images") }
            for (name, files) in blocks where name != "strong" && files.count != originals {
                throw DatasetError("\(folder.path)/\(name): \(files.count) images for \(originals) originals "
                                   + "(a quality or crop block holds one copy of each original, in the same order)")
            }
        }

        /// The image files of `folder`, sorted by name.
        public static func imageFiles(in folder: URL) throws -> [String] {
            do {
                return try FileManager.default.contentsOfDirectory(atPath: folder.path)
                    .filter { imageExtensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            } catch {
                throw DatasetError("\(folder.path): cannot list images (\(error.localizedDescription))")
            }
        }

        /// Indices of the originals that are copies of each query of block `index`.
        public func positives(ofBlock index: Int) -> [[Int]] {
            let (name, files) = blocks[index]
            guard name == "strong" else { return files.indices.map { [$0] } }
            return files.map { query in
                blocks[0].files.indices.filter { blocks[0].files[$0].prefix(4) == query.prefix(4) }
            }
        }

        /// One query's score: its AP over the top-k list and the names of what was retrieved.
        public struct QueryScore: Codable, Sendable {
            public var query: String
            public var averagePrecision: Double
            public var retrieved: [String]
        }

        /// One block's mean AP and its queries.
        public struct BlockScore: Codable, Sendable {
            public var block: String
            public var meanAveragePrecision: Double
            public var queries: [QueryScore]
        }

        /// What one evaluation gives.
        public struct Result: Codable, Sendable {
            public var blocks: [BlockScore]
            public var originals: Int
            public var distractors: Int
            /// Descriptors learned a whitening on this many images (0: not whitened).
            public var whiteningImages: Int
            public var topK: Int
        }

        /// eval_copy_detection: images resized to `imageSize` × `imageSize` (bicubic) and normalised,
        /// ``CopyDetection/descriptor(tokens:power:)`` of the `tokens` a model gives for a batch,
        /// whitening learned on the images of `whitening` (if given), cosine top-`topK` search against
        /// the originals plus the images of `distractors`, the Holidays AP per query.
        public func evaluate(imageSize: Int = 320, normalize: any ImageTransform = Normalize(), topK: Int = 20,
                             distractors: URL? = nil, whitening: URL? = nil, batchSize: Int = 16,
                             tokens: (Variable) -> Variable) throws -> Result {
            func describe(_ urls: [URL]) throws -> Tensor {
                try CopyDetection.descriptors(of: urls, imageSize: imageSize, normalize: normalize,
                                              batchSize: batchSize, tokens: tokens)
            }
            let url = { (block: String, file: String) in self.folder.appendingPathComponent(block)
                .appendingPathComponent(file) }
            var queries = try blocks.map { block in try describe(block.files.map { url(block.name, $0) }) }
            var databaseNames = blocks[0].files
            var database = queries[0]
            if let distractors {
                let files = try Self.imageFiles(in: distractors)
                database = Tensor.concat([database, try describe(files.map { distractors.appendingPathComponent($0) })])
                databaseNames += files.map { "distractor/" + $0 }
            }
            var whiteningCount = 0
            if let whitening {
                let files = try Self.imageFiles(in: whitening)
                guard !files.isEmpty else { throw DatasetError("\(whitening.path): no images to learn whitening on") }
                let images = files.map { whitening.appendingPathComponent($0) }
                let pca = try PCAWhitening(learningFrom: try describe(images))
                database = pca(database)
                queries = queries.map { pca($0) }
                whiteningCount = files.count
            }
            let scores = blocks.indices.map { b -> BlockScore in
                let (indices, _) = CopyDetection.search(queries: queries[b], database: database, k: topK)
                let positives = positives(ofBlock: b)
                let perQuery = indices.enumerated().map { q, retrieved -> QueryScore in
                    let good = Set(positives[q])
                    let ranks = retrieved.indices.filter { good.contains(retrieved[$0]) }
                    return QueryScore(query: blocks[b].files[q],
                                      averagePrecision: CopyDetection.averagePrecision(ranks: ranks,
                                                                                        positives: good.count),
                                      retrieved: retrieved.map { databaseNames[$0] })
                }
                let map = perQuery.map(\.averagePrecision).reduce(0, +) / Double(Swift.max(perQuery.count, 1))
                return BlockScore(block: blocks[b].name, meanAveragePrecision: map, queries: perQuery)
            }
            return Result(blocks: scores, originals: blocks[0].files.count,
                          distractors: databaseNames.count - blocks[0].files.count,
                          whiteningImages: whiteningCount, topK: topK)
        }
    }

    /// Descriptors [n, 2D] of image files, in batches: each resized to `imageSize`² (bicubic,
    /// antialiased as PIL), normalised, through `tokens`, then ``descriptor(tokens:power:)``.
    public static func descriptors(of urls: [URL], imageSize: Int, normalize: any ImageTransform = Normalize(),
                                   batchSize: Int = 16, tokens: (Variable) -> Variable) throws -> Tensor {
        let prepare = Compose([Resize(.exactly(height: imageSize, width: imageSize), interpolation: .bicubic),
                               normalize])
        var rows: [Tensor] = []
        for start in stride(from: 0, to: urls.count, by: batchSize) {
            let images = try urls[start..<Swift.min(start + batchSize, urls.count)].map {
                prepare(try ImageFile.read($0), seed: 0)
            }
            rows.append(descriptor(tokens: noGrad { tokens(Variable(Tensor.stack(images))).data }))
        }
        return rows.isEmpty ? Tensor(empty: [0, 0]) : Tensor.concat(rows)
    }
}

extension CopyDetection.Benchmark {
    /// The folders a small copy-detection set is written to.
    public struct Folders: Sendable {
        public let benchmark: URL, distractors: URL, whitening: URL
    }

    /// Writes a small Copydays-style set made from `photographs`: from each, `cropsPerPhoto`
    /// regions (60% of each side, at the corners) become originals (JPEG quality 95, longer side
    /// `imageSize`, named `GGGG00.jpg`); each original gets two strong edits (rotation, colour
    /// jitter and blur; a 50% crop in grey, JPEG quality 30: `GGGG01.jpg`, `GGGG02.jpg`), one copy
    /// per JPEG quality of `qualities` and one crop per percentage of `cropPercents` (that share of
    /// the area removed around the centre). Distractors are `distractors` built-in Shapes
    /// pictures; the whitening set is `whitening` Shapes pictures of another seed. It shares nothing
    /// with the photographs, as DINO's YFCC images share nothing with Copydays: whitening learned on
    /// crops of the same photographs (tried first) suppresses the very directions that tell them
    /// apart, and cost the strong block 20 to 25 points of mAP with both a DINO and a random ViT.
    @discardableResult
    public static func writeSmallSet(photographs: [URL], to folder: URL, imageSize: Int = 160, cropsPerPhoto: Int = 4,
                                     qualities: [Int] = [3, 5, 8, 10, 15, 20, 30, 50, 75],
                                     cropPercents: [Int] = [10, 15, 20, 30, 40, 50, 60, 70, 80],
                                     distractors: Int = 40, whitening: Int = 400, seed: UInt64 = 0) throws -> Folders {
        guard !photographs.isEmpty else { throw DatasetError("a copy-detection set needs at least one photograph") }
        guard (1...4).contains(cropsPerPhoto) else {
            throw DatasetError("cropsPerPhoto must be in 1...4 (one per corner), got \(cropsPerPhoto)")
        }
        if let bad = cropPercents.first(where: { !(1...95).contains($0) }) {
            throw DatasetError("crop percentages must be in 1...95, got \(bad)")
        }
        let fm = FileManager.default
        let root = folder.appendingPathComponent("copydays")
        func directory(_ path: String, in base: URL) throws -> URL {
            let url = base.appendingPathComponent(path)
            try fm.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        let photos = try photographs.map { try ImageFile.read($0) }
        let shrink = { (image: Tensor) -> Tensor in
            let (h, w) = (image.shape[1], image.shape[2])
            let r = Double(imageSize) / Double(Swift.max(h, w))
            return Resize(.exactly(height: Swift.max(8, Int(Double(h) * r)), width: Swift.max(8, Int(Double(w) * r))),
                          interpolation: .bicubic)(image, seed: 0)
        }
        var originals: [(name: String, image: Tensor)] = []
        for (p, photo) in photos.enumerated() {
            let (h, w) = (photo.shape[1], photo.shape[2])
            let (ch, cw) = (h * 6 / 10, w * 6 / 10)
            for c in 0..<cropsPerPhoto {
                let (y, x) = (c / 2 == 0 ? 0 : h - ch, c % 2 == 0 ? 0 : w - cw)
                originals.append((String(format: "%04d00", p * cropsPerPhoto + c),
                                  shrink(crop(photo, y: y, x: x, height: ch, width: cw))))
            }
        }
        let original = try directory("original", in: root), strong = try directory("strong", in: root)
        let warp = Compose([RandomRotation(degrees: 20), ColorJitter(brightness: 0.4, contrast: 0.4, saturation: 0.4,
                                                                   hue: 0.1), GaussianBlur(p: 1, sigma: 1...2)])
        for (i, (name, image)) in originals.enumerated() {
            try ImageFile.writeJPEG(image, quality: 95, to: original.appendingPathComponent(name + ".jpg"))
            let group = String(name.prefix(4))
            try ImageFile.writeJPEG(warp(image, seed: seed &+ UInt64(i)), quality: 75,
                                    to: strong.appendingPathComponent(group + "01.jpg"))
            let (h, w) = (image.shape[1], image.shape[2])
            let half = crop(image, y: h / 4, x: (i % 2) * w / 4, height: h * 7 / 10, width: w * 7 / 10)
            try ImageFile.writeJPEG(RandomGrayscale(p: 1)(half, seed: 0), quality: 30,
                                    to: strong.appendingPathComponent(group + "02.jpg"))
            for q in qualities {
                try ImageFile.writeJPEG(image, quality: q, to: try directory("jpegqual/\(q)", in: root)
                    .appendingPathComponent(name + ".jpg"))
            }
            for percent in cropPercents {
                let side = (1 - Double(percent) / 100).squareRoot()
                let (ch, cw) = (Swift.max(1, Int(Double(h) * side)), Swift.max(1, Int(Double(w) * side)))
                try ImageFile.writeJPEG(crop(image, y: (h - ch) / 2, x: (w - cw) / 2, height: ch, width: cw),
                                        quality: 95, to: try directory("crops/\(percent)", in: root)
                    .appendingPathComponent(name + ".jpg"))
            }
        }
        let distractorFolder = try directory("distractors", in: folder)
        let shapes = Shapes(count: distractors + whitening, imageSize: 64, seed: seed &+ 303)
        for d in 0..<distractors {
            try ImageFile.writeJPEG(shapes.image(at: d), quality: 90,
                                    to: distractorFolder.appendingPathComponent(String(format: "shapes_%04d.jpg", d)))
        }
        let whiteningFolder = try directory("whitening", in: folder)
        for j in 0..<whitening {
            try ImageFile.writeJPEG(shapes.image(at: distractors + j), quality: 90,
                                    to: whiteningFolder.appendingPathComponent(String(format: "shapes_%04d.jpg", j)))
        }
        return Folders(benchmark: root, distractors: distractorFolder, whitening: whiteningFolder)
    }

    static func crop(_ image: Tensor, y: Int, x: Int, height: Int, width: Int) -> Tensor {
        image.slice(axis: 1, start: y, end: y + height).slice(axis: 2, start: x, end: x + width).contiguous()
    }
}
