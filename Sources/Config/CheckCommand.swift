// `drover check`: load a config the way `run` would (in check mode), print
// every warning and error as `FILE:LINE: [section] key: message`, and on
// success the resolved pools, so a migration from supervisord can be read
// over before anything starts.

import Glibc

/// Returns the exit code: 0 valid, 1 errors.
package func runCheck(path: String, environment: [String: String]) -> Int32 {
    if let missing = ConfigPaths.missingConfigAdvice(path, commandInstead: false) {
        printError("drover: " + missing)
        return 1
    }
    let config: DroverConfig
    do {
        config = try ConfigLoader.load(path: path, environment: environment, isRoot: geteuid() == 0, for: .check)
    } catch {
        // Errors first, then warnings, each in file and line order; one summary line.
        for e in error.errors { printError("error: \(e)") }
        for w in error.warnings { printError("warning: \(w)") }
        printError("FAILED: \(error.errors.count) error\(error.errors.count == 1 ? "" : "s"), \(error.warnings.count) warning\(error.warnings.count == 1 ? "" : "s")")
        return 1
    }
    for w in config.warnings { printError("warning: \(w)") }
    for w in missingExecutables(config, environment: environment) { printError("warning: \(w)") }
    print(checkSummary(config), terminator: "")
    return 0
}

/// A `command` whose executable is not there (a venv not activated, a
/// typo) loops in BACKOFF at run time; `check` says so first. Looked up as
/// the spawn does: a path with a slash from the program's `directory`, a
/// bare name in the PATH of its environment (the config's, else drover's).
package func missingExecutables(_ config: DroverConfig, environment: [String: String]) -> [String] {
    var warnings: [String] = []
    for program in config.programs {
        guard let spec = program.processes.first, spec.commandError == nil, let name = spec.argv.first, !name.isEmpty else { continue }
        // `%(...)s`-free argv[0] only: the config already expanded it.
        if name.contains("/") {
            let path = name.hasPrefix("/") ? name : (spec.directory.map { $0 + "/" } ?? "") + name
            if access(path, X_OK) != 0 {
                let why = access(path, F_OK) == 0 ? "is not executable" : "does not exist"
                let from = name.hasPrefix("/") ? "" : " (from \(spec.directory ?? "the directory drover runs in"))"
                warnings.append("[program:\(program.name)] command: \(path)\(from) \(why); its workers will not start")
            }
            continue
        }
        let searchPath = spec.environment["PATH"] ?? environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        let found = searchPath.split(separator: ":", omittingEmptySubsequences: false).contains { dir in
            let base = dir.isEmpty ? "." : String(dir)
            return access(base + "/" + name, X_OK) == 0
        }
        if !found {
            let hint = ["python", "python3", "gunicorn", "uvicorn", "waitress-serve", "flask"].contains(name)
                ? " (a virtualenv that is not activated? give its full path, e.g. /app/.venv/bin/\(name))"
                : " (give its full path, or set PATH in `environment =`)"
            warnings.append("[program:\(program.name)] command: '\(name)' is not found in PATH=\(searchPath)\(hint); its workers will not start")
        }
    }
    return warnings
}

/// The resolved pools in the form `drover check` prints.
package func checkSummary(_ config: DroverConfig) -> String {
    var out = ""
    var processCount = 0
    for program in config.programs {
        let n = program.processes.count
        processCount += n
        var head = "program \(program.name) (group \(program.groupName)): \(n) process\(n == 1 ? "" : "es"), priority \(program.priority)"
        if let port = program.port {
            head += n > 1 ? ", ports \(port)-\(port + n - 1)" : ", port \(port)"
        }
        if program.processes.first?.preload == true { head += ", " + PreloadRule.checkNote }
        out += head + "\n"
        for p in program.processes {
            var line = "  \(p.fullName)"
            if let port = p.port { line += "  port \(port)" }
            if let user = p.user { line += "  user \(user.name)" }
            if let reason = p.commandError {
                line += "  FATAL at start: \(reason)"
            } else {
                line += "  command: " + p.argv.map(checkShellQuoted).joined(separator: " ")
            }
            if let socket = p.fcgiSocket { line += "  (fd 0: \(socket))" }
            if p.fatalAction == .shutdown { line += "  fatal_action=shutdown" }
            out += line + "\n"
        }
    }
    out += slotTables(config)
    for proxy in config.proxies {
        var line = "proxy \(proxy.name): listen \(proxy.listen) -> \(proxy.upstream), balance \(proxy.balance.rawValue)"
        line += ", max_inflight \(proxy.maxInflight == 0 ? "0 (no cap)" : String(proxy.maxInflight))"
        out += line + "\n"
    }
    let w = config.warnings.count
    out += "OK: \(config.programs.count) program\(config.programs.count == 1 ? "" : "s"), \(processCount) process\(processCount == 1 ? "" : "es"), \(w) warning\(w == 1 ? "" : "s")\n"
    return out
}

/// An argument as a shell would need it written, for display only.
func checkShellQuoted(_ arg: String) -> String {
    let safe = arg.unicodeScalars.allSatisfy { c in
        (c >= "a" && c <= "z") || (c >= "A" && c <= "Z") || (c >= "0" && c <= "9") || "-_./:=,+@%".unicodeScalars.contains(c)
    }
    if safe && !arg.isEmpty { return arg }
    return "'" + arg.split(separator: "'", omittingEmptySubsequences: false).joined(separator: "'\\''") + "'"
}

/// To stderr, unbuffered (the config layer builds on its own, for scripts/fuzz).
private func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { _ = write(2, $0.baseAddress, $0.count) }
}
