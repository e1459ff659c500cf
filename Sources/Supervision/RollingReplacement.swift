import Config

/// Replaces a pool's workers one at a time: take the old one out of the
/// upstream (draining), stop it, start its successor with the new spec in
/// the same slot (same name and port), wait until that one is RUNNING and
/// ready, then go on. Never fewer than N−1 serving; a successor that fails
/// to become ready stops the roll and leaves the rest untouched.
///
/// A roll names slots (process_num), not process objects, and reads each
/// slot's worker and the program's spec when it gets there: by then a
/// scale may have removed the slot (skipped), an earlier roll or reload may
/// have replaced its worker (the current one is taken), the operator may
/// have stopped it (it takes the new spec and stays stopped), or a reload
/// may have changed the config again (the newest spec wins).
final class RollingReplacement {
    enum Mode {
        /// `restart --rolling`: every running worker is replaced.
        case restart
        /// A reload: only workers whose spec differs from the config's.
        case reload
    }

    private unowned let supervisor: Supervisor
    private let program: String
    private var slots: [Int]
    private let mode: Mode
    private let completion: (Result<[String], RollingError>) -> Void
    private var replaced: [String] = []

    struct RollingError: Error {
        var message: String
        var replaced: [String]
    }

    init(supervisor: Supervisor, program: String, slots: [Int], mode: Mode,
         completion: @escaping (Result<[String], RollingError>) -> Void) {
        self.supervisor = supervisor
        self.program = program
        self.slots = slots
        self.mode = mode
        self.completion = completion
    }

    /// Keeps itself alive until the last step answers.
    func run() {
        guard !slots.isEmpty else { return completion(.success(replaced)) }
        if supervisor.shuttingDown {
            return completion(.failure(RollingError(message: "drover is shutting down; roll stopped", replaced: replaced)))
        }
        // The program was removed by a reload: nothing left to roll.
        guard let config = supervisor.programs[program] else { return completion(.success(replaced)) }
        let number = slots.removeFirst()
        guard let old = supervisor.processes(ofProgram: program).first(where: { $0.spec.number == number && !$0.removing }),
              let spec = try? config.process(number: number) else {
            return run()
        }
        if mode == .reload && spec == old.baseSpec { return run() }
        guard old.hasProcess || old.state == .backoff else {
            // Not running (stopped by the operator, exited, fatal): it takes
            // the new settings quietly and stays as it is.
            supervisor.replaceQuietly(old, with: spec)
            return run()
        }
        if supervisor.canReplaceFirst(old) {
            supervisor.replaceFirst(old, base: spec, reason: "rolling replacement") { [self] result in
                switch result {
                case .success(let successor):
                    replaced.append(successor.name)
                    run()
                case .failure(let error) where error.code == "abandoned":
                    run()
                case .failure(let error):
                    completion(.failure(RollingError(message: error.message + "; roll stopped", replaced: replaced)))
                }
            }
            return
        }
        let log = supervisor.log
        log.info(old.name, "rolling replacement: draining and stopping pid \(old.pid)")
        old.replacing = true
        if old.state == .running { supervisor.drain(old) }
        supervisor.stop(old) { [self] in
            old.replacing = false
            if old.removing || supervisor.shuttingDown || supervisor.programs[program] == nil {
                // Scaled away or removed while it stopped: that slot is done.
                return run()
            }
            let successor = supervisor.replace(old, with: spec)
            successor.replacing = true
            supervisor.start(successor)
            supervisor.awaitServing(successor) { [self] outcome in
                successor.replacing = false
                if outcome.ok {
                    log.info(successor.name, "rolling replacement: pid \(successor.pid) ready")
                    replaced.append(successor.name)
                    run()
                } else if successor.removing || supervisor.shuttingDown {
                    run()
                } else {
                    let message = "\(successor.name) did not become ready: \(outcome.message ?? outcome.state.rawValue); roll stopped"
                    log.error(successor.name, "rolling replacement: \(message)")
                    completion(.failure(RollingError(message: message, replaced: replaced)))
                }
            }
        }
    }
}

