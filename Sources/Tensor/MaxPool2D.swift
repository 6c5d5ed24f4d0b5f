// 2-D max pooling, NCHW: x [N, C, H, W] → [N, C, Ho, Wo]; padded cells never win.

extension Tensor {
    /// Max over `kernel` windows moved by `stride` (default: the kernel) with symmetric `padding`,
    /// like PyTorch `max_pool2d` (floor mode, no dilation).
    public func maxPool2d(kernel: Int, stride: Int? = nil, padding: Int = 0) -> Tensor {
        maxPool2d(kernelH: kernel, kernelW: kernel, strideH: stride ?? kernel, strideW: stride ?? kernel,
                  padding: Padding2D(padding))
    }

    /// Max pooling with per-axis kernel and stride and per-side padding (ONNX `MaxPool`).
    public func maxPool2d(kernelH: Int, kernelW: Int, strideH: Int, strideW: Int, padding: Padding2D) -> Tensor {
        precondition(rank == 4, "maxPool2d: input must be [N, C, H, W], got \(shape)")
        precondition(kernelH > 0 && kernelW > 0 && strideH > 0 && strideW > 0,
                     "maxPool2d: kernel \(kernelH)x\(kernelW) and stride \(strideH)x\(strideW) must be positive")
        let h = shape[2], w = shape[3]
        let ph = h + padding.top + padding.bottom, pw = w + padding.left + padding.right
        precondition(ph >= kernelH && pw >= kernelW, "maxPool2d: kernel \(kernelH)x\(kernelW) larger than padded input \(shape)")
        let oh = (ph - kernelH) / strideH + 1, ow = (pw - kernelW) / strideW + 1
        let planes = shape[0] * shape[1]
        return withUnsafeBufferPointer { src in
            Tensor(shape: [shape[0], shape[1], oh, ow]) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                parallelFor(planes * oh, minimumPerChunk: 16) { r in
                    for row in r {
                        let p = row / oh, y = row % oh
                        let plane = x + p * h * w
                        let y0 = Swift.max(y * strideH - padding.top, 0)
                        let y1 = Swift.min(y * strideH - padding.top + kernelH, h)
                        for xo in 0..<ow {
                            let x0 = Swift.max(xo * strideW - padding.left, 0)
                            let x1 = Swift.min(xo * strideW - padding.left + kernelW, w)
                            var m = -Float.infinity
                            for yy in y0..<Swift.max(y0, y1) {
                                for xx in x0..<Swift.max(x0, x1) { m = Swift.max(m, plane[yy * w + xx]) }
                            }
                            o[p * oh * ow + y * ow + xo] = m
                        }
                    }
                }
            }
        }
    }
}
