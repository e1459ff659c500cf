import Config
import Glibc
import Logs
import System

/// The supervisor's preload side: one template per `preload = true`
/// program, started on demand, and the launches waiting on it. A worker's
/// `.launch` becomes a `fork` request; the template's `forked` answer is the
/// `.spawned(pid:)` the lifecycle waits for, its `exited` reports are the
/// worker's exits. A template that refuses or dies fails the launches it
/// owed (`.spawnFailed` with its reason), so the workers back off and retry
/// as any failed spawn does, and the next launch starts a new template.
/// Workers it forked before dying carry on; drover reaps them as subreaper.
final class PreloadTemplates {
    private final class Template {
        let channel: PreloadChannel
        let spawnedPid: pid_t
        /// The template's own stdout and stderr (one pipe): mirrored and
        /// logged like a program's, its last lines quoted when it dies.
        let output: OutputCapture
        var ready = false
        /// Workers it forked that have not exited yet (by pid).
        var workers: Set<pid_t> = []
        /// Run once it said hello (a renewal waits for it), or with the reason it never will.
        var onReady: [(String?) -> Void] = []
        /// Replaced by a newer template: forks nothing more, exits once its workers are gone.
        var retiring = false
        /// Launches not answered yet, in request order (the template answers in
        /// that order); `wanted` goes false when the worker is stopped meanwhile.
        var awaiting: [(process: ManagedProcess, wanted: Bool)] = []
        /// Launches that arrived before the template said hello.
        var queued: [ManagedProcess] = []
        /// Why it refused to start, from its `error` before `hello`.
        var refusal: String?

        init(channel: PreloadChannel, spawnedPid: pid_t, output: OutputCapture) {
            self.channel = channel
            self.spawnedPid = spawnedPid
            self.output = output
        }

        func announceReady(_ failure: String?) {
            let waiting = onReady
            onReady = []
            for waiter in waiting { waiter(failure) }
        }
    }

    private unowned let supervisor: Supervisor
    private var templates: [String: Template] = [:]
    /// Templates replaced by a newer one, reaping their last workers.
    private var retired: [Template] = []
    /// New templates loading beside the current one (a renewal): closed with the rest at shutdown.
    private var renewing: [Template] = []

    init(supervisor: Supervisor) {
        self.supervisor = supervisor
    }

    /// The template's pid for `program`, when one is running and has said hello.
    func templatePid(ofProgram program: String) -> pid_t? {
        templates[program].flatMap { $0.ready ? $0.channel.templatePid : nil }
    }

    /// Carries out `.launch` for a preloaded worker; the answer comes later.
    func launch(_ process: ManagedProcess) {
        let program = process.spec.programName
        if process.spec.port == nil {
            return supervisor.preloadFailed(process, "preload needs a port")
        }
        if templates[program] == nil {
            do throws(SystemError) {
                templates[program] = try startTemplate(for: process.spec)
            } catch {
                return supervisor.preloadFailed(process, "cannot start the preload template: \(error)")
            }
        }
        guard let template = templates[program] else { return }
        if template.awaiting.contains(where: { $0.process === process && $0.wanted })
            || template.queued.contains(where: { $0 === process }) {
            return  // a launch already under way for it
        }
        if template.ready {
            requestFork(process, from: template, program: program)
        } else {
            template.queued.append(process)
            supervisor.send(.launchPending("waiting for the preload template (pid \(template.spawnedPid)) to load"), to: process)
        }
    }

    private func startTemplate(for spec: ProcessSpec) throws(SystemError) -> Template {
        let program = spec.programName
        var holder: Template?
        let channel = try PreloadChannel(reactor: supervisor.reactor) { [unowned self] event in
            guard let template = holder else { return }
            self.handle(event, from: template, program: program)
        }
        var argv = spec.argv
        if let user = spec.user, user.uid != geteuid() {
            // As for a spawned worker: the template (and so every fork) runs as `user =`.
            guard geteuid() == 0 else {
                throw SystemError("setuid", errno: EPERM, context: "to user \(user.name) (drover is not root)")
            }
            argv = [supervisor.options.selfExecutable, "__exec-as", String(user.uid), String(user.gid),
                    user.groups.map(String.init).joined(separator: ","), "--"] + argv
        }
        let outputPipe = try PipePair(nonblockingRead: true)
        var request = SpawnRequest(argv: argv, environment: supervisor.environmentList(for: spec)
                                    + [PreloadChannel.templateEnvironment],
                                   directory: spec.directory, umask: spec.umask,
                                   stdout: outputPipe.writeEnd.borrowed, stderr: outputPipe.writeEnd.borrowed)
        request.stdin = channel.templateEnd
        let pid = try Spawner.spawn(request)
        channel.templateStarted()
        let output = supervisor.templateOutput(for: spec)
        do throws(SystemError) {
            try output.attach(outputPipe.closingWriteEnd(), reactor: supervisor.reactor)
        } catch {
            supervisor.log.error(program, "cannot read the preload template's output: \(error)")
        }
        let template = Template(channel: channel, spawnedPid: pid, output: output)
        holder = template
        supervisor.log.info(program, "preload template started (pid \(pid)): \(argv.joined(separator: " "))")
        return template
    }

