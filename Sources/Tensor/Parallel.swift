import CBLAS
import Dispatch
import Synchronization

/// Process-wide thread count for the Tensor kernels (our own loops and OpenBLAS).
///
/// Results are deterministic for the same inputs and thread count: our kernels give every work
/// item its own disjoint output and never combine partial sums across threads.
public enum TensorThreads {
    private static let current = Atomic<Int>(Swift.max(1, Int(openblas_get_num_threads())))

    /// Starts at OpenBLAS's own count (which honours `OPENBLAS_NUM_THREADS`).
    /// Threads used by `parallelFor` and OpenBLAS.
    public static var count: Int { current.load(ordering: .relaxed) }

    /// Sets the thread count for our kernels and for OpenBLAS (clamped to at least 1).
    public static func setCount(_ threads: Int) {
        let n = Swift.max(1, threads)
        current.store(n, ordering: .relaxed)
        openblas_set_num_threads(Int32(n))
    }
}

/// Runs `body` with OpenBLAS limited to one thread when `condition` holds, then restores the
/// kernel thread count.
///
/// For kernels that split work with `parallelFor` and call BLAS on small blocks inside each
/// chunk: OpenBLAS serialises concurrent multi-threaded calls, and a block is too small to
/// gain from more threads anyway. A single-threaded BLAS call computes every output element
/// the same way as a multi-threaded one (threads split rows and columns, not the inner sum).
@inline(__always)
func withSingleThreadedBLAS<T>(when condition: Bool = true, _ body: () -> T) -> T {
    guard condition, TensorThreads.count > 1 else { return body() }
    openblas_set_num_threads(1)
    defer { openblas_set_num_threads(Int32(TensorThreads.count)) }
    return body()
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
