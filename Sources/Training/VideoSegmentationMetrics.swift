import Foundation
import Tensor
import Vision

extension VideoSegmentation {
    /// DAVIS's region similarity J (`db_eval_iou`): |A ∩ B| / |A ∪ B| of two binary masks [H, W],
    /// 1 when both are empty.
    public static func regionSimilarity(annotation: Tensor, segmentation: Tensor) -> Double {
        check(annotation.shape == segmentation.shape, "VideoSegmentation.regionSimilarity",
              "expects masks of one shape, got \(describe(annotation.shape)) and \(describe(segmentation.shape))")
        return regionSimilarity(binary(annotation), binary(segmentation))
    }

    static func regionSimilarity(_ a: [Bool], _ b: [Bool]) -> Double {
        var (intersection, union) = (0, 0)
        for i in a.indices {
            if a[i] && b[i] { intersection += 1 }
            if a[i] || b[i] { union += 1 }
        }
        return union == 0 ? 1 : Double(intersection) / Double(union)
    }

    /// Nonzero entries of a mask, row-major.
    static func binary(_ mask: Tensor) -> [Bool] {
        mask.converted(to: .float64).contiguous().scalars(as: Double.self).map { $0 != 0 }
    }

    /// A label map's entries, row-major.
    static func labels(_ mask: Tensor) -> [Int32] { mask.converted(to: .int32).contiguous().scalars(as: Int32.self) }

    /// DAVIS's boundary F-measure (`db_eval_boundary` / `f_measure`): the one-pixel boundaries of
    /// both masks (`_seg2bmap`), each dilated by a disk of radius ⌈threshold · diagonal⌉ pixels
    /// (a threshold ≥ 1 is the radius itself); precision is the share of the segmentation's
    /// boundary within reach of the annotation's, recall the converse, F their harmonic mean.
    public static func boundaryF(annotation: Tensor, segmentation: Tensor, threshold: Double = 0.008) -> Double {
        check(annotation.shape == segmentation.shape && annotation.rank == 2, "VideoSegmentation.boundaryF",
              "expects two masks [H, W] of one shape, got \(describe(annotation.shape)) and "
              + "\(describe(segmentation.shape))")
        return boundaryF(binary(annotation), binary(segmentation), height: annotation.shape[0],
                         width: annotation.shape[1], threshold: threshold)
    }

    static func boundaryF(_ annotation: [Bool], _ segmentation: [Bool], height h: Int, width w: Int,
                          threshold: Double = 0.008) -> Double {
        let diagonal = Double(h * h + w * w).squareRoot()
        let radius = Int(threshold >= 1 ? threshold : (threshold * diagonal).rounded(.up))
        let fg = boundary(segmentation, height: h, width: w), gt = boundary(annotation, height: h, width: w)
        let (nfg, ngt) = (fg.filter { $0 }.count, gt.filter { $0 }.count)
        let precision: Double, recall: Double
        switch (nfg, ngt) {
        case (0, 0): (precision, recall) = (1, 1)
        case (0, _): (precision, recall) = (1, 0)
        case (_, 0): (precision, recall) = (0, 1)
        default:
            let (fgReach, gtReach) = (dilate(fg, height: h, width: w, radius: radius),
                                      dilate(gt, height: h, width: w, radius: radius))
            precision = Double(fg.indices.filter { fg[$0] && gtReach[$0] }.count) / Double(nfg)
            recall = Double(gt.indices.filter { gt[$0] && fgReach[$0] }.count) / Double(ngt)
        }
        return precision + recall == 0 ? 0 : 2 * precision * recall / (precision + recall)
    }

    /// `_seg2bmap`: pixels that differ from their east, south or south-east neighbour (the last
    /// row compares east only, the last column south only, the corner is never a boundary).
    static func boundary(_ seg: [Bool], height h: Int, width w: Int) -> [Bool] {
        var b = [Bool](repeating: false, count: h * w)
        for y in 0..<h {
            for x in 0..<w {
                let v = seg[y * w + x]
                let (lastRow, lastColumn) = (y == h - 1, x == w - 1)
                let e = !lastColumn && seg[y * w + x + 1]
                let s = !lastRow && seg[(y + 1) * w + x]
                let se = !lastRow && !lastColumn && seg[(y + 1) * w + x + 1]
                if lastRow && lastColumn {
                    b[y * w + x] = false
                } else if lastColumn {
                    b[y * w + x] = v != s
                } else if lastRow {
                    b[y * w + x] = v != e
                } else {
                    b[y * w + x] = v != e || v != s || v != se
                }
            }
        }
        return b
    }

