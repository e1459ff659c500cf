import Config
import Glibc
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
        var ready = false
        /// Launches not answered yet, in request order (the template answers in
        /// that order); `wanted` goes false when the worker is stopped meanwhile.
        var awaiting: [(process: ManagedProcess, wanted: Bool)] = []
        /// Launches that arrived before the template said hello.
        var queued: [ManagedProcess] = []
        /// Why it refused to start, from its `error` before `hello`.
        var refusal: String?

        init(channel: PreloadChannel, spawnedPid: pid_t) {
            self.channel = channel
            self.spawnedPid = spawnedPid
        }
    }

    private unowned let supervisor: Supervisor
    private var templates: [String: Template] = [:]

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
        if template.ready { requestFork(process, from: template, program: program) } else { template.queued.append(process) }
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
        var request = SpawnRequest(argv: argv, environment: supervisor.environmentList(for: spec)
                                    + [PreloadChannel.templateEnvironment],
                                   directory: spec.directory, umask: spec.umask)
        request.stdin = channel.templateEnd
        let pid = try Spawner.spawn(request)
        channel.templateStarted()
        let template = Template(channel: channel, spawnedPid: pid)
        holder = template
        supervisor.log.info(program, "preload template started (pid \(pid)): \(argv.joined(separator: " "))")
        return template
    }

    private func requestFork(_ process: ManagedProcess, from template: Template, program: String) {
        let spec = process.spec
        let environment = spec.environment.sorted { $0.key < $1.key }.map { PreloadEnvironmentEntry($0.key, $0.value) }
        do throws(PreloadProtocolError) {
            try template.channel.requestFork(slot: UInt32(clamping: spec.number), port: UInt16(clamping: spec.port ?? 0),
                                             environment: environment)
            template.awaiting.append((process, true))
        } catch {
            supervisor.preloadFailed(process, "cannot ask the template for a worker: \(error)")
        }
    }

    private func handle(_ event: PreloadChannel.Event, from template: Template, program: String) {
        switch event {
        case .ready(let pid, let runtime):
            template.ready = true
            supervisor.log.info(program, "preload template ready (pid \(pid), \(runtime))")
            let queued = template.queued
            template.queued = []
            for process in queued { requestFork(process, from: template, program: program) }
        case .forked(_, let pid):
            guard !template.awaiting.isEmpty else { return }
            let launch = template.awaiting.removeFirst()
            if launch.wanted {
                supervisor.preloadForked(launch.process, pid: pid)
            } else {
                // Stopped while the template forked it: its exit comes back as a stranger's.
                _ = Signals.send(SIGKILL, toProcess: pid)
            }
        case .exited(let pid, let status):
            supervisor.childExited(pid: pid, status: status)
        case .failed(let slot, let message):
            if slot == nil {
                template.refusal = message
                supervisor.log.error(program, "preload template: \(message)")
            } else if !template.awaiting.isEmpty {
                let launch = template.awaiting.removeFirst()
                if launch.wanted { supervisor.preloadFailed(launch.process, message) }
            }
        case .closed(let reason):
            if templates[program] === template { templates[program] = nil }
            let why = template.refusal ?? reason ?? "the preload template exited"
            supervisor.log.warn(program, "preload template gone (pid \(template.spawnedPid)): \(why)")
            let owed = template.awaiting.filter(\.wanted).map(\.process) + template.queued
            template.awaiting = []
            template.queued = []
            for process in owed { supervisor.preloadFailed(process, why) }
        }
    }

    /// Whether `process` waits on a fork (its lifecycle still in the state it launched from).
    func isLaunching(_ process: ManagedProcess) -> Bool {
        templates.values.contains { template in
            template.queued.contains { $0 === process }
                || template.awaiting.contains { $0.process === process && $0.wanted }
        }
    }

    /// A stop for a worker whose fork is still owed: it must not start when the answer comes.
    func cancelLaunch(of process: ManagedProcess) {
        for template in templates.values {
            template.queued.removeAll { $0 === process }
            for index in template.awaiting.indices where template.awaiting[index].process === process {
                template.awaiting[index].wanted = false
            }
        }
    }

    /// drover is stopping: closing each channel is every template's cue to
    /// exit; launches still owed fail (the lifecycle, shutting down, stops them).
    func closeAll() {
        let closing = templates.values
        templates = [:]
        for template in closing {
            template.channel.close()
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
        process.outputMarkAtSpawn = process.errorOutput.mark
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
