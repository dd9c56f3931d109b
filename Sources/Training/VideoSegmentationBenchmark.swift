import Autograd
import Foundation
import Tensor
import Vision

extension VideoSegmentation {
    /// A video segmentation benchmark in DAVIS-2017's layout: `JPEGImages/<resolution>/<video>/`
    /// frames (`.jpg` or `.png`, in name order), `Annotations/<resolution>/<video>/` palette PNG
    /// masks of the same names, and the videos to evaluate listed in `ImageSets/2017/val.txt`
    /// (every video folder when that file is absent).
    public struct Benchmark: Sendable {
        public let folder: URL
        public let resolution: String
        public let videos: [String]

        /// Opens `folder`; throws naming what is missing.
        public init(folder: URL, resolution: String = "480p") throws {
            (self.folder, self.resolution) = (folder, resolution)
            let frames = folder.appendingPathComponent("JPEGImages").appendingPathComponent(resolution)
            guard FileManager.default.fileExists(atPath: frames.path) else {
                throw DatasetError("\(folder.path): no JPEGImages/\(resolution)/ (DAVIS's layout: "
                                   + "JPEGImages/\(resolution)/<video>/, Annotations/\(resolution)/<video>/)")
            }
            let list = folder.appendingPathComponent("ImageSets/2017/val.txt")
            if let text = try? String(contentsOf: list, encoding: .utf8) {
                videos = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
                    .filter { !$0.isEmpty }
            } else {
                videos = ((try? FileManager.default.contentsOfDirectory(atPath: frames.path)) ?? []).filter {
                    var isFolder: ObjCBool = false
                    return FileManager.default.fileExists(atPath: frames.appendingPathComponent($0).path,
                                                          isDirectory: &isFolder) && isFolder.boolValue
                }.sorted()
            }
            guard !videos.isEmpty else { throw DatasetError("\(folder.path): no videos") }
        }

        func files(_ kind: String, _ video: String, extensions: Set<String>) throws -> [URL] {
            let dir = folder.appendingPathComponent(kind).appendingPathComponent(resolution)
                .appendingPathComponent(video)
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir.path) else {
                throw DatasetError("\(dir.path): missing (video \(video) of the list)")
            }
            let files = names.filter { extensions.contains(($0 as NSString).pathExtension.lowercased()) }.sorted()
            guard !files.isEmpty else { throw DatasetError("\(dir.path): no frames") }
            return files.map { dir.appendingPathComponent($0) }
        }

        /// The frame files of `video`, in order.
        public func frames(of video: String) throws -> [URL] {
            try files("JPEGImages", video, extensions: ["jpg", "jpeg", "png"])
        }

        /// The annotation files of `video`, one per frame (same names, `.png`); throws naming a gap.
        public func annotations(of video: String) throws -> [URL] {
            let frames = try frames(of: video)
            let masks = try files("Annotations", video, extensions: ["png"])
            let names = Set(masks.map { $0.deletingPathExtension().lastPathComponent })
            if let missing = frames.first(where: { !names.contains($0.deletingPathExtension().lastPathComponent) }) {
                throw DatasetError("\(video): no annotation for frame \(missing.lastPathComponent)")
            }
            return frames.map { f in masks.first { $0.deletingPathExtension().lastPathComponent ==
                f.deletingPathExtension().lastPathComponent }! }
        }

        /// One video's outcome.
        public struct VideoResult: Codable, Sendable {
            public var video: String
            public var frames: Int
            public var objects: [ObjectScores]
            /// Seconds spent segmenting (features and propagation, not reading or scoring).
            public var seconds: Double
        }

        /// What an evaluation gives: DAVIS's global table, the videos, and the speed.
        public struct Result: Codable, Sendable {
            public var summary: Summary
            public var videos: [VideoResult]
            public var parameters: Parameters
            public var framesPerSecond: Double
        }

        /// Segments every video from its first annotation
        /// (``VideoSegmentation/segment(frames:firstMask:patchSize:parameters:normalize:tokens:)``)
        /// and scores it with DAVIS's metrics. With an `output` folder, writes the predicted masks as
        /// palette PNGs in DAVIS's results layout (`output/<video>/<frame>.png`, the first
        /// annotation's palette) and `output/<video>_overlay.png`: six frames with the prediction
        /// (top) and the annotation (bottom) blended over them.
        public func evaluate(patchSize: Int, parameters: Parameters = Parameters(),
                             normalize: Normalize = VideoSegmentation.normalize, output: URL? = nil,
                             tokens: (Variable) -> Variable) throws -> Result {
            var results: [VideoResult] = []
            var (frameCount, seconds) = (0, 0.0)
            for video in videos {
                let frameFiles = try frames(of: video)
                let annotationFiles = try annotations(of: video)
                let frames = try frameFiles.map { try ImageFile.read($0) }
                let annotations = try annotationFiles.map { try ImageFile.readIndexed($0) }
                let start = Date()
                let predictions = try segment(frames: frames, firstMask: annotations[0].indices, patchSize: patchSize,
                                              parameters: parameters, normalize: normalize, tokens: tokens)
                let elapsed = Date().timeIntervalSince(start)
                if let output {
                    let dir = output.appendingPathComponent(video)
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                    for (file, mask) in zip(frameFiles, predictions) {
                        try ImageFile.writeIndexed(IndexedImage(indices: mask, palette: annotations[0].palette),
                                                   to: dir.appendingPathComponent(
                                                       file.deletingPathExtension().lastPathComponent + ".png"))
                    }
                    try ImageFile.writePNG(overlayStrip(frames: frames, predictions: predictions,
                                                        annotations: annotations.map(\.indices),
                                                        palette: annotations[0].palette),
                                           to: output.appendingPathComponent("\(video)_overlay.png"))
                }
                let objects = try VideoSegmentation.evaluate(video: video, annotations: annotations.map(\.indices),
                                                             predictions: predictions)
                results.append(VideoResult(video: video, frames: frames.count, objects: objects, seconds: elapsed))
                frameCount += frames.count - 1
                seconds += elapsed
            }
            return Result(summary: Summary(results.flatMap(\.objects)), videos: results, parameters: parameters,
                          framesPerSecond: Double(frameCount) / Swift.max(seconds, 1e-9))
        }