    /// Asks for `process`'s worker: its slot's CPUs and environment, and
    /// fresh output pipes whose read ends drover keeps, as for a spawn.
    private func requestFork(_ process: ManagedProcess, from template: Template, program: String) {
        let spec = process.spec
        let environment = spec.environment.sorted { $0.key < $1.key }.map { PreloadEnvironmentEntry($0.key, $0.value) }
        var output: [FileDescriptor] = []
        do throws(SystemError) {
            let stdoutRead = try PipePair(nonblockingRead: true).handingOverWriteEnd(to: &output)
            try process.stdout.attach(stdoutRead, reactor: supervisor.reactor)
            if let capture = process.stderr {
                let stderrRead = try PipePair(nonblockingRead: true).handingOverWriteEnd(to: &output)
                try capture.attach(stderrRead, reactor: supervisor.reactor)
            }
        } catch {
            for descriptor in output { descriptor.close() }
            return supervisor.preloadFailed(process, "cannot make the worker's output pipes: \(error)")
        }
        // This run's output starts here: what the child writes before `forked` arrives is its own.
        process.outputMarkAtSpawn = process.errorOutput.mark
        do throws(PreloadProtocolError) {
            try template.channel.requestFork(slot: UInt32(clamping: spec.number), port: UInt16(clamping: spec.port ?? 0),
                                             cpus: spec.slot?.cores ?? [], output: output, environment: environment)
            template.awaiting.append((process, true))
        } catch {
            return supervisor.preloadFailed(process, "cannot ask the template for a worker: \(error)")
        }
        supervisor.send(.launchPending("fork requested from the preload template (pid \(template.spawnedPid))"), to: process)
    }

    private func handle(_ event: PreloadChannel.Event, from template: Template, program: String) {
        switch event {
        case .ready(let pid, let runtime):
            template.ready = true
            supervisor.log.info(program, "preload template ready (pid \(pid), \(runtime))")
            let queued = template.queued
            template.queued = []
            for process in queued { requestFork(process, from: template, program: program) }
            template.announceReady(nil)
        case .forked(_, let pid):
            guard !template.awaiting.isEmpty else { return }
            let launch = template.awaiting.removeFirst()
            template.workers.insert(pid)
            defer { closeIfDone(template) }
            if launch.wanted {
                supervisor.preloadForked(launch.process, pid: pid)
            } else {
                // Stopped while the template forked it: its exit comes back as a stranger's.
                _ = Signals.send(SIGKILL, toProcess: pid)
            }
        case .exited(let pid, let status):
            template.workers.remove(pid)
            supervisor.childExited(pid: pid, status: status)
            closeIfDone(template)
        case .failed(let slot, let message):
            if slot == nil {
                template.refusal = message
                supervisor.log.error(program, "preload template: \(message)")
            } else if !template.awaiting.isEmpty {
                let launch = template.awaiting.removeFirst()
                if launch.wanted { supervisor.preloadFailed(launch.process, message) }
            }
        case .closed(let reason):
            let current = templates[program] === template
            if current { templates[program] = nil }
            retired.removeAll { $0 === template }
            template.output.readPending()
            let lastWords = template.output.lastLines(1, since: 0).last.map { "; its last output: \($0)" } ?? ""
            let why = template.refusal ?? reason ?? "the preload template exited"
            supervisor.log.warn(program, "preload template gone (pid \(template.spawnedPid)): \(why)\(lastWords)")
            let owed = template.awaiting.filter(\.wanted).map(\.process) + template.queued
            template.awaiting = []
            template.queued = []
            template.announceReady(why)
            for process in owed { supervisor.preloadFailed(process, why) }
            reapUnreported(of: template)
            if current { adoptOrphans(of: template, program: program) }
        }
    }

    /// An exit the dying template reaped but could not report: the pid is
    /// gone (not even a zombie), so it is reported here.
    private func reapUnreported(of template: Template) {
        for pid in template.workers where Glibc.kill(pid, 0) != 0 && errno == ESRCH {
            template.workers.remove(pid)
            supervisor.childExited(pid: pid, status: .exited(-1))
        }
    }

