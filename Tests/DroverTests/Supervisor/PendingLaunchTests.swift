import Testing
@testable import Config
@testable import Supervision
@testable import System

/// A launch that answers later (a preload template forks the worker):
/// between the request and the answer the worker is STARTING without a
/// pid, and every event that can come meanwhile does the right thing. On
/// the test clock, through `LifecycleTests.Machine`.
@Suite struct PendingLaunchTests {
    typealias Machine = LifecycleTests.Machine

    /// Started and launched; the supervisor says the answer comes later.
    static func pending(_ configure: (inout Lifecycle.Policy) -> Void = { $0.startsecs = .seconds(1) }) -> Machine {
        var m = Machine(configure)
        #expect(m.on(.start) == [.launch])
        let actions = m.on(.launchPending("fork requested"))
        #expect(actions == [.transition(from: .stopped, to: .starting, detail: "fork requested")])
        return m
    }

    @Test func aPendingLaunchIsStartingWithoutAPidUntilItsForkAnswers() {
        var m = Self.pending()
        #expect(m.state == .starting && m.lifecycle.pid == 0 && m.lifecycle.launchPending)
        // Asked again while it waits (an operator start, a second pending note): nothing new happens.
        #expect(m.on(.start) == [])
        #expect(m.on(.launchPending("again")) == [])

        let forked = m.on(.spawned(pid: 321))
        // Already STARTING: no second transition, the pid is logged, startsecs runs from the fork.
        #expect(forked == [.log(.info, "pid 321"), .arm(.startsecs, after: .seconds(1))])
        #expect(m.state == .starting && m.lifecycle.pid == 321 && !m.lifecycle.launchPending)
        m.on(.timerFired(.startsecs))
        #expect(m.state == .running)
    }

    @Test func aForkThatNeverComesBacksOffAsAFailedSpawn() {
        var m = Self.pending()
        m.on(.spawnFailed("the preload template exited"))
        #expect(m.state == .backoff && m.lifecycle.failures == 1 && !m.lifecycle.launchPending)
    }

    @Test func stoppingAPendingLaunchCallsTheForkOffWithoutSignallingAnyone() {
        var m = Self.pending()
        let actions = m.on(.stop)
        #expect(actions == [.cancelLaunch, .transition(from: .starting, to: .stopped, detail: "stopped before its launch answered"),
                            .completeStops])
        #expect(!actions.contains(.sendStopSignal) && !actions.contains(.killGroup))
        #expect(m.state == .stopped && !m.lifecycle.launchPending)
        // A late answer for the cancelled launch is not a run of this worker.
        #expect(m.lifecycle.pid == 0)
    }

    @Test func aFastShutdownOrARemovalCallsAPendingForkOff() {
        var killed = Self.pending()
        let kill = killed.on(.kill)
        #expect(kill.first == .cancelLaunch && killed.state == .stopped, "\(kill)")

        var removed = Self.pending()
        #expect(removed.on(.removed).contains(.cancelLaunch))
        #expect(!removed.lifecycle.launchPending)
    }

    @Test func aPendingLaunchAfterABackoffGoesFromBackoffToStarting() {
        var m = Self.pending()
        m.on(.spawnFailed("template gone"))
        #expect(m.state == .backoff)
        #expect(m.on(.timerFired(.backoff)) == [.launch])
        let actions = m.on(.launchPending("waiting for the preload template to load"))
        #expect(actions == [.transition(from: .backoff, to: .starting, detail: "waiting for the preload template to load")])
        m.on(.spawned(pid: 9))
        #expect(m.state == .starting && m.lifecycle.pid == 9)
    }
}
