import CBLAS
import Foundation

// Matrix products through cblas_sgemm (row-major).

/// `C = alpha·op(A)·op(B) + beta·C` on raw row-major buffers; `op` transposes when asked.
/// A is [M, K] (or [K, M] if `transA`), B is [K, N] (or [N, K] if `transB`), C is [M, N].
///
/// A product large enough to share is split into panels of whole rows, one per thread
/// (`TensorThreads.count`), each a single-threaded BLAS call. Panel edges fall where OpenBLAS
/// computes every element exactly as one call over the whole product does
/// (`GEMMPanels.rowAlignment`), so the result does not depend on the thread count.
/// `parallel: false` keeps the call on the calling thread, for callers already inside
/// `parallelFor`.
@inline(__always)
func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int,
    parallel: Bool = true
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        for row in 0..<m where beta != 1 {
            let r = c + row * ldc
            if beta == 0 { r.update(repeating: 0, count: n) } else { for i in 0..<n { r[i] *= beta } }
        }
        return
    }
    let threads = TensorThreads.count  // the first use also sets OpenBLAS to one thread
    guard parallel, threads > 1, m * n * k >= GEMMPanels.minimumSharedWork,
          let alignment = GEMMPanels.rowAlignment, m >= 2 * alignment else {
        blasSgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, a: a, lda: lda, b: b, ldb: ldb, beta: beta, c: c, ldc: ldc)
        return
    }
    GEMMPanels.forEachPanel(rows: m, alignment: alignment) { start, end in
        // Rows start..<end of C take rows start..<end of op(A).
        blasSgemm(transA: transA, transB: transB, m: end - start, n: n, k: k, alpha: alpha,
                  a: a + (transA ? start : start * lda), lda: lda, b: b, ldb: ldb,
                  beta: beta, c: c + start * ldc, ldc: ldc)
    }
}

/// How `sgemm` shares a product between threads.
enum GEMMPanels {
    /// Multiply-adds below which a product runs on the calling thread: splitting a smaller one
    /// costs more in packing and wake-ups than it saves.
    static let minimumSharedWork = 1 << 18

    /// Panel edges fall on multiples of this many rows; nil when no candidate passes, and
    /// products then run whole on one thread.
    ///
    /// OpenBLAS computes an element of a row-major product with one of several micro-kernels
    /// depending on where its row falls in the tiling, and they round differently. A row keeps
    /// its kernel only when a panel starts on a multiple of the kernel's tile (12 rows for the
    /// Haswell and Zen kernels); a split along columns changes the rounding wherever it falls.
    /// The tile is not exported, so it is found once by splitting a probe product at each
    /// candidate and keeping the first whose panels reproduce the whole product bit for bit.
    static let rowAlignment: Int? = {
        let (m, n, k) = (199, 37, 53)
        let a = (0..<(m * k)).map { Float(sin(Double($0) * 0.37)) }
        let b = (0..<(k * n)).map { Float(cos(Double($0) * 0.11)) }
        var whole = [Float](repeating: 0, count: m * n)
        blasSgemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, lda: k, b: b, ldb: n, beta: 0, c: &whole, ldc: n)
        for candidate in [4, 6, 8, 12, 16, 24, 32, 48] {
            var panels = [Float](repeating: 0, count: m * n)
            a.withUnsafeBufferPointer { pa in
                panels.withUnsafeMutableBufferPointer { pc in
                    for start in stride(from: 0, to: m, by: candidate) {
                        let rows = Swift.min(candidate, m - start)
                        blasSgemm(transA: false, transB: false, m: rows, n: n, k: k, alpha: 1,
                                  a: pa.baseAddress! + start * k, lda: k, b: b, ldb: n,
                                  beta: 0, c: pc.baseAddress! + start * n, ldc: n)
                    }
                }
            }
            if panels == whole { return candidate }
        }
        return nil
    }()

    /// Calls `body(start, end)` for one contiguous run of rows per thread, each starting on a
    /// multiple of `alignment`.
    @inline(__always)
    static func forEachPanel(rows: Int, alignment: Int, _ body: (Int, Int) -> Void) {
        let units = (rows + alignment - 1) / alignment
        parallelFor(units) { range in
            body(range.lowerBound * alignment, Swift.min(rows, range.upperBound * alignment))
        }
    }
}

