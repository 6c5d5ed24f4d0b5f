/// The 32-bit Mersenne Twister (MT19937) as PyTorch's CPU generator uses it.
///
/// Seeding takes the low 32 bits of the seed (`init_genrand`), exactly like
/// `at::mt19937_engine(uint64_t seed)`; outputs equal `std::mt19937` for the same 32-bit seed.
public struct MersenneTwister: Sendable {
    private static let stateSize = 624
    private static let shift = 397
    private static let matrixA: UInt32 = 0x9908_b0df
    private static let upperMask: UInt32 = 0x8000_0000
    private static let lowerMask: UInt32 = 0x7fff_ffff

    private var state: [UInt32]
    private var index: Int

    /// Seeds the generator like `torch.Generator().manual_seed(seed)`.
    public init(seed: UInt64) {
        var state = [UInt32](repeating: 0, count: Self.stateSize)
        state[0] = UInt32(truncatingIfNeeded: seed)
        for i in 1..<Self.stateSize {
            let previous = state[i - 1]
            state[i] = 1_812_433_253 &* (previous ^ (previous >> 30)) &+ UInt32(i)
        }
        self.state = state
        self.index = Self.stateSize
    }

    /// The next 32-bit output.
    public mutating func next() -> UInt32 {
        if index >= Self.stateSize { regenerate() }
        var y = state[index]
        index += 1
        y ^= y >> 11
        y ^= (y << 7) & 0x9d2c_5680
        y ^= (y << 15) & 0xefc6_0000
        y ^= y >> 18
        return y
    }

    /// Refills the whole state block (the "twist").
    private mutating func regenerate() {
        let n = Self.stateSize
        let m = Self.shift
        state.withUnsafeMutableBufferPointer { s in
            for i in 0..<n {
                let y = (s[i] & Self.upperMask) | (s[(i + 1) % n] & Self.lowerMask)
                var value = s[(i + m) % n] ^ (y >> 1)
                if y & 1 != 0 { value ^= Self.matrixA }
                s[i] = value
            }
        }
        index = 0
    }
}
