import Autograd
import Foundation
import NN
import Tensor
import Vision
import Zoo

/// DINO's self-attention maps: the class token's attention to the patches in the last block, per
/// head, and the masks that keep a given share of the attention mass (`visualize_attention.py`).
public enum AttentionMaps {
    /// Class-token attention over patches [B, heads, gh, gw] for images [B, 3, H, W].
    public static func classAttention(_ vit: VisionTransformer, images: Tensor) -> Tensor {
        let attention = noGrad { vit.lastSelfAttention(Variable(images)) }  // [B, heads, 1 + N, 1 + N]
        let (b, heads) = (attention.shape[0], attention.shape[1])
        let gh = images.shape[2] / vit.config.patchSize, gw = images.shape[3] / vit.config.patchSize
        return attention.select(axis: 2, index: 0).slice(axis: 2, start: 1).contiguous().reshaped([b, heads, gh, gw])
    }

    /// Each head's class-token attention entropy in the last block, in nats, averaged over `images`:
    /// the attention over the patches renormalised to sum to 1, so log(patches) is attention spread
    /// evenly and 0 attention on one patch. A nearly flat map segments nothing, whatever its threshold.
    public static func classAttentionEntropy(_ vit: VisionTransformer, images: Tensor) -> [Double] {
        let attention = classAttention(vit, images: images)
        let (b, heads) = (attention.shape[0], attention.shape[1])
        let rows = attention.converted(to: .float64).contiguous().reshaped([b, heads, -1])
        let p = rows / rows.sum(axes: [2], keepDim: true)
        let entropy = -(p * p.clamped(min: 1e-300).log()).sum(axes: [2]).mean(axes: [0])  // [heads]
        return entropy.scalars(as: Double.self)
    }

    /// Masks [B, heads, gh, gw] (float 0/1) of the patches holding the top `mass` of each head's
    /// attention: sorted ascending, the tokens whose cumulative share exceeds 1 − mass.
    public static func thresholdMasks(_ attention: Tensor, mass: Double = 0.6) -> Tensor {
        let shape = attention.shape
        let n = shape[2] * shape[3]
        let rows = attention.converted(to: .float64).contiguous().reshaped([shape[0] * shape[1], n])
        let values = rows.scalars(as: Double.self)
        var out = [Float](repeating: 0, count: values.count)
        for r in 0..<(shape[0] * shape[1]) {
            let row = Array(values[(r * n)..<((r + 1) * n)])
            let total = row.reduce(0, +)
            var cumulative = 0.0
            for j in row.indices.sorted(by: { row[$0] < row[$1] }) {
                cumulative += row[j] / Swift.max(total, 1e-12)
                if cumulative > 1 - mass { out[r * n + j] = 1 }
            }
        }
        return Tensor(out, shape: shape)
    }

    /// Nearest-neighbour upsampling of masks [..., gh, gw] by an integer factor.
    public static func upsample(_ masks: Tensor, factor: Int) -> Tensor {
        let r = masks.rank
        let gh = masks.shape[r - 2], gw = masks.shape[r - 1]
        let rowIdx = Tensor((0..<(gh * factor)).map { Int64($0 / factor) })
        let colIdx = Tensor((0..<(gw * factor)).map { Int64($0 / factor) })
        return masks.indexSelect(axis: r - 2, indices: rowIdx).indexSelect(axis: r - 1, indices: colIdx)
    }

    /// Jaccard index |A ∩ B| / |A ∪ B| of two 0/1 masks of one shape (1 when both are empty).
    public static func jaccard(_ a: Tensor, _ b: Tensor) -> Double {
        let x = a.converted(to: .float64), y = b.converted(to: .float64)
        let intersection = (x * y).sum().item()
        let union = (x + y - x * y).sum().item()
        return union == 0 ? 1 : intersection / union
    }

    /// Mean Jaccard of each head's thresholded attention mask against object masks [B, H, W]:
    /// the per-head means and the best head.
    public static func headJaccard(_ vit: VisionTransformer, images: Tensor, objectMasks: Tensor, mass: Double = 0.6)
        -> (perHead: [Double], best: Double) {
        let masks = upsample(thresholdMasks(classAttention(vit, images: images), mass: mass),
                             factor: vit.config.patchSize)
        let (b, heads) = (masks.shape[0], masks.shape[1])
        var perHead = [Double](repeating: 0, count: heads)
        for i in 0..<b {
            for h in 0..<heads {
                perHead[h] += jaccard(masks.select(axis: 0, index: i).select(axis: 0, index: h),
                                      objectMasks.select(axis: 0, index: i)) / Double(b)
            }
        }
        return (perHead, perHead.max() ?? 0)
    }

    /// Patch features to colours (the DINO paper's PCA figure): the last block's patch tokens of
    /// all `images` projected on their first three principal components, each scaled to 0…1,
    /// as images [B, 3, gh, gw].
    public static func patchPCA(_ vit: VisionTransformer, images: Tensor) throws -> Tensor {
        let tokens = noGrad { vit.forwardFeatures(Variable(images)).data }  // [B, 1 + N, D]
        let (b, d) = (tokens.shape[0], tokens.shape[2])
        let gh = images.shape[2] / vit.config.patchSize, gw = images.shape[3] / vit.config.patchSize
        let patches = tokens.slice(axis: 1, start: 1).contiguous().reshaped([b * gh * gw, d]).converted(to: .float64)
        let centred = patches - patches.mean(axes: [0], keepDim: true)
        let covariance = centred.T.matmul(centred) / Double(Swift.max(patches.shape[0] - 1, 1))
        let (_, vectors) = try covariance.symmetricEigen()  // ascending eigenvalues
        let top = vectors.slice(axis: 1, start: d - 3).indexSelect(axis: 1, indices: Tensor([Int64(2), 1, 0]))
        var projected = centred.matmul(top)  // [B·N, 3]
        let low = projected.min(axes: [0], keepDim: true), high = projected.max(axes: [0], keepDim: true)
        projected = (projected - low) / (high - low + 1e-12)
        return projected.reshaped([b, gh, gw, 3]).permuted([0, 3, 1, 2]).converted(to: .float32).contiguous()
    }

    /// DINO's figure for one image [3, H, W] in 0…1 and its class attention [heads, gh, gw]: the
    /// image and each head's heat map in the first row, and each head's mask keeping `mass` of the
    /// attention laid over the image in the second.
    public static func figure(image: Tensor, attention: Tensor, mass: Double = 0.6) -> Tensor {
        let (h, w) = (image.shape[1], image.shape[2])
        let up = Resize(.exactly(height: h, width: w), interpolation: .nearest)
        let masks = thresholdMasks(attention.unsqueezed(0), mass: mass).select(axis: 0, index: 0)
        let heads = attention.shape[0]
        var panels = [image]
        for k in 0..<heads { panels.append(up(heatMap(attention.select(axis: 0, index: k)), seed: 0)) }
        for k in 0..<heads {
            panels.append(image * 0.3 + up(masks.select(axis: 0, index: k).unsqueezed(0), seed: 0) * 0.7)
        }
        return imageGrid(panels, columns: heads + 1)
    }
}
