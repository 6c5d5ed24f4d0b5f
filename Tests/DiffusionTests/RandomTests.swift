import Testing
@testable import Diffusion

/// Reference values for `TorchRandomSource`, printed by PyTorch 2.13 on x86-64 with this
/// one-liner (run once with the default CPU capability, once with
/// `ATEN_CPU_CAPABILITY=default` for the portable kernel):
///
///     python -c "import torch; x = torch.randn(SHAPE, generator=torch.Generator().manual_seed(SEED)).flatten();
///                print([float(v) for v in x[:3]], [float(v) for v in x[-2:]], int(x.view(torch.int32).to(torch.int64).sum()))"
///
/// The bit-pattern sum covers every element, so one differing bit anywhere fails the test.
/// Tolerance: none (bit-exact).
struct RandomReference: Sendable, CustomTestStringConvertible {
    var seed: UInt64
    var shape: [Int]
    var first: [Float]
    var last: [Float]
    var bitSum: Int64

    var testDescription: String { "seed \(seed) shape \(shape)" }
}

private let avx2References: [RandomReference] = [
    .init(seed: 0, shape: [1, 4, 64, 64], first: [-1.1258398294448853, -1.152360200881958, -0.2505785822868347],
          last: [-1.3664697408676147, -1.0782079696655273], bitSum: -465_305_793_420),
    .init(seed: 42, shape: [1, 4, 64, 64], first: [1.9269152879714966, 1.4872840642929077, 0.9007171988487244],
          last: [0.9728097319602966, -0.29340609908103943], bitSum: -122_974_720_519),
    .init(seed: 1234, shape: [2, 4, 8, 8], first: [-0.1117185652256012, -0.49659010767936707, 0.16307370364665985],
          last: [-0.6661392450332642, -0.617986798286438], bitSum: -57_398_530_592),
    .init(seed: 7, shape: [37], first: [-0.8201345205307007, 0.39563116431236267, 0.8989084959030151],
          last: [-1.3677396774291992, -0.10073431581258774], bitSum: -1_647_701_699),
    .init(seed: 3, shape: [16], first: [-0.07664429396390915, 0.35988152027130127, -0.7820168137550354],
          last: [0.573984682559967, 0.41633129119873047], bitSum: 1_795_068_936),
    .init(seed: 5, shape: [15], first: [-0.4867807626724243, -0.6038215756416321, -0.5580962300300598],
          last: [-0.666225254535675, 0.6846421957015991], bitSum: -3_438_540_306),
    .init(seed: 9, shape: [1], first: [0.04472753778100014], last: [0.04472753778100014], bitSum: 1_027_028_025),
    // Only the low 32 bits of the seed matter, as in PyTorch.
    .init(seed: (1 << 40) + 11, shape: [4], first: [0.7376294732093811, 1.9459291696548462, -0.6995416283607483],
          last: [-0.6995416283607483, -1.3022973537445068], bitSum: -32_526_251),
]

private let portableReferences: [RandomReference] = [
    .init(seed: 0, shape: [1, 4, 64, 64], first: [-1.1258398294448853, -1.152360200881958, -0.2505785822868347],
          last: [-1.3664708137512207, -1.0782079696655273], bitSum: -465_305_778_916),
    .init(seed: 42, shape: [1, 4, 64, 64], first: [1.9269150495529175, 1.4872841835021973, 0.9007171988487244],
          last: [0.9728097319602966, -0.2934061288833618], bitSum: -122_974_754_664),
    .init(seed: 7, shape: [37], first: [-0.8201345205307007, 0.39563092589378357, 0.8989079594612122],
          last: [-1.3677396774291992, -0.10073431581258774], bitSum: -1_647_701_792),
    .init(seed: 3, shape: [16], first: [-0.07664430886507034, 0.35988152027130127, -0.7820167541503906],
          last: [0.573984682559967, 0.41633129119873047], bitSum: 1_795_068_948),
]

private func check(_ reference: RandomReference, kernel: TorchRandomSource.Kernel) {
    var source = TorchRandomSource(seed: reference.seed, kernel: kernel)
    let values = source.normalArray(count: reference.shape.reduce(1, *))
    #expect(Array(values.prefix(reference.first.count)) == reference.first)
    #expect(Array(values.suffix(reference.last.count)) == reference.last)
    let bitSum = values.reduce(Int64(0)) { $0 + Int64(Int32(bitPattern: $1.bitPattern)) }
    #expect(bitSum == reference.bitSum)
}

@Suite("TorchRandomSource")
struct RandomTests {
    @Test("randn equals PyTorch's AVX2 kernel bit for bit", arguments: avx2References)
    func avx2Kernel(reference: RandomReference) {
        check(reference, kernel: .avx2)
    }

    #if os(Linux)
    // The portable kernel calls the C library's logf/cosf/sinf; the references come from glibc.
    @Test("randn equals PyTorch's portable kernel bit for bit", arguments: portableReferences)
    func portableKernel(reference: RandomReference) {
        check(reference, kernel: .portable)
    }
    #endif

    /// `g = torch.Generator().manual_seed(11); a = torch.randn(3, generator=g); b = torch.randn(3, generator=g);
    ///  c = torch.randn(20, generator=g); d = torch.randn(1, generator=g)`
    /// → `torch.cat([a, b, c[:2], d])`. Small draws share PyTorch's cached second Box–Muller value.
    @Test("consecutive draws continue the generator state like PyTorch")
    func consecutiveDraws() {
        var source = TorchRandomSource(seed: 11)
        let a = source.normalArray(count: 3)
        let b = source.normalArray(count: 3)
        let c = source.normalArray(count: 20)
        let d = source.normalArray(count: 1)
        let expected: [Float] = [
            0.7376294732093811, 1.9459291696548462, -0.6995416283607483, -1.3022973537445068,
            -0.5132622122764587, -0.26961955428123474, 0.5486093759536743, -0.18795619904994965,
            -0.9691131711006165,
        ]
        #expect(a + b + c.prefix(2) + d == expected)
    }

    /// `std::mt19937(5489)`'s 10000th output is 4123659995 (C++ standard, [rand.predef]).
    @Test("Mersenne Twister matches the C++ standard's check value")
    func mersenneTwisterCheckValue() {
        var twister = MersenneTwister(seed: 5489)
        var value: UInt32 = 0
        for _ in 0..<10_000 { value = twister.next() }
        #expect(value == 4_123_659_995)
    }
}
