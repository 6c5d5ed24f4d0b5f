/// Float32 logarithm and sine/cosine in the Cephes style that PyTorch's AVX2 normal sampler
/// uses (`aten/src/ATen/native/cpu/avx_mathfun.h`, after Pommier's `sse_mathfun`), evaluated
/// one lane at a time.
///
/// These are not general-purpose replacements for `logf`/`sinf`: they exist only so
/// `TorchRandomSource` can reproduce PyTorch's AVX2 kernel bit for bit. PyTorch compiles that
/// kernel with FMA enabled and the compiler fuses some multiply-adds; the fused operations
/// below (`addingProduct`) are exactly the ones that reproduce PyTorch 2.x output on 2^20
/// samples with zero differing bits. Keep the operation order as it is.
enum CephesFloatMath {
    /// Rounds a decimal constant to double first, then to float, as C's `float c = 0.1234;`
    /// does (a Swift `Float` literal rounds from a wider type and could differ in rare cases).
    @inline(__always) private static func constant(_ value: Double) -> Float { Float(value) }

    private static let smallestNormal = Float(bitPattern: 0x0080_0000)
    private static let sqrtHalf = constant(0.707106781186547524)
    private static let logP: [Float] = [
        7.0376836292E-2, -1.1514610310E-1, 1.1676998740E-1, -1.2420140846E-1, 1.4249322787E-1,
        -1.6668057665E-1, 2.0000714765E-1, -2.4999993993E-1, 3.3333331174E-1,
    ].map(constant)
    private static let logQ1 = constant(-2.12194440e-4)
    private static let logQ2 = constant(0.693359375)

    /// Natural logarithm for positive inputs (the sampler only passes values in (0, 1]).
    static func log(_ input: Float) -> Float {
        let bits = max(input, smallestNormal).bitPattern
        var exponent = Float(Int32(bitPattern: bits >> 23) - 0x7f) + 1
        // The mantissa rescaled into [0.5, 1).
        var x = Float(bitPattern: (bits & ~UInt32(0x7f80_0000)) | Float(0.5).bitPattern)
        let belowSqrtHalf = x < sqrtHalf
        let extra: Float = belowSqrtHalf ? x : 0
        x = x - 1
        exponent = exponent - (belowSqrtHalf ? 1 : 0)
        x = x + extra
        let z = x * x
        var y = logP[0]
        for k in 1..<logP.count {
            y = logP[k].addingProduct(y, x)
        }
        y = y * x
        y = (exponent * logQ1).addingProduct(y, z)
        y = y - z * 0.5
        x = x + y
        x = x + exponent * logQ2
        return x
    }

    private static let minusDP1 = constant(-0.78515625)
    private static let minusDP2 = constant(-2.4187564849853515625e-4)
    private static let minusDP3 = constant(-3.77489497744594108e-8)
    private static let sinP0 = constant(-1.9515295891E-4)
    private static let sinP1 = constant(8.3321608736E-3)
    private static let sinP2 = constant(-1.6666654611E-1)
    private static let cosP0 = constant(2.443315711809948E-005)
    private static let cosP1 = constant(-1.388731625493765E-003)
    private static let cosP2 = constant(4.166664568298827E-002)
    private static let fourOverPi = constant(1.27323954473516)

    /// Sine and cosine together, with Cephes' octant reduction (accurate for |x| < 8192; the
    /// sampler passes angles in [0, 2π)).
    static func sincos(_ input: Float) -> (sin: Float, cos: Float) {
        let signMask: UInt32 = 0x8000_0000
        var sinSign = input.bitPattern & signMask
        var x = Float(bitPattern: input.bitPattern & ~signMask)
        // Octant index, rounded up to even (truncating conversion, as `cvttps`).
        let octant = (Int32(x * fourOverPi) &+ 1) & ~1
        let octantValue = Float(octant)
        sinSign ^= UInt32(bitPattern: octant & 4) << 29
        let cosSign = UInt32(bitPattern: ~(octant &- 2) & 4) << 29
        let sinUsesSinPolynomial = (octant & 2) == 0
        // Extended-precision reduction: x - octant·π/4 in three parts.
        x = x + octantValue * minusDP1
        x = x + octantValue * minusDP2
        x = x + octantValue * minusDP3
        let z = x * x
        var c = cosP1.addingProduct(cosP0, z)
        c = cosP2.addingProduct(c, z)
        c = c * z
        c = (-(z * 0.5)).addingProduct(c, z)
        c = c + 1
        var s = sinP1.addingProduct(sinP0, z)
        s = sinP2.addingProduct(s, z)
        s = s * z
        s = x.addingProduct(s, x)
        // Select per octant with the same additions of zero the vector code performs.
        let sinFromCos: Float = sinUsesSinPolynomial ? 0 : c
        let sinFromSin: Float = sinUsesSinPolynomial ? s : 0
        let sinValue = sinFromCos + sinFromSin
        let cosValue = (c - sinFromCos) + (s - sinFromSin)
        return (Float(bitPattern: sinValue.bitPattern ^ sinSign),
                Float(bitPattern: cosValue.bitPattern ^ cosSign))
    }
}
