// Scaled-dot-product attention: q [B, heads, Lq, d], k [B, heads, Lk, d], v [B, heads, Lk, dv]
// → [B, heads, Lq, dv]. Any number of leading batch dimensions is accepted.
// Queries are processed in blocks so the score matrix stays small even for 4096x4096 attention.

/// `softmax(q·kᵀ·scale + mask)·v`, like `torch.nn.functional.scaled_dot_product_attention`.
///
/// - mask: additive, broadcastable to [..., Lq, Lk] (use large negative values to block).
/// - causal: blocks key j > query i (CLIP's text mask); combines with `mask`.
/// - scale: defaults to 1/√d.
public func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor,
    mask: Tensor? = nil, causal: Bool = false, scale: Float? = nil
) -> Tensor {
    precondition(query.rank >= 2 && key.rank == query.rank && value.rank == query.rank,
                 "attention: q \(query.shape), k \(key.shape), v \(value.shape) must share rank >= 2")
    let r = query.rank
    let lq = query.shape[r - 2], d = query.shape[r - 1]
    let lk = key.shape[r - 2], dv = value.shape[r - 1]
    let batchShape = Array(query.shape.dropLast(2))
    precondition(Array(key.shape.dropLast(2)) == batchShape && Array(value.shape.dropLast(2)) == batchShape,
                 "attention: batch dims differ: q \(query.shape), k \(key.shape), v \(value.shape)")
    precondition(key.shape[r - 1] == d, "attention: key \(key.shape) head size differs from query \(query.shape)")
    precondition(value.shape[r - 2] == lk, "attention: value \(value.shape) length differs from key \(key.shape)")
    let fullScores = batchShape + [lq, lk]
    var maskStrides: [Int] = []
    var maskOffsets: [Int] = []
    if let mask {
        precondition(Broadcast.shape(mask.shape, fullScores) == fullScores,
                     "attention: mask \(mask.shape) does not broadcast to scores \(fullScores)")
        maskStrides = Broadcast.strides(of: mask.shape, broadcastTo: fullScores)
        maskOffsets = Broadcast.offsets(shape: batchShape, strides: Array(maskStrides.dropLast(2)))
    }
    let batches = batchShape.reduce(1, *)
    let s = scale ?? 1 / Float(d).squareRoot()
    let block = Swift.max(1, Swift.min(lq, (1 << 21) / Swift.max(lk, 1)))
    var scores = [Float](repeating: 0, count: block * lk)
    let emptyMask = Tensor.zeros([1])
    let maskTensor = mask ?? emptyMask
    return query.withUnsafeBufferPointer { pq in
        key.withUnsafeBufferPointer { pk in
            value.withUnsafeBufferPointer { pv in
                maskTensor.withUnsafeBufferPointer { pm in
                    Tensor(shape: batchShape + [lq, dv]) { out in
                        let o = out.baseAddress!
                        scores.withUnsafeMutableBufferPointer { sb in
                            let sp = sb.baseAddress!
                            let rowSums = UnsafeMutablePointer<Float>.allocate(capacity: block)
                            defer { rowSums.deallocate() }
                            for bi in 0..<batches {
                                let q0 = pq.baseAddress! + bi * lq * d
                                let k0 = pk.baseAddress! + bi * lk * d
                                let v0 = pv.baseAddress! + bi * lk * dv
                                var start = 0
                                while start < lq {
                                    let rows = Swift.min(block, lq - start)
                                    // scores [rows, Lk] = q_blk [rows, d] · kᵀ [d, Lk] · scale
                                    sgemm(transA: false, transB: true, m: rows, n: lk, k: d, alpha: s,
                                          a: q0 + start * d, lda: d, b: k0, ldb: d, c: sp, ldc: lk)
                                    let rowStart = start
                                    parallelFor(rows, minimumPerChunk: Swift.max(1, 8192 / Swift.max(lk, 1))) { rr in
                                        for row in rr {
                                            let qi = rowStart + row
                                            let srow = sp + row * lk
                                            if mask != nil {
                                                let ms = maskStrides[r - 1]
                                                let mrow = pm.baseAddress! + maskOffsets[bi] + qi * maskStrides[r - 2]
                                                for j in 0..<lk { srow[j] += mrow[j * ms] }
                                            }
                                            if causal && qi + 1 < lk {
                                                (srow + qi + 1).update(repeating: -.infinity, count: lk - qi - 1)
                                            }
                                            rowSums[row] = expShiftedRowInPlace(srow, count: lk)
                                        }
                                    }
                                    // out_blk [rows, dv] = exp-scores [rows, Lk] · v [Lk, dv], then / row sums
                                    let ob = o + (bi * lq + start) * dv
                                    sgemm(transA: false, transB: false, m: rows, n: dv, k: lk,
                                          a: sp, lda: lk, b: v0, ldb: dv, c: ob, ldc: dv)
                                    for row in 0..<rows {
                                        let inv = 1 / rowSums[row]
                                        for c in 0..<dv { ob[row * dv + c] *= inv }
                                    }
                                    start += rows
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
