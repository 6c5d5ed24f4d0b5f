import Contracts
import Logging
import ServiceLifecycle
import Synchronization

/// The request loop: polls the requests topic, works one request at a time with its
/// partitions paused (still polling, so the worker stays in its group), hands work back on
/// revocation, and on graceful shutdown finishes the current request (or hands it back when
/// the shutdown deadline cancels it), then closes the consumer.
public final class WorkerService: Service {
    private let consumer: any RequestConsuming
    private let processor: RequestProcessor
    private let health: WorkerHealth
    private let logger: Logger
    private let pollTimeout: Duration

    public init(consumer: any RequestConsuming, processor: RequestProcessor, health: WorkerHealth, logger: Logger, pollTimeout: Duration = .milliseconds(100)) {
        self.consumer = consumer
        self.processor = processor
        self.health = health
        self.logger = logger
        self.pollTimeout = pollTimeout
    }

    public func run() async throws {
        let shutdown = Flag()
        try await withGracefulShutdownHandler {
            try await loop(shutdown: shutdown)
        } onGracefulShutdown: {
            shutdown.set()
        }
    }

    /// A one-way flag set from the graceful-shutdown handler.
    private final class Flag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// The request being worked, and whether it has finished.
    private final class Current: Sendable {
        let task: Task<RequestFlow.Outcome, Never>
        private let finished: Flag

        init(_ message: IncomingMessage, processor: RequestProcessor) {
            let finished = Flag()
            self.finished = finished
            task = Task {
                let outcome = await processor.process(message)
                finished.set()
                return outcome
            }
        }

        var isDone: Bool { finished.isSet }
    }

    private func loop(shutdown: Flag) async throws {
        var flow = ConsumerFlow()
        var current: Current?
        var shutdownSeen = false
        health.setRunning(true)
        defer { health.setRunning(false) }

        func perform(_ actions: [ConsumerFlow.Action]) async throws -> Bool {
            for action in actions {
                switch action {
                case .pauseAll:
                    try await withBrokerRetry { try await self.consumer.pauseAll() }
                case .resumeAll:
                    try await withBrokerRetry { try await self.consumer.resumeAll() }
                case .start(let message):
                    current = Current(message, processor: processor)
                case .handBackCurrent:
                    current?.task.cancel()
                case .stop:
                    return true
                }
            }
            return false
        }

        polling: while true {
            if !shutdownSeen, shutdown.isSet {
                shutdownSeen = true
                logger.notice("graceful shutdown: finishing the current request")
                if try await perform(flow.handle(.shutdownRequested)) { break polling }
            }
            if Task.isCancelled {
                // The shutdown deadline passed: hand the current request back.
                current?.task.cancel()
                if let current { _ = await current.task.value }
                break polling
            }
            if let running = current, running.isDone {
                _ = await running.task.value
                current = nil
                if try await perform(flow.handle(.finished)) { break polling }
                continue
            }
            let event: ConsumerEvent?
            do {
                event = try await consumer.poll(timeout: pollTimeout)
                health.markAvailable("broker-consumer")
            } catch {
                health.markUnavailable("broker-consumer", reason: RequestProcessor.safeReason(error))
                logger.warning("poll failed", metadata: ["error": "\(error)"])
                try await Task.sleep(for: .milliseconds(200))
                continue
            }
            switch event {
            case .message(let message)?:
                if try await perform(flow.handle(.received(message))) { break polling }
            case .revoked(let partitions)?:
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map { "\($0.topic):\($0.partition)" })"])
                if try await perform(flow.handle(.revoked(partitions))) { break polling }
            case .assigned(let partitions)?:
                logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map { "\($0.topic):\($0.partition)" })"])
            case nil:
                break
            }
        }
        do {
            try await consumer.close()
        } catch {
            logger.warning("closing the consumer failed", metadata: ["error": "\(error)"])
        }
    }

    /// Pause and resume must not be lost: retry them while the broker is unreachable.
    private func withBrokerRetry(_ operation: () async throws -> Void) async throws {
        var backoff = Backoff()
        while true {
            do {
                try await operation()
                health.markAvailable("broker-consumer")
                return
            } catch {
                health.markUnavailable("broker-consumer", reason: RequestProcessor.safeReason(error))
                try await Task.sleep(for: backoff.nextDelay())
            }
        }
    }
}
