import Autograd
import Foundation
import Tensor
import Vision

/// Semi-supervised video object segmentation by label propagation, as DINO's
/// `eval_video_segmentation.py` evaluates it on DAVIS-2017: the first frame's mask is carried
/// forward by the affinity of frozen patch features, from the first frame and a queue of the
/// previous frames' soft predictions, inside a local window.
public enum VideoSegmentation {
    /// eval_video_segmentation's arguments.
    public struct Parameters: Codable, Sendable, Equatable {
        /// Previous frames kept beside the first (`n_last_frames`).
        public var contextFrames = 7
        /// Radius in patches of the window of source patches a target patch looks at
        /// (`size_mask_neighborhood`; 0: the whole frame).
        public var neighborhood = 12
        /// Source patches whose labels are accumulated per target patch (`topk`).
        public var topK = 5
        /// Temperature of the affinity exp(⟨f_t, f_s⟩ / T).
        public var temperature = 0.1
        /// The shorter side of the frames fed to the model; the longer one is scaled with it
        /// and rounded down to a multiple of 64 (`read_frame`'s `scale_size = [480]`).
        public var shorterSide = 480

        public init(contextFrames: Int = 7, neighborhood: Int = 12, topK: Int = 5, temperature: Double = 0.1,
                    shorterSide: Int = 480) {
            (self.contextFrames, self.neighborhood, self.topK, self.temperature, self.shorterSide) =
                (contextFrames, neighborhood, topK, temperature, shorterSide)
        }

        /// Throws naming the field and the rule it breaks.
        public func validate() throws {
            let rules: [(field: String, ok: Bool, rule: String, value: String)] = [
                ("contextFrames", contextFrames >= 0, "≥ 0", "\(contextFrames)"),
                ("neighborhood", neighborhood >= 0, "≥ 0", "\(neighborhood)"),
                ("topK", topK >= 1, "≥ 1", "\(topK)"), ("temperature", temperature > 0, "> 0", "\(temperature)"),
                ("shorterSide", shorterSide >= 64, "≥ 64", "\(shorterSide)"),
            ]
            for r in rules where !r.ok {
                throw DatasetError("video segmentation: \(r.field) must be \(r.rule), got \(r.value)")
            }
        }
    }

