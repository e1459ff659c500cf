import Glibc
// [group:x] and [program:x]: supervisord's keys and defaults, drover's
// additions (port, health_*, max_*, backoff_max, stdout_mirror, preload,
// numprocs = auto), and the ProcessTemplate that builds any worker of a
// pool, so `scale` can go past numprocs with the same expansions and checks.


extension ConfigLoadContext {
    // MARK: groups

    mutating func readGroups(_ sections: [IniSection], programs: Set<String>)
        -> (configs: [GroupConfig], groupOf: [String: String]) {
        var configs: [GroupConfig] = []
        var groupOf: [String: String] = [:]
        var listedAt: [String: IniEntry] = [:]
        for section in sections {
            let name = String(section.name.dropFirst("group:".count))
            if let why = Self.nameProblem(name) {
                diags.error(section.file, section.line, section.name, nil, "bad group name: \(why)")
                continue
            }
            var r = ConfigSectionReader(section, base: base)
            var group = GroupConfig(name: name, programs: [])
            if let p = r.int("priority", &diags, ConfigLimits.priority) { group.priority = p }
            if let (v, e) = r.string("programs", &diags) {
                for item in v.split(separator: ",").map({ String($0).pyStripped }) where !item.isEmpty {
                    if !programs.contains(item) {
                        diags.error(e.file, e.line, section.name, "programs", "no [program:\(item)] for group \(name)")
                    } else if let other = groupOf[item], let at = listedAt[item] {
                        diags.error(e.file, e.line, section.name, "programs",
                                    "program \(item) is already in group \(other) (\(at.file):\(at.line)); a program belongs to one group")
                    } else {
                        groupOf[item] = name
                        listedAt[item] = e
                        group.programs.append(item)
                    }
                }
            } else if section["programs"] == nil {
                diags.error(section.file, section.line, section.name, "programs", "[group:\(name)] needs `programs =`")
            }
            r.reportUnused(unsupported: [:], &diags)
            configs.append(group)
        }
        // A program outside any group forms a group of its own name; a
        // [group:x] of the same name would make `x:*` ambiguous.
        for group in configs where programs.contains(group.name) && groupOf[group.name] != group.name {
            if let section = sections.first(where: { $0.name == "group:\(group.name)" }) {
                diags.error(section.file, section.line, section.name, nil,
                            "group \(group.name) has the name of [program:\(group.name)], which is not in it")
            }
        }
        return (configs, groupOf)
    }

    // MARK: programs

    static let unsupportedProgramKeys: [String: String] = [
        "stdout_capture_maxbytes": "no process communication events",
        "stderr_capture_maxbytes": "no process communication events",
        "stdout_events_enabled": "no event listeners",
        "stderr_events_enabled": "no event listeners",
        "stdout_syslog": "no syslog output; use stdout_logfile",
        "stderr_syslog": "no syslog output; use stderr_logfile",
        "serverurl": "workers do not talk to the supervisor over XML-RPC",
    ]

    /// `[program:x]` and `[fcgi-program:x]` (the latter with a socket).
    static func programName(of section: String) -> String? {
        for prefix in ["program:", "fcgi-program:"] where section.hasPrefix(prefix) {
            return String(section.dropFirst(prefix.count))
        }
        return nil
    }

