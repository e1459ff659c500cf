import Foundation
import Testing

/// Every client subcommand through the real CLI against a real daemon.
@Suite struct ControlCLITests {
    static let pool = """
        [program:web]
        command = /bin/sh -c 'echo "out $DROVER_PROCESS_NAME"; echo "err $DROVER_PROCESS_NAME" >&2; trap "echo got-usr1" USR1; while :; do sleep 0.05; done'
        process_name = web_%(process_num)02d
        numprocs = 2
        startsecs = 0.2
        stopwaitsecs = 2

        [program:idle]
        command = /bin/sleep 60
        autostart = false
        """

    @Test func statusFormatAndExitCodes() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let all = try daemon.cli("status")
        #expect(all.status == 3, "idle is not RUNNING: exit 3\n\(all.stdout)\(all.stderr)")
        let lines = all.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        let web = lines.first { $0.hasPrefix("web:web_00") } ?? ""
        // No health check, no proxy: supervisorctl's line, with no ", ready".
        #expect(web.range(of: #"^web:web_00\s+RUNNING\s+pid \d+, uptime 0:00:0\d$"#, options: .regularExpression) != nil, "\(web)")
        #expect(lines.first { $0.hasPrefix("idle ") }?.contains("STOPPED") == true, "a standalone program shows as idle: \(lines)")
        #expect(lines.map { String($0.prefix { $0 != " " }) } == ["idle", "web:web_00", "web:web_01"], "name order")
        // Columns line up: every state starts at the same offset.
        let offsets = lines.map { $0.range(of: " RUNNING") ?? $0.range(of: " STOPPED") }.compactMap { $0 }.map { $0.lowerBound.utf16Offset(in: lines[0]) }
        #expect(Set(offsets).count == 1, "\(lines)")

        let running = try daemon.cli("status", "web")
        #expect(running.status == 0)
        #expect(running.stdout.split(separator: "\n").count == 2)
        #expect(try daemon.cli("status", "web:web_01").status == 0)
        #expect(try daemon.cli("status", "idle").status == 3)
        let missing = try daemon.cli("status", "nope")
        #expect(missing.status == 4)
        #expect(missing.stderr.contains("nope"))