/// One single-threaded OpenBLAS call.
@inline(__always)
private func blasSgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    cblas_sgemm(
        CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
        Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
}

/// Matrix product of the last two dimensions, batched with broadcasting over leading ones.
///
/// a: [..., M, K] ([..., K, M] if `transposeA`), b: [..., K, N] ([..., N, K] if `transposeB`)
/// → [broadcast(...), M, N], scaled by `alpha`. Rank-1 inputs are not promoted: reshape first.
public func matmul(_ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false, alpha: Float = 1) -> Tensor {
    OpProfile.measure(.gemm) {
        precondition(a.rank >= 2 && b.rank >= 2, "matmul: both inputs need rank >= 2, got \(a.shape) and \(b.shape)")
        let ar = a.shape[a.rank - 2], ac = a.shape[a.rank - 1]
        let br = b.shape[b.rank - 2], bc = b.shape[b.rank - 1]
        let (m, ka) = transposeA ? (ac, ar) : (ar, ac)
        let (kb, n) = transposeB ? (bc, br) : (br, bc)
        precondition(ka == kb, "matmul: inner dimensions differ for \(a.shape)\(transposeA ? "ᵀ" : "") × \(b.shape)\(transposeB ? "ᵀ" : "")")
        let batchA = Array(a.shape.dropLast(2)), batchB = Array(b.shape.dropLast(2))
        guard let batch = Broadcast.shape(batchA, batchB) else {
            preconditionFailure("matmul: batch dimensions of \(a.shape) and \(b.shape) do not broadcast")
        }
        let offA = Broadcast.offsets(shape: batch, strides: Broadcast.strides(of: batchA, broadcastTo: batch))
        let offB = Broadcast.offsets(shape: batch, strides: Broadcast.strides(of: batchB, broadcastTo: batch))
        let sizeA = ar * ac, sizeB = br * bc
        return a.withUnsafeBufferPointer { pa in
            b.withUnsafeBufferPointer { pb in
                Tensor(shape: batch + [m, n]) { out in
                    let o = out.baseAddress!
                    for i in 0..<offA.count {
                        sgemm(
                            transA: transposeA, transB: transposeB, m: m, n: n, k: ka, alpha: alpha,
                            a: pa.baseAddress! + offA[i] * sizeA, lda: ac,
                            b: pb.baseAddress! + offB[i] * sizeB, ldb: bc,
                            c: o + i * m * n, ldc: n)
                    }
                }
            }
        }
    }
}

/// PyTorch `nn.Linear`: x [..., in] · weightᵀ (weight [out, in]) + bias [out] → [..., out].
public func linear(_ x: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    OpProfile.measure(.gemm) {
        precondition(weight.rank == 2, "linear: weight must be [out, in], got \(weight.shape)")
        precondition(x.rank >= 1, "linear: input must have rank >= 1, got \(x.shape)")
        let outF = weight.shape[0], inF = weight.shape[1]
        precondition(x.shape[x.rank - 1] == inF, "linear: input \(x.shape) last dim does not match weight \(weight.shape)")
        if let bias { precondition(bias.shape == [outF], "linear: bias \(bias.shape) does not match weight \(weight.shape)") }
        let rows = inF == 0 ? x.count : x.count / inF
        var outShape = x.shape
        outShape[outShape.count - 1] = outF
        return x.withUnsafeBufferPointer { px in
            weight.withUnsafeBufferPointer { pw in
                Tensor(shape: outShape) { out in
                    let o = out.baseAddress!
                    var beta: Float = 0
                    if let bias {
                        bias.withUnsafeBufferPointer { pb in
                            // In parallel: a UNet feed-forward output is tens of megabytes.
                            parallelFor(rows, minimumPerChunk: Swift.max(1, 16_384 / Swift.max(outF, 1))) { r in
                                for row in r { (o + row * outF).update(from: pb.baseAddress!, count: outF) }
                            }
                        }
                        beta = 1
                    } else if inF == 0 {
                        o.update(repeating: 0, count: rows * outF)
                    }
                    sgemm(
                        transA: false, transB: true, m: rows, n: outF, k: inF,
                        a: px.baseAddress!, lda: inF, b: pw.baseAddress!, ldb: inF,
                        beta: beta, c: o, ldc: outF)
                }
            }
        }
    }
}
