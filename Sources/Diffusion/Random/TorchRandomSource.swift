import Foundation

/// Normal noise identical to PyTorch's CPU generator: `torch.Generator().manual_seed(seed)`
/// followed by `torch.randn(shape, generator: g)` (float32, contiguous), bit for bit.
///
/// How PyTorch fills a float tensor (ATen `normal_kernel`, `DistributionTemplates.h`):
/// - **16 elements or more** (`normal_fill`): every element first receives a uniform
///   `u = (mt() & 0xFFFFFF) / 2^24`; then each block of 16 is transformed in place with
///   Box–Muller in float32, pairing element `j` with `j + 8`:
///   `r = sqrt(-2 log(1 - u[j]))`, `θ = 2π u[j+8]` (computed in double, rounded to float),
///   `out[j] = r cos θ`, `out[j+8] = r sin θ`. When the count is not a multiple of 16, 16 fresh
///   uniforms are drawn for the last 16 elements and that block is transformed again,
///   overwriting the overlap.
/// - **Fewer than 16 elements**: each element is a double-precision Box–Muller sample from
///   two 53-bit uniforms (`random64` = two outputs, first one high), using `log1p`, rounded to
///   float. The second value of each pair (`r sin θ`) is cached in the generator and returned
///   by the next small draw, as PyTorch caches it in `CPUGeneratorImpl`.
///
/// PyTorch has two versions of the block transform, chosen by the CPU it runs on; see
/// `Kernel`. The default, `.avx2`, is what PyTorch uses on any x86-64 CPU with AVX2 (including
/// AVX-512 machines), so seeds reproduce diffusers on ordinary x86 servers and desktops.
public struct TorchRandomSource: RandomSource {
    /// Which of PyTorch's block Box–Muller kernels to reproduce.
    public enum Kernel: String, Sendable, CaseIterable {
        /// PyTorch's AVX2/AVX-512 x86 kernel: Cephes-style polynomial `log` and `sincos`
        /// (`avx_mathfun.h`) with `θ = float(2π) · u` in float32. Bit-exact with PyTorch on x86.
        case avx2
        /// PyTorch's portable kernel (`ATEN_CPU_CAPABILITY=default`, ARM builds): the C
        /// library's `logf`/`cosf`/`sinf` with θ computed in double. Bit-exact when the C
        /// library is the same one PyTorch calls (e.g. glibc on Linux).
        case portable
    }

    /// The block kernel this source reproduces.
    public let kernel: Kernel
    private var engine: MersenneTwister
    private var cachedNormal: Double?

    /// Seeds the source like `torch.Generator().manual_seed(seed)`.
    public init(seed: UInt64, kernel: Kernel = .avx2) {
        self.kernel = kernel
        engine = MersenneTwister(seed: seed)
        cachedNormal = nil
    }

    /// The next raw 32-bit output of the generator (`CPUGeneratorImpl::random`).
    public mutating func nextUInt32() -> UInt32 {
        engine.next()
    }

    /// The next 64-bit output: two 32-bit outputs, the first in the high half
    /// (`CPUGeneratorImpl::random64`).
    public mutating func nextUInt64() -> UInt64 {
        let high = UInt64(engine.next())
        let low = UInt64(engine.next())
        return (high << 32) | low
    }

    /// Samples equal to `torch.randn(count, generator: g)` on CPU.
    public mutating func normalArray(count: Int) -> [Float] {
        precondition(count >= 0, "normalArray: negative count \(count)")
        if count >= 16 {
            return blockNormals(count: count)
        }
        var values = [Float](repeating: 0, count: count)
        for i in 0..<count {
            values[i] = Float(nextDoubleNormal())
        }
        return values
    }

    /// A float uniform in [0, 1) with 24 random bits, as `uniform_real_distribution<float>`.
    private mutating func nextFloatUniform() -> Float {
        Float(engine.next() & 0xFF_FFFF) * (1.0 / 16_777_216.0)
    }

    /// A double uniform in [0, 1) with 53 random bits, as `uniform_real_distribution<double>`.
    private mutating func nextDoubleUniform() -> Double {
        Double(nextUInt64() & ((1 << 53) - 1)) * (1.0 / 9_007_199_254_740_992.0)
    }

    /// One double Box–Muller sample, caching the partner (`normal_distribution<double>`).
    private mutating func nextDoubleNormal() -> Double {
        if let cached = cachedNormal {
            cachedNormal = nil
            return cached
        }
        let u1 = nextDoubleUniform()
        let u2 = nextDoubleUniform()
        let radius = (-2.0 * log1p(-u2)).squareRoot()
        let theta = 2.0 * Double.pi * u1
        cachedNormal = radius * sin(theta)
        return radius * cos(theta)
    }

    /// The `normal_fill` path for 16 or more elements.
    private mutating func blockNormals(count: Int) -> [Float] {
        var values = [Float](repeating: 0, count: count)
        values.withUnsafeMutableBufferPointer { data in
            for i in 0..<count {
                data[i] = nextFloatUniform()
            }
            var start = 0
            while start + 16 <= count {
                boxMuller16(data, at: start)
                start += 16
            }
            if count % 16 != 0 {
                let tail = count - 16
                for i in tail..<count {
                    data[i] = nextFloatUniform()
                }
                boxMuller16(data, at: tail)
            }
        }
        return values
    }

    /// Box–Muller on 16 uniforms in place: element `j` pairs with `j + 8` (float32 math).
    private func boxMuller16(_ data: UnsafeMutableBufferPointer<Float>, at start: Int) {
        switch kernel {
        case .avx2: Self.boxMuller16AVX2(data, at: start)
        case .portable: Self.boxMuller16Portable(data, at: start)
        }
    }

    /// The AVX2 kernel's arithmetic, lane by lane.
    private static func boxMuller16AVX2(_ data: UnsafeMutableBufferPointer<Float>, at start: Int) {
        let twoPi = Float(2.0 * Double.pi)
        for j in start..<(start + 8) {
            let u1: Float = 1 - data[j]
            let radius = (-2 * CephesFloatMath.log(u1)).squareRoot()
            let theta = twoPi * data[j + 8]
            let (sine, cosine) = CephesFloatMath.sincos(theta)
            // `+ 0` mirrors PyTorch's `fma(x, std: 1, mean: 0)`, which turns -0 into +0.
            data[j] = radius * cosine + 0
            data[j + 8] = radius * sine + 0
        }
    }

    /// The portable kernel's arithmetic.
    private static func boxMuller16Portable(_ data: UnsafeMutableBufferPointer<Float>, at start: Int) {
        for j in start..<(start + 8) {
            let u1: Float = 1 - data[j]
            let u2 = data[j + 8]
            let radius = (-2 * log(u1)).squareRoot()
            let theta = Float(2.0 * Double.pi * Double(u2))
            // `+ 0` mirrors PyTorch's `fma(x, std: 1, mean: 0)`, which turns -0 into +0.
            data[j] = radius * cos(theta) + 0
            data[j + 8] = radius * sin(theta) + 0
        }
    }
}
