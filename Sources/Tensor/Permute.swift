// Axis permutation (copies into the new row-major order).

extension Tensor {
    /// Reorders axes: result axis i is this tensor's axis `order[i]` (like `torch.permute`).
    public func permuted(_ order: [Int]) -> Tensor {
        OpProfile.measure(.copy) {
            let axes = order.map { $0 < 0 ? $0 + rank : $0 }
            precondition(axes.count == rank && Set(axes) == Set(0..<rank),
                         "permuted: \(order) is not a permutation of the axes of \(shape)")
            if axes == Array(0..<rank) { return self }
            let outShape = axes.map { shape[$0] }
            // Axes of size 1 do not move data: if the remaining order is unchanged, this is a reshape.
            let moving = axes.filter { shape[$0] != 1 }
            if moving == moving.sorted() { return reshaped(outShape) }
            if let (batch, rows, cols) = Tensor.batchedTransposeShape(shape, axes) {
                return batchedTranspose(batch: batch, rows: rows, cols: cols, outShape: outShape)
            }
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

    /// If `order` (ignoring unit axes) only swaps two blocks of adjacent axes, optionally after an
    /// untouched leading block, returns the input seen as [batch, rows, cols] so the permutation
    /// is a batched transpose of the last two. NCHW → NHWC is [N, C, H·W] → [N, H·W, C].
    static func batchedTransposeShape(_ shape: [Int], _ order: [Int]) -> (batch: Int, rows: Int, cols: Int)? {
        let keptAxes = order.filter { shape[$0] != 1 }
        let inputOrder = keptAxes.sorted()
        let renumbered = keptAxes.map { axis in inputOrder.firstIndex(of: axis)! }
        var groups: [[Int]] = []
        for r in renumbered {
            if let last = groups.last?.last, r == last + 1 {
                groups[groups.count - 1].append(r)
            } else {
                groups.append([r])
            }
        }
        let byInput = groups.sorted { $0[0] < $1[0] }
        let groupOrder = groups.map { g in byInput.firstIndex { $0[0] == g[0] }! }
        func size(_ g: [Int]) -> Int { g.reduce(1) { $0 * shape[inputOrder[$1]] } }
        switch groupOrder {
        case [1, 0]: return (1, size(byInput[0]), size(byInput[1]))
        case [0, 2, 1]: return (size(byInput[0]), size(byInput[1]), size(byInput[2]))
        default: return nil
        }
    }

    /// [batch, rows, cols] → [batch, cols, rows] in 32×32 tiles (cache-friendly on both sides).
    private func batchedTranspose(batch: Int, rows: Int, cols: Int, outShape: [Int]) -> Tensor {
        withUnsafeBufferPointer { src in
            Tensor(shape: outShape) { out in
                let o = out.baseAddress!, x = src.baseAddress!
                let tile = 32
                let colTiles = (cols + tile - 1) / tile
                parallelFor(batch * colTiles, minimumPerChunk: Swift.max(1, 8192 / Swift.max(rows * tile, 1))) { items in
                    for item in items {
                        let b = item / colTiles
                        let c0 = (item % colTiles) * tile, c1 = Swift.min(c0 + tile, cols)
                        let xb = x + b * rows * cols, ob = o + b * rows * cols
                        var r0 = 0
                        while r0 < rows {
                            let r1 = Swift.min(r0 + tile, rows)
                            for c in c0..<c1 {
                                let dst = ob + c * rows
                                for r in r0..<r1 { dst[r] = xb[r * cols + c] }
                            }
                            r0 = r1
                        }
                    }
                }
            }
        }
    }
}
