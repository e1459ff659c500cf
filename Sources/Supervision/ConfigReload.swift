import Config

/// What a reload changed, for the log and the control API's answer.
package struct ReloadSummary: Sendable {
    package var added: [String] = []
    package var removed: [String] = []
    /// Programs whose workers are being replaced one at a time.
    package var changed: [String] = []
    package var scaled: [(program: String, from: Int, to: Int)] = []

    package init() {}

    package var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty && scaled.isEmpty }

    package var description: String {
        if isEmpty { return "no changes" }
        var parts: [String] = []
        if !added.isEmpty { parts.append("added \(added.joined(separator: ", "))") }
        if !removed.isEmpty { parts.append("removed \(removed.joined(separator: ", "))") }
        if !changed.isEmpty { parts.append("replacing workers of \(changed.joined(separator: ", ")) one at a time") }
        for entry in scaled { parts.append("scaled \(entry.program) \(entry.from) -> \(entry.to)") }
        return parts.joined(separator: "; ")
    }
}

extension Supervisor {
    /// Applies a re-read config: new programs start, removed ones stop, a
    /// numprocs change in the file scales (a run-time size stays otherwise), and a worker whose command, environment or any
    /// other setting changed is replaced, one at a time (rolling).
    @discardableResult
    package func apply(_ config: DroverConfig, rollsFinished: ((SupervisorError?) -> Void)? = nil) -> ReloadSummary {
        var summary = ReloadSummary()
        let incoming = Dictionary(config.programs.map { ($0.name, $0) }, uniquingKeysWith: { $1 })
        log.level = config.supervisord.loglevel

        for name in programs.keys.sorted() where incoming[name] == nil {
            summary.removed.append(name)
            programs[name] = nil
            for process in processes(ofProgram: name) {
                process.removing = true
                stop(process) { [unowned self, unowned process] in self.remove(process) }
            }
        }

        var rolls: [(program: String, slots: [Int])] = []
        for program in config.programs {
            guard programs[program.name] != nil else {
                summary.added.append(program.name)
                for process in add(program: program) where process.spec.autostart { start(process) }
                continue
            }
            let size = poolSize(ofProgram: program.name)
            let resize = newPoolSize(program, current: size, was: programs[program.name])
            programs[program.name] = program
            if let resize {
                summary.scaled.append((program.name, size, resize))
                do { try scale(program: program.name, to: program.numprocs) } catch {
                    log.error(program.name, "reload: \(error.message)")
                }
            }
            var slots: [Int] = []
            let workers = processes(ofProgram: program.name).filter { !$0.removing && !$0.replacing }
            for worker in workers.sorted(by: { $0.spec.number < $1.spec.number }) {
                guard let spec = try? program.process(number: worker.spec.number), spec != worker.baseSpec else { continue }
                if worker.hasProcess || worker.state == .backoff {
                    slots.append(worker.spec.number)
                } else {
                    // Not running: take the new settings quietly, in the same state.
                    replaceQuietly(worker, with: spec)
                }
            }
            // A replacement under way started from the old spec: its slot is
            // rolled again after it, and the roll takes the newest spec then.
            let replacing = processes(ofProgram: program.name).filter { worker in
                !worker.removing && worker.replacing && (try? program.process(number: worker.spec.number)) != worker.baseSpec
            }.map(\.spec.number)
            slots = Array(Set(slots + replacing)).sorted()
            if !slots.isEmpty {
                summary.changed.append(program.name)
                rolls.append((program.name, slots))
            }
        }
        sortTable()

        var pending = rolls.count
        var firstError: SupervisorError?
        if pending == 0 { rollsFinished?(nil) }
        for roll in rolls {
            let finished: (Result<[String], SupervisorError>) -> Void = { result in
                if case .failure(let error) = result, firstError == nil { firstError = error }
                pending -= 1
                if pending == 0 { rollsFinished?(firstError) }
            }
            renewingPreloadTemplate(of: roll.program, reason: "reload") { [unowned self] error in
                if let error { return finished(.failure(error)) }
                self.rollingReplace(program: roll.program, slots: roll.slots, mode: .reload, completion: finished)
            }
        }
        return summary
    }

    /// What `apply(config)` would change, changing nothing (`drover reread`).
    package func preview(_ config: DroverConfig) -> ReloadSummary {
        var summary = ReloadSummary()
        let incoming = Set(config.programs.map(\.name))
        summary.removed = programs.keys.sorted().filter { !incoming.contains($0) }
        for program in config.programs {
            guard let current = programs[program.name] else {
                summary.added.append(program.name)
                continue
            }
            let size = poolSize(ofProgram: program.name)
            if let resize = newPoolSize(program, current: size, was: current) {
                summary.scaled.append((program.name, size, resize))
            }
            let differs = processes(ofProgram: program.name).contains { worker in
                !worker.removing && (try? program.process(number: worker.spec.number)) != worker.baseSpec
            }
            if differs { summary.changed.append(program.name) }
        }
        return summary
    }

    /// The size a reload gives a pool of `current` workers, nil to leave it:
    /// the file's `numprocs` only when the file changed it, so a run-time
    /// `drover scale` (or SIGTTIN) survives a reload made for anything else.
    private func newPoolSize(_ program: ProgramConfig, current: Int, was previous: ProgramConfig?) -> Int? {
        guard let previous, previous.numprocs == program.numprocs else {
            return current != program.numprocs ? program.numprocs : nil
        }
        return nil
    }
}
