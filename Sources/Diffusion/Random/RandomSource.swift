/// A source of standard-normal noise for initial latents and ancestral sampling.
///
/// Implementations are deterministic for a given seed so a request's seed always produces the
/// same image. `TorchRandomSource` reproduces PyTorch's CPU generator.
public protocol RandomSource: Sendable {
    /// Draws `count` samples from N(0, 1), in the order `torch.randn` fills a contiguous tensor
    /// with that many elements.
    mutating func normalArray(count: Int) -> [Float]
}
