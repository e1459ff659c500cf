import Glibc
import Testing
@testable import Config
@testable import Supervision
@testable import System

/// SPEC §4's state machine, transition by transition, on a test clock: no
/// binary, no process, no sleep. Each test feeds events into a `Lifecycle`
/// and checks the state it reaches and the actions it asks for.
@Suite struct LifecycleTests {
    /// A lifecycle and a clock the test moves by hand.
    struct Machine {
        var lifecycle: Lifecycle
        var now = Instant(nanoseconds: 1_000_000_000)

        init(_ configure: (inout Lifecycle.Policy) -> Void = { _ in }) {
            var policy = Lifecycle.Policy()
            configure(&policy)
            lifecycle = Lifecycle(policy: policy)
        }

        @discardableResult
        mutating func on(_ event: Lifecycle.Event) -> [Lifecycle.Action] {
            lifecycle.handle(event, now: now)
        }

        mutating func advance(_ duration: Duration) {
            now = now.adding(seconds: duration.configSeconds)
        }

        var state: ProcessState { lifecycle.state }

        /// Start and spawn it as the supervisor would (launch answered with a pid).
        mutating func spawn(pid: Int32 = 100) {
            let launch = on(.start)
            #expect(launch.last == .launch, "\(launch)")
            on(.spawned(pid: pid))
        }
    }

    static let crash = ExitStatus.exited(1)

    @Test func startsecsMakesItRunningAndAStartThatLastedResetsFailures() {
        var m = Machine { $0.startsecs = .seconds(1) }
        m.spawn()
        #expect(m.state == .starting)
        let up = m.on(.timerFired(.startsecs))
        #expect(m.state == .running)
        #expect(up == [.transition(from: .starting, to: .running, detail: "pid 100, up 1.0s")])
        #expect(m.lifecycle.failures == 0)
    }

    @Test func quickExitsBackOffExponentiallyThenGoFatal() {
        var m = Machine { $0.startretries = 3; $0.backoffMax = .seconds(30) }
        var delays: [Lifecycle.Action] = []
        m.spawn()
        for attempt in 1...3 {
            let actions = m.on(.exited(Self.crash, lastWords: ": boom"))
            #expect(m.state == .backoff)
            #expect(m.lifecycle.failures == attempt)
            delays += actions.filter { if case .arm(.backoff, _) = $0 { true } else { false } }
            let retry = m.on(.timerFired(.backoff))
            #expect(retry.last == .launch)
            m.on(.spawned(pid: Int32(100 + attempt)))
        }
        #expect(delays == [.arm(.backoff, after: .seconds(1)), .arm(.backoff, after: .seconds(2)), .arm(.backoff, after: .seconds(4))])
        let last = m.on(.exited(Self.crash, lastWords: ": boom"))
        #expect(m.state == .fatal)
        #expect(last.contains(.transition(from: .starting, to: .fatal, detail: "gave up after 4 failed starts in a row: boom")))
        #expect(m.lifecycle.restarts == 3)
        // FATAL is final: no timer, no launch.
        #expect(!last.contains { if case .arm = $0 { true } else { false } })
        #expect(m.on(.timerFired(.backoff)).isEmpty)
    }

    @Test func backoffIsCappedByBackoffMax() {
        var m = Machine { $0.startretries = 0; $0.backoffMax = .seconds(3) }
        m.spawn()
        var last: [Lifecycle.Action] = []
        for _ in 1...6 {
            last = m.on(.exited(Self.crash, lastWords: ""))
            m.on(.timerFired(.backoff))
            m.on(.spawned(pid: 7))
        }
        #expect(last.contains(.arm(.backoff, after: .seconds(3))), "startretries = 0 retries forever, every 3 s at most")
        #expect(m.state == .starting)
    }

