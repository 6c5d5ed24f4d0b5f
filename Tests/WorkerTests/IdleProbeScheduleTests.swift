import Testing
import Worker

/// The idle probe's state machine on fixed instants: schedule, timeout, failure and recovery.
@Suite struct IdleProbeScheduleTests {
    let start = ContinuousClock.now

    func at(_ seconds: Double) -> ContinuousClock.Instant { start + .milliseconds(Int64(seconds * 1000)) }

    @Test func checksAnIntervalAfterStartAndAfterEachAnswer() {
        var schedule = IdleProbeSchedule(interval: .seconds(5), timeout: .seconds(2), now: start)
        #expect(schedule.tick(now: at(4.9), requestInHand: false) == nil)
        #expect(schedule.tick(now: at(5), requestInHand: false) == .startCheck)
        #expect(schedule.tick(now: at(5.5), requestInHand: false) == nil)
        #expect(schedule.answered(failure: nil, now: at(6), requestInHand: false) == .available(recovered: false))
        #expect(schedule.tick(now: at(10.9), requestInHand: false) == nil)
        #expect(schedule.tick(now: at(11), requestInHand: false) == .startCheck)
    }

    @Test func aRequestInHandPostponesTheNextCheck() {
        var schedule = IdleProbeSchedule(interval: .seconds(5), timeout: .seconds(2), now: start)
        #expect(schedule.tick(now: at(6), requestInHand: true) == nil)
        #expect(schedule.tick(now: at(10), requestInHand: false) == nil)
        #expect(schedule.tick(now: at(11), requestInHand: false) == .startCheck)
    }

    @Test func failureThenRecoveryIsReportedOnce() {
        var schedule = IdleProbeSchedule(interval: .seconds(1), timeout: .seconds(10), now: start)
        #expect(schedule.tick(now: at(1), requestInHand: false) == .startCheck)
        #expect(schedule.answered(failure: "refused", now: at(1.1), requestInHand: false)
            == .unavailable(reason: "refused", noAnswer: false, newlyFailing: true, countsFailure: true))
        #expect(schedule.tick(now: at(2.1), requestInHand: false) == .startCheck)
        #expect(schedule.answered(failure: "refused", now: at(2.2), requestInHand: false)
            == .unavailable(reason: "refused", noAnswer: false, newlyFailing: false, countsFailure: true))
        #expect(schedule.tick(now: at(3.2), requestInHand: false) == .startCheck)
        #expect(schedule.answered(failure: nil, now: at(3.3), requestInHand: false) == .available(recovered: true))
        #expect(!schedule.failing)
    }

    @Test func anOverdueCheckFailsOnceAndItsLateAnswerStillCounts() {
        var schedule = IdleProbeSchedule(interval: .seconds(1), timeout: .seconds(2), now: start)
        #expect(schedule.tick(now: at(1), requestInHand: false) == .startCheck)
        #expect(schedule.tick(now: at(2.9), requestInHand: false) == nil)
        #expect(schedule.tick(now: at(3), requestInHand: false)
            == .unavailable(reason: "no answer to the readiness check within 2.0 seconds", noAnswer: true, newlyFailing: true, countsFailure: true))
        #expect(schedule.tick(now: at(9), requestInHand: false) == nil)
        #expect(schedule.answered(failure: "timeout", now: at(9.5), requestInHand: false)
            == .unavailable(reason: "timeout", noAnswer: false, newlyFailing: false, countsFailure: false))
    }

    @Test func aPassWhileARequestIsInHandIsIgnored() {
        var schedule = IdleProbeSchedule(interval: .seconds(1), timeout: .seconds(5), now: start)
        #expect(schedule.tick(now: at(1), requestInHand: false) == .startCheck)
        _ = schedule.answered(failure: "down", now: at(1.5), requestInHand: false)
        #expect(schedule.tick(now: at(2.5), requestInHand: false) == .startCheck)
        #expect(schedule.answered(failure: nil, now: at(3), requestInHand: true) == nil)
        #expect(schedule.failing)
    }
}
