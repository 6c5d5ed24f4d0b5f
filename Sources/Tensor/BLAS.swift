import CBLAS

/// Direct access to the BLAS library behind the kernels, for benchmarks and diagnostics.
///
/// Model code should call `matmul`/`linear`/`conv2d`; this exists so a benchmark can measure the
/// raw `sgemm` peak in the same process without importing the C module itself.
public enum BLAS {
    /// `C[M, N] = A[M, K] · B[K, N]` on row-major buffers, split across the kernel threads as
    /// every product in the kernels is (see `TensorThreads`).
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    ) {
        productOnKernelThreads(m: m, n: n, k: k, a: a, b: b, c: c)
    }

    /// The CPU core type OpenBLAS selected (e.g. "Haswell").
    public static var coreName: String {
        guard let name = openblas_get_corename() else { return "unknown" }
        return String(cString: name)
    }

    /// OpenBLAS build configuration string.
    public static var configuration: String {
        guard let config = openblas_get_config() else { return "unknown" }
        return String(cString: config)
    }
}

/// The kernels' `sgemm` under a name the `BLAS.sgemm` method does not shadow.
private func productOnKernelThreads(m: Int, n: Int, k: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
    sgemm(transA: false, transB: false, m: m, n: n, k: k, a: a, lda: k, b: b, ldb: n, c: c, ldc: n)
}
