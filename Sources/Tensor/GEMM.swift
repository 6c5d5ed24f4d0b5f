import CBLAS

// Matrix products through cblas_sgemm (row-major).

/// `C = alpha·op(A)·op(B) + beta·C` on raw row-major buffers; `op` transposes when asked.
/// A is [M, K] (or [K, M] if `transA`), B is [K, N] (or [N, K] if `transB`), C is [M, N].
@inline(__always)
func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int
) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
        if beta == 0 { c.update(repeating: 0, count: m * ldc) }
        return
    }
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
                            for r in 0..<rows { (o + r * outF).update(from: pb.baseAddress!, count: outF) }
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