        /// Six evenly spaced frames with the predicted (top row) and annotated (bottom row) label
        /// maps blended over them as DAVIS's `overlay_semantic_mask` (α = 0.5 on object pixels);
        /// frames under 128 pixels high are enlarged by an integer factor.
        public func overlayStrip(frames: [Tensor], predictions: [Tensor], annotations: [Tensor],
                                 palette: [UInt8]) -> Tensor {
            let picks = (0..<Swift.min(6, frames.count)).map { $0 * (frames.count - 1) / Swift.max(1, Swift.min(5,
                                                                                                   frames.count - 1)) }
            func blend(_ frame: Tensor, _ labels: Tensor) -> Tensor {
                // Void (255) is left unblended, as background.
                let values = VideoSegmentation.labels(labels).map { $0 == 255 ? 0 : $0 }
                let clean = Tensor(values, shape: labels.shape)
                let colours = IndexedImage(indices: clean, palette: palette).colored()
                let on = Tensor(values.map { $0 > 0 ? Float(0.5) : 0 }, shape: [1] + labels.shape)
                // Small frames (moving Shapes) are enlarged, pixel for pixel, to be seen.
                let zoom = Swift.max(1, (128 + frame.shape[1] - 1) / frame.shape[1])
                return Interpolation.nearest.resize(frame * (1 - on) + colours * on, height: frame.shape[1] * zoom,
                                                    width: frame.shape[2] * zoom)
            }
            let top = picks.map { blend(frames[$0], predictions[$0]) }
            let bottom = picks.map { blend(frames[$0], annotations[$0]) }
            return imageGrid(top + bottom, columns: picks.count)
        }

        /// Writes `videos` moving-Shapes videos (`MovingShapes`) in DAVIS's layout — JPEG frames
        /// (quality 90) and palette PNG annotations (PASCAL colours) named `00000…` — with
        /// `ImageSets/2017/val.txt` listing them, and opens it. With a `width`, the square frames are
        /// stretched to `imageSize` × `width` (bilinear; masks nearest), e.g. DAVIS's 480 × 854.
        @discardableResult
        public static func writeMovingShapes(to folder: URL, videos: Int = 4, frames: Int = 24, imageSize: Int = 64,
                                             width: Int? = nil, seed: UInt64 = 0) throws -> Benchmark {
            let source = MovingShapes(count: videos, frames: frames, imageSize: imageSize, seed: seed)
            var names: [String] = []
            for v in 0..<videos {
                let name = String(format: "shapes-%02d", v)
                names.append(name)
                let (images, masks) = source.video(at: v)
                let frameDir = folder.appendingPathComponent("JPEGImages/480p/\(name)")
                let maskDir = folder.appendingPathComponent("Annotations/480p/\(name)")
                for dir in [frameDir, maskDir] {
                    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
                }
                for (t, (square, squareMask)) in zip(images, masks).enumerated() {
                    let (image, mask) = width.map { w in
                        (Interpolation.bilinear.resize(square, height: imageSize, width: w),
                         Interpolation.nearest.resize(squareMask.converted(to: .float32).unsqueezed(0),
                                                      height: imageSize, width: w).select(axis: 0, index: 0)
                            .converted(to: .int32))
                    } ?? (square, squareMask)
                    let stem = String(format: "%05d", t)
                    try ImageFile.writeJPEG(image, quality: 90, to: frameDir.appendingPathComponent(stem + ".jpg"))
                    try ImageFile.writeIndexed(IndexedImage(indices: mask),
                                               to: maskDir.appendingPathComponent(stem + ".png"))
                }
            }
            let sets = folder.appendingPathComponent("ImageSets/2017")
            try FileManager.default.createDirectory(at: sets, withIntermediateDirectories: true)
            try Data((names.joined(separator: "\n") + "\n").utf8).write(to: sets.appendingPathComponent("val.txt"),
                                                                         options: .atomic)
            return try Benchmark(folder: folder)
        }
    }
}
