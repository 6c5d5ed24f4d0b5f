import Tensor

/// PyTorch `nn.Conv2d` (square kernel, one stride and symmetric padding) holding `weight`
/// [out, in, k, k] (in the reader's `WeightPrecision`) and `bias` [out] under their diffusers names.
public struct Conv2d: Sendable {
    public let weight: WeightTensor
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int

    /// Reads `<prefix>weight` and `<prefix>bias`.
    public init(
        _ p: ParameterReader, _ prefix: String, inChannels: Int, outChannels: Int,
        kernel: Int, stride: Int = 1, padding: Int = 0, bias: Bool = true
    ) {
        weight = p.weight(prefix + "weight", [outChannels, inChannels, kernel, kernel])
        self.bias = bias ? p(prefix + "bias", [outChannels]) : nil
        self.stride = stride
        self.padding = padding
    }

    /// The layer's stride and symmetric padding as convolution options.
    var options: Conv2DOptions {
        Conv2DOptions(strideH: stride, strideW: stride, padding: Padding2D(padding))
    }

    /// x [N, in, H, W] → [N, out, H', W']
    public func callAsFunction(_ x: Tensor) -> Tensor {
        conv2d(x, weight: weight, bias: bias, options: options)
    }

    /// Convolution with explicit per-side padding instead of the layer's own (the VAE
    /// encoder's downsampler pads only right and bottom).
    public func callAsFunction(_ x: Tensor, padding: Padding2D) -> Tensor {
        conv2d(x, weight: weight, bias: bias, options: Conv2DOptions(strideH: stride, strideW: stride, padding: padding))
    }
}
