import CBLAS
import Foundation

// Scaled-dot-product attention: q [B, heads, Lq, d], k [B, heads, Lk, d], v [B, heads, Lk, dv]
// → [B, heads, Lq, dv]. Any number of leading batch dimensions is accepted.
//
// Without a mask the fused kernel runs: flash-attention style online softmax over key blocks,
// so no Lq×Lk score matrix exists (only a [≤128, ≤512] block per thread), and work items
// (batch·head, query block) run in parallel. Head sizes that are multiples of 8 take
// register-tiled products (`AttentionTiles`); others take BLAS. With a mask or causal flag the blocked reference
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

extension FusedAttentionGeometry {
    /// Work item `item` of `queryBlocks` blocks of `blockSize` queries per (batch, head): its
    /// batch, head, first query and number of queries.
    func workItem(_ item: Int, queryBlocks: Int, blockSize: Int) -> (batch: Int, head: Int, firstQuery: Int, rows: Int) {
        let bh = item / queryBlocks, first = (item % queryBlocks) * blockSize
        return (bh / heads, bh % heads, first, Swift.min(blockSize, queries - first))
    }
}

/// One thread's buffers for the online softmax: a score block and each row's running max and sum.
struct OnlineSoftmaxBuffers {
    let scores, rowMax, rowSum: UnsafeMutablePointer<Float>

    init(rows: Int, scores count: Int) {
        scores = .allocate(capacity: count)
        rowMax = .allocate(capacity: rows)
        rowSum = .allocate(capacity: rows)
    }

    func deallocate() {
        scores.deallocate()
        rowMax.deallocate()
        rowSum.deallocate()
    }
}

