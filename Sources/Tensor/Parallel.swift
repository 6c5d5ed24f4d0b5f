import CBLAS
import Dispatch
import Synchronization

/// Process-wide thread count for the Tensor kernels.
///
/// OpenBLAS itself always runs single-threaded: `sgemm` splits a large product into panels of
/// whole rows or columns, one single-threaded BLAS call each, across `parallelFor`. OpenBLAS's
/// own threading changes how a product is blocked (and so its rounding) with the thread count,
/// and its count is one global that concurrent callers would race on; the panel split computes
/// every output element exactly as one single-threaded call does. Results are therefore
/// bit-identical for the same inputs at any thread count: our other kernels give every work item
/// its own disjoint output and never combine partial sums across threads.
public enum TensorThreads {
    private static let current = Atomic<Int>(takeOverFromOpenBLAS())

    /// OpenBLAS's count (which honours `OPENBLAS_NUM_THREADS`) becomes ours, and OpenBLAS is
    /// set to one thread.
    private static func takeOverFromOpenBLAS() -> Int {
        let threads = Swift.max(1, Int(openblas_get_num_threads()))
        openblas_set_num_threads(1)
        return threads
    }

    /// Threads used by `parallelFor` (and so by every kernel, BLAS products included).
    /// Starts at `OPENBLAS_NUM_THREADS`, else the number of cores.
    public static var count: Int { current.load(ordering: .relaxed) }

    /// Sets the thread count for our kernels (clamped to at least 1).
    public static func setCount(_ threads: Int) {
        current.store(Swift.max(1, threads), ordering: .relaxed)
    }
}

/// Runs `body` over `0..<count` split into fixed contiguous chunks, one per thread.
///
/// `body` receives a range and must write only outputs owned by that range. Work smaller than
/// `minimumPerChunk` items per thread runs inline on the caller.
@inline(__always)
public func parallelFor(_ count: Int, minimumPerChunk: Int = 1, _ body: (Range<Int>) -> Void) {
    guard count > 0 else { return }
    let threads = TensorThreads.count
    let chunks = Swift.min(threads, Swift.max(1, count / Swift.max(1, minimumPerChunk)))
    if chunks <= 1 {
        body(0..<count)
        return
    }
    let base = count / chunks
    let extra = count % chunks
    withoutActuallyEscaping(body) { body in
        let work = ChunkBody(run: body)
        DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
            let start = chunk * base + Swift.min(chunk, extra)
            let end = start + base + (chunk < extra ? 1 : 0)
            work.run(start..<end)
        }
    }
}

/// Carries a chunk body into `concurrentPerform`.
///
/// Unchecked because the body captures raw buffers: this is safe since `concurrentPerform`
/// returns only after every chunk has finished and chunks write disjoint outputs.
private struct ChunkBody: @unchecked Sendable {
    let run: (Range<Int>) -> Void
}
