import Config
import Glibc
import Logs
import System

/// The process state machine of SPEC §4, driven by the reactor: spawns,
/// SIGCHLD-driven exits, startsecs, exponential backoff, stop escalation,
/// health probes. Every method runs on the reactor thread.
package final class Supervisor {
    package struct Options {
        /// Copy worker output to drover's stdout/stderr when a program does not say.
        package var defaultMirror: Bool
        /// Prefix mirrored lines with `name | ` (off for a lone tini-style child).
        package var mirrorPrefix: Bool = true
        /// Color the prefix, one color per program (drover's stdout is a
        /// terminal), as `docker compose up` does.
        package var colorPrefix = false
        package var ringCapacity: Int = 64 * 1024
        /// drover's own executable, re-run as `__exec-as` to drop privileges.
        package var selfExecutable: String
        package var baseEnvironment: [String: String]
        /// tini mode: the lone child shares drover's stdin/stdout/stderr and
        /// terminal (own process group, not a new session).
        package var inheritStdio = false

        package init(defaultMirror: Bool, selfExecutable: String, baseEnvironment: [String: String]) {
            self.defaultMirror = defaultMirror
            self.selfExecutable = selfExecutable
            self.baseEnvironment = baseEnvironment
        }
    }

    package let reactor: Reactor
    let log: EventLog
    let options: Options
    let console: (stdout: ConsoleWriter, stderr: ConsoleWriter)
    /// In start order: priority, then config order, then process_num.
    package internal(set) var processes: [ManagedProcess] = []
    package internal(set) var programs: [String: ProgramConfig] = [:]
    private var byPid: [pid_t: ManagedProcess] = [:]
    package private(set) var shuttingDown = false
    private lazy var memoryWatch = MemoryWatch(supervisor: self)
    /// The listening sockets of [fcgi-program:x] pools (FcgiSockets.swift).
    let fcgiSockets = FcgiSockets()
    /// Called after every state or health change (the proxy's upstream list follows it).
    package var onChange: ((ManagedProcess) -> Void)?
    /// Programs or groups behind a proxy: without a health_path their workers
    /// are ready once their port accepts connections.
    package var proxiedUpstreams: Set<String> = []
    /// Ports a replacement must not take (the proxies' own listeners).
    package var reservedPorts: Set<Int> = []
    /// Programs with a replacement (rolling, reload, recycle) under way, and
    /// the ones waiting for it to end.
    var replacementsRunning: Set<String> = []
    var replacementsWaiting: [String: [(@escaping () -> Void) -> Void]] = [:]
    /// Probes of workers in a proxy's upstream go through the proxy (set by
    /// the daemon); nil, or nil from it, means a connection of their own.
    package var probeTransport: HealthProbeTransport?
    /// Called when a worker exits, with its status (tini mode passes it through).
    package var onExit: ((ManagedProcess, ExitStatus) -> Void)?

    package init(reactor: Reactor, log: EventLog, console: (stdout: ConsoleWriter, stderr: ConsoleWriter), options: Options) {
        self.reactor = reactor
        self.log = log
        self.console = console
        self.options = options
    }

    // MARK: Table

    @discardableResult
    package func add(program: ProgramConfig) -> [ManagedProcess] {
        programs[program.name] = program
        let added = program.processes.map(makeProcess)
        processes.append(contentsOf: added)
        sortTable()
        memoryWatch.update()
        return added
    }

    func makeProcess(_ spec: ProcessSpec) -> ManagedProcess {
        let mirror = spec.stdoutMirror ?? options.defaultMirror
        let prefix = options.mirrorPrefix ? Self.mirrorPrefix(spec.name, program: spec.programName, color: options.colorPrefix) : ""
        let stdoutSink = openSink(spec.stdout, for: spec, stream: "stdout")
        let stdout = OutputCapture(ringCapacity: options.ringCapacity, sink: stdoutSink,
                                   mirror: mirror && !isConsole(stdoutSink) ? console.stdout : nil, prefix: prefix)
        var stderr: OutputCapture?
        if !spec.redirectStderr {
            let stderrSink = openSink(spec.stderr, for: spec, stream: "stderr")
            stderr = OutputCapture(ringCapacity: options.ringCapacity, sink: stderrSink,
                                   mirror: mirror && !isConsole(stderrSink) ? console.stderr : nil, prefix: prefix)
        }
        return ManagedProcess(spec: spec, stdout: stdout, stderr: stderr)
    }

    /// `web_01 | `, in the program's color at a terminal (the color follows
    /// the program, so a pool reads as one block of color).
    static func mirrorPrefix(_ name: String, program: String, color: Bool) -> String {
        guard color else { return "\(name) | " }
        // Cyan, yellow, green, magenta, blue, then the bright ones (not red: errors).
        let palette = [36, 33, 32, 35, 34, 96, 93, 92, 95, 94]
        var hash: UInt32 = 2_166_136_261
        for byte in program.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
        let code = palette[Int(hash % UInt32(palette.count))]
        return "\u{1B}[\(code)m\(name) |\u{1B}[0m "
    }

    private func isConsole(_ sink: OutputSink?) -> Bool {
        if case .console = sink { return true }
        return false
    }

    private func openSink(_ target: LogTarget, for spec: ProcessSpec, stream: String) -> OutputSink? {
        guard case .file(let path, let maxBytes, let backups) = target else { return nil }
        switch path {
        case "/dev/stdout", "/dev/fd/1", "/proc/self/fd/1": return .console(console.stdout)
        case "/dev/stderr", "/dev/fd/2", "/proc/self/fd/2": return .console(console.stderr)
        default:
            // A file that cannot be opened or written now is said once and
            // tried again later; the ring buffer keeps the output meanwhile.
            let log = self.log
            let name = spec.fullName
            return .file(RotatingLogFile(path: path, maxBytes: maxBytes, backups: backups) { [unowned log] message in
                log.warn(name, "\(stream): \(message)")
            })
        }
    }

    func sortTable() {
        let order = Dictionary(uniqueKeysWithValues: programs.keys.sorted().enumerated().map { ($1, $0) })
        processes.sort {
            ($0.spec.priority, order[$0.spec.programName] ?? 0, $0.spec.number)
                < ($1.spec.priority, order[$1.spec.programName] ?? 0, $1.spec.number)
        }
    }

    package func process(named name: String) -> ManagedProcess? {
        processes.first { $0.name == name || $0.spec.name == name }
    }

    package func processes(ofProgram program: String) -> [ManagedProcess] {
        processes.filter { $0.spec.programName == program }
    }

    // MARK: Starting

    package func startAll() {
        for process in processes where process.spec.autostart && process.state == .stopped {
            start(process)
        }
    }

    /// Start a STOPPED, EXITED, FATAL or BACKOFF process now.
    package func start(_ process: ManagedProcess) {
        // A worker on its way out of the table never runs again.
        guard !shuttingDown, !process.removing else { return }
        switch process.state {
        case .stopped, .exited, .fatal:
            process.failures = 0
            spawn(process)
        case .backoff:
            reactor.cancel(process.stateTimer)
            spawn(process)
        case .starting, .running, .stopping:
            return
        }
    }

    private func spawn(_ process: ManagedProcess) {
        guard !process.removing else { return }
        let spec = process.spec
        if let reason = spec.commandError {
            // supervisord's BadCommand: nothing to run; FATAL with the reason.
            process.lastSpawnError = reason
            return transition(process, to: .fatal, detail: reason)
        }
        process.retryAt = nil
        process.stateTimer = nil
        if process.everStarted { process.restarts += 1 }
        process.everStarted = true
        process.health = .starting
        process.lastSpawnError = nil
        process.proxiedRequests = 0

        if let port = spec.port, let squatter = Self.squatter(on: port) {
            // Spawning would only race it for the port (EADDRINUSE), and its
            // answers would pass the worker's probes: say who it is instead.
            process.lastSpawnError = squatter
            if let line = process.spawnNotice.failed(squatter) {
                log.error(spec.fullName, "cannot start: \(line)")
            }
            failedStart(process)
            return
        }
        let pid: pid_t
        do {
            pid = try launch(process)
        } catch {
            process.lastSpawnError = error.description
            if let line = process.spawnNotice.failed(error.description) {
                log.error(spec.fullName, "spawn error: \(line)")
            } else {
                log.debug(spec.fullName, "spawn error (again): \(error)")
            }
            failedStart(process)
            return
        }
        if let line = process.spawnNotice.succeeded() {
            log.info(spec.fullName, "spawned again: \(line)")
        }
        process.pid = pid
        byPid[pid] = process
        process.outputMarkAtSpawn = process.errorOutput.mark
        process.spawnedAt = .now
        process.spawnedWallNs = WallClock.nowNanoseconds()
        transition(process, to: .starting, detail: "pid \(pid)")

        process.startsecsTimer = reactor.schedule(after: spec.startsecs) { [unowned self, unowned process] in
            process.startsecsTimer = nil
            // Up for startsecs: the start succeeded, whatever the state now.
            process.failures = 0
            if process.state == .starting {
                self.transition(process, to: .running, detail: "pid \(process.pid), up \(Self.seconds(spec.startsecs.configSeconds))")
            }
        }
        if spec.startsecs <= .zero {
            reactor.cancel(process.startsecsTimer)
            process.startsecsTimer = nil
            process.failures = 0
            transition(process, to: .running, detail: "pid \(pid), startsecs 0")
        }
        if spec.health != nil && spec.port != nil {
            scheduleProbe(process, after: 0.05)
        } else if spec.port != nil && isProxied(spec) {
            scheduleProbe(process, after: 0.005)
        } else {
            process.health = .ready
            if process.state == .running { changed(process) }
        }
    }

    /// Every descriptor made here is owned (move-only): whichever step
    /// throws, the ones made before it are closed as they go out of scope;
    /// the child's ends are closed once it has them, the read ends move to
    /// the output readers.
    private func launch(_ process: ManagedProcess) throws(SystemError) -> pid_t {
        let spec = process.spec
        if options.inheritStdio {
            var request = SpawnRequest(argv: spec.argv, environment: environmentList(for: spec),
                                       directory: spec.directory, umask: spec.umask)
            request.newSession = false
            let pid = try Spawner.spawn(request)
            Spawner.giveTerminalForeground(to: pid)
            return pid
        }
        var argv = spec.argv
        if let user = spec.user, user.uid != geteuid() {
            guard geteuid() == 0 else {
                throw SystemError("setuid", errno: EPERM, context: "to user \(user.name) (drover is not root)")
            }
            argv = [options.selfExecutable, "__exec-as", String(user.uid), String(user.gid),
                    user.groups.map(String.init).joined(separator: ","), "--"] + argv
        }
        let stdoutPipe = try PipePair(nonblockingRead: true)
        let stderrPipe: PipePair? = process.stderr != nil ? try PipePair(nonblockingRead: true) : nil
        // /dev/null, or an fcgi-program's socket (a duplicate this spawn owns).
        let stdin = try standardInput(for: spec)
        let stdoutWrite = stdoutPipe.writeEnd.borrowed
        let request = SpawnRequest(argv: argv, environment: environmentList(for: spec),
                                   directory: spec.directory, umask: spec.umask,
                                   stdin: stdin.borrowed, stdout: stdoutWrite,
                                   stderr: PipePair.writeEnd(of: stderrPipe) ?? stdoutWrite)
        let pid = try Spawner.spawn(request)
        stdin.close()
        let stdoutRead = stdoutPipe.closingWriteEnd()
        do {
            try process.stdout.attach(stdoutRead, reactor: reactor)
        } catch {
            log.error(spec.fullName, "cannot read output: \(error)")
        }
        if let stderrPipe {
            let stderrRead = stderrPipe.closingWriteEnd()
            if let capture = process.stderr {
                do { try capture.attach(stderrRead, reactor: reactor) } catch {
                    log.error(spec.fullName, "cannot read stderr: \(error)")
                }
            }
        }
        return pid
    }

    /// drover's own environment, then the account's (with `user =`), then the config's.
    private func environmentList(for spec: ProcessSpec) -> [String] {
        var environment = options.baseEnvironment
        if let user = spec.user {
            environment["HOME"] = user.home
            environment["USER"] = user.name
            environment["LOGNAME"] = user.name
        }
        for (key, value) in spec.environment { environment[key] = value }
        return environment.map { "\($0.key)=\($0.value)" }
    }

    /// A start that did not last: BACKOFF with the next delay, or FATAL
    /// after `startretries` (0 retries forever).
    private func failedStart(_ process: ManagedProcess) {
        process.failures += 1
        let spec = process.spec
        if shuttingDown {
            transition(process, to: .stopped, detail: "during shutdown")
            return
        }
        if spec.startretries > 0 && process.failures > spec.startretries {
            transition(process, to: .fatal, detail: "gave up after \(process.failures) failed starts in a row\(Self.lastWords(process))")
            return
        }
        let delay = Backoff.delay(afterFailures: process.failures, cap: spec.backoffMax.configSeconds)
        process.retryAt = Instant.now.adding(seconds: delay)
        transition(process, to: .backoff, detail: "retry in \(Self.seconds(delay)) (failed start \(process.failures))")
        process.stateTimer = reactor.schedule(after: delay) { [unowned self, unowned process] in
            process.stateTimer = nil
            if process.state == .backoff && !self.shuttingDown { self.spawn(process) }
        }
    }

    // MARK: Exits

    /// From the reaper: returns false for a pid that is not ours (an orphan).
    @discardableResult
    package func childExited(pid: pid_t, status: ExitStatus) -> Bool {
        guard let process = byPid.removeValue(forKey: pid) else { return false }
        let spec = process.spec
        process.pid = 0
        process.lastExit = status
        process.exitedWallNs = WallClock.nowNanoseconds()
        // Only a worker that stayed up startsecs has started, whatever its
        // probes said: one that passed a probe and died 0.3 s later is a
        // failed start (backoff, startretries, FATAL), not a clean exit.
        let stayedUp = process.startsecsTimer == nil
        reactor.cancel(process.startsecsTimer)
        process.startsecsTimer = nil
        process.errorOutput.readPending()
        process.lastExitOutput = process.errorOutput.lastLines(3, since: process.outputMarkAtSpawn)
        let lastWords = Self.lastWords(process)
        cancelProbing(process)
        reactor.cancel(process.stateTimer)
        process.stateTimer = nil
        onExit?(process, status)

        switch process.state {
        case .stopping:
            // Stragglers of the group (children that ignored the stop signal) go too.
            if spec.stopasgroup || spec.killasgroup { _ = Signals.send(SIGKILL, toGroup: pid) }
            transition(process, to: .stopped, detail: "\(status)")
            let completions = process.stopCompletions
            process.stopCompletions = []
            for completion in completions { completion() }
            if process.restartAfterStop {
                process.restartAfterStop = false
                if !shuttingDown && !process.removing { spawn(process) }
            }
        case .starting:
            log.warn(spec.fullName, "exited too quickly (\(status))\(lastWords)")
            failedStart(process)
        case .running:
            let expected: Bool
            if case .exited(let code) = status { expected = spec.exitcodes.contains(code) } else { expected = false }
            let uptime = stayedUp ? "" : "; up less than startsecs (\(Self.seconds(spec.startsecs.configSeconds)))"
            transition(process, to: .exited, detail: "\(status); \(expected ? "expected" : "not expected")\(uptime)\(expected ? "" : lastWords)")
            let again = spec.autorestart == .always || (spec.autorestart == .unexpected && !expected)
            guard again, !shuttingDown else { return true }
            if stayedUp && process.failures == 0 {
                spawn(process)
            } else {
                failedStart(process)
            }
        case .stopped, .exited, .fatal, .backoff:
            log.warn(spec.fullName, "pid \(pid) exited in state \(process.state.rawValue) (\(status))")
        }
        return true
    }

    // MARK: Stopping

    /// Stop with `stopsignal`, then SIGKILL the group after `stopwaitsecs`.
    package func stop(_ process: ManagedProcess, then completion: (() -> Void)? = nil) {
        let spec = process.spec
        switch process.state {
        case .starting, .running:
            reactor.cancel(process.startsecsTimer)
            process.startsecsTimer = nil
            cancelProbing(process)
            if let completion { process.stopCompletions.append(completion) }
            process.killedDuringStop = false
            transition(process, to: .stopping, detail: "sending \(Signals.name(spec.stopsignal))")
            if spec.stopasgroup {
                _ = Signals.send(spec.stopsignal, toGroup: process.pid)
                _ = Signals.send(SIGCONT, toGroup: process.pid)
            } else {
                _ = Signals.send(spec.stopsignal, toProcess: process.pid)
                // A stopped (SIGSTOP) worker acts on the stop signal only once continued, as systemd does.
                _ = Signals.send(SIGCONT, toProcess: process.pid)
            }
            process.stateTimer = reactor.schedule(after: spec.stopwaitsecs) { [unowned self, unowned process] in
                process.stateTimer = nil
                guard process.state == .stopping, process.pid > 0 else { return }
                self.log.warn(spec.fullName, "still running \(Self.seconds(spec.stopwaitsecs.configSeconds)) after \(Signals.name(spec.stopsignal)); sending SIGKILL to its group")
                self.kill(process)
            }
        case .stopping:
            if let completion { process.stopCompletions.append(completion) }
        case .backoff:
            reactor.cancel(process.stateTimer)
            process.stateTimer = nil
            process.retryAt = nil
            transition(process, to: .stopped, detail: "was in backoff")
            completion?()
        case .stopped, .exited, .fatal:
            completion?()
        }
    }

    /// SIGKILL the whole group: each worker leads its own session, so this
    /// reaches everything it started and nothing else.
    func kill(_ process: ManagedProcess) {
        guard process.pid > 0 else { return }
        process.killedDuringStop = true
        if !Signals.send(SIGKILL, toGroup: process.pid) { _ = Signals.send(SIGKILL, toProcess: process.pid) }
    }

    package func restart(_ process: ManagedProcess) {
        if process.hasProcess {
            process.restartAfterStop = true
            stop(process)
        } else {
            start(process)
        }
    }

    /// Replace a worker that is still working but should not go on (max_memory,
    /// later max_requests): out of the upstream, stopped gracefully, started again.
    package func recycle(_ process: ManagedProcess, reason: String) {
        guard process.state == .running, process.health != .draining, !process.recycling,
              !process.removing, !process.replacing else { return }
        if isProxied(process.spec) && process.spec.port != nil {
            // Replacement first: the pool never has one worker fewer.
            process.recycling = true
            // Weak: by its turn the worker may have been removed (and freed).
            serially(process.spec.programName) { [unowned self, weak process] done in
                guard let process else { return done() }
                guard process.state == .running, process.pid > 0, !process.removing, !process.replacing,
                      self.canReplaceFirst(process) else {
                    process.recycling = false
                    if process.state == .running && !process.removing && !process.replacing {
                        self.drainAndRestart(process, reason: reason)
                    }
                    return done()
                }
                self.replaceFirst(process, base: process.baseSpec, reason: "recycling (\(reason))") { _ in
                    process.recycling = false
                    done()
                }
            }
            return
        }
        drainAndRestart(process, reason: reason)
    }

    private func drainAndRestart(_ process: ManagedProcess, reason: String) {
        log.warn(process.name, "recycling: \(reason)")
        process.health = .draining
        changed(process)
        // Out of the upstream now; stopped once its in-flight requests finish.
        let pid = process.pid
        var done = false
        // Weak: the worker may be gone from the table (scaled away) before
        // the drain limit passes.
        let proceed = { [weak self, weak process] in
            guard !done else { return }
            done = true
            guard let self, let process, process.pid == pid, process.health == .draining, !process.removing else { return }
            self.restart(process)
        }
        if process.inflight == 0 { return proceed() }
        process.idleWaiters.append(proceed)
        reactor.schedule(after: 120) { proceed() }
    }

    package func signal(_ signal: Int32, _ process: ManagedProcess) -> Bool {
        process.pid > 0 && Signals.send(signal, toProcess: process.pid)
    }

    /// The shutdown signal came: from now on nothing is started or restarted
    /// (SPEC §8), while the proxies may still be draining for a while.
    package func beginShutdown() {
        shuttingDown = true
    }

    /// Graceful: stop by priority, highest first, each level waiting for the
    /// one before (supervisord's order). Completes with true when every
    /// process stopped without SIGKILL.
    package func shutdown(completion: @escaping (Bool) -> Void) {
        shuttingDown = true
        let levels = Dictionary(grouping: processes, by: { $0.spec.priority }).sorted { $0.key > $1.key }.map(\.value)
        var clean = true
        func stopLevel(_ index: Int) {
            guard index < levels.count else { return completion(clean) }
            let level = levels[index]
            var remaining = level.count
            guard remaining > 0 else { return stopLevel(index + 1) }
            for process in level {
                stop(process) { [unowned process] in
                    if process.killedDuringStop { clean = false }
                    remaining -= 1
                    if remaining == 0 { stopLevel(index + 1) }
                }
            }
        }
        stopLevel(0)
    }

    /// Fast: SIGKILL every group now; completes when all are reaped.
    package func killAll(completion: @escaping () -> Void) {
        shuttingDown = true
        let running = processes.filter(\.hasProcess)
        var remaining = running.count
        for process in processes where process.state == .backoff { stop(process) }
        guard remaining > 0 else { return completion() }
        for process in running {
            if process.state != .stopping {
                transition(process, to: .stopping, detail: "fast shutdown")
            }
            process.stopCompletions.append {
                remaining -= 1
                if remaining == 0 { completion() }
            }
            kill(process)
        }
    }

    // MARK: Scaling

    /// A program's pool size: its slots (process_num) with a worker that is
    /// not on its way out. A worker and the replacement starting beside it
    /// share a slot, so a replacement under way never counts twice, and
    /// workers being removed never count at all.
    package func poolSize(ofProgram name: String) -> Int {
        Set(processes(ofProgram: name).lazy.filter { !$0.removing }.map(\.spec.number)).count
    }

    /// Grow or shrink a program's pool to `count` slots. New workers take the
    /// lowest free process_num; shrinking removes the highest slots (a
    /// worker and its replacement together). Applied at once, whatever else
    /// runs on the program: replacements skip slots that went away.
    package func scale(program name: String, to count: Int) throws(SupervisorError) {
        guard let program = programs[name] else {
            throw SupervisorError("no program named '\(name)'", code: "no_such_program")
        }
        guard count >= 0 else { throw SupervisorError("cannot scale \(name) to \(count)", code: "bad_count") }
        guard !shuttingDown else { throw SupervisorError("drover is shutting down", code: "shutting_down") }
        let live = processes(ofProgram: name).filter { !$0.removing }
        let slots = Set(live.map(\.spec.number)).sorted()
        if count > slots.count {
            // Numbers still held by a worker being removed stay taken until it is gone.
            var taken = Set(processes(ofProgram: name).map(\.spec.number))
            var next = program.numprocsStart
            var added: [ManagedProcess] = []
            for _ in slots.count..<count {
                while taken.contains(next) { next += 1 }
                taken.insert(next)
                var spec: ProcessSpec
                let base: ProcessSpec
                do throws(ConfigDiagnostic) {
                    base = try program.process(number: next)
                    spec = base
                    // Its own port may be held by a replacement that started beside another worker.
                    if let port = spec.port, processes.contains(where: { $0.spec.port == port && ($0.hasProcess || $0.state == .backoff) }),
                       let spare = sparePort(in: program) {
                        spec = try program.process(number: next, port: spare)
                    }
                } catch {
                    throw SupervisorError("cannot add \(name) worker \(next): \(error.message)", code: "bad_config")
                }
                let process = makeProcess(spec)
                process.baseSpec = base
                processes.append(process)
                added.append(process)
                log.info(spec.fullName, "added (scale \(name) to \(count))")
            }
            sortTable()
            for process in added { start(process) }
        } else if count < slots.count {
            let leaving = Set(slots[count...])
            for process in live.reversed() where leaving.contains(process.spec.number) {
                process.removing = true
                log.info(process.name, "removing (scale \(name) to \(count))")
                stop(process) { [unowned self, unowned process] in self.remove(process) }
            }
        }
        memoryWatch.update()
    }

    /// Out of the table for good. Nothing of it may run later: its timers
    /// and probe are cancelled and it is never started again (`removing`).
    func remove(_ process: ManagedProcess) {
        process.removing = true
        process.restartAfterStop = false
        processes.removeAll { $0 === process }
        reactor.cancel(process.stateTimer)
        process.stateTimer = nil
        reactor.cancel(process.startsecsTimer)
        process.startsecsTimer = nil
        cancelProbing(process)
        process.stdout.close()
        process.stderr?.close()
        changed(process)
        process.observers = []
        // Whoever waited for it to go idle (a drain) learns now that it is gone.
        let waiters = process.idleWaiters
        process.idleWaiters = []
        for waiter in waiters { waiter() }
    }

    // MARK: Health

    private func scheduleProbe(_ process: ManagedProcess, after delay: Double) {
        reactor.cancel(process.probeTimer)
        process.probeTimer = reactor.schedule(after: delay) { [unowned self, unowned process] in
            process.probeTimer = nil
            guard process.pid > 0, process.probe == nil else { return }
            self.probe(process)
        }
    }

    private func cancelProbing(_ process: ManagedProcess) {
        reactor.cancel(process.probeTimer)
        process.probeTimer = nil
        process.probe?.cancel()
        process.probe = nil
        process.healthFailures = 0
    }

    func isProxied(_ spec: ProcessSpec) -> Bool {
        proxiedUpstreams.contains(spec.programName) || proxiedUpstreams.contains(spec.groupName)
    }

    private func probe(_ process: ManagedProcess) {
        guard let port = process.spec.port else { return }
        let pidAtStart = process.pid
        guard let check = process.spec.health else {
            // No probe configured: ready once the port accepts; asked often,
            // so a restarted worker rejoins the upstream within milliseconds.
            process.probe = HealthProbe(reactor: reactor, port: port, path: nil, timeout: 1) {
                [unowned self, unowned process] outcome in
                process.probe = nil
                guard process.pid == pidAtStart, process.pid > 0 else { return }
                self.portProbeFinished(process, outcome)
            }
            return
        }
        let inflightAtStart = process.inflight
        let sentAt = reactor.now
        let finished: (HealthProbe.Outcome) -> Void = { [unowned self, unowned process] outcome in
            process.probe = nil
            guard process.pid == pidAtStart, process.pid > 0 else { return }
            let busy = inflightAtStart > 0 || process.inflight > 0
            if outcome == .passed && !busy { process.probeSeconds = self.reactor.now.seconds(since: sentAt) }
            self.probeFinished(process, outcome, busy: busy)
        }
        let timeout = check.timeout.configSeconds
        if let carried = probeTransport?(process, check.path, timeout, finished) {
            process.probe = carried
            return
        }
        process.probe = HealthProbe(reactor: reactor, port: port, path: check.path, timeout: timeout, completion: finished)
    }

    private func portProbeFinished(_ process: ManagedProcess, _ outcome: HealthProbe.Outcome) {
        let age = Instant.now.seconds(since: process.spawnedAt ?? .now)
        guard outcome == .passed else {
            return scheduleProbe(process, after: age < 1 ? 0.005 : 0.05)
        }
        guard process.health != .ready else { return }
        if let stranger = strangerAnswers(for: process) {
            warnOnce(process, stranger)
            return scheduleProbe(process, after: 0.1)
        }
        process.health = .ready
        log.info(process.name, "ready (port \(process.spec.port ?? 0) accepts connections)")
        changed(process)
    }

    /// The proxy could not connect to a worker it had as ready: out of the
    /// upstream until its port accepts again.
    package func recheckReadiness(_ process: ManagedProcess) {
        guard process.health == .ready, process.pid > 0, process.spec.port != nil else { return }
        process.health = .starting
        changed(process)
        scheduleProbe(process, after: 0.005)
    }

    private func probeFinished(_ process: ManagedProcess, _ outcome: HealthProbe.Outcome, busy: Bool) {
        let check = process.spec.health!
        let inStartPeriod = process.health == .starting
            && Instant.now.seconds(since: process.spawnedAt ?? .now) < check.startPeriod.configSeconds
        switch outcome {
        case .passed:
            process.healthFailures = 0
            if process.health != .ready, let stranger = strangerAnswers(for: process) {
                // Not the worker's answer: no proof it started, nothing to count.
                warnOnce(process, stranger)
                return scheduleProbe(process, after: min(check.interval.configSeconds, 0.1))
            }
            if process.health != .ready {
                process.health = .ready
                if process.state == .starting {
                    // Answering its health check proves the start succeeded.
                    transition(process, to: .running, detail: "pid \(process.pid), passed health check")
                }
                log.info(process.name, "ready (health check passed)")
                changed(process)
            }
            scheduleProbe(process, after: check.interval.configSeconds)
        case .busy:
            // Its slots were answering proxied requests: that says nothing
            // against it (read_timeout bounds a stuck one); ask again later.
            scheduleProbe(process, after: check.interval.configSeconds)
        case .failed, .timedOut:
            if inStartPeriod {
                // A model loading: keep asking often, count nothing yet.
                scheduleProbe(process, after: min(check.interval.configSeconds, 0.1))
                return
            }
            if outcome == .timedOut && busy {
                // A single-threaded worker busy with a proxied request cannot
                // answer; read_timeout bounds that request instead.
                scheduleProbe(process, after: check.interval.configSeconds)
                return
            }
            process.healthFailures += 1
            let failures = process.healthFailures
            let reason: String
            if case .failed(let text) = outcome { reason = text } else { reason = "no answer within \(Self.seconds(check.timeout.configSeconds))" }
            log.warn(process.name, "health check failed (\(failures)/\(check.fails)): \(reason)")
            if failures >= check.fails {
                process.healthFailures = 0
                process.health = .unhealthy
                log.warn(process.name, "unhealthy; restarting")
                changed(process)
                restart(process)
            } else {
                scheduleProbe(process, after: check.interval.configSeconds)
            }
        }
    }

    // MARK: Port ownership

    /// `port 8101 is in use by pid 4242 (python3 other.py)` when another
    /// process listens on the port a worker is about to get; nil when free.
    static func squatter(on port: Int) -> String? {
        let ownership = PortOwnership()
        let inodes = ownership.listeningInodes(port: port)
        guard !inodes.isEmpty else { return nil }
        let holders = ownership.holders(of: inodes)
        if holders.isEmpty { return "port \(port) is in use by a process drover cannot see (another user or namespace)" }
        return "port \(port) is in use by " + holders.map(\.description).joined(separator: ", ")
    }

    /// Why a passing probe was answered by someone else: the port's
    /// listening socket is held only by processes outside the worker's
    /// session. nil when it is the worker's, or when /proc cannot tell.
    func strangerAnswers(for process: ManagedProcess) -> String? {
        guard let port = process.spec.port, process.pid > 0,
              let holders = PortOwnership().listeners(port: port), !holders.isEmpty else { return nil }
        if holders.contains(where: { $0.session == process.pid || $0.pid == process.pid }) { return nil }
        return "port \(port) answers from " + holders.map(\.description).joined(separator: ", ") + ", not from this worker (pid \(process.pid))"
    }

    private func warnOnce(_ process: ManagedProcess, _ message: String) {
        if let line = process.spawnNotice.failed(message) { log.warn(process.name, line) }
    }

    // MARK: Logs

    package func reopenLogs() {
        for process in processes {
            process.stdout.reopen()
            process.stderr?.reopen()
        }
    }

    // MARK: Transitions

    private func transition(_ process: ManagedProcess, to state: ProcessState, detail: String) {
        let previous = process.state
        process.state = state
        let level: LogLevel = (state == .fatal || (state == .backoff && process.failures > 1)) ? .warn : .info
        log.log(level, process.name, "\(state.rawValue) (was \(previous.rawValue)): \(detail)")
        changed(process)
    }

    /// Every state or health change goes through here: the proxy's upstream
    /// list (onChange) and anyone waiting on this process (observers) follow it.
    func changed(_ process: ManagedProcess) {
        onChange?(process)
        if !process.observers.isEmpty {
            // An observer returns true when it is done watching.
            let observers = process.observers
            process.observers = []
            let remaining = observers.filter { !$0(process) }
            process.observers = remaining + process.observers
        }
    }

    /// `: <last stderr line> (drover tail --stderr NAME)` for an exit log
    /// line, or nothing when the worker said nothing this run.
    static func lastWords(_ process: ManagedProcess) -> String {
        guard let last = process.lastExitOutput.last else { return "" }
        let stream = process.stderr == nil ? "" : " --stderr"
        return ": \(last) (more: drover tail\(stream) \(process.name))"
    }

    static func seconds(_ value: Double) -> String {
        let tenths = (value * 10).rounded() / 10
        return "\(tenths)s"
    }
}
