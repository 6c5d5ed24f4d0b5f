// Axis permutation (copies into the new row-major order).

extension Tensor {
    /// Reorders axes: result axis i is this tensor's axis `order[i]` (like `torch.permute`).
    public func permuted(_ order: [Int]) -> Tensor {
        let axes = order.map { $0 < 0 ? $0 + rank : $0 }
        precondition(axes.count == rank && Set(axes) == Set(0..<rank),
                     "permuted: \(order) is not a permutation of the axes of \(shape)")
        if axes == Array(0..<rank) { return self }
        let outShape = axes.map { shape[$0] }
        // Axes of size 1 do not move data: if the remaining order is unchanged, this is a reshape.
        let moving = axes.filter { shape[$0] != 1 }
        if moving == moving.sorted() { return reshaped(outShape) }
        let inStrides = Tensor.strides(for: shape)
        let srcStrides = axes.map { inStrides[$0] }
        let inner = outShape.last ?? 1
        let innerStride = srcStrides.last ?? 1
        let outerOffsets = Broadcast.offsets(shape: Array(outShape.dropLast()), strides: Array(srcStrides.dropLast()))
        return withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                parallelFor(outerOffsets.count, minimumPerChunk: Swift.max(1, 16384 / Swift.max(inner, 1))) { r in
                    for row in r {
                        let s = x + outerOffsets[row], d = o + row * inner
                        if innerStride == 1 {
                            d.update(from: s, count: inner)
                        } else {
                            for j in 0..<inner { d[j] = s[j * innerStride] }
                        }
                    }
                }
            }
        }
    }

    /// Swaps two axes.
    public func transposed(_ axis0: Int, _ axis1: Int) -> Tensor {
        let a = normalizedAxis(axis0, op: "transposed"), b = normalizedAxis(axis1, op: "transposed")
        var order = Array(0..<rank)
        order.swapAt(a, b)
        return permuted(order)
    }

    /// Transpose of a 2-D tensor.
    public var t: Tensor {
        precondition(rank == 2, "t: needs a 2-D tensor, shape is \(shape)")
        return transposed(0, 1)
    }
}
