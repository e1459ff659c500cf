import Foundation
import Testing

/// supervisor 4.2.5 (supervisord + supervisorctl) for the side-by-side test:
/// the interpreter's own when it has that version, else a private
/// `pip install --target .build/supervisor-pkgs`, done once and kept.
/// Nothing is installed into the system's Python.
enum SupervisorPackages {
    static let version = "4.2.5"
    static let target = Binaries.packageRoot.appendingPathComponent(".build/supervisor-pkgs").path
    static let python: String? = {
        for dir in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(dir)/python3"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }()

    /// PYTHONPATH that imports supervisor 4.2.5 ("" when the interpreter has it), or why not.
    static let resolved: Result<String, Refusal> = resolve()
    static var refusal: String? { if case .failure(let why) = resolved { return why.description } else { return nil } }
    static var pythonPath: String { (try? resolved.get()) ?? "" }

    struct Refusal: Error, CustomStringConvertible { let description: String }

    private static func resolve() -> Result<String, Refusal> {
        guard let python else { return .failure(Refusal(description: "this host has no python3")) }
        if imports(python, pythonPath: "") { return .success("") }
        if imports(python, pythonPath: target) { return .success(target) }
        let pip = try? runCommand(python, ["-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                                           "--target", target, "supervisor==\(version)"], timeout: 600)
        if imports(python, pythonPath: target) { return .success(target) }
        let said = (pip?.stderr ?? "pip did not run").split(separator: "\n").suffix(3).joined(separator: " / ")
        return .failure(Refusal(description: "supervisor \(version) is not importable and `pip install supervisor==\(version)` failed here: \(said)"))
    }

    private static func imports(_ python: String, pythonPath: String) -> Bool {
        var environment = ProcessInfo.processInfo.environment
        if !pythonPath.isEmpty { environment["PYTHONPATH"] = pythonPath }
        let check = "import importlib.metadata as m, supervisor.supervisorctl; assert m.version('supervisor') == '\(version)'"
        return (try? runCommand(python, ["-c", check], environment: environment, timeout: 60))?.status == 0
    }

    static var environment: [String: String] {
        var environment = ProcessInfo.processInfo.environment
        if !pythonPath.isEmpty { environment["PYTHONPATH"] = pythonPath }
        environment.removeValue(forKey: "DROVER_SOCKET")
        return environment
    }
}

/// The issue's "done when": the same commands against supervisord +
/// supervisorctl 4.2.5 and against drover, on the same config file, give
/// the same lines and exit codes once pids, uptimes and dates are
/// normalised; every difference left is a row of the table in
/// docs/from-supervisord.md ("supervisorctl side by side"), and every row
/// of that table is still a difference (the doc cannot go stale).
@Suite(.serialized, .enabled(if: SupervisorPackages.refusal == nil, Comment(rawValue: SupervisorPackages.refusal ?? "")))
struct SupervisorctlSideBySideTests {
    static let config = """
        [unix_http_server]
        file = %(here)s/ctl.sock

        [supervisord]
        logfile = %(here)s/supervisord.log
        pidfile = %(here)s/supervisord.pid
        childlogdir = %(here)s
        nodaemon = true

        [rpcinterface:supervisor]
        supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

        [supervisorctl]
        serverurl = unix://%(here)s/ctl.sock

        [program:web]
        command = /bin/sh -c 'echo "web $SUPERVISOR_PROCESS_NAME"; echo err >&2; exec sleep 1000'
        process_name = %(program_name)s_%(process_num)02d
        numprocs = 2
        startsecs = 1

        [program:cron]
        command = /bin/sh -c 'echo "cron out"; exec sleep 1000'
        startsecs = 1

        [program:oneshot]
        command = /bin/sh -c 'echo boom >&2; exit 1'
        startsecs = 0
        autorestart = false

        """

    /// In this order against each; the logs are tailed before anything restarts.
    static let commands: [String] = [
        "status", "status web:web_00", "status web:*", "status web", "status nosuch",
        "tail cron", "tail -100 web:web_00", "tail web:web_00 stderr", "tail nosuch",
        "stop web:web_00", "stop web:web_00", "start web:web_00", "start web:web_00",
        "restart web:*", "restart cron", "stop nosuch", "start nosuch:*", "pid cron", "pid nosuch",
        "status", "shutdown",
    ]

    struct Transcript {
        /// Normalised lines of each command, its exit code last.
        var outputs: [[String]] = []
    }

    /// What two runs cannot share: pids, uptimes, dates. supervisorctl also
    /// prints a newline after the log `tail` shows, which ends in its own.
    static func normalise(_ text: String, exit: Int32) -> [String] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        while lines.last?.isEmpty == true { lines.removeLast() }
        let rules: [(String, String)] = [
            (#"pid \d+"#, "pid <PID>"),
            (#"uptime \d+:\d\d:\d\d"#, "uptime <UPTIME>"),
            (#"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d \d\d:\d\d (AM|PM)"#, "<DATE>"),
            (#"^[1-9]\d*$"#, "<PID>"),
        ]
        lines = lines.map { line in
            rules.reduce(line) { $0.replacingOccurrences(of: $1.0, with: $1.1, options: .regularExpression) }
        }
        return lines + ["exit \(exit)"]
    }

    /// Runs `command` with stderr folded into stdout in order, as `2>&1` would.
    static func merged(_ executable: String, _ arguments: [String], environment: [String: String], directory: String) throws -> ProcessResult {
        try runCommand("/bin/sh", ["-c", "exec \"$0\" \"$@\" 2>&1", executable] + arguments,
                       environment: environment, directory: directory, timeout: 60)
    }

    /// Waits until the pool settled (web and cron RUNNING, oneshot EXITED),
    /// asking with `status` of the tool under test.
    static func settled(_ status: () throws -> ProcessResult) -> Bool {
        waitUntil(timeout: 30) {
            guard let out = try? status().stdout else { return false }
            let lines = out.split(separator: "\n")
            func state(_ name: String) -> String? {
                lines.first { $0.hasPrefix(name + " ") }.map { $0.split(separator: " ", omittingEmptySubsequences: true)[1] }.map(String.init)
            }
            return state("cron") == "RUNNING" && state("web:web_00") == "RUNNING" && state("web:web_01") == "RUNNING"
                && state("oneshot") == "EXITED"
        }
    }

    static func supervisorctlTranscript() throws -> Transcript {
        let dir = TempDir("side-supervisord")
        defer { dir.cleanup() }
        let path = dir.write("supervisord.conf", config)
        let python = try #require(SupervisorPackages.python)
        let environment = SupervisorPackages.environment
        let daemon = Process()
        daemon.executableURL = URL(fileURLWithPath: python)
        // The test runner blocks or ignores signals its children inherit;
        // drover resets them for its workers, supervisord does not, so it
        // starts from a clean slate here (else every stop waits stopwaitsecs).
        let cleanSignals = """
            import signal, sys
            signal.pthread_sigmask(signal.SIG_SETMASK, set())
            for s in signal.valid_signals():
                try: signal.signal(s, signal.SIG_DFL)
                except (OSError, ValueError): pass
            from supervisor.supervisord import main
            sys.argv = ["supervisord", "-c", sys.argv[1]]
            main()
            """
        daemon.arguments = ["-c", cleanSignals, path]
        daemon.environment = environment
        daemon.currentDirectoryURL = URL(fileURLWithPath: dir.path)
        daemon.standardOutput = FileHandle.nullDevice
        daemon.standardError = FileHandle.nullDevice
        try daemon.run()
        defer {
            if daemon.isRunning { daemon.terminate() }
            daemon.waitUntilExit()
        }
        func ctl(_ command: String) throws -> ProcessResult {
            try merged(python, ["-m", "supervisor.supervisorctl", "-c", path] + command.split(separator: " ").map(String.init),
                       environment: environment, directory: dir.path)
        }
        let supervisordUp = settled { try ctl("status") }
        try #require(supervisordUp, "supervisord started its programs: \((try? ctl("status").stdout) ?? "")")
        var transcript = Transcript()
        for command in commands {
            let result = try ctl(command)
            transcript.outputs.append(normalise(result.stdout, exit: result.status))
        }
        _ = waitUntil(timeout: 15) { !daemon.isRunning }
        return transcript
    }

    static func droverTranscript() throws -> Transcript {
        let dir = TempDir("side-drover")
        defer { dir.cleanup() }
        let path = dir.write("supervisord.conf", config)
        var environment = ProcessInfo.processInfo.environment
        environment.removeValue(forKey: "DROVER_SOCKET")
        let drover = try DroverHarness(arguments: ["run", "-c", path], directory: dir.path, environment: environment)
        defer { drover.terminate() }
        func ctl(_ command: String) throws -> ProcessResult {
            try merged(Binaries.drover, ["-c", path] + command.split(separator: " ").map(String.init),
                       environment: environment, directory: dir.path)
        }
        let droverUp = settled { try ctl("status") }
        try #require(droverUp, "drover started its programs: \((try? ctl("status").stdout) ?? "")\n\(drover.transcript)")
        var transcript = Transcript()
        for command in commands {
            let result = try ctl(command)
            transcript.outputs.append(normalise(result.stdout, exit: result.status))
        }
        #expect(drover.waitForExit() == 0, "drover shut down")
        return transcript
    }

    /// A difference: what supervisorctl printed and what drover printed,
    /// line against line (or the whole output when the line counts differ),
    /// runs of spaces folded (the column widths are checked exactly elsewhere).
    struct Difference: Hashable, CustomStringConvertible {
        var supervisorctl: String
        var drover: String
        var description: String { "supervisorctl `\(supervisorctl)` / drover `\(drover)`" }
    }

    static func fold(_ line: String) -> String {
        line.replacingOccurrences(of: #" {2,}"#, with: " ", options: .regularExpression)
    }

    static func differences(_ a: [String], _ b: [String]) -> [Difference] {
        if a == b { return [] }
        if a.count == b.count {
            return zip(a, b).filter { $0 != $1 }.map { Difference(supervisorctl: fold($0), drover: fold($1)) }
        }
        return [Difference(supervisorctl: a.map(fold).joined(separator: " / "), drover: b.map(fold).joined(separator: " / "))]
    }

    /// The rows of docs/from-supervisord.md's side-by-side table: its second
    /// and third cells, without their backquotes.
    static func documentedDifferences() throws -> Set<Difference> {
        let doc = try String(contentsOf: Binaries.packageRoot.appendingPathComponent("docs/from-supervisord.md"), encoding: .utf8)
        let section = try #require(doc.range(of: "## supervisorctl side by side"), "docs/from-supervisord.md has the side-by-side section")
        var rows = Set<Difference>()
        for line in doc[section.upperBound...].split(separator: "\n").map(String.init) {
            if line.hasPrefix("## ") { break }
            guard line.hasPrefix("| `") else { continue }
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 5 else { continue }
            func code(_ cell: String) -> String { fold(cell.trimmingCharacters(in: CharacterSet(charactersIn: "`"))) }
            rows.insert(Difference(supervisorctl: code(cells[2]), drover: code(cells[3])))
        }
        return rows
    }

    @Test func theSameCommandsPrintTheSameLinesAndExitCodes() throws {
        let reference = try Self.supervisorctlTranscript()
        let ours = try Self.droverTranscript()
        try #require(reference.outputs.count == Self.commands.count && ours.outputs.count == Self.commands.count)
        var found = Set<Difference>()
        for (index, command) in Self.commands.enumerated() {
            let differences = Self.differences(reference.outputs[index], ours.outputs[index])
            for difference in differences {
                #expect(difference.supervisorctl != difference.drover,
                        "`\(command)`: the lines differ only in spacing: \(reference.outputs[index]) vs \(ours.outputs[index])")
            }
            found.formUnion(differences)
        }
        let documented = try Self.documentedDifferences()
        for difference in found.subtracting(documented) {
            Issue.record("not in docs/from-supervisord.md's side-by-side table: \(difference)")
        }
        for difference in documented.subtracting(found) {
            Issue.record("docs/from-supervisord.md lists a difference the side-by-side run no longer shows: \(difference)")
        }
        // Lines that are the same are the same byte for byte, spacing included.
        let statusAll = try #require(Self.commands.firstIndex(of: "status"))
        let same = zip(reference.outputs[statusAll], ours.outputs[statusAll]).filter { $0 == $1 }
        #expect(same.count >= 4, "cron and both web lines, column for column, and the exit code: \(ours.outputs[statusAll])")
    }
}