    /// One propagation step (`label_propagation`): the soft labels [C, h, w] of a target frame from
    /// its patch features [h·w, D] and the context frames' features and soft labels. Each target
    /// patch takes the `topK` source patches (over all contexts, within `neighborhood` patches of its
    /// position) of highest affinity exp(cos / T) and averages their labels with those affinities
    /// as weights. Rows of targets are processed in bands against the source rows their window
    /// reaches, so the full (h·w)² affinity is never held. (DINO keeps every source tied with the
    /// k-th value; ties of floating-point cosines are left to chance here.)
    public static func propagate(target: Tensor, contexts: [(features: Tensor, labels: Tensor)], height h: Int,
                                 width w: Int, parameters p: Parameters = Parameters()) -> Tensor {
        check(target.rank == 2 && target.shape[0] == h * w && !contexts.isEmpty, "VideoSegmentation.propagate",
              "expects target features [\(h * w), D] and at least one context, got \(describe(target.shape))")
        let classes = contexts[0].labels.shape[0]
        let t = Evaluation.l2Normalized(target.converted(to: .float32)).contiguous()
        let sources = contexts.map { Evaluation.l2Normalized($0.features.converted(to: .float32)).contiguous() }
        let labels = contexts.map { $0.labels.converted(to: .float32).contiguous().scalars(as: Float.self) }
        let k = p.topK, radius = p.neighborhood > 0 ? p.neighborhood : Swift.max(h, w)
        // Per target patch: the best k (similarity, context, source) so far, worst first.
        var best = [(Float, Int, Int)](repeating: (-.infinity, 0, 0), count: h * w * k)
        let band = Swift.max(1, Swift.min(h, 4096 / Swift.max(w, 1)))
        for rowStart in stride(from: 0, to: h, by: band) {
            let rowEnd = Swift.min(h, rowStart + band)
            let (sourceStart, sourceEnd) = (Swift.max(0, rowStart - radius), Swift.min(h, rowEnd + radius))
            let targets = t.slice(axis: 0, start: rowStart * w, end: rowEnd * w)
            for (c, source) in sources.enumerated() {
                let block = targets.matmul(source.slice(axis: 0, start: sourceStart * w, end: sourceEnd * w).T)
                    .contiguous()
                let sims = block.pointer(as: Float.self), columns = (sourceEnd - sourceStart) * w
                for i in rowStart..<rowEnd {
                    for j in 0..<w {
                        let q = i * w + j, row = sims + (q - rowStart * w) * columns
                        for si in Swift.max(sourceStart, i - radius)..<Swift.min(sourceEnd, i + radius + 1) {
                            for sj in Swift.max(0, j - radius)..<Swift.min(w, j + radius + 1) {
                                let s = row[(si - sourceStart) * w + sj]
                                guard s > best[q * k].0 else { continue }
                                // Insert keeping the k entries sorted ascending.
                                var slot = 0
                                while slot + 1 < k && best[q * k + slot + 1].0 < s {
                                    best[q * k + slot] = best[q * k + slot + 1]
                                    slot += 1
                                }
                                best[q * k + slot] = (s, c, si * w + sj)
                            }
                        }
                    }
                }
            }
        }
        var out = [Float](repeating: 0, count: classes * h * w)
        let temperature = Float(p.temperature)
        for q in 0..<(h * w) {
            let entries = best[(q * k)..<((q + 1) * k)].filter { $0.0 > -.infinity }
            let top = entries.map(\.0).max() ?? 0
            // exp((s − max) / T): the same normalised weights as exp(s / T), without overflow.
            let weights = entries.map { Foundation.exp(($0.0 - top) / temperature) }
            let total = weights.reduce(0, +)
            for (entry, weight) in zip(entries, weights) {
                for ch in 0..<classes {
                    out[ch * h * w + q] += weight / total * labels[entry.1][ch * h * w + entry.2]
                }
            }
        }
        return Tensor(out, shape: [classes, h, w])
    }

    /// The size a frame is fed to the model at (`read_frame`): the shorter side `shorterSide`, the
    /// longer scaled with it and rounded down to a multiple of 64.
    public static func inputSize(height: Int, width: Int, shorterSide s: Int) -> (height: Int, width: Int) {
        let round64 = { (x: Double) in Swift.max(64, Int((x / 64).rounded(.down)) * 64) }
        return height > width ? (round64(Double(s) * Double(height) / Double(width)), s)
                              : (s, round64(Double(s) * Double(width) / Double(height)))
    }

    /// DAVIS's colour normalisation in eval_video_segmentation (`color_normalize`; note std 0.228).
    public static let normalize = Normalize(mean: [0.485, 0.456, 0.406], std: [0.228, 0.224, 0.225])