    mutating func readProgram(_ section: IniSection, groupOf: [String: String],
                              settings: SupervisordSettings) -> ProgramConfig? {
        let programName = Self.programName(of: section.name) ?? section.name
        let isFcgi = section.name.hasPrefix("fcgi-program:")
        let sectionName = section.name
        if let why = Self.nameProblem(programName) {
            diags.error(section.file, section.line, sectionName, nil, "bad program name: \(why)")
            return nil
        }
        let errorsBefore = diags.errors.count
        let groupName = groupOf[programName] ?? programName
        var r = ConfigSectionReader(section, base: base)

        // numprocs, numprocs_start and port see only here/ENV (as in supervisord).
        let slots = SlotPlan(settings: readSlotSettings(&r, sectionName), machine: machine)
        if let why = slots.autoPinningDeclined, let e = section["cpu_affinity"] {
            diags.warn(e.file, e.line, sectionName, "cpu_affinity", why)
        }
        var numprocs = 1
        var isAuto = false
        if let (v, e) = r.string("numprocs", &diags) {
            if let n = slots.autoCount(v, machine: machine) {
                numprocs = n
                isAuto = true
            } else {
                switch ConfigValues.integer(v, in: ConfigLimits.numprocs) {
                case .success(let n): numprocs = n
                case .failure(let err): diags.error(e.file, e.line, sectionName, "numprocs", err.message + " (or auto, auto-N)")
                }
            }
        }
        let numprocsStart = r.int("numprocs_start", &diags, ConfigLimits.numprocsStart) ?? 0
        let port = r.int("port", &diags, ConfigLimits.port)
        if let port, let e = section["port"] {
            if port + max(numprocs, 1) - 1 > 65535 {
                diags.error(e.file, e.line, sectionName, "port", "ports \(port)-\(port + numprocs - 1) go past 65535")
            } else {
                claimPorts(port..<(port + numprocs), owner: "[\(sectionName)]", entry: e, section: sectionName)
            }
        }

        // process_name, and supervisord's rule that a pool needs %(process_num) in it.
        var processName = (raw: "%(program_name)s", entry: IniEntry?.none)
        if let e = r.entry("process_name") {
            processName = (e.value, e)
            if (numprocs > 1 || isAuto) && !e.value.contains("%(process_num)") {
                diags.error(e.file, e.line, sectionName, "process_name",
                            "%(process_num) must be present within process_name when numprocs is \(isAuto ? "auto" : "> 1")")
            }
        } else if isAuto {
            processName.raw = "%(program_name)s_%(process_num)02d"
        } else if numprocs > 1, let e = section["numprocs"] {
            diags.error(e.file, e.line, sectionName, "numprocs",
                        "numprocs > 1 needs a process_name containing %(process_num), e.g. %(program_name)s_%(process_num)02d")
        }

        programSectionNames[programName] = sectionName
        processNameLocations[programName] = processName.entry
            ?? IniEntry(key: "process_name", value: processName.raw, file: section.file, line: section.line)

        // Values every worker shares, expanded as for the first one.
        let first: [String: ExpansionValue] = ProgramRecipe.values(
            program: programName, group: groupName, number: numprocsStart, numprocs: numprocs,
            port: port, slot: slots.slot(0))
        var proto = ProcessSpec(programName: programName, groupName: groupName, name: programName,
                                number: numprocsStart, index: 0, argv: [])
        if let p = r.int("priority", extra: first, &diags, ConfigLimits.priority) { proto.priority = p }
        if let b = r.typed("autostart", extra: first, &diags, ConfigValues.boolean) { proto.autostart = b }
        if let d = r.duration("startsecs", extra: first, &diags) { proto.startsecs = d }
        if let n = r.int("startretries", extra: first, &diags, ConfigLimits.startretries) { proto.startretries = n }
        if let a = r.typed("autorestart", extra: first, &diags, ConfigValues.autorestart) { proto.autorestart = a }
        if let c = r.typed("exitcodes", extra: first, &diags, ConfigValues.exitcodes) { proto.exitcodes = c }
        if let s = r.typed("stopsignal", extra: first, &diags, ConfigValues.signal) { proto.stopsignal = s }
        if let d = r.duration("stopwaitsecs", extra: first, &diags) { proto.stopwaitsecs = d }
        if let b = r.typed("stopasgroup", extra: first, &diags, ConfigValues.boolean) { proto.stopasgroup = b }
        // killasgroup defaults to stopasgroup's value, as in supervisord.
        proto.killasgroup = r.typed("killasgroup", extra: first, &diags, ConfigValues.boolean) ?? proto.stopasgroup
        if let b = r.typed("redirect_stderr", extra: first, &diags, ConfigValues.boolean) { proto.redirectStderr = b }
        if let u = r.typed("umask", extra: first, &diags, ConfigValues.octal) { proto.umask = u }
        if let n = r.int("max_requests", extra: first, &diags, ConfigLimits.maxRequests) { proto.maxRequests = n }
        if let n = r.size("max_memory", extra: first, &diags) { proto.maxMemory = n }
        if let d = r.duration("backoff_max", extra: first, &diags) { proto.backoffMax = d }
        if let b = r.typed("stdout_mirror", extra: first, &diags, ConfigValues.boolean) { proto.stdoutMirror = b }
        if let a = r.typed("fatal_action", extra: first, &diags, { v in
            FatalAction(rawValue: v.pyStripped.lowercased()).map { .success($0) }
                ?? .failure(ConfigValueError("'\(v)' is not one of ignore, shutdown"))
        }) { proto.fatalAction = a }
        var logs = ProgramRecipe.LogSizes()
        if let n = r.size("stdout_logfile_maxbytes", extra: first, &diags) { logs.stdoutMaxBytes = n }
        if let n = r.int("stdout_logfile_backups", extra: first, &diags, ConfigLimits.backups) { logs.stdoutBackups = n }
        if let n = r.size("stderr_logfile_maxbytes", extra: first, &diags) { logs.stderrMaxBytes = n }
        if let n = r.int("stderr_logfile_backups", extra: first, &diags, ConfigLimits.backups) { logs.stderrBackups = n }
        if isFcgi { proto.fcgiSocket = readFcgiSocket(&r, section, programName: programName) }
        if r.typed("preload", extra: first, &diags, ConfigValues.boolean) == true, let e = section["preload"] {
            if let refusal = PreloadRule.refusal(isFcgi: isFcgi, port: port) {
                diags.error(e.file, e.line, sectionName, "preload", refusal)
            } else {
                proto.preload = true
            }
        }

        // Health checks: any health_* key without health_path is a mistake.
        var health: HealthCheck?
        if let (v, e) = r.string("health_path", extra: first, &diags) {
            let path = v.pyStripped
            if path.hasPrefix("/") { health = HealthCheck(path: path) } else {
                diags.error(e.file, e.line, sectionName, "health_path", "'\(v)' must be a path starting with /")
            }
        }
        let hInterval = r.duration("health_interval", extra: first, &diags)
        let hTimeout = r.duration("health_timeout", extra: first, &diags)
        let hFails = r.int("health_fails", extra: first, &diags, ConfigLimits.healthFails)
        let hStart = r.duration("health_start_period", extra: first, &diags)
        if health != nil {
            if let v = hInterval { health!.interval = v }
            if let v = hTimeout { health!.timeout = v }
            if let v = hFails { health!.fails = v }
            if let v = hStart { health!.startPeriod = v }
            if health!.interval <= .zero, let e = section["health_interval"] {
                diags.error(e.file, e.line, sectionName, "health_interval", "must be more than 0")
            }
        } else if section["health_path"] == nil {
            for key in ["health_interval", "health_timeout", "health_fails", "health_start_period"] {
                if let e = section[key] {
                    diags.warn(e.file, e.line, sectionName, key, "ignored: the program has no health_path")
                }
            }
        }
        proto.health = health

        // Per-process keys: read (and remembered) here, expanded per worker.
        var perProcess: [String: IniEntry] = [:]
        for key in ["command", "directory", "environment", "user", "stdout_logfile", "stderr_logfile"] {
            if let e = r.entry(key) { perProcess[key] = e }
        }
        if perProcess["command"] == nil {
            diags.error(section.file, section.line, sectionName, "command", "[\(sectionName)] needs `command =`")
        }
        if proto.redirectStderr, let e = perProcess["stderr_logfile"] {
            diags.warn(e.file, e.line, sectionName, "stderr_logfile", "ignored because redirect_stderr=true (as supervisord does)")
        }
        r.reportUnused(unsupported: Self.unsupportedProgramKeys, &diags)
        guard diags.errors.count == errorsBefore else {
            // The workers are not built, but every unset %(ENV_X)s of their
            // keys is still named, so one run lists all variables to export.
            r.checkEnvironmentReferences(keys: Set(perProcess.keys), &diags)
            return nil
        }

        let recipe = ProgramRecipe(
            sectionName: sectionName, sectionFile: section.file, sectionLine: section.line, base: base,
            processName: processName.raw, processNameEntry: processName.entry, perProcess: perProcess,
            numprocs: numprocs, numprocsStart: numprocsStart, port: port, prototype: proto, logs: logs,
            supervisordEnvironment: settings.environment,
            childlogdir: settings.childlogdir, host: host, slots: slots)

        var processes: [ProcessSpec] = []
        var reported: Set<String> = []
        for number in numprocsStart..<(numprocsStart + numprocs) {
            var d = ConfigDiagnosticList()
            let spec = recipe.make(number, &d)
            // The same key failing for every worker is reported once.
            for e in d.errors where reported.insert("\(e.file):\(e.line):\(e.key ?? "")").inserted {
                diags.append(e, warning: false)
            }
            for w in d.warnings where reported.insert("w\(w.file):\(w.line):\(w.key ?? "")").inserted {
                diags.append(w, warning: true)
            }
            if let spec { processes.append(spec) }
        }
        guard diags.errors.count == errorsBefore else { return nil }
        let template = ProcessTemplate { (number: Int, port: Int?) throws(ConfigDiagnostic) -> ProcessSpec in
            try recipe.makeForScaling(number, port: port)
        }
        var program = ProgramConfig(name: programName, groupName: groupName, priority: proto.priority, numprocs: numprocs,
                                    numprocsStart: numprocsStart, port: port, processes: processes, template: template)
        let shapingKeys = ["cpus_per_worker", "thread_env", "cpu_affinity", "gpus", "workers_per_gpu"]
        if isAuto || shapingKeys.contains(where: { section[$0] != nil }) { program.slots = slots }
        return program
    }