/// The fused kernel: for each (batch, head, query block), scores against one key block at a
/// time through BLAS, an online softmax (running row max and sum, earlier partial outputs
/// rescaled when the max grows) and the value product accumulated into the output rows.
///
/// Each work item owns its output rows and walks the key blocks in a fixed order, so the result
/// does not depend on the thread count. The work items' BLAS calls stay on their own thread.
/// Head and value sizes that are multiples of 8 go to `tiledAttention` instead.
func fusedAttention(query: Tensor, key: Tensor, value: Tensor, geometry g: FusedAttentionGeometry,
                    scale: Float, outputShape: [Int]) -> Tensor {
    if AttentionTiles.supports(headSize: g.headSize, valueSize: g.valueSize) {
        return tiledAttention(query: query, key: key, value: value, geometry: g, scale: scale, outputShape: outputShape)
    }
    let bq = Swift.min(g.queryBlock, Swift.max(1, g.queries)), bk = Swift.min(g.keyBlock, Swift.max(1, g.keys))
    let qBlocks = (g.queries + bq - 1) / bq
    let items = g.batches * g.heads * qBlocks
    return withAttentionOperands(query, key, value, outputShape: outputShape, keys: g.keys) { q, k, v, o in
        parallelFor(items) { range in
            let buffers = OnlineSoftmaxBuffers(rows: bq, scores: bq * bk)
            defer { buffers.deallocate() }
            let (scores, rowMax, rowSum) = (buffers.scores, buffers.rowMax, buffers.rowSum)
            for item in range {
                let (b, h, q0, rows) = g.workItem(item, queryBlocks: qBlocks, blockSize: bq)
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
                    onlineSoftmaxStep(scores: scores, scoreRowStride: cols, rows: rows, keys: cols,
                                      firstBlock: k0 == 0, rowMax: rowMax, rowSum: rowSum,
                                      partial: op, partialRowStride: g.outputRowStride, width: g.valueSize)
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

/// The output of shape `outputShape`, written by `body` from q, k, v and output pointers; all
/// zeros when there are no keys (`body` is not called then).
private func withAttentionOperands(
    _ query: Tensor, _ key: Tensor, _ value: Tensor, outputShape: [Int], keys: Int,
    _ body: (UnsafePointer<Float>, UnsafePointer<Float>, UnsafePointer<Float>, UnsafeMutablePointer<Float>) -> Void
) -> Tensor {
    query.withUnsafeBufferPointer { pq in
        key.withUnsafeBufferPointer { pk in
            value.withUnsafeBufferPointer { pv in
                Tensor(shape: outputShape) { out in
                    guard keys > 0 else {
                        out.update(repeating: 0)
                        return
                    }
                    body(pq.baseAddress!, pk.baseAddress!, pv.baseAddress!, out.baseAddress!)
                }
            }
        }
    }
}

/// One key block of the online softmax, row by row: scores become exp(score − running max), the
/// running max and sum are updated, and the row's partial output (`width` floats) is rescaled
/// when the max grows. The first block starts the running values.
@inline(__always)
func onlineSoftmaxStep(scores: UnsafeMutablePointer<Float>, scoreRowStride: Int, rows: Int, keys cols: Int,
                       firstBlock: Bool, rowMax: UnsafeMutablePointer<Float>, rowSum: UnsafeMutablePointer<Float>,
                       partial: UnsafeMutablePointer<Float>, partialRowStride: Int, width: Int) {
    for row in 0..<rows {
        let srow = scores + row * scoreRowStride
        let blockMax = rowMaximum(srow, count: cols)
        if firstBlock {
            let shift = blockMax == -.infinity ? 0 : blockMax
            rowMax[row] = shift
            rowSum[row] = expShiftedRowInPlace(srow, count: cols, shift: shift)
        } else {
            let newMax = Swift.max(rowMax[row], blockMax)
            let correction = Foundation.exp(rowMax[row] - newMax)
            rowMax[row] = newMax
            rowSum[row] = rowSum[row] * correction + expShiftedRowInPlace(srow, count: cols, shift: newMax)
            if correction != 1 {
                let prow = partial + row * partialRowStride
                for c in 0..<width { prow[c] *= correction }
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

// MARK: - Register-tiled path for head sizes that are multiples of 8

/// Attention with register-tiled kernels instead of BLAS calls, for head and value sizes that are
/// multiples of 8 (Stable Diffusion's 40, 80 and 160).
///
/// A 40-deep q·kᵀ product is too shallow for BLAS: every call packs its operands again and stores
/// its output tile after a few FMAs. Here K is packed once per call into panels of 16 keys
/// ([panel][d][16]), each query block once into groups of 6 rows ([group][d][6], scale folded in),
/// and a 6×16 tile of scores accumulates in twelve 8-lane registers. The value product
/// accumulates 6 rows × 16 (or 8) values in registers over a whole key block, into a per-item
/// buffer that is normalised and written once at the end. The online softmax is the BLAS path's.
enum AttentionTiles {
    /// Queries per register tile.
    static let rows = 6
    /// Keys per K panel and score tile.
    static let keys = 16
    /// Queries per work item, a multiple of `rows`: its packed queries (15 KiB at d = 40) stay in L1.
    static let queryBlock = 96

    /// Whether the tiled kernels handle these sizes.
    static func supports(headSize: Int, valueSize: Int) -> Bool {
        headSize > 0 && valueSize > 0 && headSize % 8 == 0 && valueSize % 8 == 0
    }

    /// K in panels of 16 keys for every (batch, head): [batch·heads][panels][d][16], keys past
    /// the end zero.
    static func packKeys(_ k: UnsafePointer<Float>, geometry g: FusedAttentionGeometry,
                         into packed: UnsafeMutablePointer<Float>, panels: Int) {
        let d = g.headSize, panelSize = keys * d
        parallelFor(g.batches * g.heads) { range in
            for bh in range {
                let b = bh / g.heads, h = bh % g.heads
                let out = packed + bh * panels * panelSize
                for p in 0..<panels {
                    let panel = out + p * panelSize
                    for j in 0..<keys {
                        let key = p * keys + j
                        if key < g.keys {
                            let row = k + (b * g.keys + key) * g.keyRowStride + h * d
                            for c in 0..<d { panel[c * keys + j] = row[c] }
                        } else {
                            for c in 0..<d { panel[c * keys + j] = 0 }
                        }
                    }
                }
            }
        }
    }

    /// `rows` query rows as groups of 6 ([group][d][6]), times `scale`; rows past `rows` zero.
    @inline(__always)
    static func packQueries(_ q: UnsafePointer<Float>, rowStride: Int, rows: Int, headSize d: Int, scale: Float,
                            into packed: UnsafeMutablePointer<Float>) {
        let groups = (rows + Self.rows - 1) / Self.rows
        for g in 0..<groups {
            let out = packed + g * d * Self.rows
            for r in 0..<Self.rows {
                let row = g * Self.rows + r
                if row < rows {
                    let src = q + row * rowStride
                    for c in 0..<d { out[c * Self.rows + r] = src[c] * scale }
                } else {
                    for c in 0..<d { out[c * Self.rows + r] = 0 }
                }
            }
        }
    }

    /// scores[6][16] (row stride `ldc`) = packed queries [d][6] · K panel [d][16].
    @inline(__always)
    static func scoreTile(_ q: UnsafePointer<Float>, _ k: UnsafePointer<Float>, depth: Int,
                          _ c: UnsafeMutablePointer<Float>, ldc: Int) {
        var a0 = FloatVector(), b0 = FloatVector(), a1 = FloatVector(), b1 = FloatVector()
        var a2 = FloatVector(), b2 = FloatVector(), a3 = FloatVector(), b3 = FloatVector()
        var a4 = FloatVector(), b4 = FloatVector(), a5 = FloatVector(), b5 = FloatVector()
        var qp = q, kp = UnsafeRawPointer(k)
        for _ in 0..<depth {
            let k0 = kp.loadUnaligned(as: FloatVector.self)
            let k1 = kp.loadUnaligned(fromByteOffset: 32, as: FloatVector.self)
            var x = FloatVector(repeating: qp[0])
            a0 = a0.addingProduct(x, k0); b0 = b0.addingProduct(x, k1)
            x = FloatVector(repeating: qp[1])
            a1 = a1.addingProduct(x, k0); b1 = b1.addingProduct(x, k1)
            x = FloatVector(repeating: qp[2])
            a2 = a2.addingProduct(x, k0); b2 = b2.addingProduct(x, k1)
            x = FloatVector(repeating: qp[3])
            a3 = a3.addingProduct(x, k0); b3 = b3.addingProduct(x, k1)
            x = FloatVector(repeating: qp[4])
            a4 = a4.addingProduct(x, k0); b4 = b4.addingProduct(x, k1)
            x = FloatVector(repeating: qp[5])
            a5 = a5.addingProduct(x, k0); b5 = b5.addingProduct(x, k1)
            qp += rows
            kp += keys * 4
        }
        let out = UnsafeMutableRawPointer(c), stride = ldc * 4
        out.storeBytes(of: a0, as: FloatVector.self); out.storeBytes(of: b0, toByteOffset: 32, as: FloatVector.self)
        out.storeBytes(of: a1, toByteOffset: stride, as: FloatVector.self)
        out.storeBytes(of: b1, toByteOffset: stride + 32, as: FloatVector.self)
        out.storeBytes(of: a2, toByteOffset: 2 * stride, as: FloatVector.self)
        out.storeBytes(of: b2, toByteOffset: 2 * stride + 32, as: FloatVector.self)
        out.storeBytes(of: a3, toByteOffset: 3 * stride, as: FloatVector.self)
        out.storeBytes(of: b3, toByteOffset: 3 * stride + 32, as: FloatVector.self)
        out.storeBytes(of: a4, toByteOffset: 4 * stride, as: FloatVector.self)
        out.storeBytes(of: b4, toByteOffset: 4 * stride + 32, as: FloatVector.self)
        out.storeBytes(of: a5, toByteOffset: 5 * stride, as: FloatVector.self)
        out.storeBytes(of: b5, toByteOffset: 5 * stride + 32, as: FloatVector.self)
    }

    /// acc[6][16] (row stride `ldo`) += p[6][keys] (row stride `ldp`) · v[keys][16] (row stride `ldv`).
    @inline(__always)
    static func valueTile16(_ p: UnsafePointer<Float>, ldp: Int, _ v: UnsafePointer<Float>, ldv: Int, keys count: Int,
                            _ o: UnsafeMutablePointer<Float>, ldo: Int) {
        var a0 = FloatVector(), b0 = FloatVector(), a1 = FloatVector(), b1 = FloatVector()
        var a2 = FloatVector(), b2 = FloatVector(), a3 = FloatVector(), b3 = FloatVector()
        var a4 = FloatVector(), b4 = FloatVector(), a5 = FloatVector(), b5 = FloatVector()
        let p0 = p, p1 = p + ldp, p2 = p + 2 * ldp, p3 = p + 3 * ldp, p4 = p + 4 * ldp, p5 = p + 5 * ldp
        var vp = UnsafeRawPointer(v)
        for j in 0..<count {
            let v0 = vp.loadUnaligned(as: FloatVector.self)
            let v1 = vp.loadUnaligned(fromByteOffset: 32, as: FloatVector.self)
            var x = FloatVector(repeating: p0[j])
            a0 = a0.addingProduct(x, v0); b0 = b0.addingProduct(x, v1)
            x = FloatVector(repeating: p1[j])
            a1 = a1.addingProduct(x, v0); b1 = b1.addingProduct(x, v1)
            x = FloatVector(repeating: p2[j])
            a2 = a2.addingProduct(x, v0); b2 = b2.addingProduct(x, v1)
            x = FloatVector(repeating: p3[j])
            a3 = a3.addingProduct(x, v0); b3 = b3.addingProduct(x, v1)
            x = FloatVector(repeating: p4[j])
            a4 = a4.addingProduct(x, v0); b4 = b4.addingProduct(x, v1)
            x = FloatVector(repeating: p5[j])
            a5 = a5.addingProduct(x, v0); b5 = b5.addingProduct(x, v1)
            vp += ldv * 4
        }
        accumulate(o, a0, b0); accumulate(o + ldo, a1, b1); accumulate(o + 2 * ldo, a2, b2)
        accumulate(o + 3 * ldo, a3, b3); accumulate(o + 4 * ldo, a4, b4); accumulate(o + 5 * ldo, a5, b5)
    }

    /// acc[6][8] += p[6][keys] · v[keys][8]: the last 8 values when the value size is not a multiple of 16.
    @inline(__always)
    static func valueTile8(_ p: UnsafePointer<Float>, ldp: Int, _ v: UnsafePointer<Float>, ldv: Int, keys count: Int,
                           _ o: UnsafeMutablePointer<Float>, ldo: Int) {
        var a0 = FloatVector(), a1 = FloatVector(), a2 = FloatVector()
        var a3 = FloatVector(), a4 = FloatVector(), a5 = FloatVector()
        let p0 = p, p1 = p + ldp, p2 = p + 2 * ldp, p3 = p + 3 * ldp, p4 = p + 4 * ldp, p5 = p + 5 * ldp
        var vp = UnsafeRawPointer(v)
        for j in 0..<count {
            let v0 = vp.loadUnaligned(as: FloatVector.self)
            a0 = a0.addingProduct(FloatVector(repeating: p0[j]), v0)
            a1 = a1.addingProduct(FloatVector(repeating: p1[j]), v0)
            a2 = a2.addingProduct(FloatVector(repeating: p2[j]), v0)
            a3 = a3.addingProduct(FloatVector(repeating: p3[j]), v0)
            a4 = a4.addingProduct(FloatVector(repeating: p4[j]), v0)
            a5 = a5.addingProduct(FloatVector(repeating: p5[j]), v0)
            vp += ldv * 4
        }
        accumulate(o, a0); accumulate(o + ldo, a1); accumulate(o + 2 * ldo, a2)
        accumulate(o + 3 * ldo, a3); accumulate(o + 4 * ldo, a4); accumulate(o + 5 * ldo, a5)
    }

    @inline(__always)
    private static func accumulate(_ o: UnsafeMutablePointer<Float>, _ a: FloatVector) {
        let raw = UnsafeMutableRawPointer(o)
        raw.storeBytes(of: raw.loadUnaligned(as: FloatVector.self) + a, as: FloatVector.self)
    }

    @inline(__always)
    private static func accumulate(_ o: UnsafeMutablePointer<Float>, _ a: FloatVector, _ b: FloatVector) {
        let raw = UnsafeMutableRawPointer(o)
        raw.storeBytes(of: raw.loadUnaligned(as: FloatVector.self) + a, as: FloatVector.self)
        raw.storeBytes(of: raw.loadUnaligned(fromByteOffset: 32, as: FloatVector.self) + b, toByteOffset: 32, as: FloatVector.self)
    }
}

/// The fused kernel on `AttentionTiles`: the same work items, key blocks and online softmax as
/// `fusedAttention`'s BLAS path, with register tiles for both products.
func tiledAttention(query: Tensor, key: Tensor, value: Tensor, geometry g: FusedAttentionGeometry,
                    scale: Float, outputShape: [Int]) -> Tensor {
    let tileRows = AttentionTiles.rows, tileKeys = AttentionTiles.keys
    let d = g.headSize, dv = g.valueSize
    let bq = Swift.min(AttentionTiles.queryBlock, (Swift.max(1, g.queries) + tileRows - 1) / tileRows * tileRows)
    let bk = Swift.min(g.keyBlock, Swift.max(1, g.keys))
    let paddedBlock = (bk + tileKeys - 1) / tileKeys * tileKeys
    let panels = (g.keys + tileKeys - 1) / tileKeys
    let qBlocks = (g.queries + bq - 1) / bq
    let items = g.batches * g.heads * qBlocks
    return withAttentionOperands(query, key, value, outputShape: outputShape, keys: g.keys) { q, k, v, o in
        let packedKeys = UnsafeMutablePointer<Float>.allocate(capacity: g.batches * g.heads * panels * tileKeys * d)
        defer { packedKeys.deallocate() }
        AttentionTiles.packKeys(k, geometry: g, into: packedKeys, panels: panels)
        parallelFor(items) { range in
            let buffers = OnlineSoftmaxBuffers(rows: bq, scores: bq * paddedBlock)
            let packedQueries = UnsafeMutablePointer<Float>.allocate(capacity: bq * d)
            let accumulator = UnsafeMutablePointer<Float>.allocate(capacity: bq * dv)
            defer {
                buffers.deallocate()
                packedQueries.deallocate()
                accumulator.deallocate()
            }
            let (scores, rowMax, rowSum) = (buffers.scores, buffers.rowMax, buffers.rowSum)
            for item in range {
                let (b, h, q0, rows) = g.workItem(item, queryBlocks: qBlocks, blockSize: bq)
                let bh = b * g.heads + h
                let groups = (rows + tileRows - 1) / tileRows
                AttentionTiles.packQueries(q + (b * g.queries + q0) * g.queryRowStride + h * d,
                                           rowStride: g.queryRowStride, rows: rows, headSize: d, scale: scale,
                                           into: packedQueries)
                accumulator.update(repeating: 0, count: groups * tileRows * dv)
                let keyPanels = packedKeys + bh * panels * tileKeys * d
                let vp = v + b * g.keys * g.valueRowStride + h * dv
                var k0 = 0
                while k0 < g.keys {
                    let cols = Swift.min(bk, g.keys - k0)
                    let blockPanels = (cols + tileKeys - 1) / tileKeys
                    let lds = blockPanels * tileKeys
                    // scores [rows, cols] = (q·scale)_blk · k_blkᵀ
                    for group in 0..<groups {
                        let qg = packedQueries + group * d * tileRows
                        let sg = scores + group * tileRows * lds
                        for panel in 0..<blockPanels {
                            AttentionTiles.scoreTile(qg, keyPanels + (k0 / tileKeys + panel) * tileKeys * d, depth: d,
                                                     sg + panel * tileKeys, ldc: lds)
                        }
                    }
                    onlineSoftmaxStep(scores: scores, scoreRowStride: lds, rows: rows, keys: cols,
                                      firstBlock: k0 == 0, rowMax: rowMax, rowSum: rowSum,
                                      partial: accumulator, partialRowStride: dv, width: dv)
                    // accumulator [rows, dv] += p [rows, cols] · v_blk [cols, dv]
                    let vBlock = vp + k0 * g.valueRowStride
                    for group in 0..<groups {
                        let pg = scores + group * tileRows * lds
                        let ag = accumulator + group * tileRows * dv
                        var c = 0
                        while c + 16 <= dv {
                            AttentionTiles.valueTile16(pg, ldp: lds, vBlock + c, ldv: g.valueRowStride, keys: cols,
                                                       ag + c, ldo: dv)
                            c += 16
                        }
                        if c < dv {
                            AttentionTiles.valueTile8(pg, ldp: lds, vBlock + c, ldv: g.valueRowStride, keys: cols,
                                                      ag + c, ldo: dv)
                        }
                    }
                    k0 += cols
                }
                let op = o + (b * g.queries + q0) * g.outputRowStride + h * dv
                for row in 0..<rows {
                    let inv = 1 / rowSum[row]
                    let arow = accumulator + row * dv, orow = op + row * g.outputRowStride
                    for c in 0..<dv { orow[c] = arow[c] * inv }
                }
            }
        }
    }
}