    /// Segments a video (`eval_video_tracking_davis`): `frames` [3, H, W] in 0…1, the first frame's
    /// label map [H, W] (0 background, 1…k objects), `tokens` mapping a batch [1, 3, h·P, w·P] to a
    /// ViT's last-block tokens after the final norm [1, 1 + h·w, D]. Each frame is resized
    /// (bilinear) to ``inputSize(height:width:shorterSide:)`` and normalised; the first mask is
    /// shrunk to the patch grid (nearest) and one-hot encoded; every later frame's soft labels are
    /// propagated from the first frame and the last `contextFrames` predictions, upsampled by P
    /// (bilinear), min–max normalised per class, arg-maxed and resized back (nearest). Returns the
    /// label maps [H, W] (int32) of every frame, the first being the given one.
    public static func segment(frames: [Tensor], firstMask: Tensor, patchSize: Int,
                               parameters p: Parameters = Parameters(), normalize: Normalize = normalize,
                               tokens: (Variable) -> Variable) throws -> [Tensor] {
        try p.validate()
        guard let first = frames.first else { return [] }
        let (height, width) = (first.shape[1], first.shape[2])
        guard firstMask.shape == [height, width] else {
            throw DatasetError("the first mask is \(describe(firstMask.shape)) but the frames are \(height)×\(width)")
        }
        let (th, tw) = inputSize(height: height, width: width, shorterSide: p.shorterSide)
        let (gh, gw) = (th / patchSize, tw / patchSize)
        func features(_ frame: Tensor) throws -> Tensor {
            guard frame.shape == first.shape else {
                throw DatasetError("frames differ in size: \(describe(frame.shape)) after \(describe(first.shape))")
            }
            let x = normalize(Interpolation.bilinear.resize(frame, height: th, width: tw), seed: 0)
            let out = noGrad { tokens(Variable(x.unsqueezed(0))).data }
            guard out.rank == 3 && out.shape[1] == 1 + gh * gw else {
                throw DatasetError("the model gave tokens \(describe(out.shape)) for a \(th)×\(tw) frame; "
                                   + "expected [1, \(1 + gh * gw), D] with patch size \(patchSize)")
            }
            return out.select(axis: 0, index: 0).slice(axis: 0, start: 1).contiguous()
        }
        let small = Interpolation.nearest.resize(firstMask.converted(to: .float32).unsqueezed(0), height: gh, width: gw)
        let classes = Int(firstMask.converted(to: .float64).max().item() as Double) + 1
        let firstLabels = oneHot(small.select(axis: 0, index: 0), classes: classes)
        let firstFeatures = try features(first)
        var queue: [(features: Tensor, labels: Tensor)] = []
        var masks = [firstMask.converted(to: .int32)]
        for frame in frames.dropFirst() {
            let target = try features(frame)
            let soft = propagate(target: target, contexts: [(firstFeatures, firstLabels)] + queue, height: gh,
                                 width: gw, parameters: p)
            if p.contextFrames > 0 {
                if queue.count == p.contextFrames { queue.removeFirst() }
                queue.append((target, soft))
            }
            let up = minMaxPerClass(Interpolation.bilinear.resize(soft, height: gh * patchSize, width: gw * patchSize))
            let labels = up.argmax(axis: 0).converted(to: .float32).unsqueezed(0)
            masks.append(Interpolation.nearest.resize(labels, height: height, width: width)
                .select(axis: 0, index: 0).converted(to: .int32))
        }
        return masks
    }

    /// One-hot planes [classes, h, w] of a label map [h, w].
    static func oneHot(_ labels: Tensor, classes: Int) -> Tensor {
        let values = labels.contiguous().scalars(as: Float.self)
        var out = [Float](repeating: 0, count: classes * values.count)
        for (i, v) in values.enumerated() where Int(v) < classes { out[Int(v) * values.count + i] = 1 }
        return Tensor(out, shape: [classes] + labels.shape)
    }

    /// `norm_mask`: each class plane whose maximum is positive rescaled to 0…1 by its min and max.
    static func minMaxPerClass(_ planes: Tensor) -> Tensor {
        let x = planes.contiguous()
        var values = x.scalars(as: Float.self)
        let plane = x.shape[1] * x.shape[2]
        for c in 0..<x.shape[0] {
            let slice = values[(c * plane)..<((c + 1) * plane)]
            guard let hi = slice.max(), hi > 0, let lo = slice.min() else { continue }
            // DINO subtracts the minimum, then divides by the new maximum.
            let range = hi - lo
            for i in (c * plane)..<((c + 1) * plane) { values[i] = range > 0 ? (values[i] - lo) / range : 0 }
        }
        return Tensor(values, shape: x.shape)
    }
}
