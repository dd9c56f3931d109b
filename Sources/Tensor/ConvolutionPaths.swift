// The fused loop and the per-tap GEMMs of Convolution.swift side by side, for the benchmarks.

/// The stride-1 convolution's two implementations, chosen by hand, for `tessera-bench conv-paths` (the table
/// of fused loop against per-tap GEMMs in Docs/Benchmarks.md, from which `fusesTaps` and `usesShifts` were set).
@_spi(Benchmarks) public enum ShiftedConvolutionPaths {
    /// Forward correlation of x [N, C, H, W] with weight [O, C, k, k] at padding k / 2, at `level`.
    public static func forward(_ x: Tensor, weight: Tensor, level: KernelLevel, fused: Bool) -> Tensor {
        let layout = layout(x, weight)
        return layout.shiftedCorrelation(x, taps: layout.taps(of: weight), level: level, fused: fused)
    }

    /// ∂W as taps [k·k, O, C] for output gradient gy [N, O, H, W].
    public static func weightGradient(_ x: Tensor, _ gy: Tensor, weight: Tensor, level: KernelLevel,
                                      fused: Bool) -> Tensor {
        layout(x, weight).shiftedWeightGradient(x, gy, level: level, fused: fused)
    }

    private static func layout(_ x: Tensor, _ weight: Tensor) -> ConvLayout {
        let p = weight.shape[2] / 2
        return ConvLayout(input: x.shape, weight: weight.shape, geometry: Conv2dGeometry(padding: (p, p)),
                          output: (x.shape[2], x.shape[3]))
    }
}
