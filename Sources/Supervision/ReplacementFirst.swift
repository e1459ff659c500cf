import Config

/// Replacing a proxied worker without a moment of lower capacity (SPEC §3
/// `port`): the successor starts beside it on a spare port of the pool's
/// range, and only once it is ready does the old one leave the upstream,
/// finish its in-flight requests and stop. Rolling restarts, reloads and
/// recycling (max_requests, max_memory) all go through here; one
/// replacement per program runs at a time, the rest wait their turn.
extension Supervisor {
    /// Whether `process` can be replaced beside itself: behind a proxy, with
    /// a port, and a free port left in its program's range.
    func canReplaceFirst(_ process: ManagedProcess) -> Bool {
        guard isProxied(process.spec), process.state == .running || process.state == .starting,
              let program = programs[process.spec.programName] else { return false }
        return sparePort(in: program) != nil
    }

    /// The lowest port of `port … port + 2 × numprocs − 1` that no process
    /// holds (another program's fixed port included).
    func sparePort(in program: ProgramConfig) -> Int? {
        guard let range = program.portRange else { return nil }
        // A worker in the table keeps its port while stopped (the operator
        // may start it again); one on its way out holds it until it is gone.
        var taken = Set(processes.compactMap { process -> Int? in
            process.hasProcess || !process.removing ? process.spec.port : nil
        })
        for (name, other) in programs where name != program.name {
            for spec in other.processes { if let port = spec.port { taken.insert(port) } }
        }
        taken.formUnion(reservedPorts)
        return range.first { !taken.contains($0) }
    }

    /// Starts `base` (the slot's spec from the config) on a spare port beside
    /// `old`; when it is ready, drains and stops `old`. Completes with the
    /// successor, or an error with `old` untouched.
    func replaceFirst(_ old: ManagedProcess, base: ProcessSpec, reason: String,
                      completion: @escaping (Result<ManagedProcess, SupervisorError>) -> Void) {
        guard let program = programs[base.programName], let port = sparePort(in: program) else {
            return completion(.failure(SupervisorError("no spare port for a replacement of \(old.name)", code: "no_spare_port")))
        }
        let spec: ProcessSpec
        do throws(ConfigDiagnostic) { spec = try program.process(number: base.number, port: port) } catch {
            return completion(.failure(SupervisorError("cannot build a replacement of \(old.name): \(error.message)", code: "bad_config")))
        }
        let successor = makeProcess(spec)
        successor.baseSpec = base
        successor.lifecycle.succeed(old.lifecycle)
        old.replacing = true
        successor.replacing = true
        processes.append(successor)
        sortTable()
        log.info(old.name, "\(reason): starting a replacement on port \(port) beside pid \(old.pid) (port \(old.spec.port ?? 0))")
        start(successor)
        awaitServing(successor) { [unowned self] outcome in
            if old.removing || successor.removing || self.shuttingDown {
                // The slot went away meanwhile (scaled down, program removed)
                // or drover is stopping: nothing left to replace.
                old.replacing = false
                successor.replacing = false
                if !successor.removing && !self.shuttingDown {
                    successor.removing = true
                    self.stop(successor) { [unowned self] in self.remove(successor) }
                }
                let why = self.shuttingDown ? "drover is shutting down" : "\(old.name) was removed"
                self.log.info(old.name, "replacement abandoned: \(why)")
                return completion(.failure(SupervisorError("replacement of \(old.name) abandoned: \(why)", code: "abandoned")))
            }
            guard outcome.ok else {
                let message = "replacement of \(old.name) did not become ready: \(outcome.message ?? outcome.state.rawValue)"
                self.log.error(old.name, message + "; keeping pid \(old.pid)")
                old.replacing = false
                successor.replacing = false
                successor.removing = true
                self.stop(successor) { [unowned self] in self.remove(successor) }
                return completion(.failure(SupervisorError(message, code: "rolling_failed")))
            }
            // The successor holds the slot from now on; the old one only drains.
            successor.replacing = false
            self.log.info(old.name, "replacement pid \(successor.pid) on port \(port) is ready; draining pid \(old.pid)")
            self.retire(old) { completion(.success(successor)) }
        }
    }

    /// Out of the upstream at once; stopped when its in-flight requests are
    /// done (or after the drain limit); then gone from the table. Completes
    /// exactly once, also when something else removed it first.
    func retire(_ old: ManagedProcess, then completion: @escaping () -> Void) {
        old.replacing = true
        if old.state == .running { drain(old) }
        var finished = false
        let finish = {
            guard !finished else { return }
            finished = true
            completion()
        }
        var stopping = false
        // Weak: a scale-down may remove it (and free it) before the drain limit.
        let stopNow = { [weak self, weak old] in
            guard !stopping else { return }
            stopping = true
            guard let self, let old else { return finish() }
            old.removing = true
            self.stop(old) { [weak self, weak old] in
                if let self, let old { self.remove(old) }
                finish()
            }
        }
        if old.inflight == 0 { return stopNow() }
        old.idleWaiters.append(stopNow)
        reactor.schedule(after: Self.drainLimit) { stopNow() }
    }

    /// Longest a draining worker may take to finish its requests.
    static var drainLimit: Duration { .seconds(120) }

    /// Runs replacement jobs of one program one at a time.
    func serially(_ program: String, _ job: @escaping (_ done: @escaping () -> Void) -> Void) {
        if replacementsRunning.contains(program) {
            replacementsWaiting[program, default: []].append(job)
            return
        }
        replacementsRunning.insert(program)
        job { [unowned self] in self.nextReplacement(program) }
    }

    private func nextReplacement(_ program: String) {
        if var waiting = replacementsWaiting[program], !waiting.isEmpty {
            let job = waiting.removeFirst()
            replacementsWaiting[program] = waiting.isEmpty ? nil : waiting
            job { [unowned self] in self.nextReplacement(program) }
        } else {
            replacementsRunning.remove(program)
        }
    }

    func isReplacing(_ program: String) -> Bool { replacementsRunning.contains(program) }
}
