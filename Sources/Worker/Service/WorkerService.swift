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
        let shutdown = ShutdownFlag()
        try await withGracefulShutdownHandler {
            // A discarding group: finished children (one per request, one per idle check) are
            // not kept until the loop ends.
            try await withThrowingDiscardingTaskGroup { children in
                defer { children.cancelAll() }  // an idle check still running when the loop ends
                try await loop(shutdown: shutdown, children: &children)
            }
        } onGracefulShutdown: {
            shutdown.set()
        }
        do {
            try await consumer.close()
        } catch {
            logger.warning("closing the consumer failed", metadata: ["error": "\(error)"])
        }
    }

    /// A one-way flag set from the graceful-shutdown handler.
    private final class ShutdownFlag: Sendable {
        private let value = Atomic(false)
        func set() { value.store(true, ordering: .releasing) }
        var isSet: Bool { value.load(ordering: .acquiring) }
    }

    /// The request in hand: a child task of the loop's group, handed back through its signal.
    private struct InFlight {
        let started = ContinuousClock.now
        let handBack = CancellationSignal()
        let outcome = ChildResult<RequestFlow.Outcome>()
    }

    /// The request loop. The request in hand and the idle check run as child tasks of
    /// `children`; the loop reads their answers between polls, so it keeps polling while busy.
    private func loop(shutdown: ShutdownFlag, children: inout ThrowingDiscardingTaskGroup<any Error>) async throws {
        var flow = ConsumerFlow(maxBacklog: maxBacklog)
        var inFlight: InFlight?
        var pause = PauseRequests()
        var idle = idleProbe.map { IdleProbeRunner(probe: $0, now: .now) }
        var shutdownSeen = false
        health.setRunning(true)
        defer { health.setRunning(false) }

        /// Carries out `actions`; true when the loop must stop.
        func perform(_ actions: [ConsumerFlow.Action]) async -> Bool {
            for action in actions {
                switch action {
                case .pauseAll, .resumeAll:
                    pause.want(paused: action == .pauseAll)
                    await pause.apply(to: consumer, health: health, logger: logger)
                case .start(let message):
                    let request = InFlight()
                    children.addTask { [processor] in
                        request.outcome.finish(await request.handBack.run { await processor.process(message) })
                    }
                    inFlight = request
                case .handBackCurrent:
                    inFlight?.handBack.signal()
                case .stop:
                    return true
                }
            }
            return false
        }

        while true {
            if !shutdownSeen, shutdown.isSet {
                shutdownSeen = true
                logger.notice("graceful shutdown: finishing the current request")
                if await perform(flow.handle(.shutdownRequested)) { return }
            }
            if Task.isCancelled {
                // The shutdown deadline passed: the request in hand, a child, is cancelled with
                // the loop and hands itself back; the group waits for it.
                return
            }
            if var runner = idle {
                let probe = runner.probe
                let effect = runner.turn(now: .now, requestInHand: inFlight != nil) { check in
                    children.addTask { check.finish(await probe.failure()) }
                }
                idle = runner
                if let effect { apply(effect, of: probe) }
            }
            if let request = inFlight, request.outcome.value != nil {
                inFlight = nil
                if await perform(flow.handle(.finished)) { return }
                continue
            }
            if let request = inFlight, !flow.paused, ContinuousClock.now - request.started >= pauseDelay {
                _ = await perform(flow.handle(.busyPastPauseDelay))
            }
            await pause.apply(to: consumer, health: health, logger: logger)
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
                if await perform(flow.handle(.received(message))) { return }
            case .revoked(let partitions)?:
                logger.info("partitions revoked", metadata: ["partitions": "\(partitions.map { "\($0.topic):\($0.partition)" })"])
                if await perform(flow.handle(.revoked(partitions))) { return }
            case .assigned(let partitions)?:
                logger.info("partitions assigned", metadata: ["partitions": "\(partitions.map { "\($0.topic):\($0.partition)" })"])
            case nil:
                break
            }
        }
    }

    /// Carries out what the idle probe's schedule decided: readiness, the failure metric, logs.
    private func apply(_ effect: IdleProbeSchedule.Effect, of probe: IdleProbe) {
        switch effect {
        case .startCheck:
            break  // started by the runner
        case let .unavailable(reason, noAnswer, newlyFailing, countsFailure):
            if countsFailure { metrics.idleProbeFailed(dependency: probe.dependency) }
            health.markUnavailable(probe.dependency, reason: reason)
            if newlyFailing {
                if noAnswer {
                    logger.warning("\(probe.dependency) does not answer while idle: not ready")
                } else {
                    logger.warning("\(probe.dependency) unavailable while idle: not ready", metadata: ["error": "\(reason)"])
                }
            }
        case .available(let recovered):
            health.markAvailable(probe.dependency)
            if recovered { logger.notice("\(probe.dependency) available again: ready") }
        }
    }
}
