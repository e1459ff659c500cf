/// Replaces a pool's workers one at a time: take the old one out of the
/// upstream (draining), stop it, start its successor with the new spec in
/// the same slot (same name and port), wait until that one is RUNNING and
/// ready, then go on. Never fewer than N−1 serving; a successor that fails
/// to become ready stops the roll and leaves the rest untouched.
final class RollingReplacement {
    private unowned let supervisor: Supervisor
    private var steps: [(old: ManagedProcess, spec: ProcessSpec)]
    private let completion: (Result<[String], RollingError>) -> Void
    private var replaced: [String] = []

    struct RollingError: Error {
        var message: String
        var replaced: [String]
    }

    init(supervisor: Supervisor, steps: [(old: ManagedProcess, spec: ProcessSpec)],
         completion: @escaping (Result<[String], RollingError>) -> Void) {
        self.supervisor = supervisor
        self.steps = steps
        self.completion = completion
    }

    /// Keeps itself alive until the last step answers.
    func run() {
        guard !steps.isEmpty else { return completion(.success(replaced)) }
        let (old, spec) = steps.removeFirst()
        if old.removing { return run() }
        if supervisor.canReplaceFirst(old) {
            supervisor.replaceFirst(old, base: spec, reason: "rolling replacement") { [self] result in
                switch result {
                case .success(let successor):
                    replaced.append(successor.name)
                    run()
                case .failure(let error):
                    completion(.failure(RollingError(message: error.message + "; roll stopped", replaced: replaced)))
                }
            }
            return
        }
        let log = supervisor.log
        log.info(old.name, "rolling replacement: draining and stopping pid \(old.pid)")
        if old.state == .running {
            old.health = .draining
            supervisor.changed(old)
        }
        supervisor.stop(old) { [self] in
            let successor = supervisor.replace(old, with: spec)
            supervisor.start(successor)
            supervisor.awaitServing(successor) { [self] outcome in
                if outcome.ok {
                    log.info(successor.name, "rolling replacement: pid \(successor.pid) ready")
                    replaced.append(successor.name)
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
        successor.restarts = old.restarts + 1
        if let index = processes.firstIndex(where: { $0 === old }) {
            processes[index] = successor
        } else {
            processes.append(successor)
            sortTable()
        }
        old.stdout.close()
        old.stderr?.close()
        changed(old)
        return successor
    }

    /// `restart --rolling PROG`: every worker of the program, one at a time.
    public func rollingRestart(program name: String, completion: @escaping (Result<[String], SupervisorError>) -> Void) {
        let workers = processes(ofProgram: name).filter { !$0.removing }
        guard !workers.isEmpty else { return completion(.failure(SupervisorError("no program named '\(name)'", code: "no_such_program"))) }
        if isReplacing(name) {
            return completion(.failure(SupervisorError("a replacement of \(name)'s workers is already under way; try again when it ends",
                                                       code: "busy")))
        }
        rollingReplace(workers.map { ($0, $0.baseSpec) }, completion: completion)
    }

    /// One roll per program at a time: a second waits for the first.
    func rollingReplace(_ steps: [(old: ManagedProcess, spec: ProcessSpec)],
                        completion: @escaping (Result<[String], SupervisorError>) -> Void) {
        guard let program = steps.first?.old.spec.programName else { return completion(.success([])) }
        serially(program) { [unowned self] done in
            var roll: RollingReplacement?
            roll = RollingReplacement(supervisor: self, steps: steps) { result in
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
