import Tensor

extension AutoencoderKL {
    /// Floating-point operations of `decode` for `batch` latents of `height` × `width`, counting
    /// convolutions, the mid-block attention's projections and products as 2 per multiply-add;
    /// norms and activations are left out. Used by benchmarks to report achieved GFLOPS.
    public func decodeFLOPs(batch: Int, height: Int, width: Int) -> Double {
        var counter = FLOPCounter(batch: Double(batch))
        var (h, w) = (height, width)
        if let postQuantConv { counter.conv(postQuantConv, &h, &w) }
        counter.conv(decoder.convIn, &h, &w)
        counter.resnet(decoder.midBlock.resnets[0], h, w)
        if let attention = decoder.midBlock.attention { counter.selfAttention(attention.attention, tokens: h * w) }
        counter.resnet(decoder.midBlock.resnets[1], h, w)
        for block in decoder.upBlocks {
            for resnet in block.resnets { counter.resnet(resnet, h, w) }
            if let up = block.upsampler {
                (h, w) = (2 * h, 2 * w)
                var (hh, ww) = (h, w)
                counter.conv(up.conv, &hh, &ww)
            }
        }
        counter.conv(decoder.convOut, &h, &w)
        return counter.total
    }
}