    /// Process names must be unique within a group (supervisord keys
    /// processes by group:name).
    mutating func checkProcessNames(_ programs: [ProgramConfig]) {
        var seen: [String: String] = [:]
        for program in programs {
            for p in program.processes {
                if let other = seen[p.fullName] {
                    let e = processNameLocations[program.name]
                    diags.error(e?.file ?? "", e?.line ?? 0, programSectionNames[program.name] ?? "program:\(program.name)", "process_name",
                                "process name \(p.fullName) is also a process of [program:\(other)]")
                    break
                }
                seen[p.fullName] = program.name
            }
        }
    }
}

/// Everything needed to build the worker of a given process_num.
struct ProgramRecipe: Sendable {
    struct LogSizes: Sendable {
        var stdoutMaxBytes = 50 * 1024 * 1024
        var stdoutBackups = 10
        var stderrMaxBytes = 50 * 1024 * 1024
        var stderrBackups = 10
    }

    let sectionName: String
    let sectionFile: String
    let sectionLine: Int
    let base: [String: ExpansionValue]
    let processName: String
    let processNameEntry: IniEntry?
    let perProcess: [String: IniEntry]
    let numprocs: Int
    let numprocsStart: Int
    let port: Int?
    let prototype: ProcessSpec
    let logs: LogSizes
    let supervisordEnvironment: [String: String]
    let childlogdir: String
    let host: ConfigHostFacts
    let slots: SlotPlan

