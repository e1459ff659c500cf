// Turns supervisor.conf (and its includes) into a DroverConfig, or throws
// ConfigErrors holding every error found. An existing supervisord.conf is
// accepted: what drover does not implement is a warning, never fatal.

import Glibc

/// What the config is loaded for: `run` refuses what cannot work on this
/// host now; `check` reports some of those (e.g. a `user=` drover could not
/// switch to because it is not root) as warnings, so a config can be
/// validated on a workstation before it ships.
package enum ConfigMode: Sendable, Equatable {
    case run
    case check
}

package enum ConfigLoader {
    /// Loads `path`. `environment` feeds `%(ENV_X)s` (not the process
    /// environment, so callers and tests decide); `machine` and `users`
    /// default to this host's (MachineShape, /etc/passwd); `usableCPUs`
    /// alone stands for a plain machine of that many CPUs.
    package static func load(path: String, environment: [String: String], isRoot: Bool = geteuid() == 0,
                            for mode: ConfigMode = .run, usableCPUs: Int? = nil, machine: MachineShape? = nil,
                            users: UserDatabase? = nil) throws(ConfigErrors) -> DroverConfig {
        let absolute = ConfigIncludeReader.absolute(path)
        let shape = machine ?? usableCPUs.map(MachineShape.plain) ?? MachineShape.current(environment: environment)
        var context = ConfigLoadContext(environment: environment, isRoot: isRoot, mode: mode,
                                  machine: shape, users: users ?? UserDatabase())
        var reader = ConfigIncludeReader(environmentValues: context.base)
        reader.read(absolute, from: nil)
        context.diags.merge(reader.diags)
        var config = context.build(path: absolute, sections: reader.sections)
        // Reported in file order (as read) and line order within a file.
        let errors = context.diags.errors.inFileOrder(reader.files)
        let warnings = context.diags.warnings.inFileOrder(reader.files)
        guard errors.isEmpty else {
            throw ConfigErrors(errors: errors, warnings: warnings)
        }
        config.warnings = warnings
        return config
    }
}

/// State of one load: the expansion values every section shares, the
/// accounts and CPUs of this host, the ports claimed so far, and the
/// diagnostics.
struct ConfigLoadContext {
    let host: ConfigHostFacts
    let machine: MachineShape
    var usableCPUs: Int { machine.usableCPUs }
    var users: UserDatabase { host.users }
    var currentUID: UInt32 { host.currentUID }
    /// `ENV_*` and `host_node_name`; `here` is added per key.
    let base: [String: ExpansionValue]
    var diags = ConfigDiagnosticList()
    var portClaims: [(range: Range<Int>, owner: String, entry: IniEntry)] = []
    /// Where each program's process_name is set (or its section), for
    /// duplicate-name errors.
    var processNameLocations: [String: IniEntry] = [:]
    /// `program:x` or `fcgi-program:x`, by program name.
    var programSectionNames: [String: String] = [:]

    init(environment: [String: String], isRoot: Bool, mode: ConfigMode, machine: MachineShape, users: UserDatabase) {
        self.host = ConfigHostFacts(environment: environment, isRoot: isRoot, mode: mode, users: users, currentUID: geteuid())
        self.machine = machine
        var base: [String: ExpansionValue] = [:]
        for (k, v) in environment { base["ENV_" + k] = .string(v) }
        base["host_node_name"] = .string(Self.nodeName())
        self.base = base
    }

