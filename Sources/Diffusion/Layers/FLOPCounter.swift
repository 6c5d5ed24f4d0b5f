import Tensor

/// Accumulates matrix-product FLOPs layer by layer while tracking spatial sizes.
struct FLOPCounter {
    let batch: Double
    var contextLength: Double = 0
    var total: Double = 0

    mutating func conv(_ c: Conv2d, _ h: inout Int, _ w: inout Int, padding: Padding2D? = nil) {
        let s = c.weight.shape  // [O, I, k, k]
        let p = padding ?? Padding2D(c.padding)
        h = (h + p.top + p.bottom - s[2]) / c.stride + 1
        w = (w + p.left + p.right - s[3]) / c.stride + 1
        total += 2 * batch * Double(s[0] * s[1] * s[2] * s[3]) * Double(h * w)
    }

    mutating func linear(_ l: Linear, rows: Double) {
        total += 2 * rows * Double(l.weight.shape[0] * l.weight.shape[1])
    }

    mutating func resnet(_ r: ResnetBlock2D, _ h: Int, _ w: Int) {
        var (hh, ww) = (h, w)
        conv(r.conv1, &hh, &ww)
        conv(r.conv2, &hh, &ww)
        if let shortcut = r.convShortcut { conv(shortcut, &hh, &ww) }
        if let proj = r.timeEmbProj { linear(proj, rows: batch) }
    }

    /// Self-attention over `tokens` positions per item: the four projections and both products.
    mutating func selfAttention(_ a: Attention, tokens: Int) {
        let rows = batch * Double(tokens)
        for projection in [a.toQ, a.toK, a.toV, a.toOut] { linear(projection, rows: rows) }
        total += 2 * 2 * rows * Double(tokens) * Double(a.heads * a.headDim)
    }
}