    /// Binary dilation by skimage's `disk(radius)` (x² + y² ≤ r²), as `cv2.dilate` computes it.
    static func dilate(_ mask: [Bool], height h: Int, width w: Int, radius r: Int) -> [Bool] {
        var out = [Bool](repeating: false, count: h * w)
        var offsets: [(Int, Int)] = []
        for dy in -r...r {
            for dx in -r...r where dx * dx + dy * dy <= r * r { offsets.append((dy, dx)) }
        }
        for y in 0..<h {
            for x in 0..<w where mask[y * w + x] {
                for (dy, dx) in offsets {
                    let (yy, xx) = (y + dy, x + dx)
                    if yy >= 0 && yy < h && xx >= 0 && xx < w { out[yy * w + xx] = true }
                }
            }
        }
        return out
    }

    /// DAVIS's per-object statistics of per-frame values (`db_statistics`).
    public struct Statistics: Codable, Sendable, Equatable {
        /// The mean.
        public var mean: Double
        /// The share of frames above 0.5.
        public var recall: Double
        /// The mean of the first quarter of the frames minus that of the last quarter.
        public var decay: Double

        public init(_ values: [Double]) {
            let n = values.count
            mean = values.reduce(0, +) / Double(n)
            recall = Double(values.filter { $0 > 0.5 }.count) / Double(n)
            // ids = round(linspace(1, n, 5) + 1e-10) − 1; bins [ids[i], ids[i + 1]] inclusive.
            let ids = (0...4).map { (i: Int) -> Int in
                let x = 1 + Double(n - 1) * Double(i) / 4 + 1e-10
                return Int(x.rounded(.toNearestOrEven)) - 1
            }
            let bin = { (i: Int) -> Double in
                let part = values[ids[i]...Swift.min(ids[i + 1], n - 1)]
                return part.reduce(0, +) / Double(part.count)
            }
            decay = bin(0) - bin(3)
        }
    }

    /// The scores of one object of one video: J and F per evaluated frame and their statistics.
    public struct ObjectScores: Codable, Sendable {
        public var video: String
        public var object: Int
        public var regionSimilarity: [Double]
        public var boundaryF: [Double]
        public var j: Statistics
        public var f: Statistics
    }

    /// DAVIS's semi-supervised evaluation of one video (`_evaluate_semisupervised`): the objects
    /// are 1…max of the first annotation (void 255 counts as background); the first and last frames
    /// are excluded; a prediction naming an object the annotation lacks is refused, as DAVIS does.
    public static func evaluate(video: String, annotations: [Tensor], predictions: [Tensor]) throws
        -> [ObjectScores] {
        guard annotations.count == predictions.count, annotations.count >= 3 else {
            throw DatasetError("\(video): \(predictions.count) predicted masks for \(annotations.count) annotated "
                               + "frames (DAVIS needs the same frames, at least 3)")
        }
        let clean = annotations.map { labels($0).map { $0 == 255 ? 0 : $0 } }
        let predicted = predictions.map(labels)
        let objects = Int(clean[0].max() ?? 0)
        for (t, p) in predictions.enumerated() {
            guard p.shape == annotations[t].shape else {
                throw DatasetError("\(video) frame \(t): the prediction is \(describe(p.shape)), the annotation "
                                   + "\(describe(annotations[t].shape))")
            }
            let top = Int(predicted[t].max() ?? 0)
            guard top <= objects else {
                throw DatasetError("\(video) frame \(t): the prediction holds object \(top) but the first annotation "
                                   + "has \(objects)")
            }
        }
        let frames = 1..<(annotations.count - 1)
        return (0..<objects).map { (index: Int) -> ObjectScores in
            let k = Int32(index + 1)
            var j: [Double] = [], f: [Double] = []
            for t in frames {
                let (a, p) = (clean[t].map { $0 == k }, predicted[t].map { $0 == k })
                let (h, w) = (annotations[t].shape[0], annotations[t].shape[1])
                j.append(regionSimilarity(a, p))
                f.append(boundaryF(a, p, height: h, width: w))
            }
            return ObjectScores(video: video, object: Int(k), regionSimilarity: j, boundaryF: f,
                                j: Statistics(j), f: Statistics(f))
        }
    }

    /// DAVIS's global table (`evaluation_method.py`): means over all objects of all videos.
    public struct Summary: Codable, Sendable {
        public var jAndFMean: Double
        public var j: Statistics
        public var f: Statistics

        public init(_ objects: [ObjectScores]) {
            let n = Double(Swift.max(objects.count, 1))
            func average(_ key: KeyPath<ObjectScores, Statistics>) -> Statistics {
                var s = Statistics([0, 0, 0])
                s.mean = objects.map { $0[keyPath: key].mean }.reduce(0, +) / n
                s.recall = objects.map { $0[keyPath: key].recall }.reduce(0, +) / n
                s.decay = objects.map { $0[keyPath: key].decay }.reduce(0, +) / n
                return s
            }
            (j, f) = (average(\.j), average(\.f))
            jAndFMean = (j.mean + f.mean) / 2
        }
    }
}
