/// A readiness check of a dependency the worker otherwise only meets while it works a request
/// (the audit database). ``WorkerService`` runs it every `interval` while it has no request in
/// hand, so an idle worker reports not ready during an outage, and ready again once a check
/// passes; while a request is worked, the request path marks the dependency itself.
public struct IdleProbe: Sendable {
    /// The ``WorkerHealth`` key it marks (`audit`, the key the request path uses too).
    public var dependency: String
    /// Time between the end of one check and the start of the next.
    public var interval: Duration
    /// A check that has not answered after this long marks the dependency unavailable (it keeps
    /// running, and its answer still counts).
    public var timeout: Duration
    /// Throws when the dependency is not usable.
    public var check: @Sendable () async throws -> Void

    public init(dependency: String, interval: Duration, timeout: Duration, check: @escaping @Sendable () async throws -> Void) {
        self.dependency = dependency
        self.interval = interval
        self.timeout = timeout
        self.check = check
    }
}

/// When the idle probe checks and what its answers mean for readiness, apart from running the
/// check: a pure state machine, so the schedule, the timeout and the recovery are tested without
/// clocks or tasks. ``WorkerService`` feeds it the loop's turns and the check's answers and
/// carries out the ``Effect``s (health, metrics, logs, starting a check).
///
/// One check at a time, `interval` after the previous one ended or the last request finished;
/// a check that has not answered within `timeout` marks the dependency unavailable once (its
/// later answer still counts); a pass while a request is in hand is ignored (the request path
/// marks the dependency itself, and a pass from before its first call must not hide a failure).
public struct IdleProbeSchedule: Sendable, Equatable {
    /// What the service does after a turn.
    public enum Effect: Sendable, Equatable {
        /// Start a check now.
        case startCheck
        /// Mark the dependency unavailable. `noAnswer`: the check is overdue (else it failed);
        /// `newlyFailing`: it was not failing before (log it); `countsFailure`: count it in the
        /// failure metric (an overdue check that then fails is counted once).
        case unavailable(reason: String, noAnswer: Bool, newlyFailing: Bool, countsFailure: Bool)
        /// Mark the dependency available; `recovered`: it was failing before (log it).
        case available(recovered: Bool)
    }

    public let interval: Duration
    public let timeout: Duration
    /// When the next check may start (while none runs).
    public private(set) var nextCheck: ContinuousClock.Instant
    /// The running check: when it started and whether it was declared overdue.
    public private(set) var runningSince: ContinuousClock.Instant?
    public private(set) var overdue = false
    /// Whether the last answer (or the lack of one) was a failure.
    public private(set) var failing = false

    public init(interval: Duration, timeout: Duration, now: ContinuousClock.Instant) {
        self.interval = interval
        self.timeout = timeout
        self.nextCheck = now + interval
    }

    /// A turn of the loop while the check (if any) has not answered.
    public mutating func tick(now: ContinuousClock.Instant, requestInHand: Bool) -> Effect? {
        if let started = runningSince {
            guard !overdue, now - started >= timeout else { return nil }
            overdue = true
            defer { failing = true }
            return .unavailable(
                reason: "no answer to the readiness check within \(timeout)", noAnswer: true, newlyFailing: !failing, countsFailure: true)
        }
        if requestInHand {
            nextCheck = now + interval
            return nil
        }
        guard now >= nextCheck else { return nil }
        runningSince = now
        overdue = false
        return .startCheck
    }

    /// The running check answered: `failure` nil when it passed, else the reason.
    public mutating func answered(failure: String?, now: ContinuousClock.Instant, requestInHand: Bool) -> Effect? {
        let wasOverdue = overdue
        runningSince = nil
        overdue = false
        nextCheck = now + interval
        if let failure {
            defer { failing = true }
            return .unavailable(reason: failure, noAnswer: false, newlyFailing: !failing, countsFailure: !wasOverdue)
        }
        guard !requestInHand else { return nil }
        defer { failing = false }
        return .available(recovered: failing)
    }
}

extension IdleProbe {
    /// Runs the check once: nil when it passed, else why it failed.
    func failure() async -> String? {
        do {
            try await check()
            return nil
        } catch {
            return RequestProcessor.safeReason(error)
        }
    }
}

/// The idle probe's schedule and its check in flight: each loop turn feeds the schedule the
/// time, whether a request is in hand and the check's answer once there is one, and starts a
/// check (through `start`, which runs it as a child task) when the schedule says so.
struct IdleProbeRunner {
    let probe: IdleProbe
    private var schedule: IdleProbeSchedule
    private var running: ChildResult<String?>?

    init(probe: IdleProbe, now: ContinuousClock.Instant) {
        self.probe = probe
        schedule = IdleProbeSchedule(interval: probe.interval, timeout: probe.timeout, now: now)
    }

    /// One turn of the loop; returns what the service must carry out.
    mutating func turn(
        now: ContinuousClock.Instant, requestInHand: Bool, start: (ChildResult<String?>) -> Void
    ) -> IdleProbeSchedule.Effect? {
        let effect: IdleProbeSchedule.Effect?
        if let check = running, let failure = check.value {
            running = nil
            effect = schedule.answered(failure: failure, now: now, requestInHand: requestInHand)
        } else {
            effect = schedule.tick(now: now, requestInHand: requestInHand)
        }
        if effect == .startCheck {
            let check = ChildResult<String?>()
            running = check
            start(check)
        }
        return effect
    }
}
