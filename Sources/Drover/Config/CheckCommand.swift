// `drover check`: load a config the way `run` would (in check mode), print
// every warning and error as `FILE:LINE: [section] key: message`, and on
// success the resolved pools, so a migration from supervisord can be read
// over before anything starts.

import Glibc

/// Returns the exit code: 0 valid, 1 errors.
public func runCheck(path: String, environment: [String: String]) -> Int32 {
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
    print(checkSummary(config), terminator: "")
    return 0
}

/// The resolved pools in the form `drover check` prints.
public func checkSummary(_ config: DroverConfig) -> String {
    var out = ""
    var processCount = 0
    for program in config.programs {
        let n = program.processes.count
        processCount += n
        var head = "program \(program.name) (group \(program.groupName)): \(n) process\(n == 1 ? "" : "es"), priority \(program.priority)"
        if let port = program.port {
            head += n > 1 ? ", ports \(port)-\(port + n - 1)" : ", port \(port)"
        }
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
    for proxy in config.proxies {
        var line = "proxy \(proxy.name): listen \(proxy.listen) -> \(proxy.upstream), balance \(proxy.balance.rawValue)"
        line += ", max_inflight \(proxy.maxInflight)\(proxy.maxInflight == 0 ? " (no cap)" : "")"
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
