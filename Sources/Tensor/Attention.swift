import CBLAS
import Foundation

// Scaled-dot-product attention: q [B, heads, Lq, d], k [B, heads, Lk, d], v [B, heads, Lk, dv]
// → [B, heads, Lq, dv]. Any number of leading batch dimensions is accepted.
//
// Without a mask the fused kernel runs: flash-attention style online softmax over key blocks,
// so no Lq×Lk score matrix exists (only a [128, ≤512] block per thread), and work items
// (batch·head, query block) run in parallel. With a mask or causal flag the blocked reference
// path runs (CLIP's 77-token text mask, ONNX graphs).

/// `softmax(q·kᵀ·scale + mask)·v`, like `torch.nn.functional.scaled_dot_product_attention`.
///
/// - mask: additive, broadcastable to [..., Lq, Lk] (use large negative values to block).
/// - causal: blocks key j > query i (CLIP's text mask); combines with `mask`.
/// - scale: defaults to 1/√d.
public func scaledDotProductAttention(
    query: Tensor, key: Tensor, value: Tensor,
    mask: Tensor? = nil, causal: Bool = false, scale: Float? = nil
) -> Tensor {
    OpProfile.measure(.attention) {
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
        if mask != nil || causal {
            return blockedAttention(query: query, key: key, value: value, mask: mask, causal: causal, scale: scale)
        }
        let batches = batchShape.reduce(1, *)
        let geometry = FusedAttentionGeometry(
            batches: batches, heads: 1, queries: lq, keys: lk, headSize: d, valueSize: dv,
            queryRowStride: d, keyRowStride: d, valueRowStride: dv, outputRowStride: dv)
        return fusedAttention(query: query, key: key, value: value, geometry: geometry,
                              scale: scale ?? 1 / Float(d).squareRoot(), outputShape: batchShape + [lq, dv])
    }
}

/// Multi-head attention on packed projections, without splitting or merging heads.
///
/// query [B, Lq, heads·d], key [B, Lk, heads·d], value [B, Lk, heads·dv] → [B, Lq, heads·dv],
/// equal to permuting to [B, heads, L, d], `scaledDotProductAttention` and permuting back; the
/// fused kernel reads each head's columns in place (BLAS leading dimensions), which saves the
/// four permute copies per attention call.
public func multiHeadAttention(query: Tensor, key: Tensor, value: Tensor, heads: Int, scale: Float? = nil) -> Tensor {
    OpProfile.measure(.attention) {
        precondition(query.rank == 3 && key.rank == 3 && value.rank == 3,
                     "multiHeadAttention: q \(query.shape), k \(key.shape), v \(value.shape) must be [B, L, heads·d]")
        let b = query.shape[0], lq = query.shape[1], lk = key.shape[1]
        precondition(key.shape[0] == b && value.shape[0] == b && value.shape[1] == lk,
                     "multiHeadAttention: q \(query.shape), k \(key.shape), v \(value.shape) disagree on batch or length")
        precondition(heads > 0 && query.shape[2] % heads == 0 && value.shape[2] % heads == 0 && key.shape[2] == query.shape[2],
                     "multiHeadAttention: widths of q \(query.shape), k \(key.shape), v \(value.shape) do not split into \(heads) heads")
        let d = query.shape[2] / heads, dv = value.shape[2] / heads
        let geometry = FusedAttentionGeometry(
            batches: b, heads: heads, queries: lq, keys: lk, headSize: d, valueSize: dv,
            queryRowStride: heads * d, keyRowStride: heads * d, valueRowStride: heads * dv, outputRowStride: heads * dv)
        return fusedAttention(query: query, key: key, value: value, geometry: geometry,
                              scale: scale ?? 1 / Float(d).squareRoot(), outputShape: [b, lq, heads * dv])
    }
}

/// Where each (batch, head) slice of q, k, v and the output lives: rows of a head are
/// `…RowStride` floats apart, head h starts h·d (h·dv) floats into a row, and a batch item
/// spans its rows (`L·rowStride`).
struct FusedAttentionGeometry {
    let batches, heads, queries, keys, headSize, valueSize: Int
    let queryRowStride, keyRowStride, valueRowStride, outputRowStride: Int

    /// Queries per work item: the score block is [queryBlock, keyBlock].
    var queryBlock: Int { 128 }
    /// Keys per block, a multiple of 32: K and V blocks of at most 128 KiB each and a score
    /// block of at most 256 KiB, so a work item stays in L2 while BLAS calls stay few.
    var keyBlock: Int {
        let fit = 32768 / Swift.max(1, Swift.max(headSize, valueSize))
        return Swift.max(32, Swift.min(512, fit / 32 * 32))
    }
}

