import Config
import Logs
import System

/// The lifecycle of one supervised process (SPEC §4) as a value: given an
/// event and the time, it moves to its next state and says what must be
/// done (`Action`s). It reads no clock, makes no syscall and holds no
/// reference, so every transition is tested on its own with a test clock
/// (LifecycleTests); `Supervisor` only carries the actions out: it spawns,
/// signals, arms the timers it is asked to, runs probes, and feeds back
/// what happened as events. Written in the style of s6's supervise and
/// OTP's supervisor: one function from (state, event, now) to (state,
/// actions).
package struct Lifecycle: Sendable {
    /// What the config says about this process's life.
    package struct Policy: Sendable, Equatable {
        package var startsecs: Duration = .seconds(1)
        package var startretries = 3
        package var backoffMax: Duration = .seconds(30)
        package var autorestart: AutoRestart = .unexpected
        package var exitcodes: [Int32] = [0]
        package var stopwaitsecs: Duration = .seconds(10)
        package var stopsignal: Int32 = 15
        package var port: Int?
        package var readiness: Readiness = .immediate
        /// supervisord's BadCommand: nothing to run; every start is FATAL.
        package var commandError: String?

        package init() {}

        package init(_ spec: ProcessSpec, proxied: Bool) {
            startsecs = spec.startsecs
            startretries = spec.startretries
            backoffMax = spec.backoffMax
            autorestart = spec.autorestart
            exitcodes = spec.exitcodes
            stopwaitsecs = spec.stopwaitsecs
            stopsignal = spec.stopsignal
            port = spec.port
            commandError = spec.commandError
            if let health = spec.health, spec.port != nil {
                readiness = .healthCheck(health)
            } else if spec.port != nil && proxied {
                readiness = .portAccepts
            } else {
                readiness = .immediate
            }
        }
    }

    /// How a started process shows it is ready for requests.
    package enum Readiness: Sendable, Equatable {
        /// Ready once spawned (no port, or nothing in front of it).
        case immediate
        /// Ready once its port accepts a connection (proxied, no health_path).
        case portAccepts
        /// Ready once `health_path` answers 200; restarted after `fails` misses.
        case healthCheck(HealthCheck)
    }

    /// The timers a lifecycle asks for; one of each at most.
    package enum Timer: Sendable, CaseIterable {
        /// `startsecs` after the spawn: the start succeeded.
        case startsecs
        /// The end of a BACKOFF delay: spawn again.
        case backoff
        /// `stopwaitsecs` after the stop signal: SIGKILL the group.
        case stopWait
        /// The next health or port probe.
        case probe
    }

    /// What a probe found, as the supervisor judged it.
    package enum ProbeResult: Sendable, Equatable {
        case passed
        /// Answered, but from a socket outside the worker's session.
        case passedByStranger(String)
        case failed(String)
        /// Connection refused: nothing listens on the port yet.
        case refused
        case timedOut
        /// It waited for a slot the worker's proxied requests held, or timed
        /// out while the worker was answering one: says nothing against it.
        case busy
    }

    package enum Event: Sendable, Equatable {
        /// An operator start, autostart, or `scale` adding a worker.
        case start
        /// The supervisor launched it (`launch` action) and it has this pid.
        case spawned(pid: Int32)
        /// The launch failed (no such file, a port squatter…).
        case spawnFailed(String)
        /// The launch is under way and answers later (a preload template
        /// forks the worker): STARTING, without a pid yet, until `.spawned`
        /// or `.spawnFailed`.
        case launchPending(String)
        /// SIGCHLD: it exited. `lastWords` is its last stderr line, quoted in logs.
        case exited(ExitStatus, lastWords: String)
        case timerFired(Timer)
        case probeFinished(ProbeResult)
        /// Stop it (operator, scale-down, shutdown).
        case stop
        /// Stop it and start it again once it exited.
        case restart
        /// SIGKILL now (fast shutdown).
        case kill
        /// Out of a proxy's upstream, finishing in-flight requests.
        case drain
        /// A proxy could not connect to it while it was ready.
        case connectRefused
        /// The shutdown began: nothing starts or restarts from now on.
        case shutdownBegan
        /// Leaving the table for good (scale-down, replacement): never again.
        case removed
    }

    package enum Action: Sendable, Equatable {
        /// The state changed: log `detail`, tell the upstream lists.
        case transition(from: ProcessState, to: ProcessState, detail: String)
        /// The health flag changed (joins or leaves the upstream).
        case healthChanged(HealthFlag, detail: String)
        case log(LogLevel, String)
        /// Spawn it now; answer with `.spawned` or `.spawnFailed` (after
        /// `.launchPending` when the answer comes later).
        case launch
        /// A pending launch is not wanted any more (stopped before its fork).
        case cancelLaunch
        /// Send `stopsignal` (and SIGCONT) to it, or to its group with `stopasgroup`.
        case sendStopSignal
        /// SIGKILL its whole group (escalation, fast shutdown).
        case killGroup
        /// After its exit while stopping: SIGKILL what is left of its group.
        case killStragglers
        case arm(Timer, after: Duration)
        case disarm(Timer)
        /// Probe it now; answer with `.probeFinished`.
        case startProbe
        case cancelProbe
        /// Run whoever waited for it to stop.
        case completeStops
    }

    package var policy: Policy
    package private(set) var state: ProcessState = .stopped
    package private(set) var health: HealthFlag = .starting
    /// Failed starts in a row; drives the backoff and FATAL. Only a process
    /// that stayed up `startsecs` resets it, whatever its probes said.
    package private(set) var failures = 0
    /// Times it was started again after its first start.
    package private(set) var restarts = 0
    package private(set) var everStarted = false
    package private(set) var spawnedAt: Instant?
    /// When BACKOFF ends (for `status`).
    package private(set) var retryAt: Instant?
    /// Its pid from `.spawned` to `.exited`; 0 when it is not running.
    package private(set) var pid: Int32 = 0
    package var isAlive: Bool { pid != 0 }
    /// The last stop needed SIGKILL.
    package private(set) var killedDuringStop = false
    package private(set) var restartAfterStop = false
    package private(set) var shuttingDown = false
    package private(set) var removing = false
    private var startsecsPending = false
    /// STARTING on a launch that has not answered yet (`.launchPending`).
    package private(set) var launchPending = false
    private var probeInFlight = false
    private var healthFailures = 0
    private var lastWords = ""

    package init(policy: Policy) {
        self.policy = policy
    }

    /// On its way out of the table (scale-down, replacement): once stopped
    /// it is never started again. Not an event: nothing happens now.
    package mutating func markLeaving() {
        removing = true
        restartAfterStop = false
    }

    /// Carries a not-running process's state over to its successor (new
    /// settings, same slot).
    package mutating func inherit(from old: Lifecycle) {
        state = old.isAlive ? .stopped : old.state
        everStarted = old.everStarted
    }

    /// A successor in the same slot counts as one more start of it.
    package mutating func succeed(_ old: Lifecycle) {
        restarts = old.restarts + 1
        everStarted = old.everStarted
    }

    // MARK: The transition function

    package mutating func handle(_ event: Event, now: Instant) -> [Action] {
        var actions: [Action] = []
        switch event {
        case .start:
            guard !shuttingDown, !removing else { break }
            switch state {
            case .stopped, .exited, .fatal:
                failures = 0
                attemptSpawn(now: now, &actions)
            case .backoff:
                actions.append(.disarm(.backoff))
                attemptSpawn(now: now, &actions)
            case .starting, .running, .stopping:
                break
            }

        case .launchPending(let detail):
            guard !launchPending, !isAlive else { break }
            launchPending = true
            move(to: .starting, detail, &actions)

        case .spawned(let newPid):
            pid = newPid
            spawnedAt = now
            if launchPending {
                launchPending = false
                actions.append(.log(.info, "pid \(pid)"))
            } else {
                move(to: .starting, "pid \(pid)", &actions)
            }
            if policy.startsecs <= .zero {
                failures = 0
                move(to: .running, "pid \(pid), startsecs 0", &actions)
            } else {
                startsecsPending = true
                actions.append(.arm(.startsecs, after: policy.startsecs))
            }
            switch policy.readiness {
            case .healthCheck: actions.append(.arm(.probe, after: .milliseconds(50)))
            case .portAccepts: actions.append(.arm(.probe, after: .milliseconds(5)))
            case .immediate: setHealth(.ready, "", &actions, announce: state == .running)
            }

        case .spawnFailed:
            launchPending = false
            failedStart(now: now, &actions)

        case .exited(let status, let words):
            lastWords = words
            let stayedUp = !startsecsPending
            let exitedPid = pid
            pid = 0
            endRun(&actions)
            switch state {
            case .stopping:
                actions.append(.killStragglers)
                move(to: .stopped, "\(status)", &actions)
                actions.append(.completeStops)
                if restartAfterStop {
                    restartAfterStop = false
                    if !shuttingDown && !removing { attemptSpawn(now: now, &actions) }
                }
            case .starting:
                actions.append(.log(.warn, "exited too quickly (\(status))\(words)"))
                failedStart(now: now, &actions)
            case .running:
                let expected: Bool
                if case .exited(let code) = status { expected = policy.exitcodes.contains(code) } else { expected = false }
                let early = stayedUp ? "" : "; up less than startsecs (\(Self.seconds(policy.startsecs)))"
                move(to: .exited, "\(status); \(expected ? "expected" : "not expected")\(early)\(expected ? "" : words)", &actions)
                let again = policy.autorestart == .always || (policy.autorestart == .unexpected && !expected)
                guard again, !shuttingDown, !removing else { break }
                if stayedUp && failures == 0 {
                    attemptSpawn(now: now, &actions)
                } else {
                    failedStart(now: now, &actions)
                }
            case .stopped, .exited, .fatal, .backoff:
                actions.append(.log(.warn, "pid \(exitedPid) exited in state \(state.rawValue) (\(status))"))
            }

        case .timerFired(.startsecs):
            guard startsecsPending else { break }
            startsecsPending = false
            // Up for startsecs: the start succeeded, whatever the state now.
            failures = 0
            if state == .starting { move(to: .running, "pid \(pid), up \(Self.seconds(policy.startsecs))", &actions) }

        case .timerFired(.backoff):
            guard state == .backoff, !shuttingDown, !removing else { break }
            attemptSpawn(now: now, &actions)

        case .timerFired(.stopWait):
            guard state == .stopping, isAlive else { break }
            actions.append(.log(.warn, "still running \(Self.seconds(policy.stopwaitsecs)) after \(Signals.name(policy.stopsignal)); sending SIGKILL to its group"))
            killedDuringStop = true
            actions.append(.killGroup)

        case .timerFired(.probe):
            guard isAlive, !probeInFlight, state == .starting || state == .running else { break }
            probeInFlight = true
            actions.append(.startProbe)

        case .probeFinished(let result):
            guard probeInFlight, isAlive else { break }
            probeInFlight = false
            probeFinished(result, now: now, &actions)

        case .stop:
            stop(&actions)

        case .restart:
            if isAlive {
                restartAfterStop = true
                stop(&actions)
            } else {
                actions += handle(.start, now: now)
            }

        case .kill:
            guard isAlive else {
                if state == .backoff || launchPending { stop(&actions) }
                break
            }
            endRun(&actions)
            if state != .stopping { move(to: .stopping, "fast shutdown", &actions) }
            killedDuringStop = true
            actions.append(.killGroup)

        case .drain:
            guard isAlive, health != .draining else { break }
            setHealth(.draining, "draining", &actions, announce: true)

        case .connectRefused:
            guard health == .ready, isAlive, policy.readiness != .immediate else { break }
            setHealth(.starting, "its port refused a connection; probing again", &actions, announce: true)
            if !probeInFlight { actions.append(.arm(.probe, after: .milliseconds(5))) }

        case .shutdownBegan:
            shuttingDown = true

        case .removed:
            removing = true
            restartAfterStop = false
            if launchPending {
                launchPending = false
                actions.append(.cancelLaunch)
            }
            for timer in Timer.allCases { actions.append(.disarm(timer)) }
            if probeInFlight { probeInFlight = false; actions.append(.cancelProbe) }
        }
        return actions
    }

    // MARK: Steps

    private mutating func attemptSpawn(now: Instant, _ actions: inout [Action]) {
        guard !removing else { return }
        if let reason = policy.commandError {
            move(to: .fatal, reason, &actions)
            return
        }
        retryAt = nil
        if everStarted { restarts += 1 }
        everStarted = true
        health = .starting
        actions.append(.launch)
    }

    /// A start that did not last: BACKOFF with the next delay, or FATAL
    /// after `startretries` failed starts in a row (0 retries forever).
    private mutating func failedStart(now: Instant, _ actions: inout [Action]) {
        failures += 1
        if shuttingDown {
            move(to: .stopped, "during shutdown", &actions)
            return
        }
        if policy.startretries > 0 && failures > policy.startretries {
            move(to: .fatal, "gave up after \(failures) failed starts in a row\(lastWords)", &actions)
            return
        }
        let delay = Backoff.delay(afterFailures: failures, cap: policy.backoffMax)
        retryAt = now + delay
        move(to: .backoff, "retry in \(Self.seconds(delay)) (failed start \(failures))", &actions)
        actions.append(.arm(.backoff, after: delay))
    }

    private mutating func stop(_ actions: inout [Action]) {
        if launchPending {
            // Nothing runs yet: the launch is called off, no signal to send.
            launchPending = false
            actions.append(.cancelLaunch)
            move(to: .stopped, "stopped before its launch answered", &actions)
            actions.append(.completeStops)
            return
        }
        switch state {
        case .starting, .running:
            endRun(&actions)
            killedDuringStop = false
            move(to: .stopping, "sending \(Signals.name(policy.stopsignal))", &actions)
            actions.append(.sendStopSignal)
            actions.append(.arm(.stopWait, after: policy.stopwaitsecs))
        case .stopping:
            break
        case .backoff:
            actions.append(.disarm(.backoff))
            retryAt = nil
            move(to: .stopped, "was in backoff", &actions)
            actions.append(.completeStops)
        case .stopped, .exited, .fatal:
            actions.append(.completeStops)
        }
    }

    /// The run's timers and probe end (it exits or is being stopped).
    private mutating func endRun(_ actions: inout [Action]) {
        if startsecsPending { startsecsPending = false; actions.append(.disarm(.startsecs)) }
        actions.append(.disarm(.probe))
        if probeInFlight { probeInFlight = false; actions.append(.cancelProbe) }
        healthFailures = 0
        if !isAlive { actions.append(.disarm(.stopWait)) }
    }

    private mutating func probeFinished(_ result: ProbeResult, now: Instant, _ actions: inout [Action]) {
        let age = spawnedAt.map { now.duration(since: $0) } ?? .zero
        switch policy.readiness {
        case .immediate:
            return
        case .portAccepts:
            switch result {
            case .passed:
                if health != .ready { setHealth(.ready, "ready (port \(policy.port ?? 0) accepts connections)", &actions, announce: true) }
            case .passedByStranger:
                // The supervisor said whose answer it was (once).
                actions.append(.arm(.probe, after: .milliseconds(100)))
            case .failed, .refused, .timedOut, .busy:
                // Asked often, so a restarted worker rejoins within milliseconds.
                actions.append(.arm(.probe, after: age < .seconds(1) ? .milliseconds(5) : .milliseconds(50)))
            }
        case .healthCheck(let check):
            let shortly = min(check.interval, .milliseconds(100))
            switch result {
            case .passed:
                healthFailures = 0
                if health != .ready {
                    if state == .starting {
                        // Answering its health check proves it is up; only
                        // startsecs of uptime proves the start (failures).
                        move(to: .running, "pid \(pid), passed health check", &actions)
                    }
                    setHealth(.ready, "ready (health check passed)", &actions, announce: true)
                }
                actions.append(.arm(.probe, after: check.interval))
            case .passedByStranger:
                // Not the worker's answer: no proof it started, nothing to count.
                actions.append(.arm(.probe, after: shortly))
            case .busy:
                actions.append(.arm(.probe, after: check.interval))
            case .failed, .refused, .timedOut:
                if health == .starting && age < check.startPeriod {
                    // A model loading: keep asking often, count nothing yet.
                    // Refused costs the worker nothing (its port is not
                    // open yet): asked every 10 ms for the first 2 s, so a
                    // replacement is ready within 10 ms of opening its port
                    // rather than up to 100 ms later.
                    let soon = result == .refused && age < .seconds(2) ? min(shortly, .milliseconds(10)) : shortly
                    actions.append(.arm(.probe, after: soon))
                    return
                }
                healthFailures += 1
                let reason: String
                switch result {
                case .failed(let text): reason = text
                case .refused: reason = "connection refused"
                default: reason = "no answer within \(Self.seconds(check.timeout))"
                }
                actions.append(.log(.warn, "health check failed (\(healthFailures)/\(check.fails)): \(reason)"))
                if healthFailures >= check.fails {
                    healthFailures = 0
                    setHealth(.unhealthy, "unhealthy; restarting", &actions, announce: true)
                    restartAfterStop = true
                    stop(&actions)
                } else {
                    actions.append(.arm(.probe, after: check.interval))
                }
            }
        }
    }

    private mutating func move(to next: ProcessState, _ detail: String, _ actions: inout [Action]) {
        let previous = state
        state = next
        actions.append(.transition(from: previous, to: next, detail: detail))
    }

    private mutating func setHealth(_ flag: HealthFlag, _ detail: String, _ actions: inout [Action], announce: Bool) {
        health = flag
        if announce { actions.append(.healthChanged(flag, detail: detail)) }
    }

    static func seconds(_ duration: Duration) -> String {
        Supervisor.seconds(duration.configSeconds)
    }
}
