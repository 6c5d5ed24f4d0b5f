import Synchronization

/// The kinds of kernel time `OpProfile` separates, so a benchmark shows where a regression is.
public enum OpCategory: Int, CaseIterable, Sendable, Codable {
    /// `conv2d` (im2col and its GEMM).
    case convolution
    /// `scaledDotProductAttention` (scores, softmax and the value product).
    case attention
    /// `matmul` and `linear`.
    case gemm
    /// `groupNorm`, `groupNormSiLU`, `layerNorm`.
    case normalization
    /// Activations, softmax, broadcast arithmetic, reductions.
    case elementwise
    /// `permuted`, `concat`, `narrowed`, `padded`, `expanded`, upsampling.
    case copy

    /// The key used in benchmark JSON.
    public var name: String {
        switch self {
        case .convolution: "convolution"
        case .attention: "attention"
        case .gemm: "gemm"
        case .normalization: "normalization"
        case .elementwise: "elementwise"
        case .copy: "copy"
        }
    }
}

/// Opt-in wall-clock accounting of the Tensor kernels by `OpCategory`.
///
/// Off by default: a disabled `measure` costs one relaxed atomic load. When enabled, only the
/// outermost kernel call is charged (a `conv2d` that copies internally is all convolution).
/// Meant for benchmarks that drive the kernels from one thread at a time (as the UNet does);
/// calls made concurrently from several threads would be charged to whichever started first.
public enum OpProfile {
    /// Seconds and call counts per category since `start()`.
    public struct Totals: Sendable, Codable {
        /// Seconds per category, indexed by `OpCategory.rawValue`.
        public var seconds = [Double](repeating: 0, count: OpCategory.allCases.count)
        /// Outermost calls per category.
        public var calls = [Int](repeating: 0, count: OpCategory.allCases.count)

        /// Seconds spent in `category`.
        public func seconds(_ category: OpCategory) -> Double { seconds[category.rawValue] }
        /// The sum over all categories.
        public var totalSeconds: Double { seconds.reduce(0, +) }
    }

    private struct State {
        var totals = Totals()
        var depth = 0
    }

    private static let enabled = Atomic<Bool>(false)
    private static let state = Mutex(State())

    /// Clears the totals and starts charging kernel time.
    public static func start() {
        state.withLock { $0 = State() }
        enabled.store(true, ordering: .relaxed)
    }

    /// Stops charging and returns the totals since `start()`.
    @discardableResult
    public static func stop() -> Totals {
        enabled.store(false, ordering: .relaxed)
        return state.withLock { $0.totals }
    }

    /// The totals so far, without stopping.
    public static var totals: Totals { state.withLock { $0.totals } }

    /// Runs `body`, charging its wall time to `category` when profiling is on and no other
    /// measured kernel is already running.
    @inline(__always)
    static func measure<T>(_ category: OpCategory, _ body: () -> T) -> T {
        guard enabled.load(ordering: .relaxed) else { return body() }
        let outermost = state.withLock { s -> Bool in
            s.depth += 1
            return s.depth == 1
        }
        let start = outermost ? ContinuousClock.now : nil
        let result = body()
        let elapsed = start.map { ContinuousClock.now - $0 }
        state.withLock { s in
            s.depth -= 1
            if let elapsed {
                let parts = elapsed.components
                s.totals.seconds[category.rawValue] += Double(parts.seconds) + Double(parts.attoseconds) * 1e-18
                s.totals.calls[category.rawValue] += 1
            }
        }
        return result
    }
}