/// The fused kernel: for each (batch, head, query block), scores against one key block at a
/// time through BLAS, an online softmax (running row max and sum, earlier partial outputs
/// rescaled when the max grows) and the value product accumulated into the output rows.
///
/// Each work item owns its output rows and walks the key blocks in a fixed order, so the result
/// does not depend on the thread count. The work items' BLAS calls stay on their own thread.
func fusedAttention(query: Tensor, key: Tensor, value: Tensor, geometry g: FusedAttentionGeometry,
                    scale: Float, outputShape: [Int]) -> Tensor {
    let bq = Swift.min(g.queryBlock, Swift.max(1, g.queries)), bk = Swift.min(g.keyBlock, Swift.max(1, g.keys))
    let qBlocks = (g.queries + bq - 1) / bq
    let items = g.batches * g.heads * qBlocks
    return query.withUnsafeBufferPointer { pq in
        key.withUnsafeBufferPointer { pk in
            value.withUnsafeBufferPointer { pv in
                Tensor(shape: outputShape) { out in
                    guard g.keys > 0 else {
                        out.update(repeating: 0)
                        return
                    }
                    let q = pq.baseAddress!, k = pk.baseAddress!, v = pv.baseAddress!, o = out.baseAddress!
                    parallelFor(items) { range in
                        let scores = UnsafeMutablePointer<Float>.allocate(capacity: bq * bk)
                        let rowMax = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                        let rowSum = UnsafeMutablePointer<Float>.allocate(capacity: bq)
                        defer {
                            scores.deallocate()
                            rowMax.deallocate()
                            rowSum.deallocate()
                        }
                        for item in range {
                            let bh = item / qBlocks, q0 = (item % qBlocks) * bq
                            let b = bh / g.heads, h = bh % g.heads
                            let rows = Swift.min(bq, g.queries - q0)
                            let qp = q + (b * g.queries + q0) * g.queryRowStride + h * g.headSize
                            let kp = k + b * g.keys * g.keyRowStride + h * g.headSize
                            let vp = v + b * g.keys * g.valueRowStride + h * g.valueSize
                            let op = o + (b * g.queries + q0) * g.outputRowStride + h * g.valueSize
                            var k0 = 0
                            while k0 < g.keys {
                                let cols = Swift.min(bk, g.keys - k0)
                                // scores [rows, cols] = q_blk · k_blkᵀ · scale
                                sgemm(transA: false, transB: true, m: rows, n: cols, k: g.headSize, alpha: scale,
                                      a: qp, lda: g.queryRowStride, b: kp + k0 * g.keyRowStride, ldb: g.keyRowStride,
                                      c: scores, ldc: cols, parallel: false)
                                for row in 0..<rows {
                                    let srow = scores + row * cols
                                    let blockMax = rowMaximum(srow, count: cols)
                                    if k0 == 0 {
                                        let shift = blockMax == -.infinity ? 0 : blockMax
                                        rowMax[row] = shift
                                        rowSum[row] = expShiftedRowInPlace(srow, count: cols, shift: shift)
                                    } else {
                                        let newMax = Swift.max(rowMax[row], blockMax)
                                        let correction = Foundation.exp(rowMax[row] - newMax)
                                        rowMax[row] = newMax
                                        rowSum[row] = rowSum[row] * correction
                                            + expShiftedRowInPlace(srow, count: cols, shift: newMax)
                                        if correction != 1 {
                                            let orow = op + row * g.outputRowStride
                                            for c in 0..<g.valueSize { orow[c] *= correction }
                                        }
                                    }
                                }
                                // out_blk [rows, dv] (+)= p [rows, cols] · v_blk [cols, dv]
                                sgemm(transA: false, transB: false, m: rows, n: g.valueSize, k: cols,
                                      a: scores, lda: cols, b: vp + k0 * g.valueRowStride, ldb: g.valueRowStride,
                                      beta: k0 == 0 ? 0 : 1, c: op, ldc: g.outputRowStride, parallel: false)
                                k0 += cols
                            }
                            for row in 0..<rows {
                                let inv = 1 / rowSum[row]
                                let orow = op + row * g.outputRowStride
                                for c in 0..<g.valueSize { orow[c] *= inv }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Blocked attention that materialises [block, Lk] score rows: the path for masks and the
/// causal flag (and the reference the fused kernel is checked against).
func blockedAttention(query: Tensor, key: Tensor, value: Tensor, mask: Tensor?, causal: Bool, scale: Float?) -> Tensor {
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
