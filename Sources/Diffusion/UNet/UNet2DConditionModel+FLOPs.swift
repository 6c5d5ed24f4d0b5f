import Tensor

extension UNet2DConditionModel {
    /// Floating-point operations of one forward pass, counting the matrix-product work
    /// (convolutions, linear layers, attention's two products) as 2 per multiply-add; norms and
    /// activations are left out. Used by benchmarks to report achieved GFLOPS.
    public func forwardFLOPs(batch: Int, height: Int, width: Int, contextLength: Int) -> Double {
        var counter = FLOPCounter(batch: Double(batch), contextLength: Double(contextLength))
        var (h, w) = (height, width)
        counter.conv(convIn, &h, &w)
        var sizes: [(Int, Int)] = [(h, w)]
        for block in downBlocks {
            for (i, resnet) in block.resnets.enumerated() {
                counter.resnet(resnet, h, w)
                if !block.attentions.isEmpty { counter.transformer(block.attentions[i], h, w) }
                sizes.append((h, w))
            }
            if let down = block.downsampler {
                counter.conv(down.conv, &h, &w, padding: down.padding)
                sizes.append((h, w))
            }
        }
        counter.resnet(midBlock.resnets[0], h, w)
        counter.transformer(midBlock.attentions[0], h, w)
        counter.resnet(midBlock.resnets[1], h, w)
        for block in upBlocks {
            sizes.removeLast(block.resnets.count)
            for (i, resnet) in block.resnets.enumerated() {
                counter.resnet(resnet, h, w)
                if !block.attentions.isEmpty { counter.transformer(block.attentions[i], h, w) }
            }
            if let up = block.upsampler {
                (h, w) = sizes.last ?? (2 * h, 2 * w)
                counter.conv(up.conv, &h, &w)
            }
        }
        counter.conv(convOut, &h, &w)
        return counter.total
    }
}

/// Accumulates matrix-product FLOPs layer by layer while tracking spatial sizes.
private struct FLOPCounter {
    let batch: Double
    let contextLength: Double
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

    mutating func transformer(_ t: Transformer2DModel, _ h: Int, _ w: Int) {
        let tokens = batch * Double(h * w)
        for projection in [t.projIn, t.projOut] {
            switch projection {
            case .dense(let l): linear(l, rows: tokens)
            case .convolution(let c): total += 2 * tokens * Double(c.weight.shape[0] * c.weight.shape[1])
            }
        }
        let length = Double(h * w)
        for block in t.transformerBlocks {
            for (attention, keys) in [(block.attn1, length), (block.attn2, contextLength)] {
                linear(attention.toQ, rows: tokens)
                linear(attention.toK, rows: batch * keys)
                linear(attention.toV, rows: batch * keys)
                linear(attention.toOut, rows: tokens)
                total += 2 * 2 * tokens * keys * Double(attention.heads * attention.headDim)
            }
            linear(block.ff.proj, rows: tokens)
            linear(block.ff.out, rows: tokens)
        }
    }
}