    /// Issue 14: a worker that passes its first probe and dies 0.3 s later
    /// was respawned at once forever (failures stayed 0): no BACKOFF, no FATAL.
    @Test func aPassingProbeDoesNotSkipStartsecs() {
        var m = Machine {
            $0.startsecs = .seconds(2)
            $0.startretries = 2
            $0.readiness = .healthCheck(HealthCheck(path: "/health"))
            $0.port = 8000
        }
        m.spawn(pid: 1)
        m.on(.timerFired(.probe))
        let passed = m.on(.probeFinished(.passed))
        #expect(m.state == .running && m.lifecycle.health == .ready)
        #expect(passed.contains(.healthChanged(.ready, detail: "ready (health check passed)")))
        m.advance(.milliseconds(300))
        let died = m.on(.exited(Self.crash, lastWords: ": CUDA error"))
        #expect(died.contains(.transition(from: .running, to: .exited,
                                          detail: "exit status 1; not expected; up less than startsecs (2.0s): CUDA error")))
        #expect(m.state == .backoff)
        #expect(m.lifecycle.failures == 1)
        #expect(died.contains(.arm(.backoff, after: .seconds(1))))
    }

    @Test func aCrashLoopAfterPassingProbesGoesFatalWithoutOperatorHelp() {
        var m = Machine {
            $0.startsecs = .seconds(2)
            $0.startretries = 2
            $0.readiness = .healthCheck(HealthCheck(path: "/health"))
            $0.port = 8000
        }
        m.spawn(pid: 1)
        var launches = 1
        while m.state != .fatal && launches < 10 {
            m.on(.timerFired(.probe))
            m.on(.probeFinished(.passed))
            m.advance(.milliseconds(300))
            let actions = m.on(.exited(Self.crash, lastWords: ""))
            if m.state == .backoff {
                #expect(actions.contains { if case .arm(.backoff, _) = $0 { true } else { false } })
                m.advance(.seconds(5))
                if m.on(.timerFired(.backoff)).last == .launch {
                    launches += 1
                    m.on(.spawned(pid: Int32(launches)))
                }
            }
        }
        #expect(m.state == .fatal)
        #expect(launches == 3, "the first start and startretries = 2 retries")
    }

    @Test func aStartThatLastedStartsecsIsRestartedAtOnce() {
        var m = Machine { $0.startsecs = .seconds(1); $0.autorestart = .unexpected; $0.exitcodes = [0] }
        m.spawn()
        m.on(.timerFired(.startsecs))
        let again = m.on(.exited(.exited(3), lastWords: ""))
        #expect(again.contains(.transition(from: .running, to: .exited, detail: "exit status 3; not expected")))
        #expect(again.last == .launch, "no backoff after a run that lasted")
        #expect(m.lifecycle.failures == 0)
    }

    @Test func expectedExitsFollowAutorestart() {
        var unexpected = Machine { $0.startsecs = .zero; $0.autorestart = .unexpected; $0.exitcodes = [0, 2] }
        unexpected.spawn()
        #expect(unexpected.on(.exited(.exited(2), lastWords: "")).last != .launch)
        #expect(unexpected.state == .exited)
        var never = Machine { $0.startsecs = .zero; $0.autorestart = .never }
        never.spawn()
        #expect(never.on(.exited(.exited(9), lastWords: "")).last != .launch)
        var always = Machine { $0.startsecs = .zero; $0.autorestart = .always }
        always.spawn()
        #expect(always.on(.exited(.exited(0), lastWords: "")).last == .launch)
    }

    @Test func stopSendsTheSignalThenEscalatesAfterStopwaitsecs() {
        var m = Machine { $0.stopwaitsecs = .seconds(3); $0.stopsignal = SIGINT }
        m.spawn(pid: 42)
        let stop = m.on(.stop)
        #expect(m.state == .stopping)
        #expect(stop.contains(.transition(from: .starting, to: .stopping, detail: "sending SIGINT")))
        #expect(stop.contains(.sendStopSignal))
        #expect(stop.contains(.arm(.stopWait, after: .seconds(3))))
        #expect(stop.contains(.disarm(.startsecs)), "a stopping worker never becomes RUNNING")
        let escalate = m.on(.timerFired(.stopWait))
        #expect(escalate.contains(.killGroup))
        #expect(m.lifecycle.killedDuringStop)
        let gone = m.on(.exited(.signaled(SIGKILL, coreDumped: false), lastWords: ""))
        #expect(m.state == .stopped)
        #expect(gone.contains(.completeStops) && gone.contains(.killStragglers))
        #expect(gone.last != .launch)
    }

    @Test func stoppingABackoffIsImmediateAndCancelsTheRetry() {
        var m = Machine()
        m.spawn()
        m.on(.exited(Self.crash, lastWords: ""))
        #expect(m.state == .backoff)
        let stop = m.on(.stop)
        #expect(m.state == .stopped)
        #expect(stop == [.disarm(.backoff), .transition(from: .backoff, to: .stopped, detail: "was in backoff"), .completeStops])
        #expect(m.lifecycle.retryAt == nil)
    }

    @Test func restartStopsThenStartsAgain() {
        var m = Machine { $0.startsecs = .zero }
        m.spawn(pid: 5)
        m.on(.restart)
        #expect(m.state == .stopping)
        let after = m.on(.exited(.signaled(SIGTERM, coreDumped: false), lastWords: ""))
        #expect(after.last == .launch)
        #expect(m.lifecycle.restarts == 1)
    }

    @Test func nothingStartsOnceTheShutdownBeganOrWhenLeaving() {
        var m = Machine { $0.startsecs = .zero; $0.autorestart = .always }
        m.spawn()
        m.on(.shutdownBegan)
        #expect(m.on(.exited(.exited(1), lastWords: "")).last != .launch)
        #expect(m.on(.start).isEmpty)

        var backingOff = Machine()
        backingOff.spawn()
        backingOff.on(.exited(Self.crash, lastWords: ""))
        backingOff.on(.shutdownBegan)
        #expect(backingOff.on(.timerFired(.backoff)).isEmpty, "a BACKOFF retry after SIGTERM never spawns")

        var leaving = Machine { $0.startsecs = .zero }
        leaving.spawn()
        leaving.on(.restart)
        leaving.lifecycle.markLeaving()
        #expect(leaving.on(.exited(.signaled(SIGTERM, coreDumped: false), lastWords: "")).last != .launch)
    }

    @Test func healthFailuresInARowMakeItUnhealthyAndRestartIt() {
        var m = Machine {
            $0.startsecs = .zero
            $0.readiness = .healthCheck(HealthCheck(path: "/h", interval: .seconds(5), timeout: .seconds(2), fails: 2, startPeriod: .seconds(1)))
            $0.port = 8000
        }
        m.spawn()
        m.on(.timerFired(.probe))
        m.on(.probeFinished(.passed))
        m.advance(.seconds(10))
        m.on(.timerFired(.probe))
        let first = m.on(.probeFinished(.timedOut))
        #expect(first.contains(.log(.warn, "health check failed (1/2): no answer within 2.0s")))
        #expect(m.lifecycle.health == .ready)
        m.on(.timerFired(.probe))
        let second = m.on(.probeFinished(.failed("HTTP 500")))
        #expect(second.contains(.healthChanged(.unhealthy, detail: "unhealthy; restarting")))
        #expect(second.contains(.sendStopSignal) && m.state == .stopping)
        #expect(m.on(.exited(.signaled(SIGTERM, coreDumped: false), lastWords: "")).last == .launch)
    }

    /// A replacement is asked every 10 ms while its port refuses (asking
    /// costs it nothing), so it is ready within 10 ms of opening the port;
    /// an answer that fails (a model loading: 503) is asked again at the
    /// usual 100 ms; a refusal after the start period counts as a failure.
    @Test func aStartingWorkerWhosePortRefusesIsAskedEveryTenMilliseconds() {
        var m = Machine {
            $0.startsecs = .seconds(1)
            $0.readiness = .healthCheck(HealthCheck(path: "/h", interval: .seconds(5), timeout: .seconds(2), fails: 1, startPeriod: .seconds(3)))
            $0.port = 8000
        }
        m.spawn()
        m.advance(.milliseconds(50))
        m.on(.timerFired(.probe))
        #expect(m.on(.probeFinished(.refused)).contains(.arm(.probe, after: .milliseconds(10))))
        m.on(.timerFired(.probe))
        #expect(m.on(.probeFinished(.failed("status 503"))).contains(.arm(.probe, after: .milliseconds(100))))
        m.advance(.milliseconds(2000))
        m.on(.timerFired(.probe))
        #expect(m.on(.probeFinished(.refused)).contains(.arm(.probe, after: .milliseconds(100))), "after 2 s, the usual pace")
        m.advance(.milliseconds(1000))
        m.on(.timerFired(.probe))
        let counted = m.on(.probeFinished(.refused))
        #expect(counted.contains(.log(.warn, "health check failed (1/1): connection refused")))
        #expect(m.lifecycle.health == .unhealthy)
    }

    @Test func busyProbesAndStartPeriodFailuresCountNothing() {
        var m = Machine {
            $0.startsecs = .zero
            $0.readiness = .healthCheck(HealthCheck(path: "/h", interval: .seconds(1), timeout: .seconds(1), fails: 1, startPeriod: .seconds(60)))
            $0.port = 8000
        }
        m.spawn()
        m.on(.timerFired(.probe))
        let loading = m.on(.probeFinished(.failed("connection refused")))
        #expect(loading == [.arm(.probe, after: .milliseconds(100))], "a model loading: ask again soon, count nothing")
        m.on(.timerFired(.probe))
        m.on(.probeFinished(.passed))
        m.advance(.seconds(120))
        m.on(.timerFired(.probe))
        #expect(m.on(.probeFinished(.busy)) == [.arm(.probe, after: .seconds(1))])
        #expect(m.lifecycle.health == .ready, "busy with proxied requests is not a failure")
    }

    @Test func anAnswerFromAStrangerNeverMakesItReady() {
        var m = Machine { $0.startsecs = .seconds(1); $0.readiness = .portAccepts; $0.port = 8000 }
        m.spawn()
        m.on(.timerFired(.probe))
        let stranger = m.on(.probeFinished(.passedByStranger("port 8000 answers from pid 9 (squatter)")))
        #expect(m.lifecycle.health == .starting)
        #expect(stranger == [.arm(.probe, after: .milliseconds(100))])
        m.on(.timerFired(.probe))
        let own = m.on(.probeFinished(.passed))
        #expect(own == [.healthChanged(.ready, detail: "ready (port 8000 accepts connections)")])
    }

    @Test func aRefusedConnectionTakesAReadyWorkerOutUntilItsPortAcceptsAgain() {
        var m = Machine { $0.readiness = .portAccepts; $0.port = 8000 }
        m.spawn()
        m.on(.timerFired(.startsecs))
        m.on(.timerFired(.probe))
        m.on(.probeFinished(.passed))
        let refused = m.on(.connectRefused)
        #expect(m.lifecycle.health == .starting)
        #expect(refused.contains(.arm(.probe, after: .milliseconds(5))))
        #expect(m.on(.connectRefused).isEmpty, "once")
    }

    @Test func aBadCommandIsFatalAtEveryStart() {
        var m = Machine { $0.commandError = "command is empty" }
        #expect(m.on(.start) == [.transition(from: .stopped, to: .fatal, detail: "command is empty")])
        #expect(m.on(.start) == [.transition(from: .fatal, to: .fatal, detail: "command is empty")])
    }

    @Test func fastShutdownKillsAndStaleTimersDoNothing() {
        var m = Machine()
        m.spawn(pid: 9)
        m.on(.shutdownBegan)
        let kill = m.on(.kill)
        #expect(kill.contains(.killGroup) && m.state == .stopping)
        #expect(m.on(.timerFired(.startsecs)).isEmpty, "its startsecs timer was disarmed")
        m.on(.exited(.signaled(SIGKILL, coreDumped: false), lastWords: ""))
        #expect(m.state == .stopped)
        #expect(m.on(.timerFired(.stopWait)).isEmpty)
        #expect(m.on(.probeFinished(.passed)).isEmpty, "a probe that outlived its process is ignored")
    }

    @Test func removedDisarmsEverything() {
        var m = Machine { $0.readiness = .portAccepts; $0.port = 1 }
        m.spawn()
        m.on(.timerFired(.probe))
        let removed = m.on(.removed)
        for timer in Lifecycle.Timer.allCases { #expect(removed.contains(.disarm(timer))) }
        #expect(removed.contains(.cancelProbe))
    }
}
