import Synchronization

/// The answer of a child task, read by the service loop between polls without waiting for it.
final class ChildResult<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)

    /// Stores the child's answer (the child's last act).
    func finish(_ value: Value) { slot.withLock { $0 = value } }

    /// The answer once the child has finished; nil while it runs.
    var value: Value? { slot.withLock { $0 } }
}

/// Cancels one child task of a task group from its parent, which a task group cannot do
/// itself: ``run(_:)`` runs the body and cancels it once ``signal()`` is called (a hand-back
/// of the request in hand on revocation). The body still returns its own answer.
final class CancellationSignal: Sendable {
    private let stream: AsyncStream<Never>
    private let continuation: AsyncStream<Never>.Continuation

    init() {
        (stream, continuation) = AsyncStream<Never>.makeStream()
    }

    /// Asks the body of ``run(_:)`` to stop; safe to call more than once, before or during it.
    func signal() { continuation.finish() }

    /// Runs `body` in a child task, cancelled when ``signal()`` is called or the caller is
    /// cancelled, and returns its answer.
    func run<Value: Sendable>(_ body: @escaping @Sendable () async -> Value) async -> Value {
        await withTaskGroup(of: Value?.self) { group in
            group.addTask { await body() }
            group.addTask { [stream] in
                // Ends when signalled, or when cancelled because the body finished first.
                for await _ in stream {}
                return nil
            }
            var answer: Value?
            while let next = await group.next() {
                // Either the body answered, or the signal came: in both cases the other child goes.
                group.cancelAll()
                if let next { answer = next }
            }
            guard let answer else { preconditionFailure("the body of CancellationSignal.run always answers") }
            return answer
        }
    }
}
