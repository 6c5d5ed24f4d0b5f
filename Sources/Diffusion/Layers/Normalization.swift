import Tensor

/// PyTorch `nn.GroupNorm` with affine `weight`/`bias` [channels].
public struct GroupNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let groups: Int
    public let eps: Float

    /// Reads `<prefix>weight` and `<prefix>bias`.
    public init(_ p: ParameterReader, _ prefix: String, groups: Int, channels: Int, eps: Float) {
        weight = p(prefix + "weight", [channels])
        bias = p(prefix + "bias", [channels])
        self.groups = groups
        self.eps = eps
    }

    /// x [N, C, ...] normalised per (sample, group).
    public func callAsFunction(_ x: Tensor) -> Tensor {
        groupNorm(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }

    /// `silu(norm(x))` in one pass: the norm → nonlinearity pair of every resnet block.
    public func silu(_ x: Tensor) -> Tensor {
        groupNormSiLU(x, groups: groups, weight: weight, bias: bias, eps: eps)
    }
}

/// PyTorch `nn.LayerNorm` over the last axis with affine `weight`/`bias` [dim].
public struct LayerNorm: Sendable {
    public let weight: Tensor
    public let bias: Tensor
    public let eps: Float

    /// Reads `<prefix>weight` and `<prefix>bias`.
    public init(_ p: ParameterReader, _ prefix: String, dim: Int, eps: Float = 1e-5) {
        weight = p(prefix + "weight", [dim])
        bias = p(prefix + "bias", [dim])
        self.eps = eps
    }

    /// x [..., dim] normalised over the last axis.
    public func callAsFunction(_ x: Tensor) -> Tensor {
        layerNorm(x, weight: weight, bias: bias, eps: eps)
    }
}