    static func values(program: String, group: String, number: Int, numprocs: Int, port: Int?, slot: Slot) -> [String: ExpansionValue] {
        var v: [String: ExpansionValue] = [
            "program_name": .string(program), "group_name": .string(group),
            "process_num": .int(number), "numprocs": .int(numprocs),
            "slot": .int(slot.index), "cpus": .int(slot.cpus),
        ]
        if let port { v["port"] = .int(port) }
        if let gpu = slot.gpu { v["gpu"] = .string(gpu) }
        return v
    }

    /// For ProgramConfig.process(number:): the first error, if any.
    func makeForScaling(_ number: Int, port portOverride: Int? = nil) throws(ConfigDiagnostic) -> ProcessSpec {
        let e = processNameEntry
        guard number >= numprocsStart else {
            throw ConfigDiagnostic(file: sectionFile, line: sectionLine, section: sectionName, key: "numprocs_start",
                                   message: "process_num \(number) is below numprocs_start \(numprocsStart)")
        }
        if number != numprocsStart && !processName.contains("%(process_num)") {
            throw ConfigDiagnostic(file: e?.file ?? sectionFile, line: e?.line ?? sectionLine, section: sectionName,
                                   key: "process_name",
                                   message: "cannot add workers: process_name has no %(process_num), so names would repeat")
        }
        var d = ConfigDiagnosticList()
        let spec = make(number, &d, port: portOverride)
        if let first = d.errors.first { throw first }
        guard let spec else {
            throw ConfigDiagnostic(file: sectionFile, line: sectionLine, section: sectionName, message: "cannot build process \(number)")
        }
        return spec
    }

    func expand(_ e: IniEntry, _ values: [String: ExpansionValue], _ diags: inout ConfigDiagnosticList) -> String? {
        var all = base
        all["here"] = .string(ConfigSectionReader.directory(of: e.file))
        for (k, v) in values { all[k] = v }
        do {
            return try PercentExpansion.expand(e.value, all)
        } catch {
            diags.error(e.file, e.line, sectionName, e.key, ConfigSectionReader.describe(error, in: e.value, available: all))
            return nil
        }
    }

