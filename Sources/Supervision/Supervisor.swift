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
    var byPid: [pid_t: ManagedProcess] = [:]
    /// Templates of `preload = true` programs (Preload/PreloadTemplates.swift).
    lazy var preloadTemplates = PreloadTemplates(supervisor: self)
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
        return ManagedProcess(spec: spec, policy: Lifecycle.Policy(spec, proxied: isProxied(spec)), stdout: stdout, stderr: stderr)
    }

    /// Where a preload template's stdout and stderr go: mirrored as the
    /// program's output (`model:template | `), kept in a ring for its last words.
    func templateOutput(for spec: ProcessSpec) -> OutputCapture {
        let sink = openSink(spec.stdout, for: spec, stream: "stdout")
        let prefix = options.mirrorPrefix ? Self.mirrorPrefix("\(spec.programName):template", program: spec.programName,
                                                               color: options.colorPrefix) : ""
        // A log file belongs to one worker: the template's output goes to
        // drover's console (where its startup errors must be seen), not into it.
        let console: OutputSink? = isConsole(sink) ? sink : nil
        return OutputCapture(ringCapacity: options.ringCapacity, sink: console,
                             mirror: console == nil ? self.console.stderr : nil, prefix: prefix)
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
        send(.start, to: process)
    }

    /// The lifecycle asked for a spawn: launch it and say how it went.
    private func launchNow(_ process: ManagedProcess) {
        let spec = process.spec
        process.lastSpawnError = nil
        process.proxiedRequests = 0
        if let port = spec.port, let squatter = Self.squatter(on: port) {
            // Spawning would only race it for the port (EADDRINUSE), and its
            // answers would pass the worker's probes: say who it is instead.
            process.lastSpawnError = squatter
            if let line = process.spawnNotice.failed(squatter) {
                log.error(spec.fullName, "cannot start: \(line)")
            }
            return send(.spawnFailed(squatter), to: process)
        }
        if spec.preload && !options.inheritStdio { return preloadTemplates.launch(process) }
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
            return send(.spawnFailed(error.description), to: process)
        }
        if let line = process.spawnNotice.succeeded() {
            log.info(spec.fullName, "spawned again: \(line)")
        }
        byPid[pid] = process
        process.outputMarkAtSpawn = process.errorOutput.mark
        process.spawnedWallNs = WallClock.nowNanoseconds()
        send(.spawned(pid: pid), to: process)
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
            request.cpus = spec.slot?.cores ?? []
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
        var request = SpawnRequest(argv: argv, environment: environmentList(for: spec),
                                   directory: spec.directory, umask: spec.umask,
                                   stdin: stdin.borrowed, stdout: stdoutWrite,
                                   stderr: PipePair.writeEnd(of: stderrPipe) ?? stdoutWrite)
        // Pinned from its first instruction, and again on every restart.
        request.cpus = spec.slot?.cores ?? []
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
    func environmentList(for spec: ProcessSpec) -> [String] {
        var environment = options.baseEnvironment
        if let user = spec.user {
            environment["HOME"] = user.home
            environment["USER"] = user.name
            environment["LOGNAME"] = user.name
        }
        for (key, value) in spec.environment { environment[key] = value }
        return environment.map { "\($0.key)=\($0.value)" }
    }

    // MARK: Exits

    /// From the reaper: returns false for a pid that is not ours (an orphan).
    @discardableResult
    package func childExited(pid: pid_t, status: ExitStatus) -> Bool {
        guard let process = byPid.removeValue(forKey: pid) else { return false }
        process.exitedPid = pid
        process.lastExit = status
        process.exitedWallNs = WallClock.nowNanoseconds()
        // Its last words may still sit in the pipe: read them before saying why it died.
        process.errorOutput.readPending()
        process.lastExitOutput = process.errorOutput.lastLines(3, since: process.outputMarkAtSpawn)
        onExit?(process, status)
        send(.exited(status, lastWords: Self.lastWords(process)), to: process)
        return true
    }

    // MARK: Stopping

    /// Stop with `stopsignal`, then SIGKILL the group after `stopwaitsecs`.
    package func stop(_ process: ManagedProcess, then completion: (() -> Void)? = nil) {
        if let completion { process.stopCompletions.append(completion) }
        send(.stop, to: process)
    }

    /// SIGKILL the whole group: each worker leads its own session, so this
    /// reaches everything it started and nothing else.
    private func killGroup(_ process: ManagedProcess) {
        guard process.pid > 0 else { return }
        if !Signals.send(SIGKILL, toGroup: process.pid) { _ = Signals.send(SIGKILL, toProcess: process.pid) }
    }

    package func restart(_ process: ManagedProcess) {
        send(.restart, to: process)
    }

    /// Out of the proxies' upstream, finishing its in-flight requests.
    func drain(_ process: ManagedProcess) {
        send(.drain, to: process)
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
        drain(process)
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
        reactor.schedule(after: Self.drainLimit) { proceed() }
    }

    package func signal(_ signal: Int32, _ process: ManagedProcess) -> Bool {
        process.pid > 0 && Signals.send(signal, toProcess: process.pid)
    }

    /// The shutdown signal came: from now on nothing is started or restarted
    /// (SPEC §8), while the proxies may still be draining for a while.
    package func beginShutdown() {
        guard !shuttingDown else { return }
        shuttingDown = true
        for process in processes { send(.shutdownBegan, to: process) }
        preloadTemplates.closeAll()
    }

    /// Graceful: stop by priority, highest first, each level waiting for the
    /// one before (supervisord's order). Completes with true when every
    /// process stopped without SIGKILL.
    package func shutdown(completion: @escaping (Bool) -> Void) {
        beginShutdown()
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
        beginShutdown()
        let running = processes.filter(\.hasProcess)
        var remaining = running.count
        for process in processes where process.state == .backoff { stop(process) }
        guard remaining > 0 else { return completion() }
        for process in running {
            process.stopCompletions.append {
                remaining -= 1
                if remaining == 0 { completion() }
            }
            send(.kill, to: process)
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
        processes.removeAll { $0 === process }
        send(.removed, to: process)
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

    func isProxied(_ spec: ProcessSpec) -> Bool {
        proxiedUpstreams.contains(spec.programName) || proxiedUpstreams.contains(spec.groupName)
    }

    /// The lifecycle asked for a probe: through the proxy that has the
    /// worker in its upstream when there is one, else on a connection of
    /// its own. The result goes back to the lifecycle as judged here: an
    /// answer from someone else's socket, or a timeout while the worker was
    /// busy with proxied requests, is not the worker's.
    private func probe(_ process: ManagedProcess) {
        guard let port = process.spec.port else { return }
        let pidAtStart = process.pid
        guard let check = process.spec.health else {
            process.probe = HealthProbe(reactor: reactor, port: port, path: nil, timeout: .seconds(1)) {
                [unowned self, unowned process] outcome in
                process.probe = nil
                guard process.pid == pidAtStart, process.pid > 0 else { return }
                self.send(.probeFinished(self.judge(outcome, of: process, busy: false)), to: process)
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
            self.send(.probeFinished(self.judge(outcome, of: process, busy: busy)), to: process)
        }
        let timeout = check.timeout
        if let carried = probeTransport?(process, check.path, timeout, finished) {
            process.probe = carried
            return
        }
        process.probe = HealthProbe(reactor: reactor, port: port, path: check.path, timeout: timeout, completion: finished)
    }

    private func judge(_ outcome: HealthProbe.Outcome, of process: ManagedProcess, busy: Bool) -> Lifecycle.ProbeResult {
        switch outcome {
        case .passed:
            // The first pass makes it ready: it must be the worker's answer.
            if process.health != .ready, let stranger = strangerAnswers(for: process) {
                warnOnce(process, stranger)
                return .passedByStranger(stranger)
            }
            return .passed
        case .busy: return .busy
        case .timedOut: return busy ? .busy : .timedOut
        case .failed(let reason): return .failed(reason)
        case .refused: return .refused
        }
    }

    /// The proxy could not connect to a worker it had as ready: out of the
    /// upstream until its port accepts again.
    package func recheckReadiness(_ process: ManagedProcess) {
        send(.connectRefused, to: process)
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
        guard let port = process.spec.port, process.pid > 0 else { return nil }
        let ownership = PortOwnership()
        if ownership.holdsListener(pid: process.pid, port: port) { return nil }
        guard let holders = ownership.listeners(port: port), !holders.isEmpty else { return nil }
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

    /// One event into a process's lifecycle, and its actions carried out
    /// in order. The only way a process's state, health or failures change.
    func send(_ event: Lifecycle.Event, to process: ManagedProcess) {
        let actions = process.lifecycle.handle(event, now: reactor.now)
        for action in actions { perform(action, for: process) }
    }

    private func perform(_ action: Lifecycle.Action, for process: ManagedProcess) {
        let spec = process.spec
        switch action {
        case .transition(let from, let to, let detail):
            if to == .fatal, let reason = spec.commandError { process.lastSpawnError = reason }
            let level: LogLevel = (to == .fatal || (to == .backoff && process.failures > 1)) ? .warn : .info
            log.log(level, process.name, "\(to.rawValue) (was \(from.rawValue)): \(detail)")
            changed(process)
        case .healthChanged(let flag, let detail):
            if !detail.isEmpty { log.log(flag == .unhealthy ? .warn : .info, process.name, detail) }
            changed(process)
        case .log(let level, let text):
            log.log(level, process.name, text)
        case .launch:
            launchNow(process)
        case .cancelLaunch:
            preloadTemplates.cancelLaunch(of: process)
        case .sendStopSignal:
            if spec.stopasgroup {
                _ = Signals.send(spec.stopsignal, toGroup: process.pid)
                _ = Signals.send(SIGCONT, toGroup: process.pid)
            } else {
                _ = Signals.send(spec.stopsignal, toProcess: process.pid)
                // A stopped (SIGSTOP) worker acts on the stop signal only once continued, as systemd does.
                _ = Signals.send(SIGCONT, toProcess: process.pid)
            }
        case .killGroup:
            killGroup(process)
        case .killStragglers:
            // Children that ignored the stop signal go with their leader.
            if (spec.stopasgroup || spec.killasgroup) && process.exitedPid > 0 {
                _ = Signals.send(SIGKILL, toGroup: process.exitedPid)
            }
        case .arm(let timer, let delay):
            reactor.cancel(process.timers[timer])
            process.timers[timer] = reactor.schedule(after: delay) { [unowned self, unowned process] in
                process.timers[timer] = nil
                self.send(.timerFired(timer), to: process)
            }
        case .disarm(let timer):
            reactor.cancel(process.timers.removeValue(forKey: timer))
        case .startProbe:
            probe(process)
        case .cancelProbe:
            process.probe?.cancel()
            process.probe = nil
        case .completeStops:
            let completions = process.stopCompletions
            process.stopCompletions = []
            for completion in completions { completion() }
        }
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
