/// Exponential backoff with a cap, for retrying a step while a dependency is unavailable.
public struct Backoff: Sendable, Equatable {
    /// First delay. Default: 100 ms.
    public var initial: Duration
    /// Largest delay. Default: 2 s (a worker sleeps at most this long after a dependency is back).
    public var maximum: Duration
    public private(set) var attempt = 0

    public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(2)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next attempt, doubling each time up to `maximum`.
    public mutating func nextDelay() -> Duration {
        let factor = 1 << min(attempt, 20)
        attempt += 1
        let delay = initial * factor
        return delay < maximum ? delay : maximum
    }

    public mutating func reset() {
        attempt = 0
    }
}
