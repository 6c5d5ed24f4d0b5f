import Testing
@testable import Tensor

@Suite struct MaxPool2DTests {
    @Test(arguments: [(2, 2, 0), (3, 2, 1), (3, 1, 1), (1, 1, 0), (3, 3, 0)])
    func matchesNaive(kernel: Int, stride: Int, padding: Int) {
        let x = randomTensor([2, 3, 7, 6], seed: 141)
        let y = x.maxPool2d(kernel: kernel, stride: stride, padding: padding)
        let oh = (7 + 2 * padding - kernel) / stride + 1, ow = (6 + 2 * padding - kernel) / stride + 1
        #expect(y.shape == [2, 3, oh, ow])
        for n in 0..<2 { for c in 0..<3 { for i in 0..<oh { for j in 0..<ow {
            var m = -Float.infinity
            for a in 0..<kernel { for b in 0..<kernel {
                let yy = i * stride - padding + a, xx = j * stride - padding + b
                if yy >= 0 && yy < 7 && xx >= 0 && xx < 6 { m = Swift.max(m, x[n, c, yy, xx]) }
            } }
            #expect(y[n, c, i, j] == m)
        } } } }
    }
}