    /// A template died with workers alive: they are drover's (their exits
    /// now come to it as subreaper) and keep serving, counted as before,
    /// until each is replaced, replacement first, from a new template.
    private func adoptOrphans(of template: Template, program: String) {
        let orphans = supervisor.processes(ofProgram: program).filter { $0.pid > 0 && template.workers.contains($0.pid) }
        guard !orphans.isEmpty, !supervisor.shuttingDown else { return }
        supervisor.log.warn(program, "\(orphans.count) worker(s) of the dead template keep serving; replacing them from a new template")
        renew(program: program, spec: orphans[0].spec) { [unowned self] failure in
            if let failure {
                return self.supervisor.log.error(program, "no new preload template for the orphaned workers: \(failure)")
            }
            for orphan in orphans where orphan.pid > 0 && !orphan.removing {
                self.supervisor.recycle(orphan, reason: "its preload template died")
            }
        }
    }

    /// Starts a new template for `program` and, once it said hello, makes it
    /// the one workers fork from; the one it replaces (if any) is retired
    /// (its workers carry on). `then` gets nil, or why no template came.
    /// Of two renewals under way, the later hello wins and the earlier retires.
    func renew(program: String, spec: ProcessSpec, then: @escaping (String?) -> Void) {
        let fresh: Template
        do throws(SystemError) { fresh = try startTemplate(for: spec) } catch {
            return then("cannot start the preload template: \(error)")
        }
        if templates[program] == nil { templates[program] = fresh } else { renewing.append(fresh) }
        fresh.onReady.append { [unowned self, weak fresh] failure in
            self.renewing.removeAll { $0 === fresh }
            guard failure == nil, let fresh else { return then(failure ?? "the preload template is gone") }
            if let previous = self.templates[program], previous !== fresh {
                self.templates[program] = fresh
                // Launches waiting on the previous one ask the new one.
                let waiting = previous.queued
                previous.queued = []
                for process in waiting { self.requestFork(process, from: fresh, program: program) }
                self.retire(previous, program: program)
            } else {
                self.templates[program] = fresh
            }
            then(nil)
        }
    }

    /// An old template that a new one replaced forks nothing more but
    /// stays the reaper of its workers, reporting their exits as before,
    /// until the last is gone; then drover closes its channel (its cue to exit).
    private func retire(_ template: Template, program: String) {
        template.retiring = true
        retired.append(template)
        supervisor.log.info(program, "preload template (pid \(template.spawnedPid)) retired; "
                            + "its \(template.workers.count) worker(s) are replaced from the new one")
        closeIfDone(template)
    }

    private func closeIfDone(_ template: Template) {
        guard template.retiring, template.workers.isEmpty, template.awaiting.isEmpty else { return }
        template.channel.close()
        retired.removeAll { $0 === template }
    }

    /// Whether `process` waits on a fork (its lifecycle still in the state it launched from).
    func isLaunching(_ process: ManagedProcess) -> Bool {
        (Array(templates.values) + retired).contains { template in
            template.queued.contains { $0 === process }
                || template.awaiting.contains { $0.process === process && $0.wanted }
        }
    }

    /// A stop for a worker whose fork is still owed: it must not start when the answer comes.
    func cancelLaunch(of process: ManagedProcess) {
        for template in Array(templates.values) + retired {
            template.queued.removeAll { $0 === process }
            for index in template.awaiting.indices where template.awaiting[index].process === process {
                template.awaiting[index].wanted = false
            }
        }
    }

    /// drover is stopping: closing each channel is every template's cue to
    /// exit; launches still owed fail (the lifecycle, shutting down, stops them).
    func closeAll() {
        let closing = Array(templates.values) + retired + renewing
        templates = [:]
        retired = []
        renewing = []
        for template in closing {
            template.channel.close()
            template.announceReady("drover is shutting down")
            for process in template.awaiting.filter(\.wanted).map(\.process) + template.queued {
                supervisor.preloadFailed(process, "drover is shutting down")
            }
            template.awaiting = []
            template.queued = []
        }
    }
}

extension Supervisor {
    /// The template forked `process`'s worker: what a successful spawn does.
    func preloadForked(_ process: ManagedProcess, pid: pid_t) {
        // Asked for before a shutdown or removal that came while the template forked: not wanted now.
        if shuttingDown || process.removing {
            _ = Signals.send(SIGKILL, toProcess: pid)
            return preloadFailed(process, "no longer wanted")
        }
        if let line = process.spawnNotice.succeeded() {
            log.info(process.spec.fullName, "forked again: \(line)")
        }
        byPid[pid] = process
        process.spawnedWallNs = WallClock.nowNanoseconds()
        send(.spawned(pid: pid), to: process)
    }

    /// No worker came of `process`'s launch: what a failed spawn does.
    func preloadFailed(_ process: ManagedProcess, _ reason: String) {
        process.lastSpawnError = reason
        if let line = process.spawnNotice.failed(reason) {
            log.error(process.spec.fullName, "fork from the preload template failed: \(line)")
        }
        send(.spawnFailed(reason), to: process)
    }
}
