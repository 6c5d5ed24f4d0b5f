import Testing
@testable import Tensor

/// 16-bit weights: the conversions against Swift's own `Float16`, and `linear`/`conv2d` with a
/// 16-bit weight against the same kernels on the widened float32 weight (bit for bit: the
/// widening is exact and the arithmetic the same).
struct HalfTensorTests {
    /// Every binary16 bit pattern as a tensor of halves.
    private func allHalfPatterns() -> HalfTensor {
        let bits = (0...UInt16.max).map { $0 }
        return bits.withUnsafeBytes { raw in
            HalfTensor.concatenated(rows: [HalfTensor(shape: [bits.count], format: .float16, borrowing: raw.baseAddress!, owner: Box())])
        }
    }

    private final class Box: Sendable {}

    @Test("every F16 bit pattern widens exactly like Float(Float16)")
    func widensEveryHalf() {
        #if !(os(macOS) && arch(x86_64))
        let widened = allHalfPatterns().widened().scalars
        for bits in 0...UInt16.max {
            let reference = Float(Float16(bitPattern: bits))
            let ours = widened[Int(bits)]
            if reference.isNaN {
                #expect(ours.isNaN, "half bits \(bits)")
            } else {
                #expect(ours.bitPattern == reference.bitPattern, "half bits \(bits)")
            }
        }
        #endif
    }

    @Test("float32 rounds to F16 like Float16(_:): ties to even, subnormals, overflow, infinities")
    func roundsToHalf() {
        #if !(os(macOS) && arch(x86_64))
        var values: [Float] = [0, -0, 1, -1, 65504, 65519.99, 65520, 1e6, -1e6, .infinity, -.infinity,
                               6.1e-5, 5.96e-8, 2.98e-8, 2.9802322e-8, 2.9802326e-8, 1e-10, -3e-6,
                               1 + 1.0 / 2048, 1 + 3.0 / 2048, 1 + 1.0 / 4096, .leastNormalMagnitude]
        var rng = TestRNG(seed: 11)
        for _ in 0..<4001 { values.append(rng.uniform() * Float(1 << (rng.next() % 40)) / 65536) }
        // Patterns exactly between two halves, near every exponent.
        for bits in stride(from: UInt16(0), to: 0x7C00, by: 97) {
            let low = Float(Float16(bitPattern: bits)), high = Float(Float16(bitPattern: bits + 1))
            values.append((low + high) / 2)
        }
        let half = HalfTensor(rounding: Tensor(shape: [values.count], scalars: values), to: .float16)
        for (value, bits) in zip(values, half.bits) {
            #expect(bits == Float16(value).bitPattern, "\(value)")
        }
        let nan = HalfTensor(rounding: Tensor(shape: [9], repeating: .nan), to: .float16).widened().scalars
        let allNaN = nan.allSatisfy { $0.isNaN }
        #expect(allNaN)
        #endif
    }

    @Test("float32 rounds to BF16 to nearest even and widens back exactly")
    func roundsToBFloat16() {
        let values: [Float] = [1, 1 + 1.0 / 256, 1 + 3.0 / 256, 1 + 1.0 / 512, -2.5e-30, 3.3e38, .infinity, 0.1]
        let half = HalfTensor(rounding: Tensor(shape: [values.count], scalars: values), to: .bfloat16)
        let expected: [UInt16] = values.map { value in
            let x = value.bitPattern
            return UInt16((x &+ 0x7FFF &+ ((x >> 16) & 1)) >> 16)
        }
        #expect(half.bits == expected)
        #expect(half.widened().scalars.map(\.bitPattern) == expected.map { UInt32($0) << 16 })
        let bfloatNaN = HalfTensor(rounding: Tensor(shape: [3], repeating: .nan), to: .bfloat16).widened().scalars
        let allNaN = bfloatNaN.allSatisfy { $0.isNaN }
        #expect(allNaN)
    }

    @Test("views: rows, reshape and concatenation keep the values", arguments: HalfTensor.Format.allCases)
    func views(format: HalfTensor.Format) {
        let full = randomTensor([6, 5], seed: 3)
        let half = HalfTensor(rounding: full, to: format)
        let rounded = half.widened()
        let rows = half.narrowed(rows: 2, length: 3)
        #expect(rows.shape == [3, 5])
        #expect(rows.widened().scalars == rounded.narrowed(axis: 0, start: 2, length: 3).scalars)
        #expect(half.reshaped([30]).widened().scalars == rounded.scalars)
        let joined = HalfTensor.concatenated(rows: [half.narrowed(rows: 4, length: 2), half.narrowed(rows: 0, length: 4)])
        #expect(joined.widened().scalars == concat([rounded.narrowed(axis: 0, start: 4, length: 2),
                                                     rounded.narrowed(axis: 0, start: 0, length: 4)], axis: 0).scalars)
        #expect(WeightTensor.half(rows).sharesStorage(with: .half(half.narrowed(rows: 2, length: 3))))
        #expect(!WeightTensor.half(joined).sharesStorage(with: .half(half)))
        #expect(WeightTensor.half(half).storedBytes == 60)
    }

    @Test("linear with a 16-bit weight equals linear with its float32 values, bit for bit", arguments: HalfTensor.Format.allCases)
    func linearMatches(format: HalfTensor.Format) {
        let x = randomTensor([2, 77, 320], seed: 1)
        let half = HalfTensor(rounding: randomTensor([640, 320], seed: 2, scale: 0.05), to: format)
        let bias = randomTensor([640], seed: 3)
        let ours = linear(x, weight: WeightTensor.half(half), bias: bias)
        let reference = linear(x, weight: half.widened(), bias: bias)
        #expect(ours.scalars.map(\.bitPattern) == reference.scalars.map(\.bitPattern))
    }

    @Test("conv2d with a 16-bit weight equals conv2d with its float32 values (im2col, 1x1 and Winograd paths)",
          arguments: [(3, 1, 24), (1, 0, 24), (3, 1, 48)])
    func convolutionMatches(kernel: Int, padding: Int, size: Int) {
        // 32 channels at 48x48 gives 576 tiles: the Winograd path.
        let x = randomTensor([1, 32, size, size], seed: 4)
        let half = HalfTensor(rounding: randomTensor([40, 32, kernel, kernel], seed: 5, scale: 0.1), to: .float16)
        let bias = randomTensor([40], seed: 6)
        let options = Conv2DOptions(padding: Padding2D(padding))
        let ours = conv2d(x, weight: WeightTensor.half(half), bias: bias, options: options)
        let reference = conv2d(x, weight: half.widened(), bias: bias, options: options)
        #expect(ours.scalars.map(\.bitPattern) == reference.scalars.map(\.bitPattern))
    }
}