    func make(_ number: Int, _ diags: inout ConfigDiagnosticList, port portOverride: Int? = nil) -> ProcessSpec? {
        let index = number - numprocsStart
        let workerPort = portOverride ?? port.map { $0 + index }
        var spec = prototype
        spec.number = number
        spec.index = index
        spec.port = workerPort
        let slot = slots.slot(index)
        spec.slot = slot
        let values = Self.values(program: spec.programName, group: spec.groupName, number: number,
                                 numprocs: numprocs, port: workerPort, slot: slot)
        let before = diags.errors.count

        let nameEntry = processNameEntry ?? IniEntry(key: "process_name", value: processName, file: sectionFile, line: sectionLine)
        if let name = expand(nameEntry, values, &diags) {
            if let why = ConfigLoadContext.nameProblem(name.pyStripped) {
                diags.error(nameEntry.file, nameEntry.line, sectionName, "process_name", "bad process name: \(why)")
            }
            spec.name = name.pyStripped
        }
        if let e = perProcess["command"], let text = expand(e, values, &diags) {
            // As supervisord: a command that is empty or cannot be split
            // does not fail the file; that program goes FATAL with the reason.
            var reason: String?
            switch CommandSplitter.split(text) {
            case .success(let argv) where argv.isEmpty: reason = "the command is empty"
            case .success(let argv): spec.argv = argv
            case .failure(let err): reason = "the command cannot be split into words: \(err.message)"
            }
            if let reason {
                spec.commandError = reason
                var message = "\(reason); the value as read is `\(Self.shown(e.value))`"
                if let comment = e.cutComment {
                    message += " (`\(comment)` was cut off as an inline comment: ` ;` and ` #` start one, as in supervisord)"
                }
                diags.warn(e.file, e.line, sectionName, "command", message + "; the program loads as FATAL, the rest of the config runs")
            }
        }
        if let e = perProcess["directory"], let text = expand(e, values, &diags) {
            let dir = host.expandTilde(text.pyStripped)
            spec.directory = dir
            // supervisord only finds out when spawning; the worker would go FATAL.
            if !host.isDirectory(dir) {
                diags.warn(e.file, e.line, sectionName, "directory", "directory \(dir) does not exist here; the process cannot start")
            }
        }
        var env = supervisordEnvironment
        if let e = perProcess["environment"], let text = expand(e, values, &diags) {
            switch EnvironmentParser.parse(text) {
            case .success(let pairs): env.merge(pairs) { _, new in new }
            case .failure(let err): diags.error(e.file, e.line, sectionName, "environment", err.message)
            }
        }
        slots.addVariables(of: slot, to: &env, inherited: host.environment)
        if let workerPort { env["PORT"] = String(workerPort) }
        env["DROVER_PROCESS_NAME"] = spec.name
        env["DROVER_PROCESS_NUM"] = String(number)
        env["SUPERVISOR_ENABLED"] = "1"
        env["SUPERVISOR_PROCESS_NAME"] = spec.name
        env["SUPERVISOR_GROUP_NAME"] = spec.groupName
        spec.environment = env

        if let e = perProcess["user"], let text = expand(e, values, &diags) {
            let name = text.pyStripped
            if let user = host.users.user(name) {
                spec.user = user
                if !host.isRoot && user.uid != host.currentUID {
                    host.problem(e, sectionName, "user",
                                 "drover is not root, so it cannot run this program as user '\(name)'", &diags)
                }
            } else {
                diags.error(e.file, e.line, sectionName, "user", "unknown user '\(name)' (not in /etc/passwd)")
            }
        }

        spec.stdout = logTarget("stdout", perProcess["stdout_logfile"], spec, values, logs.stdoutMaxBytes, logs.stdoutBackups, &diags)
        // Checked even when redirect_stderr ignores it: supervisord
        // validates the path before it warns that it is ignored.
        let stderr = logTarget("stderr", perProcess["stderr_logfile"], spec, values,
                               logs.stderrMaxBytes, logs.stderrBackups, &diags)
        spec.stderr = spec.redirectStderr ? .none : stderr  // with redirect_stderr it goes to stdout's
        return diags.errors.count == before ? spec : nil
    }

    /// A config value on one line, for a message.
    static func shown(_ value: String) -> String {
        var out = ""
        for c in value.unicodeScalars {
            switch c {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// stdout_logfile / stderr_logfile: AUTO (the default) is a file per
    /// worker in childlogdir, NONE is none, device paths never rotate.
    func logTarget(_ stream: String, _ entry: IniEntry?, _ spec: ProcessSpec, _ values: [String: ExpansionValue],
                   _ maxBytes: Int, _ backups: Int, _ diags: inout ConfigDiagnosticList) -> LogTarget {
        var text = "AUTO"
        if let entry {
            guard let t = expand(entry, values, &diags) else { return .none }
            text = t.pyStripped
        }
        switch text.uppercased() {
        case "NONE", "":
            return .none
        case "AUTO":
            let file = "\(spec.groupName)_\(spec.name)-\(stream).log"
            return .file(path: ConfigPaths.join(childlogdir, file), maxBytes: maxBytes, backups: backups)
        case "SYSLOG":
            if let entry {
                diags.warn(entry.file, entry.line, sectionName, entry.key, "syslog output is not implemented by drover; no log file")
            }
            return .none
        default:
            guard let entry, let path = host.checkedLogPath(text, entry, sectionName, &diags) else { return .none }
            if ConfigHostFacts.isDevicePath(path) { return .file(path: path, maxBytes: 0, backups: 0) }
            return .file(path: path, maxBytes: maxBytes, backups: backups)
        }
    }
}
