import CBLAS

/// Direct access to the BLAS library behind the kernels, for benchmarks and diagnostics.
///
/// Model code should call `matmul`/`linear`/`conv2d`; this exists so a benchmark can measure the
/// raw `sgemm` peak in the same process without importing the C module itself.
public enum BLAS {
    /// `C[M, N] = A[M, K] · B[K, N]` on row-major buffers through `cblas_sgemm`.
    public static func sgemm(
        m: Int, n: Int, k: Int,
        a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>
    ) {
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), b, Int32(n), 0, c, Int32(n))
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
