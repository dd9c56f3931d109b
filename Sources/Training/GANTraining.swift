import Autograd
import Tensor

/// ViTGAN's objectives: the non-saturating GAN loss, the R1 penalty on real images and balanced
/// consistency regularisation (bCR), each a `Variable` to back-propagate.
public enum GANLoss {
    /// E softplus(−D(x)) + E softplus(D(G(z))) for the discriminator's logits on real and generated images.
    public static func discriminator(real: Variable, fake: Variable) -> Variable {
        (-real).softplus().mean() + fake.softplus().mean()
    }

    /// E softplus(−D(G(z))): the generator's non-saturating loss.
    public static func generator(fake: Variable) -> Variable { (-fake).softplus().mean() }

    /// R1 (Mescheder et al. 2018): (γ/2)·E‖∇ₓD(x)‖² over real images x, a gradient taken with
    /// `createGraph`, so that the penalty back-propagates into the discriminator's parameters.
    public static func r1Penalty(real: Tensor, gamma: Double, discriminator: (Variable) -> Variable) -> Variable {
        let x = Variable(real, requiresGrad: true)
        let g = grad(of: [discriminator(x).sum()], with: [x], createGraph: true)[0]
        return g.square().reshaped([real.shape[0], -1]).sum(axes: [1]).mean() * (gamma / 2)
    }

    /// bCR (Zhao et al. 2021): λ_real·E(D(x) − D(T(x)))² + λ_fake·E(D(G(z)) − D(T(G(z))))², with T the
    /// augmentation, as the ViTGAN code's `balanced_consistency`.
    public static func balancedConsistency(real: Variable, augmentedReal: Variable, fake: Variable,
                                           augmentedFake: Variable, lambdaReal: Double = 10,
                                           lambdaFake: Double = 10) -> Variable {
        (real - augmentedReal).square().mean() * lambdaReal + (fake - augmentedFake).square().mean() * lambdaFake
    }
}

/// Differentiable augmentation (Zhao et al. 2020, "DiffAugment"), applied to real and generated
/// images alike inside the graph, so the generator's gradient passes through it. Images [N, C, H, W]
/// in [−1, 1]; each sample draws its own parameters, as the original `DiffAugment_pytorch.py`:
/// colour (brightness + U(−½, ½), saturation × U(0, 2), contrast × U(½, 3/2)), translation by up to
/// `translationRatio` of each side with zero fill, cutout of a `cutoutRatio` square (zeros).
/// The ViTGAN code also applies each with a probability; here every policy applies to every sample.
public struct DiffAugment: Sendable {
    public enum Policy: String, Sendable, CaseIterable { case color, translation, cutout }

    public var policies: [Policy]
    public var translationRatio = 0.125
    public var cutoutRatio = 0.5

    /// Policies by name, comma-separated (`"color,translation,cutout"`, the original's spelling).
    public init(policy: String) throws {
        policies = try policy.split(separator: ",").map { name in
            guard let p = Policy(rawValue: String(name)) else {
                throw ConfigurationError(field: "policy", value: String(name),
                                         rule: "must be a comma-separated list of color, translation, cutout")
            }
            return p
        }
    }

    public func callAsFunction(_ x: Variable, generator: RandomGenerator? = nil) -> Variable {
        check(x.rank == 4, "DiffAugment", "expects images [N, C, H, W], got \(describe(x.shape))")
        return Random.using(generator) { g in
            policies.reduce(x) { images, policy in
                let (n, h, w) = (images.shape[0], images.shape[2], images.shape[3])
                func uniform(_ low: Double, _ high: Double) -> Tensor {
                    Tensor.uniform([n, 1, 1, 1], low: low, high: high, dtype: images.dtype, generator: g)
                }
                switch policy {
                case .color:
                    let bright = images + Variable(uniform(-0.5, 0.5))
                    let channelMean = bright.mean(axes: [1], keepDim: true)
                    let saturated = (bright - channelMean) * uniform(0, 2) + channelMean
                    let mean = saturated.mean(axes: [1, 2, 3], keepDim: true)
                    return (saturated - mean) * uniform(0.5, 1.5) + mean
                case .translation:
                    let (sh, sw) = (Int(Double(h) * translationRatio + 0.5), Int(Double(w) * translationRatio + 0.5))
                    let shifts = (0..<n).map { _ in
                        (g.nextInt(below: 2 * sh + 1) - sh, g.nextInt(below: 2 * sw + 1) - sw)
                    }
                    return Self.translated(images, shifts: shifts)
                case .cutout:
                    let size = (Int(Double(h) * cutoutRatio + 0.5), Int(Double(w) * cutoutRatio + 0.5))
                    let centres = (0..<n).map { _ in
                        (g.nextInt(below: h + 1 - size.0 % 2), g.nextInt(below: w + 1 - size.1 % 2))
                    }
                    return Self.cutOut(images, centres: centres, size: size)
                }
            }
        }
    }

    /// Sample i's pixel (y, x) taken from (y + dyᵢ, x + dxᵢ), zero outside (the original's indexing).
    static func translated(_ x: Variable, shifts: [(Int, Int)]) -> Variable {
        let (h, w) = (x.shape[2], x.shape[3])
        let p = shifts.map { Swift.max(Swift.abs($0.0), Swift.abs($0.1)) }.max() ?? 0
        let padded = x.padded([(p, p), (p, p)])
        return Variable.concat(shifts.enumerated().map { i, shift in
            padded.slice(axis: 0, start: i, end: i + 1).slice(axis: 2, start: p + shift.0, end: p + shift.0 + h)
                .slice(axis: 3, start: p + shift.1, end: p + shift.1 + w)
        }, axis: 0)
    }

    /// Zeros a `size` rectangle around each sample's centre (clipped to the image).
    static func cutOut(_ x: Variable, centres: [(Int, Int)], size: (Int, Int)) -> Variable {
        let (n, h, w) = (x.shape[0], x.shape[2], x.shape[3])
        var mask = [Double](repeating: 1, count: n * h * w)
        for (i, centre) in centres.enumerated() {
            for y in Swift.max(centre.0 - size.0 / 2, 0)..<Swift.min(centre.0 - size.0 / 2 + size.0, h) {
                for x in Swift.max(centre.1 - size.1 / 2, 0)..<Swift.min(centre.1 - size.1 / 2 + size.1, w) {
                    mask[(i * h + y) * w + x] = 0
                }
            }
        }
        return x * Tensor(mask, shape: [n, 1, h, w]).converted(to: x.dtype)
    }
}