        let json = try daemon.cli("status", "--json")
        let parsed = try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any]
        let processes = parsed?["processes"] as? [[String: Any]] ?? []
        #expect(processes.count == 3)
        #expect(processes.first { $0["name"] as? String == "web:web_00" }?["state"] as? String == "RUNNING")
        #expect(parsed?["pid"] as? Int == Int(daemon.drover.pid))
    }

    @Test func startStopRestartByNameGroupAndAll() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let stop = try daemon.cli("stop", "web:web_00")
        #expect(stop.status == 0)
        #expect(stop.stdout.contains("web:web_00: stopped"))
        #expect(try daemon.cli("status", "web:web_00").stdout.contains("STOPPED"))

        let start = try daemon.cli("start", "web:*", "idle")
        #expect(start.status == 0, "\(start.stdout)\(start.stderr)")
        #expect(start.stdout.contains("web:web_00: started"))
        #expect(start.stdout.contains("idle: started"))

        let before = daemon.pids("web:")
        let restart = try daemon.cli("restart", "web")
        #expect(restart.status == 0)
        let after = daemon.pids("web:")
        #expect(after.count == 2 && Set(after).isDisjoint(with: Set(before)), "restart gives new pids")

        let stopAll = try daemon.cli("stop", "all")
        #expect(stopAll.status == 0)
        #expect(try daemon.cli("status").status == 3)
        let unknown = try daemon.cli("stop", "ghost")
        #expect(unknown.status == 1)
        #expect(unknown.stdout.isEmpty && unknown.stderr == "ghost: ERROR (no such process)\n", "errors go to stderr")
        #expect(try daemon.cli("start").status == 2, "no name is bad usage")
    }

    @Test func tailShowsStdoutStderrAndFollows() throws {
        let daemon = try ControlledDrover("""
            [program:talk]
            command = /bin/sh -c 'for i in 1 2 3 4 5; do echo "line $i"; done; echo oops >&2; while :; do sleep 0.3; echo "tick $(date +%%s%%N)"; done'
            """)
        daemon.drover.waitForLine("talk | line 5")
        let last = try daemon.cli("tail", "-n", "2", "talk")
        #expect(last.status == 0)
        #expect(last.stdout.hasPrefix("line 4\nline 5\n") || last.stdout.contains("line 5\ntick"), "\(last.stdout)")
        #expect(!last.stdout.contains("line 3"))
        let err = try daemon.cli("tail", "--stderr", "talk")
        #expect(err.stdout == "oops\n")

        // tail -f: a new line shows within a second.
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: Binaries.drover)
        follower.arguments = ["tail", "-f", "-n", "0", "talk", "-s", daemon.socket]
        let pipe = Pipe()
        follower.standardOutput = pipe
        try follower.run()
        let seen = LockedData()
        let reader = Thread {
            while true {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
        }
        reader.start()
        #expect(waitUntil(timeout: 1.5) { String(decoding: seen.get(), as: UTF8.self).contains("tick") }, "a new line within a second")
        #expect(follower.isRunning, "-f keeps following")
        follower.interrupt()
        #expect(waitUntil(timeout: 5) { !follower.isRunning }, "Ctrl-C ends tail -f")
        if follower.isRunning { kill(follower.processIdentifier, SIGKILL) }
        follower.waitUntilExit()
    }

    /// supervisorctl's argument forms: `tail -BYTES NAME`, `tail NAME stderr`,
    /// `tail -f NAME stderr`; `pid all`; a standalone program by either name.
    @Test func supervisorctlFormsOfTailAndPid() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        daemon.drover.waitForLine("web_00 | err web_00")
        let bytes = try daemon.cli("tail", "-5", "web:web_00")
        #expect(bytes.status == 0 && bytes.stdout == "b_00\n", "the last 5 bytes of 'out web_00\\n': \(bytes.stdout)")
        let channel = try daemon.cli("tail", "web:web_00", "stderr")
        #expect(channel.status == 0 && channel.stdout == "err web_00\n", "\(channel.stdout)\(channel.stderr)")
        #expect(try daemon.cli("tail", "web:web_00", "STDOUT").stdout == "out web_00\n")

        // tail -f NAME stderr: the stderr line first, then it keeps following.
        let follower = Process()
        follower.executableURL = URL(fileURLWithPath: Binaries.drover)
        follower.arguments = ["tail", "-f", "web:web_01", "stderr", "-s", daemon.socket]
        let pipe = Pipe()
        follower.standardOutput = pipe
        try follower.run()
        let seen = LockedData()
        Thread {
            while true {
                let chunk = pipe.fileHandleForReading.availableData
                if chunk.isEmpty { break }
                seen.append(chunk)
            }
        }.start()
        #expect(waitUntil(timeout: 5) { String(decoding: seen.get(), as: UTF8.self) == "err web_01\n" }, "\(String(decoding: seen.get(), as: UTF8.self))")
        #expect(follower.isRunning, "-f keeps following")
        follower.interrupt()
        #expect(waitUntil(timeout: 5) { !follower.isRunning })
        if follower.isRunning { kill(follower.processIdentifier, SIGKILL) }
        follower.waitUntilExit()

        // pid all: every process in name order, 0 for one not running; a named one not running is exit 7.
        let all = try daemon.cli("pid", "all")
        let expected = ["0"] + daemon.pids("web:").map(String.init)
        #expect(all.status == 0 && all.stdout.split(separator: "\n").map(String.init) == expected, "\(all.stdout)")
        let idle = try daemon.cli("pid", "idle")
        #expect(idle.status == 7 && idle.stdout == "0\n", "\(idle)")
        // A standalone program answers to `idle` and `idle:idle`, and is shown as `idle`.
        let stop = try daemon.cli("stop", "idle:idle")
        #expect(stop.status == 0 && stop.stdout.isEmpty && stop.stderr == "idle: ERROR (not running)\n", "\(stop)")
    }

    /// supervisorctl's `reread` (what would change, nothing changes) and
    /// `update` (apply) on drover's reload.
    @Test func rereadThenUpdate() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let none = try daemon.cli("reread")
        #expect(none.status == 0 && none.stdout == "No config updates to processes\n", "\(none)")
        let config = daemon.dir.file("supervisor.conf")
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: "numprocs = 2", with: "numprocs = 3")
            .replacingOccurrences(of: "[program:idle]", with: "[program:fresh]")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let before = daemon.pids("web:")
        let reread = try daemon.cli("reread")
        #expect(reread.status == 0 && reread.stdout == "fresh: available\nidle: disappeared\nweb: changed\n", "\(reread)")
        #expect(daemon.pids("web:") == before && daemon.status().count == 3, "reread changes nothing")
        let update = try daemon.cli("update")
        #expect(update.status == 0, "\(update)")
        #expect(update.stdout == "idle: stopped\nidle: removed process group\nweb: updated process group\nfresh: added process group\n", "\(update.stdout)")
        daemon.drover.waitForLine("web:web_02 RUNNING")
        #expect(try daemon.cli("reread").stdout == "No config updates to processes\n")
        let names = try daemon.cli("update", "web")
        #expect(names.status == 2 && names.stderr.contains("drover update"), "\(names)")
    }

    /// supervisorctl verbs drover has no twin for answer with the command that does the job.
    @Test func supervisorctlVerbsWithoutATwinSayWhatToType() throws {
        for (verb, hint) in [("avail", "drover status"), ("clear", ": > FILE"), ("maintail", "tail -f"), ("fg", "drover tail -f NAME"),
                             ("add", "drover reload"), ("remove", "drover reload"), ("open", "-s PATH")] {
            let result = try runCommand(Binaries.drover, [verb, "web"])
            #expect(result.status == 1 && result.stdout.isEmpty, "\(verb): \(result)")
            #expect(result.stderr.hasPrefix("drover: no '\(verb)' command: ") && result.stderr.contains(hint)
                    && result.stderr.filter { $0 == "\n" }.count == 1, "\(verb): \(result.stderr)")
        }
    }

    @Test func scaleSignalPidAndShutdown() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let up = try daemon.cli("scale", "web", "4")
        #expect(up.status == 0, "\(up.stderr)")
        daemon.drover.waitForLine("web:web_03 RUNNING")
        #expect(try daemon.cli("status", "web").stdout.split(separator: "\n").count == 4)
        #expect(try daemon.cli("scale", "web", "1").status == 0)
        daemon.drover.waitForLine("web:web_01 STOPPED")
        #expect(waitUntil { daemon.pids("web:").count == 1 })
        #expect(try daemon.cli("scale", "nope", "2").status == 1)
        #expect(try daemon.cli("scale", "web", "many").status == 2)

        let signal = try daemon.cli("signal", "USR1", "web:web_00")
        #expect(signal.status == 0)
        daemon.drover.waitForLine("web_00 | got-usr1")

        let pid = try daemon.cli("pid")
        #expect(pid.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == String(daemon.drover.pid))
        let workerPid = try daemon.cli("pid", "web:web_00")
        #expect(Int(workerPid.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) == daemon.pids("web:web_00").first)

        let shutdown = try daemon.cli("shutdown")
        #expect(shutdown.status == 0)
        #expect(daemon.drover.waitForExit() == 0)
        let gone = try daemon.cli("status")
        #expect(gone.status == 4)
        #expect(gone.stderr.contains(daemon.socket), "names the socket it tried")
    }

    @Test func reloadThroughTheCLI() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let config = daemon.dir.file("supervisor.conf")
        var text = try String(contentsOfFile: config, encoding: .utf8)
        text = text.replacingOccurrences(of: "numprocs = 2", with: "numprocs = 3")
        try text.write(toFile: config, atomically: true, encoding: .utf8)
        let ok = try daemon.cli("reload")
        #expect(ok.status == 0)
        #expect(ok.stdout.contains("scaled web 2 -> 3"), "\(ok.stdout)")
        daemon.drover.waitForLine("web:web_02 RUNNING")

        try (text + "\n[program:bad]\nstartsecs = -1\n").write(toFile: config, atomically: true, encoding: .utf8)
        let bad = try daemon.cli("reload")
        #expect(bad.status == 1)
        #expect(bad.stderr.contains("supervisor.conf:"), "names file:line: \(bad.stderr)")
        #expect(daemon.pids("web:").count == 3, "nothing changed")
    }

    @Test func unreachableDaemonExits4NamingTheSocket() throws {
        let dir = TempDir("nosock")
        defer { dir.cleanup() }
        let result = try runCommand(Binaries.drover, ["status", "-s", dir.file("missing.sock")])
        #expect(result.status == 4)
        #expect(result.stderr.contains(dir.file("missing.sock")))
        let viaEnv = try runCommand(Binaries.drover, ["stop", "all"], environment: ["DROVER_SOCKET": dir.file("env.sock"), "PATH": "/usr/bin:/bin"])
        #expect(viaEnv.status == 4)
        #expect(viaEnv.stderr.contains("env.sock"))
        // From the config's [unix_http_server] file.
        let config = dir.write("supervisor.conf", "[unix_http_server]\nfile = %(here)s/from-config.sock\n")
        let viaConfig = try runCommand(Binaries.drover, ["status", "-c", config])
        #expect(viaConfig.status == 4)
        #expect(viaConfig.stderr.contains("from-config.sock"))
    }

    /// supervisorctl and `docker -H` habits: `-s`/`-c` before the subcommand
    /// work for every client command, as they do after it.
    @Test func socketAndConfigBeforeTheSubcommand() throws {
        let daemon = try ControlledDrover(Self.pool, label: "lead")
        daemon.drover.waitForLine("web:web_01 RUNNING")
        let config = daemon.dir.file("supervisor.conf")
        func lead(_ arguments: String...) throws -> ProcessResult {
            try runCommand(Binaries.drover, ["-s", daemon.socket] + arguments)
        }
        #expect(try lead("status", "web").status == 0)
        #expect(try runCommand(Binaries.drover, ["--socket=\(daemon.socket)", "status", "web:web_00"]).status == 0)
        let viaConfig = try runCommand(Binaries.drover, ["-c", config, "restart", "web:web_01"], directory: "/")
        #expect(viaConfig.status == 0 && viaConfig.stdout == "web:web_01: stopped\nweb:web_01: started\n", "\(viaConfig.stdout)\(viaConfig.stderr)")
        #expect(try lead("stop", "web:web_00").stdout == "web:web_00: stopped\n")
        #expect(try lead("start", "web:web_00").stdout == "web:web_00: started\n")
        #expect(try lead("signal", "USR1", "web:web_00").status == 0)
        daemon.drover.waitForLine("web_00 | got-usr1")
        #expect(try lead("tail", "-n", "1", "--stderr", "web:web_00").stdout == "err web_00\n")
        #expect(try lead("pid").stdout == "\(daemon.drover.pid)\n")
        #expect(try lead("scale", "web", "3").status == 0)
        daemon.drover.waitForLine("web:web_02 RUNNING")
        #expect(try lead("reload").status == 0)
        #expect(try lead("restart", "--rolling", "web").status == 0)
        // Both at once, and the config's socket found through a leading -c.
        #expect(try runCommand(Binaries.drover, ["-c", config, "-s", daemon.socket, "status", "idle"]).status == 3)
        #expect(try runCommand(Binaries.drover, ["-c", config, "pid"]).stdout == "\(daemon.drover.pid)\n")
        #expect(try lead("shutdown").status == 0)
        #expect(daemon.drover.waitForExit() == 0)
    }

    /// One error style (issue 15): every failure of a client command is one
    /// line on stderr saying what went wrong and what to type instead, never
    /// JSON on stdout, with supervisorctl's exit codes.
    @Test func everyErrorIsOneLineOnStderrSayingWhatToType() throws {
        let daemon = try ControlledDrover(Self.pool)
        daemon.drover.waitForLine("web:web_01 RUNNING")
        func oneLine(_ result: ProcessResult, _ status: Int32, _ fragments: [String], sourceLocation: SourceLocation = #_sourceLocation) {
            #expect(result.status == status, "\(result)", sourceLocation: sourceLocation)
            #expect(result.stdout.isEmpty, "nothing on stdout for an error: \(result.stdout)", sourceLocation: sourceLocation)
            #expect(result.stderr.filter { $0 == "\n" }.count == 1 && result.stderr.hasSuffix("\n"), "one line: \(result.stderr)", sourceLocation: sourceLocation)
            for fragment in fragments {
                #expect(result.stderr.contains(fragment), "'\(fragment)' in \(result.stderr)", sourceLocation: sourceLocation)
            }
        }
        // A group of two cannot be tailed: which names to use instead (was raw JSON on stdout).
        oneLine(try daemon.cli("tail", "web"), 1, ["web: ERROR (names 2 processes (web:web_00, web:web_01)", "drover tail web:web_00"])
        // An unknown name reads the same in status and in stop.
        oneLine(try daemon.cli("status", "nosuch"), 4, ["nosuch: ERROR (no such process)"])
        oneLine(try daemon.cli("stop", "nosuch"), 1, ["nosuch: ERROR (no such process)"])
        oneLine(try daemon.cli("tail", "nosuch"), 1, ["nosuch: ERROR (no such process name)"])
        oneLine(try daemon.cli("scale", "nope", "2"), 1, ["nope: ERROR (no program named 'nope')"])

        let dir = TempDir("errors")
        defer { dir.cleanup() }
        // The daemon is not there: the socket tried, and how to point at another.
        oneLine(try runCommand(Binaries.drover, ["status", "-s", dir.file("gone.sock")]), 4, [dir.file("gone.sock"), "-s PATH", "drover run"])
        // A missing config is named once, with -c and (for run) the config-less form.
        let run = try runCommand(Binaries.drover, ["run"], directory: dir.path)
        oneLine(run, 1, ["no config file at \(dir.path)/supervisor.conf", "-c FILE", "drover run -- CMD"])
        #expect(run.stderr.components(separatedBy: "supervisor.conf").count == 2, "the path once: \(run.stderr)")
        oneLine(try runCommand(Binaries.drover, ["check", "-c", dir.file("x.conf")]), 1, ["no config file at \(dir.file("x.conf"))", "-c FILE"])
        oneLine(try runCommand(Binaries.drover, ["-c", dir.file("x.conf"), "status"]), 2, ["no config file at \(dir.file("x.conf"))", "-s PATH"])

        // --help lists the global options.
        let help = try runCommand(Binaries.drover, ["--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: drover [-s <path>] [-c <file>] <subcommand>"))
        #expect(help.stdout.contains("-s, --socket <path>") && help.stdout.contains("-c, --config <file>"), "\(help.stdout)")
    }

    /// A usage error is one line saying what and where the help is, on
    /// stderr, exit 2; errors of a command go to stderr, results to stdout.
    @Test func usageErrorsAreOneLineAndAHint() throws {
        let cases: [([String], String)] = [
            (["status", "--bogus"], "drover: unknown option '--bogus'; see 'drover status --help'\n"),
            (["-s", "/nowhere.sock", "restart"], "drover: give at least one name (group:process, group:*, program or all); see 'drover restart --help'\n"),
            (["scale", "web", "many"], "drover: give a program and a number: drover scale web 4; see 'drover scale --help'\n"),
            (["tail", "web", "stdin"], "drover: bad channel 'stdin': give stdout or stderr, e.g. drover tail web stderr; see 'drover tail --help'\n"),
            (["tail", "a", "b", "c"], "drover: give one process name, e.g. drover tail web:web_00 (add stderr for its stderr); see 'drover tail --help'\n"),
            (["reread", "web"], "drover: reread takes no names: drover reread; see 'drover reread --help'\n"),
            (["tail", "-n"], "drover: missing value for '-n'; see 'drover tail --help'\n"),
            (["check", "extra"], "drover: unexpected argument 'extra'; see 'drover check --help'\n"),
            (["frobnicate"], "drover: unknown subcommand 'frobnicate'; see 'drover --help'\n"),
            (["stauts"], "drover: unknown subcommand 'stauts' (did you mean 'status'?); see 'drover --help'\n"),
            (["--frobnicate"], "drover: unknown option '--frobnicate'; see 'drover --help'\n"),
            ([], "drover: missing subcommand; see 'drover --help'\n"),
            (["-s"], "drover: missing value for '-s'; see 'drover --help'\n"),
            (["-c", "x.conf"], "drover: missing subcommand after '-c x.conf'; see 'drover --help'\n"),
        ]
        for (arguments, expected) in cases {
            let r = try runCommand(Binaries.drover, arguments)
            #expect(r.status == 2 && r.stdout.isEmpty && r.stderr == expected, "\(arguments): \(r.status) \(r.stdout)\(r.stderr)")
        }
        // --help still prints the whole help, on stdout.
        let help = try runCommand(Binaries.drover, ["-s", "/x.sock", "status", "--help"])
        #expect(help.status == 0 && help.stdout.contains("USAGE: drover status") && help.stderr.isEmpty)
    }
}
