/// An operator's request that cannot be carried out, with a stable code
/// for the control API's `{"error", "code"}` bodies.
package struct SupervisorError: Error, Sendable, CustomStringConvertible {
    package var message: String
    package var code: String

    package init(_ message: String, code: String) {
        self.message = message
        self.code = code
    }

    package var description: String { message }
}

/// What happened to one process after an operator's action.
package struct ActionOutcome: Sendable {
    package var name: String
    package var ok: Bool
    package var state: ProcessState
    /// Why it failed, or a note such as "already started".
    package var message: String?
}

/// The operator's actions, each answering once it has taken effect (the
/// control socket replies then, as supervisorctl waits for its answer).
extension Supervisor {
    /// Why an operator's start, stop or restart cannot touch `process` now:
    /// a replacement or a removal owns it until it ends. Refused rather than
    /// queued, so the answer comes at once and says what to wait for.
    func busyReason(_ process: ManagedProcess) -> String? {
        if process.removing { return "is being removed (scale down or reload); it will not run again" }
        if process.replacing {
            return "is being replaced (rolling restart, reload or recycle of \(process.spec.programName)); try again when that ends"
        }
        return nil
    }

    /// Starts and answers when the process is RUNNING, or failed to get there.
    package func start(_ process: ManagedProcess, completion: @escaping (ActionOutcome) -> Void) {
        if let busy = busyReason(process) { return completion(outcome(process, ok: false, busy)) }
        switch process.state {
        case .running:
            return completion(outcome(process, ok: true, "already started"))
        case .starting:
            break
        case .stopping:
            return completion(outcome(process, ok: false, "is stopping"))
        case .stopped, .exited, .fatal, .backoff:
            if shuttingDown { return completion(outcome(process, ok: false, "drover is shutting down")) }
            start(process)
        }
        awaitStarted(process, completion: completion)
    }

    private func awaitStarted(_ process: ManagedProcess, completion: @escaping (ActionOutcome) -> Void) {
        if let done = startOutcome(process) { return completion(done) }
        process.observers.append { [unowned self] process in
            guard let done = self.startOutcome(process) else { return false }
            completion(done)
            return true
        }
    }

    private func startOutcome(_ process: ManagedProcess) -> ActionOutcome? {
        switch process.state {
        case .running: return outcome(process, ok: true, nil)
        case .starting: return nil
        case .backoff, .fatal:
            return outcome(process, ok: false, process.lastSpawnError.map { "spawn error: \($0)" } ?? "exited too quickly (\(process.lastExit.map { "\($0)" } ?? "?"))")
        case .exited: return outcome(process, ok: false, "exited (\(process.lastExit.map { "\($0)" } ?? "?"))")
        case .stopped, .stopping: return outcome(process, ok: false, "was stopped")
        }
    }

    package func stop(_ process: ManagedProcess, completion: @escaping (ActionOutcome) -> Void) {
        if let busy = busyReason(process) { return completion(outcome(process, ok: false, busy)) }
        // A preloaded worker waiting on its fork is STARTING: the lifecycle calls the fork off.
        if !process.hasProcess && process.state != .backoff && !process.lifecycle.launchPending {
            return completion(outcome(process, ok: true, "not running"))
        }
        stop(process) { [unowned self, unowned process] in
            completion(self.outcome(process, ok: true, process.killedDuringStop ? "needed SIGKILL" : nil))
        }
    }

    package func restart(_ process: ManagedProcess, completion: @escaping (ActionOutcome) -> Void) {
        if let busy = busyReason(process) { return completion(outcome(process, ok: false, busy)) }
        stop(process) { [unowned self, unowned process] _ in
            // Stopped: a start resets the failed-start count (Lifecycle).
            self.start(process, completion: completion)
        }
    }

    /// Answers when the process is RUNNING and ready (in a proxy's upstream),
    /// or has failed; used by rolling replacements.
    func awaitServing(_ process: ManagedProcess, completion: @escaping (ActionOutcome) -> Void) {
        func check(_ process: ManagedProcess) -> ActionOutcome? {
            if process.isServing { return outcome(process, ok: true, nil) }
            switch process.state {
            case .starting, .running: return nil
            default: return startOutcome(process) ?? outcome(process, ok: false, "did not become ready")
            }
        }
        if let done = check(process) { return completion(done) }
        process.observers.append { process in
            guard let done = check(process) else { return false }
            completion(done)
            return true
        }
    }

    package func outcome(_ process: ManagedProcess, ok: Bool, _ message: String?) -> ActionOutcome {
        ActionOutcome(name: process.name, ok: ok, state: process.state, message: message)
    }
}