    static func nodeName() -> String {
        var u = utsname()
        guard uname(&u) == 0 else { return "localhost" }
        return withUnsafeBytes(of: &u.nodename) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    mutating func build(path: String, sections: [IniSection]) -> DroverConfig {
        var config = DroverConfig(path: path)
        config.machine = machine
        // Groups first: a program's group name feeds its %(group_name)s.
        var groupSections: [IniSection] = []
        var programSections: [IniSection] = []
        var proxySections: [IniSection] = []
        for section in sections {
            let name = section.name
            if name == "supervisord" {
                config.supervisord = readSupervisord(section)
            } else if name == "unix_http_server" {
                config.unixHTTPServer = readUnixHTTPServer(section)
            } else if name == "supervisorctl" {
                config.supervisorctlServerURL = readSupervisorctl(section)
            } else if name.hasPrefix("group:") {
                groupSections.append(section)
            } else if name.hasPrefix("program:") || name.hasPrefix("fcgi-program:") {
                programSections.append(section)
            } else if name.hasPrefix("proxy:") {
                proxySections.append(section)
            } else {
                let reader = ConfigSectionReader(section, base: base)
                reader.checkEnvironmentReferences(&diags)
                if let warning = Self.skippedSectionWarning(section) {
                    diags.warn(section.file, section.line, name, nil, warning)
                }
            }
        }
        // [program:x] and [fcgi-program:x] share one name space.
        var programAt: [String: IniSection] = [:]
        programSections.removeAll { section in
            let name = Self.programName(of: section.name) ?? section.name
            if let first = programAt[name] {
                diags.error(section.file, section.line, section.name, nil,
                            "program \(name) is also defined as [\(first.name)] (\(first.file):\(first.line))")
                return true
            }
            programAt[name] = section
            return false
        }
        let programNames = Set(programAt.keys)
        let groups = readGroups(groupSections, programs: programNames)
        config.groups = groups.configs
        for section in programSections {
            if let program = readProgram(section, groupOf: groups.groupOf, settings: config.supervisord) {
                config.programs.append(program)
            }
        }
        checkProcessNames(config.programs)
        let upstreams = Set(config.programs.map(\.name)).union(groups.configs.map(\.name))
        for section in proxySections {
            if let proxy = readProxy(section, upstreams: upstreams) { config.proxies.append(proxy) }
        }
        checkReplacementPorts(config, proxySections)
        config.warnings = diags.warnings
        return config
    }

    // MARK: shared checks

    mutating func problem(_ e: IniEntry, _ section: String, _ key: String, _ message: String) {
        host.problem(e, section, key, message, &diags)
    }

    func expandTilde(_ path: String) -> String { host.expandTilde(path) }
    func isDirectory(_ path: String) -> Bool { host.isDirectory(path) }
    mutating func checkedLogPath(_ raw: String, _ e: IniEntry, _ section: String) -> String? {
        host.checkedLogPath(raw, e, section, &diags)
    }

    /// A proxied pool's replacements start on `port + numprocs … port +
    /// 2 × numprocs − 1`; another claim there leaves fewer spare ports (a
    /// warning: drover skips taken ports, and stops before starting when
    /// none is left).
    mutating func checkReplacementPorts(_ config: DroverConfig, _ proxySections: [IniSection]) {
        for proxy in config.proxies {
            guard let section = proxySections.first(where: { $0.name == "proxy:\(proxy.name)" }) else { continue }
            for program in config.programs where program.name == proxy.upstream || program.groupName == proxy.upstream {
                guard let base = program.port else { continue }
                let spare = (base + program.numprocs)..<(base + 2 * program.numprocs)
                if spare.upperBound > 65536 {
                    let first = max(spare.lowerBound, 65536), last = spare.upperBound - 1
                    let ports = first == last ? "port \(first)" : "ports \(first)-\(last)"
                    diags.warn(section.file, section.line, section.name, "upstream",
                               "replacements of \(program.name) would need \(ports), past 65535; "
                               + "rolling restarts there fall back to stopping a worker before starting its successor")
                    continue
                }
                for claim in portClaims where claim.range.overlaps(spare) && !claim.range.overlaps(base..<(base + program.numprocs)) {
                    diags.warn(section.file, section.line, section.name, "upstream",
                               "replacements of \(program.name) start on ports \(spare.lowerBound)-\(spare.upperBound - 1), which overlap \(claim.owner); "
                               + "rolling restarts there fall back to stopping a worker before starting its successor")
                    break
                }
            }
        }
    }

    /// Records that `range` of TCP ports is taken; overlapping an earlier
    /// claim is an error named at this (the second) claim.
    mutating func claimPorts(_ range: Range<Int>, owner: String, entry: IniEntry, section: String) {
        guard !range.isEmpty, range.lowerBound > 0 else { return }
        for claim in portClaims where claim.range.overlaps(range) {
            let first = claim.range.count == 1 ? "port \(claim.range.lowerBound)" : "ports \(claim.range.lowerBound)-\(claim.range.upperBound - 1)"
            let mine = range.count == 1 ? "port \(range.lowerBound)" : "ports \(range.lowerBound)-\(range.upperBound - 1)"
            diags.error(entry.file, entry.line, section, entry.key,
                        "\(mine) collide with \(first) of \(claim.owner) (\(claim.entry.file):\(claim.entry.line))")
            break
        }
        portClaims.append((range, owner, entry))
    }

    /// supervisord's process_or_group_name: no spaces, ':' or '/'.
    static func nameProblem(_ name: String) -> String? {
        if name.isEmpty { return "a name is required" }
        for c in [" ", ":", "/", "\t"] where name.contains(c) {
            return "'\(name)' is not a valid name (it contains '\(c)')"
        }
        return nil
    }
}

/// What a check of a value needs to know about this host; Sendable so a
/// program's ProcessTemplate can keep it for scaling at run time.
struct ConfigHostFacts: Sendable {
    let environment: [String: String]
    let isRoot: Bool
    let mode: ConfigMode
    let users: UserDatabase
    let currentUID: UInt32

    /// An error for `run`, a warning for `check` (see ConfigMode).
    func problem(_ e: IniEntry, _ section: String, _ key: String, _ message: String, _ diags: inout ConfigDiagnosticList) {
        if mode == .run {
            diags.error(e.file, e.line, section, key, message)
        } else {
            diags.warn(e.file, e.line, section, key, message + " (an error for `drover run`)")
        }
    }

    func expandTilde(_ path: String) -> String {
        guard path.hasPrefix("~") else { return path }
        if path == "~" || path.hasPrefix("~/") {
            let home = environment["HOME"] ?? users.user(uid: currentUID)?.home ?? "/"
            return home + path.dropFirst()
        }
        let rest = path.dropFirst()
        let name = rest.prefix { $0 != "/" }
        guard let u = users.user(String(name)) else { return path }
        return u.home + rest.dropFirst(name.count)
    }

    func isDirectory(_ path: String) -> Bool {
        ConfigPaths.isDirectory(path)
    }

    /// Device paths that are always writable and must never be rotated.
    static func isDevicePath(_ path: String) -> Bool {
        ["/dev/stdout", "/dev/stderr", "/dev/null", "/dev/tty"].contains(path) || path.hasPrefix("/dev/fd/")
            || path.hasPrefix("/proc/self/fd/")
    }

    /// supervisord's `existing_dirpath`: the file may not exist yet, but its
    /// directory must. Returns the path, or nil with an error recorded.
    func checkedLogPath(_ raw: String, _ e: IniEntry, _ section: String, _ diags: inout ConfigDiagnosticList) -> String? {
        let path = expandTilde(raw)
        if Self.isDevicePath(path) { return path }
        let dir = ConfigPaths.directory(of: path)
        if dir.isEmpty || isDirectory(dir) { return path }
        diags.error(e.file, e.line, section, e.key, "directory \(dir) does not exist (for \(path))")
        return nil
    }
}
