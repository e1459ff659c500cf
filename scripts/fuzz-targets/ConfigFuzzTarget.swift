// libFuzzer target for drover's config reader and `drover run`'s start-up,
// compiled by scripts/fuzz together with every layer of the daemon below
// the CLI, as one module. A failed precondition is a crash, i.e. a finding.
//
// Each input is supervisord.conf text (seeded from the compat corpus):
// - every value parser (durations, sizes, integers, signals, exit codes,
//   octal modes, rate limits, listen addresses, commands, environment
//   lists, %-expansion) gets the whole text and each line: no trap, and
//   what is accepted is within its documented range;
// - the INI parser: every syntax error names the file and a line in it;
// - the whole loader, in check and run mode, with the text as the main
//   file and whatever follows a `;--include--` line as `inc.conf` beside
//   it: no trap, no hang, every refusal and warning is `FILE:LINE: …` with
//   a line of that file, errors in line order; a loaded config stays within
//   its limits, every process has a command or the reason it has none, and
//   its template builds further workers (scaling) without trapping;
// - every config the loader accepts in run mode goes through the start-up
//   plan `drover run` makes before it binds or spawns (StartupPlan, with no
//   file access), as a daemon and as a lone tini-style child: it is made,
//   or refused with a reason per line, never a trap; the proxies' pools and
//   rate limiters are built from their settings, and a proxied pool's
//   replacements (its ports up to port + 2 × numprocs − 1) build too.
// Inputs whose [include] could reach outside the sandbox directory (a `/`,
// `~` or `%` in `files`) skip the loader only.

import Glibc

