import Admin
import CSystem
import Config
import Control
import Glibc
import Logs
import Proxy
import Supervision
import System

/// `drover run`: wires the reactor, signals, supervisor and logs together,
/// runs until shutdown and returns the exit code. Built to be PID 1.
package final class Daemon {
    package struct Settings {
        package var config: DroverConfig
        /// Config-less with one worker: behave like tini (signals forwarded,
        /// exit status passed through, no restarts).
        package var tiniMode = false
        /// Re-reads the config for SIGHUP; nil when there is no file.
        package var reloadConfig: (() throws(ConfigErrors) -> DroverConfig)?

        package init(config: DroverConfig) {
            self.config = config
        }
    }

    private var settings: Settings
    private let reactor: Reactor
    private let console: (stdout: ConsoleWriter, stderr: ConsoleWriter)
    private let log: EventLog
    private let supervisor: Supervisor
    private var signalFD: FileDescriptor?
    private var exitCode: Int32 = 0
    /// 1 after a fatal_action = shutdown: a clean stop still exits 1.
    private var exitAtLeast: Int32 = 0
    private var shutdownRequests = 0
    private var finished = false
    private let environment: [String: String]
    private let startedAt = Instant.now
    private let startedWallNs = WallClock.nowNanoseconds()
    private lazy var endpoints = ControlEndpoints(reactor: reactor, log: log)
    private var proxies: [ProxyServer] = []
    /// Supervisor state changes to proxy membership, proxy reports back (PoolMembership).
    private var membership: PoolMembership?
    private var notifier: SystemdNotifier?

    package init(settings: Settings, selfExecutable: String, environment: [String: String]) throws(SystemError) {
        self.settings = settings
        self.environment = environment
        let config = settings.config
        reactor = try Reactor()
        console = (ConsoleWriter(descriptor: .standardOutput, reactor: reactor),
                   ConsoleWriter(descriptor: .standardError, reactor: reactor))
        // tini mode keeps the terminal for the child: only drover's warnings show.
        let level = settings.tiniMode ? max(config.supervisord.loglevel, .warn) : config.supervisord.loglevel
        if let path = config.supervisord.logfile {
            let file = try RotatingLogFile(path: path, maxBytes: config.supervisord.logfileMaxBytes,
                                           backups: config.supervisord.logfileBackups)
            log = EventLog(file: file, level: level, fallback: console.stderr)
        } else {
            log = EventLog(console: console.stdout, level: level)
        }
        // Worker output shows wherever drover runs (SPEC §3 stdout_mirror:
        // true), at a terminal too: a worker's start-up lines and its dying
        // words are what a new user needs to see.
        var options = Supervisor.Options(
            defaultMirror: true,
            selfExecutable: selfExecutable, baseEnvironment: SystemdNotifier.workerEnvironment(environment))
        options.colorPrefix = FileDescriptor.standardOutput.isTerminal && environment["NO_COLOR"] == nil
        if settings.tiniMode {
            options.inheritStdio = true
            options.mirrorPrefix = false
        }
        supervisor = Supervisor(reactor: reactor, log: log, console: console, options: options)
    }

    package func run() -> Int32 {
        let config = settings.config
        log.info("drover", "starting: pid \(getpid())\(config.path.map { ", config \($0)" } ?? "")")
        for warning in config.warnings { log.warn("drover", "config: \(warning)") }
        do {
            try Reaper.becomeSubreaperIfNeeded()
            let fd = try Signals.makeSignalFD()
            signalFD = fd
            try reactor.register(fd, events: Reactor.readable) { [unowned self] _ in self.readSignals() }
        } catch {
            log.error("drover", "cannot start: \(error)")
            return 1
        }
        let plan: StartupPlan
        do throws(StartupPlan.Refusal) {
            plan = try StartupPlan.make(config: config, environment: environment, tiniMode: settings.tiniMode,
                                        users: UserDatabase(), files: .readOnly)
        } catch {
            for reason in error.reasons {
                log.error("drover", "cannot start: \(reason)")
                console.stderr.write("drover: \(reason)\n")
            }
            console.stdout.drain()
            console.stderr.drain()
            return 1
        }
        for warning in plan.warnings { log.warn("drover", warning) }
        do {
            try openEndpoints(plan)
        } catch {
            log.error("drover", "cannot start: \(error)")
            console.stderr.write("drover: \(error)\n")
            console.stdout.drain()
            console.stderr.drain()
            return 1
        }
        raiseDescriptorLimit(to: plan.descriptorLimit)
        do {
            try openProxies()
        } catch {
            log.error("drover", "cannot start: \(error)")
            console.stderr.write("drover: \(error)\n")
            endpoints.close()
            console.stdout.drain()
            console.stderr.drain()
            return 1
        }
        writePidfile()
        supervisor.proxiedUpstreams = Set(config.proxies.map(\.upstream))
        supervisor.reservedPorts = plan.reservedPorts
        for program in config.programs { supervisor.add(program: program) }
        if settings.tiniMode { watchLoneChild() } else { followMembership() }
        watchFatalActions()
        supervisor.startAll()
        notifier = SystemdNotifier(environment: environment, reactor: reactor, log: log)
        notifier?.start(supervisor: supervisor, isReady: { [unowned self] in self.isReady() })
        if supervisor.processes.isEmpty {
            log.warn("drover", "no programs configured; waiting for a signal")
        }
        reactor.run()
        for proxy in proxies { proxy.close() }
        endpoints.close()
        removePidfile()
        console.stdout.drain()
        console.stderr.drain()
        return exitCode
    }

    // MARK: Proxies

    /// supervisord's `minfds`: the soft descriptor limit is raised to it.
    /// A proxy needs one descriptor per client and one per worker
    /// connection, so with a proxy drover asks for up to 65536 (within the
    /// hard limit; StartupPlan.descriptorLimit).
    private func raiseDescriptorLimit(to wanted: Int) {
        let config = settings.config
        let now = cs_raise_nofile(wanted)
        if now >= 0 && now < config.supervisord.minfds {
            log.warn("drover", "minfds = \(config.supervisord.minfds) but the descriptor limit is \(now) (the hard limit); raise it with ulimit -n or LimitNOFILE=")
        } else if now >= 0 && !config.proxies.isEmpty && now < 4096 {
            log.warn("drover", "only \(now) file descriptors: the proxy can hold about \(now / 2) connections; raise the hard limit (ulimit -Hn, LimitNOFILE=)")
        }
    }

    private func openProxies() throws(SystemError) {
        for config in settings.config.proxies {
            let proxy = try ProxyServer(config: config, reactor: reactor, log: log, console: console.stdout)
            try proxy.open()
            proxies.append(proxy)
            log.info("drover", "[proxy:\(config.name)] listening on \(config.listen) for \(config.upstream)")
        }
    }

    /// The proxies' upstream lists follow every state and health change,
    /// and a worker in an upstream is probed through that proxy's own
    /// connections to it (WorkerProbe), never a second one it may not accept.
    private func followMembership() {
        let membership = PoolMembership(supervisor: supervisor, proxies: proxies)
        self.membership = membership
        for proxy in proxies { proxy.report = { [unowned membership] report in membership.report(report) } }
        supervisor.onChange = { [unowned self, unowned membership] process in
            membership.changed(process)
            if self.shutdownRequests > 0 {
                // Not from inside the supervisor's own transition.
                self.reactor.schedule(after: .zero) { [unowned self] in self.refuseQueuesNoWorkerCanServe() }
            }
        }
        supervisor.probeTransport = { [unowned membership] process, path, timeout, completion in
            membership.probe(process, path: path, timeout: timeout, completion: completion)
        }
    }

    // MARK: Control

    private func openEndpoints(_ plan: StartupPlan) throws(SystemError) {
        let api = ControlAPI(
            supervisor: supervisor,
            snapshot: { [unowned self] in self.snapshot(withMemory: false) },
            reload: { [unowned self] in self.reload(origin: "reload") },
            preview: { [unowned self] in self.previewReload() },
            shutdown: { [unowned self] in
                // After the answer is on its way.
                self.reactor.schedule(after: .zero) { [unowned self] in self.requestShutdown(reason: "drover shutdown") }
            })
        // None for a lone tini-style child unless asked for: no socket in its working directory.
        if let control = plan.control { try endpoints.openControl(control, api: api) }
        guard let address = plan.admin else { return }
        let admin = AdminAPI(control: api, token: plan.adminToken,
                             snapshot: { [unowned self] withMemory in self.snapshot(withMemory: withMemory) },
                             readiness: { [unowned self] in self.isReady() })
        try endpoints.openAdmin(address, tokenFile: settings.config.supervisord.adminTokenFile, api: admin)
    }

    private func snapshot(withMemory: Bool) -> StatusSnapshot {
        var snapshot = supervisor.snapshot(startedWallNs: startedWallNs, startedAt: startedAt, configPath: settings.config.path,
                                           proxies: settings.config.proxies, withMemory: withMemory)
        for index in snapshot.proxies.indices {
            if let proxy = proxies.first(where: { $0.config.name == snapshot.proxies[index].name }) {
                snapshot.proxies[index].traffic = proxy.traffic
            }
        }
        return snapshot
    }

    /// `/readyz`: every proxied pool has a ready worker; without proxies,
    /// every program that starts on its own has one running. Never once a
    /// shutdown began: the proxy stops accepting at that moment, so a
    /// Kubernetes Service must stop sending here at that moment too.
    private func isReady() -> Bool {
        guard shutdownRequests == 0 else { return false }
        let proxies = settings.config.proxies
        if !proxies.isEmpty {
            return proxies.allSatisfy { proxy in
                supervisor.processes.contains { ($0.spec.programName == proxy.upstream || $0.spec.groupName == proxy.upstream) && $0.isServing }
            }
        }
        let programs = Set(supervisor.processes.filter(\.spec.autostart).map(\.spec.programName))
        return programs.allSatisfy { name in supervisor.processes.contains { $0.spec.programName == name && $0.isServing } }
    }

    private func requestShutdown(reason: String) {
        shutdownRequests += 1
        if shutdownRequests == 1 { gracefulShutdown(reason: reason) } else { fastShutdown(reason: "second \(reason)") }
    }

    // MARK: Signals

    private func readSignals() {
        guard let fd = signalFD else { return }
        var signo: Int32 = 0, sender: Int32 = 0
        while cs_signalfd_read(fd.rawValue, &signo, &sender) == 1 {
            handle(signal: signo)
        }
    }

    private func handle(signal: Int32) {
        if signal == SIGCHLD {
            Reaper.reapAll { pid, status in
                if !supervisor.childExited(pid: pid, status: status) {
                    log.debug("drover", "reaped orphan pid \(pid) (\(status))")
                }
            }
            return
        }
        if settings.tiniMode {
            forwardToLoneChild(signal)
            return
        }
        switch signal {
        case SIGTERM, SIGINT:
            requestShutdown(reason: Signals.name(signal))
        case SIGQUIT:
            fastShutdown(reason: Signals.name(signal))
        case SIGHUP:
            reload(origin: "SIGHUP")
        case SIGUSR1, SIGUSR2:
            log.info("drover", "\(Signals.name(signal)): reopening log files")
            log.reopen()
            supervisor.reopenLogs()
            for proxy in proxies { proxy.reopenLogs() }
        case SIGTTIN, SIGTTOU:
            scaleProxiedPools(by: signal == SIGTTIN ? 1 : -1)
        default:
            log.debug("drover", "ignoring \(Signals.name(signal))")
        }
    }

    // MARK: Shutdown

    /// SPEC §5: stop accepting, let in-flight requests finish within
    /// shutdown_timeout, then stop the workers.
    private func gracefulShutdown(reason: String) {
        notifier?.stopping(reason)
        log.info("drover", "\(reason): graceful shutdown (a second SIGTERM/SIGINT or SIGQUIT kills at once)")
        supervisor.beginShutdown()
        var pending = proxies.count
        var workersStopping = false
        let stopWorkers = { [unowned self] in
            guard !workersStopping else { return }
            workersStopping = true
            self.supervisor.shutdown { [unowned self] clean in
                self.finish(code: clean ? 0 : 1, message: clean ? "all processes stopped" : "stopped; some needed SIGKILL")
            }
        }
        guard pending > 0 else { return stopWorkers() }
        let timeout = settings.config.supervisord.shutdownTimeout
        let deadline = reactor.schedule(after: timeout) { [unowned self] in
            guard !workersStopping else { return }
            self.log.warn("drover", "shutdown_timeout (\(timeout.configSeconds)s) passed with requests in flight; closing them")
            for proxy in self.proxies { proxy.forceClose() }
            stopWorkers()
        }
        for proxy in proxies {
            proxy.beginShutdown { [unowned self] in
                pending -= 1
                if pending == 0 {
                    self.reactor.cancel(deadline)
                    stopWorkers()
                }
            }
        }
        refuseQueuesNoWorkerCanServe()
    }

    /// Once shutting down nothing starts again, so a proxy whose workers are
    /// none of them ready or starting will never answer its queue: it is
    /// refused now rather than after queue_timeout.
    private func refuseQueuesNoWorkerCanServe() {
        for proxy in proxies where proxy.isShuttingDown {
            let canServe = supervisor.processes.contains { process in
                PoolMembership.serves(proxy, process) && (process.isServing || process.state == .starting
                                          || (process.state == .running && process.health == .starting))
            }
            if !canServe { proxy.refuseQueued(reason: "shutting down and no worker is left to answer") }
        }
    }

    private func fastShutdown(reason: String) {
        notifier?.stopping(reason)
        log.warn("drover", "\(reason): fast shutdown, killing every process group")
        supervisor.killAll { [unowned self] in
            self.finish(code: 1, message: "fast shutdown complete")
        }
        // Reaping cannot take long after SIGKILL, but never hang on it.
        reactor.schedule(after: .seconds(5)) { [unowned self] in
            self.finish(code: 1, message: "fast shutdown: gave up waiting for processes to be reaped")
        }
    }

    /// `[program:x] fatal_action = shutdown` (SPEC §8): that program going
    /// FATAL shuts drover down gracefully with exit status 1, so the
    /// container stops. Composed onto whatever onChange already does.
    private func watchFatalActions() {
        let previous = supervisor.onChange
        supervisor.onChange = { [unowned self] process in
            previous?(process)
            guard process.state == .fatal, process.spec.fatalAction == .shutdown,
                  self.shutdownRequests == 0, !self.supervisor.shuttingDown else { return }
            guard self.exitAtLeast == 0 else { return }
            self.exitAtLeast = 1
            self.log.error("drover", "\(process.name) is FATAL and its program \(process.spec.programName) has fatal_action = shutdown: shutting down, exit status 1")
            // Not from inside the supervisor's own transition: next turn of the loop.
            self.reactor.schedule(after: .zero) { [unowned self] in
                if self.shutdownRequests == 0 { self.requestShutdown(reason: "fatal_action = shutdown") }
            }
        }
    }

    private func finish(code: Int32, message: String) {
        guard !finished else { return }
        finished = true
        notifier?.stopping(message)
        exitCode = max(code, exitAtLeast)
        log.info("drover", "exiting with status \(exitCode): \(message)")
        reactor.stop()
    }

    // MARK: tini mode

    private func watchLoneChild() {
        supervisor.onExit = { [unowned self] process, status in
            self.finish(code: status.shellCode, message: "\(process.name) ended with \(status)")
        }
        supervisor.onChange = { [unowned self] process in
            // A command that cannot be started ends drover as a shell would.
            if let error = process.lastSpawnError, process.state == .backoff || process.state == .fatal {
                let code: Int32 = error.contains(String(cString: strerror(ENOENT))) ? 127 : 126
                self.console.stderr.write("drover: cannot run \(process.spec.argv.first ?? ""): \(error)\n")
                self.finish(code: code, message: "could not start \(process.name)")
            }
        }
    }

    private func forwardToLoneChild(_ signal: Int32) {
        guard let child = supervisor.processes.first, child.pid > 0 else {
            if signal == SIGTERM || signal == SIGINT || signal == SIGQUIT { finish(code: 128 + signal, message: "no child") }
            return
        }
        _ = Signals.send(signal, toProcess: child.pid)
    }

    // MARK: Run-time changes

    /// SIGHUP and `drover reload`: re-read the config; a broken one changes
    /// nothing. Answers with what changed (rolling replacements go on after).
    @discardableResult
    func reload(origin: String) -> Result<ReloadSummary, ConfigErrors> {
        notifier?.reloading()
        defer { notifier?.reloaded() }
        guard let reloadConfig = settings.reloadConfig else {
            log.info("drover", "\(origin): nothing to reload (no config file)")
            return .success(ReloadSummary())
        }
        let config: DroverConfig
        do throws(ConfigErrors) { config = try reloadConfig() } catch {
            for diagnostic in error.errors { log.error("drover", "\(origin): config rejected, nothing changed: \(diagnostic)") }
            return .failure(error)
        }
        for warning in config.warnings { log.warn("drover", "config: \(warning)") }
        if config.proxies != settings.config.proxies {
            // Listeners and their settings are opened once; a reload keeps them.
            log.warn("drover", "\(origin): [proxy:*] sections changed; proxies keep their settings until drover restarts")
            var kept = config
            kept.proxies = settings.config.proxies
            settings.config = kept
        } else {
            settings.config = config
        }
        let summary = supervisor.apply(config) { [unowned self] error in
            if let error { self.log.error("drover", "\(origin): \(error.message)") }
        }
        log.info("drover", "\(origin): config re-read: \(summary.description)")
        return .success(summary)
    }

    /// `drover reread`: what `reload` would change now, changing nothing.
    func previewReload() -> Result<ReloadSummary, ConfigErrors> {
        guard let reloadConfig = settings.reloadConfig else { return .success(ReloadSummary()) }
        do throws(ConfigErrors) {
            return .success(supervisor.preview(try reloadConfig()))
        } catch {
            return .failure(error)
        }
    }

    private func scaleProxiedPools(by delta: Int) {
        let upstreams = Set(settings.config.proxies.map(\.upstream))
        let pools = supervisor.programs.values.filter { upstreams.contains($0.name) || upstreams.contains($0.groupName) }
        if pools.isEmpty {
            log.info("drover", "\(delta > 0 ? "SIGTTIN" : "SIGTTOU"): no proxied pool to scale")
            return
        }
        for program in pools {
            // Slots, not table rows: workers being removed or replaced count once or not at all.
            let current = supervisor.poolSize(ofProgram: program.name)
            let target = max(1, current + delta)
            guard target != current else { continue }
            do { try supervisor.scale(program: program.name, to: target) } catch {
                log.error("drover", "scale \(program.name): \(error.message)")
            }
        }
    }

    // MARK: pidfile

    /// A pidfile that cannot be written is said once; drover runs on without it.
    private func writePidfile() {
        guard let path = settings.config.supervisord.pidfile else { return }
        do throws(SystemError) {
            let fd = try OwnedDescriptor.open(path, O_WRONLY | O_CREAT | O_TRUNC)
            try fd.writeAll(Array("\(getpid())\n".utf8))
            fd.close()
        } catch {
            log.error("drover", "cannot write pidfile \(path): \(error); running without it")
        }
    }

    private func removePidfile() {
        guard let path = settings.config.supervisord.pidfile else { return }
        unlink(path)
    }
}
