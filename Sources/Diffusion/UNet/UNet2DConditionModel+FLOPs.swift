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

extension FLOPCounter {
    /// A spatial transformer at h × w: projections in and out, self- and cross-attention, feed-forward.
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
