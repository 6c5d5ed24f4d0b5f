import Contracts
import Logging
import ServiceLifecycle
import Synchronization

/// The request loop: polls the requests topic, works one request at a time with its
/// partitions paused (still polling, so the worker stays in its group), hands work back on
/// revocation, and on graceful shutdown finishes the current request (or hands it back when
/// the shutdown deadline cancels it), then closes the consumer. While no request is in hand it
/// runs its ``IdleProbe`` (if any), so readiness follows the audit database even when idle.
public final class WorkerService: Service {
    private let consumer: any RequestConsuming
    private let processor: RequestProcessor
    private let health: WorkerHealth
    private let logger: Logger
    private let pollTimeout: Duration
    private let pauseDelay: Duration
    private let maxBacklog: Int
    private let idleProbe: IdleProbe?
    private let metrics: WorkerMetrics

    /// - Parameters:
    ///   - pollTimeout: longest wait of one poll. Default: 100 ms.
    ///   - pauseDelay: how long a request runs before the partitions are paused. Default: 2 s.
    ///   - maxBacklog: messages kept while busy before pausing. Default: 32.
    ///   - idleProbe: a dependency check run while no request is in hand. Default: none.
    public init(
        consumer: any RequestConsuming, processor: RequestProcessor, health: WorkerHealth, logger: Logger,
        pollTimeout: Duration = .milliseconds(100), pauseDelay: Duration = .seconds(2), maxBacklog: Int = 32,
        idleProbe: IdleProbe? = nil, metrics: WorkerMetrics = WorkerMetrics()
    ) {
        self.consumer = consumer
        self.processor = processor
        self.health = health
        self.logger = logger
        self.pollTimeout = pollTimeout
        self.pauseDelay = pauseDelay
        self.maxBacklog = maxBacklog
        self.idleProbe = idleProbe
        self.metrics = metrics
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
        let started = ContinuousClock.now
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

    /// One run of the idle probe's check: nil when it passed, else the reason it failed.
    private final class ProbeRun: Sendable {
        let task: Task<String?, Never>
        private let finished: Flag

        init(_ probe: IdleProbe) {
            let finished = Flag()
            self.finished = finished
            task = Task {
                defer { finished.set() }
                do {
                    try await probe.check()
                    return nil
                } catch {
                    return RequestProcessor.safeReason(error)
                }
            }
        }

        var isDone: Bool { finished.isSet }
    }

    private func loop(shutdown: Flag) async throws {
        var flow = ConsumerFlow(maxBacklog: maxBacklog)
        var current: Current?
        var shutdownSeen = false
        health.setRunning(true)
        defer { health.setRunning(false) }

        // Pause and resume are tried once per loop turn and retried on later turns, never in
        // a blocking loop: a rebalance in progress can make them fail, and only polling lets
        // the rebalance finish.
        var pauseWanted: Bool?
        func applyPause() async {
            guard let wanted = pauseWanted else { return }
            do {
                if wanted { try await consumer.pauseAll() } else { try await consumer.resumeAll() }
                pauseWanted = nil
                health.markAvailable("broker-consumer")
            } catch {
                health.markUnavailable("broker-consumer", reason: RequestProcessor.safeReason(error))
                logger.warning("\(wanted ? "pause" : "resume") failed; retrying after the next poll", metadata: ["error": "\(error)"])
            }
        }

        // The idle probe runs beside the loop (a check may block on a connect), one at a time;
        // ``IdleProbeSchedule`` decides when and what its answers mean.
        var probeRun: ProbeRun?
        var schedule = idleProbe.map { IdleProbeSchedule(interval: $0.interval, timeout: $0.timeout, now: .now) }
        defer { probeRun?.task.cancel() }
        func tickProbe() async {
            guard let probe = idleProbe, var state = schedule else { return }
            let now = ContinuousClock.now
            let effect: IdleProbeSchedule.Effect?
            if let run = probeRun, run.isDone {
                let failure = await run.task.value
                probeRun = nil
                effect = state.answered(failure: failure, now: now, requestInHand: current != nil)
            } else {
                effect = state.tick(now: now, requestInHand: current != nil)
            }
            schedule = state
            switch effect {
            case .startCheck?:
                probeRun = ProbeRun(probe)
            case let .unavailable(reason, noAnswer, newlyFailing, countsFailure)?:
                if countsFailure { metrics.idleProbeFailed(dependency: probe.dependency) }
                health.markUnavailable(probe.dependency, reason: reason)
                if newlyFailing {
                    if noAnswer {
                        logger.warning("\(probe.dependency) does not answer while idle: not ready")
                    } else {
                        logger.warning("\(probe.dependency) unavailable while idle: not ready", metadata: ["error": "\(reason)"])
                    }
                }
            case .available(let recovered)?:
                health.markAvailable(probe.dependency)
                if recovered { logger.notice("\(probe.dependency) available again: ready") }
            case nil:
                break
            }
        }

        func perform(_ actions: [ConsumerFlow.Action]) async throws -> Bool {
            for action in actions {
                switch action {
                case .pauseAll:
                    pauseWanted = true
                    await applyPause()
                case .resumeAll:
                    pauseWanted = false
                    await applyPause()
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
            await tickProbe()
            if let running = current, running.isDone {
                _ = await running.task.value
                current = nil
                if try await perform(flow.handle(.finished)) { break polling }
                continue
            }
            if let running = current, !flow.paused, ContinuousClock.now - running.started >= pauseDelay {
                _ = try await perform(flow.handle(.busyPastPauseDelay))
            }
            await applyPause()
            let event: ConsumerEvent?
            do {
                event = try await consumer.poll(timeout: pollTimeout)
                health.markAvailable("broker-consumer")
                health.noteLoopProgress()
            } catch {
                health.markUnavailable("broker-consumer", reason: RequestProcessor.safeReason(error))
                health.noteLoopProgress()  // the loop goes round; readiness reports the broker
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
}
