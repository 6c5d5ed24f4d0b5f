import Testing
@testable import Tensor

/// Naive [M, K] × [K, N] on row-major arrays.
private func naiveMatmul(_ a: [Float], _ b: [Float], m: Int, k: Int, n: Int) -> [Float] {
    var c = [Float](repeating: 0, count: m * n)
    for i in 0..<m {
        for j in 0..<n {
            var acc: Double = 0
            for p in 0..<k { acc += Double(a[i * k + p]) * Double(b[p * n + j]) }
            c[i * n + j] = Float(acc)
        }
    }
    return c
}

private func naiveTranspose(_ x: [Float], rows: Int, cols: Int) -> [Float] {
    var y = [Float](repeating: 0, count: x.count)
    for r in 0..<rows { for c in 0..<cols { y[c * rows + r] = x[r * cols + c] } }
    return y
}

@Suite struct GEMMTests {
    @Test(arguments: [(1, 1, 1), (7, 13, 5), (16, 3, 31), (64, 64, 64), (2, 97, 1)])
    func matmul2D(m: Int, k: Int, n: Int) {
        let a = randomTensor([m, k], seed: 1), b = randomTensor([k, n], seed: 2)
        let expected = Tensor(shape: [m, n], scalars: naiveMatmul(a.scalars, b.scalars, m: m, k: k, n: n))
        expectClose(matmul(a, b), expected, tolerance: 1e-5, "matmul \(m)x\(k)x\(n)")
    }

    @Test(arguments: [(false, true), (true, false), (true, true)])
    func matmulTransposes(transA: Bool, transB: Bool) {
        let (m, k, n) = (5, 11, 7)
        let a = randomTensor(transA ? [k, m] : [m, k], seed: 3)
        let b = randomTensor(transB ? [n, k] : [k, n], seed: 4)
        let aa = transA ? naiveTranspose(a.scalars, rows: k, cols: m) : a.scalars
        let bb = transB ? naiveTranspose(b.scalars, rows: n, cols: k) : b.scalars
        let expected = Tensor(shape: [m, n], scalars: naiveMatmul(aa, bb, m: m, k: k, n: n))
        expectClose(matmul(a, b, transposeA: transA, transposeB: transB), expected, tolerance: 1e-5)
        expectClose(matmul(a, b, transposeA: transA, transposeB: transB, alpha: 0.5), expected * 0.5, tolerance: 1e-5)
    }

    @Test func batchedWithBroadcast() {
        // a [2, 3, 4, 6] × b [3, 6, 5] → [2, 3, 4, 5]; b is shared across the first axis.
        let a = randomTensor([2, 3, 4, 6], seed: 5), b = randomTensor([3, 6, 5], seed: 6)
        let y = matmul(a, b)
        #expect(y.shape == [2, 3, 4, 5])
        var expected: [Float] = []
        for i in 0..<2 {
            for j in 0..<3 {
                let am = Array(a.scalars[((i * 3 + j) * 24)..<((i * 3 + j + 1) * 24)])
                let bm = Array(b.scalars[(j * 30)..<((j + 1) * 30)])
                expected += naiveMatmul(am, bm, m: 4, k: 6, n: 5)
            }
        }
        expectClose(y, Tensor(shape: [2, 3, 4, 5], scalars: expected), tolerance: 1e-5)
        // Rank-2 b against a batch.
        let w = randomTensor([6, 2], seed: 7)
        let z = matmul(a, w)
        let first = naiveMatmul(Array(a.scalars[0..<24]), w.scalars, m: 4, k: 6, n: 2)
        #expect(z.shape == [2, 3, 4, 2])
        #expect(zip(Array(z.scalars[0..<8]), first).allSatisfy { Swift.abs($0 - $1) < 1e-5 })
    }

    @Test(arguments: [[1, 3], [2, 5, 3], [13, 3]])
    func linearMatchesNaive(inputShape: [Int]) {
        let inF = inputShape.last!, outF = 7
        let x = randomTensor(inputShape, seed: 8)
        let w = randomTensor([outF, inF], seed: 9), b = randomTensor([outF], seed: 10)
        let rows = x.count / inF
        var expected = naiveMatmul(x.scalars, naiveTranspose(w.scalars, rows: outF, cols: inF), m: rows, k: inF, n: outF)
        let noBias = Tensor(shape: Array(inputShape.dropLast()) + [outF], scalars: expected)
        for r in 0..<rows { for o in 0..<outF { expected[r * outF + o] += b.scalars[o] } }
        let withBias = Tensor(shape: Array(inputShape.dropLast()) + [outF], scalars: expected)
        expectClose(linear(x, weight: w, bias: b), withBias, tolerance: 1e-5, "linear with bias")
        expectClose(linear(x, weight: w), noBias, tolerance: 1e-5, "linear without bias")
    }
}