@_cdecl("LLVMFuzzerTestOneInput")
public func configFuzzTestOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    configFuzzCheck(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

let configFuzzDir: String = {
    var template = Array("/tmp/drover-config-fuzz-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { fatalError("mkdtemp failed") }
    return String(cString: made)
}()

let configFuzzUsers = UserDatabase(passwd: """
    root:x:0:0:root:/root:/bin/sh
    app:x:1000:1000:App:/home/app:/bin/sh
    """, group: """
    root:x:0:
    app:x:1000:
    """)

let configFuzzEnvironment = ["HOME": "/root", "PATH": "/usr/bin:/bin", "WORKERS": "3", "PORT": "8000", "EMPTY": "", "HF_TOKEN": "t"]

let includeMarker = "\n;--include--\n"

func configFuzzCheck(_ input: UnsafeRawBufferPointer) {
    let text = String(decoding: input, as: UTF8.self)
    // The value parsers get a short input whole, and the values of a
    // longer one (after the first `=` of each line).
    if input.count <= 256 { checkValueParsers(text) }
    var valuesChecked = 0
    for line in text.utf8.split(separator: UInt8(ascii: "\n")) where valuesChecked < 48 {
        guard let eq = line.firstIndex(of: UInt8(ascii: "=")) else { continue }
        checkValueParsers(String(decoding: line[line.index(after: eq)...], as: UTF8.self))
        valuesChecked += 1
    }
    var main = text
    var include: String?
    let bytes = Array(input), marker = Array(includeMarker.utf8)
    if bytes.count >= marker.count,
       let at = (0...(bytes.count - marker.count)).first(where: { bytes[$0..<($0 + marker.count)].elementsEqual(marker) }) {
        main = String(decoding: bytes[..<at], as: UTF8.self)
        include = String(decoding: bytes[(at + marker.count)...], as: UTF8.self)
    }
    let mainPath = configFuzzDir + "/supervisor.conf"
    let includePath = configFuzzDir + "/inc.conf"
    var files: [String: String] = [mainPath: main]
    if let include { files[includePath] = include }
    var sandboxed = true
    for (path, contents) in files {
        let ini = IniParser.parse(contents, path: path)
        let lines = lineCount(contents)
        for e in ini.errors {
            precondition(e.file == path && e.line >= 1 && e.line <= lines, "INI error without a line of its file: \(e)")
            precondition(e.description.hasPrefix("\(path):\(e.line): "), "INI error not FILE:LINE: \(e)")
        }
        for section in ini.sections {
            precondition(section.line >= 1 && section.line <= lines, "section without its line")
            for entry in section.entries {
                precondition(entry.line >= section.line && entry.line <= lines, "entry without its line")
            }
            if section.name == "include", let pattern = section["files"]?.value,
               pattern.contains("/") || pattern.contains("%") || pattern.contains("~") {
                sandboxed = false
            }
        }
    }
    guard sandboxed else { return }
    write(main, to: mainPath)
    if let include { write(include, to: includePath) } else { unlink(includePath) }
    let lineCounts = files.mapValues(lineCount)
    for (mode, isRoot) in [(ConfigMode.check, false), (ConfigMode.run, true)] {
        if let config = checkLoad(mainPath, mode: mode, isRoot: isRoot, lineCounts: lineCounts), mode == .run {
            checkStartup(config)
        }
    }
}

/// What `drover run` does with a loaded config short of binding and spawning.
func checkStartup(_ config: DroverConfig) {
    for tini in [false, true] {
        do throws(StartupPlan.Refusal) {
            let plan = try StartupPlan.make(config: config, environment: configFuzzEnvironment, tiniMode: tini,
                                            users: configFuzzUsers, files: .none)
            precondition(plan.descriptorLimit >= config.supervisord.minfds, "descriptor limit below minfds")
            precondition(plan.reservedPorts.allSatisfy { (0...65535).contains($0) }, "reserved port out of range")
            precondition(plan.processCount == config.programs.reduce(0) { $0 + $1.processes.count })
            if let control = plan.control { precondition(!control.path.isEmpty, "control socket without a path") }
        } catch {
            precondition(!error.reasons.isEmpty && error.reasons.allSatisfy { !$0.isEmpty }, "refused without a reason")
        }
    }
    for proxy in config.proxies {
        _ = WorkerPool(config: proxy, metrics: ProxyMetrics())
        if let limit = proxy.rateLimit { _ = RateLimiter(limit).allow("127.0.0.1", now: 1) }
        for program in config.programs where program.name == proxy.upstream || program.groupName == proxy.upstream {
            guard let range = program.portRange else { continue }
            // A replacement starts beside the worker it replaces on one of these.
            precondition(range.upperBound <= 65536, "a replacement port past 65535: \(range)")
            for port in range {
                if let spec = try? program.process(number: program.numprocsStart, port: port) { checkSpec(spec) }
            }
        }
    }
}

/// The loaded config, nil when it was refused.
func checkLoad(_ path: String, mode: ConfigMode, isRoot: Bool, lineCounts: [String: Int]) -> DroverConfig? {
    let config: DroverConfig
    do {
        config = try ConfigLoader.load(path: path, environment: configFuzzEnvironment, isRoot: isRoot, for: mode,
                                       usableCPUs: 4, users: configFuzzUsers)
    } catch {
        precondition(!error.errors.isEmpty, "refused without an error")
        checkDiagnostics(error.errors, lineCounts)
        checkDiagnostics(error.warnings, lineCounts)
        return nil
    }
    checkDiagnostics(config.warnings, lineCounts)
    for program in config.programs {
        precondition(ConfigLimits.numprocs.contains(program.numprocs), "numprocs out of range")
        precondition(program.processes.count == program.numprocs, "process count differs from numprocs")
        if let range = program.portRange { precondition(range.lowerBound >= 1 && range.upperBound <= 65536) }
        for spec in program.processes { checkSpec(spec) }
        // Scaling past numprocs goes through the same template.
        for number in [program.numprocsStart + program.numprocs, program.numprocsStart + program.numprocs + 7] {
            if let spec = try? program.process(number: number) { checkSpec(spec) }
            if let spec = try? program.process(number: number, port: 65535) { checkSpec(spec) }
        }
    }
    for proxy in config.proxies {
        for timeout in [proxy.queueTimeout, proxy.connectTimeout, proxy.readTimeout, proxy.clientTimeout, proxy.keepaliveTimeout] {
            precondition(timeout >= .zero && timeout <= ConfigValues.maxDuration, "proxy timeout out of range")
        }
        precondition(ConfigLimits.maxInflight.contains(proxy.maxInflight) && ConfigLimits.queueSize.contains(proxy.queueSize))
        precondition(ConfigLimits.retries.contains(proxy.retries))
        precondition(proxy.clientMaxBodySize >= 0 && Int64(proxy.clientMaxBodySize) <= ConfigLimits.clientMaxBodySize)
        precondition(proxy.maxHeaderSize >= 0 && Int64(proxy.maxHeaderSize) <= ConfigLimits.maxHeaderSize)
        if let limit = proxy.rateLimit {
            precondition(limit.perSecond > 0 && limit.perSecond <= ConfigLimits.ratePerSecond && ConfigLimits.rateBurst.contains(limit.burst))
        }
    }
    let s = config.supervisord
    precondition(s.shutdownTimeout >= .zero && s.shutdownTimeout <= ConfigValues.maxDuration)
    precondition(s.logfileMaxBytes >= 0 && Int64(s.logfileMaxBytes) <= ConfigValues.maxByteSize)
    precondition(ConfigLimits.backups.contains(s.logfileBackups))
    _ = checkSummary(config)
    return config
}

func checkSpec(_ spec: ProcessSpec) {
    precondition(!spec.argv.isEmpty || spec.commandError != nil, "a process with no command and no reason")
    for d in [spec.startsecs, spec.stopwaitsecs, spec.backoffMax] {
        precondition(d >= .zero && d <= ConfigValues.maxDuration, "duration out of range")
    }
    if let h = spec.health {
        for d in [h.interval, h.timeout, h.startPeriod] { precondition(d >= .zero && d <= ConfigValues.maxDuration) }
        precondition(ConfigLimits.healthFails.contains(h.fails))
    }
    for target in [spec.stdout, spec.stderr] {
        if case .file(_, let maxBytes, let backups) = target {
            precondition(maxBytes >= 0 && Int64(maxBytes) <= ConfigValues.maxByteSize && ConfigLimits.backups.contains(backups))
        }
    }
    precondition(spec.maxMemory >= 0 && Int64(spec.maxMemory) <= ConfigValues.maxByteSize)
    precondition(ConfigLimits.startretries.contains(spec.startretries) && ConfigLimits.priority.contains(spec.priority))
    if let port = spec.port { precondition(port >= 1 && port <= 65535 + 2 * 4096) }
}

func checkDiagnostics(_ list: [ConfigDiagnostic], _ lineCounts: [String: Int]) {
    var previous: (file: String, line: Int)?
    for d in list {
        guard let lines = lineCounts[d.file] else {
            preconditionFailure("diagnostic names a file that was not read: \(d)")
        }
        precondition(d.line >= 1 && d.line <= lines, "diagnostic without a line of its file: \(d)")
        precondition(d.description.hasPrefix("\(d.file):\(d.line): "), "not FILE:LINE: \(d)")
        if let previous, previous.file == d.file { precondition(previous.line <= d.line, "diagnostics out of line order") }
        previous = (d.file, d.line)
    }
}

func checkValueParsers(_ text: String) {
    if case .success(let d) = ConfigValues.duration(text) { precondition(d >= .zero && d <= ConfigValues.maxDuration) }
    if case .success(let n) = ConfigValues.byteSize(text) { precondition(n >= 0 && Int64(n) <= ConfigValues.maxByteSize) }
    if case .success(let n) = ConfigValues.byteSize(text, max: 1 << 20) { precondition(n >= 0 && n <= 1 << 20) }
    if case .success(let n) = ConfigValues.integer(text, in: ConfigLimits.numprocs) { precondition(ConfigLimits.numprocs.contains(n)) }
    _ = ConfigValues.integer(text)
    if case .success(let codes) = ConfigValues.exitcodes(text) { precondition(codes.allSatisfy { (0...255).contains($0) }) }
    if case .success(let mode) = ConfigValues.octal(text) { precondition(mode <= 0o7777) }
    if case .success(let signal) = ConfigValues.signal(text) { precondition(signal > 0 && signal < 65) }
    if case .success(let limit?) = ConfigValues.rateLimit(text) {
        precondition(limit.perSecond > 0 && limit.perSecond <= ConfigLimits.ratePerSecond && ConfigLimits.rateBurst.contains(limit.burst))
    }
    if case .success(.tcp(_, let port)) = ConfigValues.listenAddress(text) { precondition((0...65535).contains(port)) }
    _ = ConfigValues.accessLog(text)
    _ = ConfigValues.boolean(text)
    _ = ConfigValues.autorestart(text)
    _ = ConfigValues.logLevel(text)
    _ = CPUBudget.autoCount(text, usable: 4)
    _ = CommandSplitter.split(text)
    _ = EnvironmentParser.parse(text)
    let values: [String: ExpansionValue] = ["here": .string("/h"), "program_name": .string("p"), "process_num": .int(3),
                                            "port": .int(8000), "ENV_HOME": .string("/root")]
    if let expanded = try? PercentExpansion.expand(text, values) {
        // Bounded: each format adds at most maxWidth characters (or its value).
        precondition(expanded.utf8.count <= text.utf8.count * (PercentExpansion.maxWidth + 8) + 64, "expansion blew up")
    }
}

func lineCount(_ text: String) -> Int {
    // As IniParser counts: lines split at "\n" (a final newline ends the last).
    max(1, text.utf8.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).count)
}

func write(_ text: String, to path: String) {
    let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
    precondition(fd >= 0, "cannot write \(path)")
    var text = text
    text.withUTF8 { buffer in
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            precondition(n > 0, "short write")
            offset += n
        }
    }
    close(fd)
}
