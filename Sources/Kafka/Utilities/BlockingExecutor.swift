import Dispatch

/// Runs blocking librdkafka calls on a private serial dispatch queue, never on Swift's
/// cooperative thread pool, and hands the result back to the awaiting task.
struct BlockingExecutor: Sendable {
    private let queue: DispatchQueue

    init(label: String) {
        queue = DispatchQueue(label: label)
    }

    /// Runs `body` on the queue after everything submitted before it; returns or throws its outcome.
    func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async {
                continuation.resume(with: Result { try body() })
            }
        }
    }
}
