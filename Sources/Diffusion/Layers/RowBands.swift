import Tensor

/// When a layer makes its convolution's input a band of rows at a time (`conv2dInRowBands`)
/// instead of whole: for inputs of at least `thresholdFloats`. The result is the same either
/// way; banding only bounds memory.
public enum RowBands {
    /// 16 M floats (64 MB): the VAE's layers at 256×256 and 512×512 pixels; UNet layers (at
    /// most 2.6 M floats at 512×512 with guidance) stay whole. Task-local so tests can force
    /// bands on small inputs.
    @TaskLocal public static var thresholdFloats: Int = 16 << 20
    /// Input floats per band (see `rowBandInputBudget`).
    @TaskLocal public static var bandFloats: Int = rowBandInputBudget
}

extension Conv2d {
    /// `self(norm.silu(x))`: for a large `x` the normalised input exists one band of rows at a
    /// time (statistics first, then each band normalised as the convolution reads it).
    public func afterGroupNormSiLU(_ norm: GroupNorm, _ x: Tensor) -> Tensor {
        guard x.rank == 4, x.count >= RowBands.thresholdFloats else { return self(norm.silu(x)) }
        let affine = GroupNormAffine(x, groups: norm.groups, weight: norm.weight, bias: norm.bias, eps: norm.eps, silu: true)
        return conv2dInRowBands(
            inputShape: x.shape, weight: weight, bias: bias, options: options,
            outputRowsPerBand: bandRows(inputShape: x.shape)
        ) { affine.rows(of: x, $0) }
    }

    /// `self(x.upsampleNearest(scale: 2))`: for a large result the upsampled input exists one
    /// band of rows at a time.
    public func afterNearestUpsample(_ x: Tensor) -> Tensor {
        guard x.rank == 4, 4 * x.count >= RowBands.thresholdFloats else { return self(x.upsampleNearest(scale: 2)) }
        let shape = [x.shape[0], x.shape[1], 2 * x.shape[2], 2 * x.shape[3]]
        return conv2dInRowBands(
            inputShape: shape, weight: weight, bias: bias, options: options,
            outputRowsPerBand: bandRows(inputShape: shape)
        ) { x.upsampledNearestRows(scale: 2, $0) }
    }

    private func bandRows(inputShape s: [Int]) -> Int {
        // Input rows per band ≈ output rows · stride; the height helper keeps the count even.
        Swift.max(2, rowBandHeight(samples: s[0], channels: s[1], width: s[3], budget: RowBands.bandFloats) / stride / 2 * 2)
    }
}
