import Foundation
import Testing
@testable import Tensor

@Suite struct VectorMathTests {
    /// The vector exp stays within 2e-7 relative error of Double exp over the clamped range.
    @Test func expMatchesLibm() {
        var worst: Double = 0
        var x: Float = -87
        while x < 88 {
            let v = vectorExp(FloatVector(repeating: x) + FloatVector(0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07))
            for lane in 0..<8 {
                let arg = Double(x + Float(lane) * 0.01)
                let e = Foundation.exp(Double(Float(arg)))
                worst = Swift.max(worst, Swift.abs(Double(v[lane]) - e) / e)
            }
            x += 0.173
        }
        #expect(worst < 2e-7, "worst relative error \(worst)")
        let special = vectorExp(FloatVector(-.infinity, .infinity, .nan, 0, -200, 200, 1, -1))
        #expect(special[0] < 1e-37 && special[0] >= 0)
        #expect(special[1] > 1e38)
        #expect(special[2].isNaN)
        #expect(special[3] == 1)
        #expect(special[4] < 1e-37 && special[5] > 1e38)
    }

    /// A&S 7.1.26 erf: absolute error below 5e-7 against Double erf (1.5e-7 formula + float rounding).
    @Test func erfMatchesLibm() {
        var worst: Double = 0
        var x: Float = -6
        while x < 6 {
            let v = vectorErf(FloatVector(repeating: x))
            worst = Swift.max(worst, Swift.abs(Double(v[0]) - Foundation.erf(Double(x))))
            x += 0.0137
        }
        #expect(worst < 5e-7, "worst absolute error \(worst)")
    }

    @Test func vectorMapHandlesTails() {
        for n in [0, 1, 7, 8, 9, 23] {
            let src = (0..<n).map { Float($0) - 5 }
            var dst = [Float](repeating: .nan, count: n)
            src.withUnsafeBufferPointer { s in
                dst.withUnsafeMutableBufferPointer { d in
                    if n > 0 { vectorMap(s.baseAddress!, d.baseAddress!, count: n) { $0 * 2 } }
                }
            }
            #expect(dst == src.map { $0 * 2 })
        }
    }
}
