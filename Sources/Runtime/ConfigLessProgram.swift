import Config

/// The program of `drover run [--workers N|auto] [--port P] [--health PATH] -- CMD ARGS`:
/// a pool named `app` whose arguments are expanded as a config's `command`
/// is (`%(port)s`, `%(process_num)02d`, `%(program_name)s`, `%(ENV_X)s`,
/// `%(slot)s`, `%(cpus)s`, …), each worker in its slot as `numprocs = auto`
/// lays them out.
package enum ConfigLessProgram {
    /// `tini`: one worker and no `--listen`: run once and pass the exit
    /// status through. With `--listen` even one worker is a pool: restarted,
    /// probed and proxied.
    /// `slots`: worker i's slot is slot i of this plan (RunSlotFlags makes it).
    package static func make(argv: [String], workers: Int, firstPort: Int?, healthPath: String?,
                            environment: [String: String], tini: Bool? = nil,
                            slots: SlotPlan) throws(ConfigDiagnostic) -> ProgramConfig {
        let tini = tini ?? (workers == 1)
        var shared: [String: ExpansionValue] = [
            "program_name": .string("app"), "group_name": .string("app"), "numprocs": .int(workers),
            "here": .string(ConfigPaths.currentDirectory()),
        ]
        for (key, value) in environment { shared["ENV_" + key] = .string(value) }
        let sharedValues = shared
        let inherited = environment
        let template = ProcessTemplate { (number: Int, portOverride: Int?) throws(ConfigDiagnostic) -> ProcessSpec in
            let name = tini ? "app" : "app_" + (number < 10 ? "0\(number)" : String(number))
            let port = portOverride ?? firstPort.map { $0 + number }
            let slot = slots.slot(number)
            var values = sharedValues
            values["process_num"] = .int(number)
            values["slot"] = .int(slot.index)
            values["cpus"] = .int(slot.cpus)
            if let gpu = slot.gpu { values["gpu"] = .string(gpu) }
            if let port { values["port"] = .int(port) }
            var expanded: [String] = []
            for argument in argv {
                do throws(ExpansionError) {
                    expanded.append(try PercentExpansion.expand(argument, values))
                } catch {
                    let why: String
                    switch error {
                    case .missing(let names): why = "cannot expand " + names.map { "%(\($0))s" }.joined(separator: ", ") + (port == nil && names.contains("port") ? " (give --port or --listen)" : "")
                    case .malformed(let text): why = text
                    }
                    throw ConfigDiagnostic(file: "command line", line: 0, key: "command", message: "'\(argument)': \(why)")
                }
            }
            var workerEnvironment: [String: String] = [:]
            slots.addVariables(of: slot, to: &workerEnvironment, inherited: inherited)
            workerEnvironment["DROVER_PROCESS_NAME"] = name
            workerEnvironment["DROVER_PROCESS_NUM"] = String(number)
            workerEnvironment["SUPERVISOR_PROCESS_NAME"] = name
            workerEnvironment["SUPERVISOR_GROUP_NAME"] = "app"
            workerEnvironment["SUPERVISOR_ENABLED"] = "1"
            if let port { workerEnvironment["PORT"] = String(port) }
            var spec = ProcessSpec(programName: "app", groupName: "app", name: name, number: number, index: number,
                                   argv: expanded, environment: workerEnvironment, port: port)
            spec.slot = slot
            spec.health = healthPath.map { HealthCheck(path: $0) }
            if tini {
                // tini: run once, pass the exit status through.
                spec.autorestart = .never
                spec.startsecs = .zero
                spec.startretries = 1
            } else {
                spec.startretries = 0
            }
            return spec
        }
        var processes: [ProcessSpec] = []
        for number in 0..<workers { processes.append(try template.make(number, nil)) }
        var program = ProgramConfig(name: "app", groupName: "app", priority: 999, numprocs: workers, numprocsStart: 0,
                                    port: firstPort, processes: processes, template: template)
        program.slots = slots
        return program
    }
}