extension Supervisor {
    /// A fresh process object in `old`'s slot (output streams follow the
    /// new spec's log settings); `old` must be stopped.
    func replace(_ old: ManagedProcess, with spec: ProcessSpec) -> ManagedProcess {
        let successor = makeProcess(spec)
        successor.lifecycle.succeed(old.lifecycle)
        if let index = processes.firstIndex(where: { $0 === old }) {
            processes[index] = successor
        } else {
            processes.append(successor)
            sortTable()
        }
        old.removing = true
        old.stdout.close()
        old.stderr?.close()
        changed(old)
        return successor
    }

    /// A worker that is not running takes new settings in the same state.
    @discardableResult
    func replaceQuietly(_ old: ManagedProcess, with spec: ProcessSpec) -> ManagedProcess {
        let successor = replace(old, with: spec)
        successor.lifecycle.inherit(from: old.lifecycle)
        successor.lastExit = old.lastExit
        successor.exitedWallNs = old.exitedWallNs
        successor.lastSpawnError = old.lastSpawnError
        return successor
    }

    /// `restart --rolling PROG`: every worker of the program, one at a time.
    /// Refused while another replacement of the program is under way.
    package func rollingRestart(program name: String, completion: @escaping (Result<[String], SupervisorError>) -> Void) {
        let workers = processes(ofProgram: name).filter { !$0.removing }
        guard programs[name] != nil, !workers.isEmpty else {
            return completion(.failure(SupervisorError("no program named '\(name)'", code: "no_such_program")))
        }
        if shuttingDown { return completion(.failure(SupervisorError("drover is shutting down", code: "shutting_down"))) }
        if isReplacing(name) {
            return completion(.failure(SupervisorError("a replacement of \(name)'s workers is already under way; try again when it ends",
                                                       code: "busy")))
        }
        let slots = Set(workers.map(\.spec.number)).sorted()
        renewingPreloadTemplate(of: name, reason: "rolling restart") { [unowned self] error in
            if let error { return completion(.failure(error)) }
            self.rollingReplace(program: name, slots: slots, mode: .restart, completion: completion)
        }
    }

    /// Before a preload program's workers are replaced (restart --rolling,
    /// a reload that changed it): a new template loads the model first (it
    /// may have changed on disk or in the settings), and the replacements
    /// are forks of that one. A template that does not come fails the
    /// roll before anything is replaced. Other programs go on at once.
    func renewingPreloadTemplate(of program: String, reason: String,
                                 then: @escaping (SupervisorError?) -> Void) {
        guard !options.inheritStdio, let config = programs[program],
              let first = processes(ofProgram: program).first(where: { !$0.removing }),
              let spec = try? config.process(number: first.spec.number), spec.preload else { return then(nil) }
        log.info(program, "\(reason): starting a new preload template first")
        preloadTemplates.renew(program: program, spec: spec) { failure in
            then(failure.map {
                SupervisorError("the new preload template did not start: \($0); nothing replaced", code: "rolling_failed")
            })
        }
    }

    /// One roll per program at a time: a second waits for the first.
    func rollingReplace(program: String, slots: [Int], mode: RollingReplacement.Mode,
                        completion: @escaping (Result<[String], SupervisorError>) -> Void) {
        guard !slots.isEmpty else { return completion(.success([])) }
        serially(program) { [unowned self] done in
            var roll: RollingReplacement?
            roll = RollingReplacement(supervisor: self, program: program, slots: slots, mode: mode) { result in
                _ = roll  // the roll owns itself until it answers
                roll = nil
                done()
                switch result {
                case .success(let names): completion(.success(names))
                case .failure(let error): completion(.failure(SupervisorError(error.message, code: "rolling_failed")))
                }
            }
            roll?.run()
        }
    }
}
