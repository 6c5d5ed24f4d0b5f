import Tensor

/// The precision a model holds its large weights in (Linear and convolution weight matrices of
/// the UNet, VAE and text encoder); biases, norms and embeddings are always float32.
///
/// 16-bit weights take half the memory and are widened to float32 per layer just before use, so
/// the arithmetic stays float32. A 16-bit weight that comes from a 16-bit file is the file's own
/// memory-mapped bytes (no copy), which makes the results bit-identical to `float32`.
public enum WeightPrecision: String, Sendable, CaseIterable {
    /// The checkpoint's precision: F16 and BF16 tensors stay 16-bit, F32 (and F64) tensors
    /// are float32. The default.
    case file
    /// Everything widened to float32 at load (twice the memory of a 16-bit checkpoint).
    case float32
    /// Like `file`, and F32 (and F64) tensors are rounded to IEEE half at load: halves the
    /// memory of a float32 checkpoint at the cost of fp16 rounding of its weights.
    case float16

    /// The stored form of `tensor` (float32 values, from memory or a float32 file) under this
    /// precision.
    func store(_ tensor: Tensor) -> WeightTensor {
        self == .float16 ? .half(HalfTensor(rounding: tensor, to: .float16)) : .float32(tensor)
    }

    /// The stored form of an existing weight under this precision.
    func store(_ weight: WeightTensor) -> WeightTensor {
        switch (self, weight) {
        case (.float32, .half(let half)): .float32(half.widened())
        case (.float16, .float32(let tensor)): store(tensor)
        default: weight
        }
    }
}
