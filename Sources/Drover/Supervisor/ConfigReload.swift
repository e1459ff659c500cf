/// What a reload changed, for the log and the control API's answer.
public struct ReloadSummary: Sendable {
    public var added: [String] = []
    public var removed: [String] = []
    /// Programs whose workers are being replaced one at a time.
    public var changed: [String] = []
    public var scaled: [(program: String, from: Int, to: Int)] = []

    public var isEmpty: Bool { added.isEmpty && removed.isEmpty && changed.isEmpty && scaled.isEmpty }

    public var description: String {
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
    /// numprocs change scales, and a worker whose command, environment or any
    /// other setting changed is replaced, one at a time (rolling).
    @discardableResult
    public func apply(_ config: DroverConfig, rollsFinished: ((SupervisorError?) -> Void)? = nil) -> ReloadSummary {
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

        var rolls: [[(old: ManagedProcess, spec: ProcessSpec)]] = []
        for program in config.programs {
            guard programs[program.name] != nil else {
                summary.added.append(program.name)
                for process in add(program: program) where process.spec.autostart { start(process) }
                continue
            }
            programs[program.name] = program
            var workers = processes(ofProgram: program.name).filter { !$0.removing }.sorted { $0.spec.number < $1.spec.number }
            if workers.count != program.numprocs {
                summary.scaled.append((program.name, workers.count, program.numprocs))
                do { try scale(program: program.name, to: program.numprocs) } catch {
                    log.error(program.name, "reload: \(error.message)")
                }
                workers = Array(workers.prefix(program.numprocs))
            }
            var steps: [(old: ManagedProcess, spec: ProcessSpec)] = []
            for worker in workers {
                guard let spec = try? program.process(number: worker.spec.number), spec != worker.baseSpec else { continue }
                if worker.hasProcess || worker.state == .backoff {
                    steps.append((worker, spec))
                } else {
                    // Not running: take the new settings quietly, in the same state.
                    let successor = replace(worker, with: spec)
                    successor.state = worker.state
                    successor.everStarted = worker.everStarted
                }
            }
            if !steps.isEmpty {
                summary.changed.append(program.name)
                rolls.append(steps)
            }
        }
        sortTable()

        var pending = rolls.count
        var firstError: SupervisorError?
        if pending == 0 { rollsFinished?(nil) }
        for steps in rolls {
            rollingReplace(steps) { result in
                if case .failure(let error) = result, firstError == nil { firstError = error }
                pending -= 1
                if pending == 0 { rollsFinished?(firstError) }
            }
        }
        return summary
    }
}
