import Foundation
import Testing
@testable import Admin
@testable import CLI
@testable import Config
@testable import Control
@testable import HTTP
@testable import HTTPServing
@testable import JSON
@testable import Logs
@testable import Proxy
@testable import Runtime
@testable import Supervision
@testable import System

/// The supervisord differences of issue 8, parsed in process: fcgi-program,
/// event listeners and fatal_action, commands that cannot be split, unset
/// %(ENV_X)s, [rpcinterface:supervisor] and unimplemented [supervisord] keys.
@Suite struct SupervisordCompatParsingTests {
    @Test func fcgiProgramSocketForms() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [fcgi-program:php]
            socket = tcp://localhost:9000
            socket_backlog = 128
            command = /usr/bin/php-cgi
            process_name = %(program_name)s_%(process_num)02d
            numprocs = 3
            [fcgi-program:local]
            socket = unix://%(here)s/%(program_name)s.sock
            socket_mode = 0770
            socket_owner = app:docker
            command = /bin/local
            [fcgi-program:any]
            socket = tcp://*:9001
            command = /bin/any
            """)
        #expect(c.programs.map(\.name) == ["php", "local", "any"])
        let php = c.programs[0]
        #expect(php.processes.count == 3)
        #expect(php.processes.allSatisfy { $0.fcgiSocket == FcgiSocket(address: .tcp(host: "127.0.0.1", port: 9000), backlog: 128) })
        let local = try #require(c.programs[1].processes.first?.fcgiSocket)
        #expect(local.address == .unix(path: f.dir.path + "/local.sock") && local.mode == 0o770)
        #expect(local.owner?.uid == 1000 && local.owner?.gid == 999)
        #expect(c.programs[2].processes.first?.fcgiSocket?.address == .tcp(host: "0.0.0.0", port: 9001))
        #expect(c.programs.allSatisfy { $0.processes.allSatisfy { $0.fatalAction == .ignore } })
        #expect(c.warnings.isEmpty, "\(c.warnings)")
    }

    @Test func fcgiProgramMistakesNameTheirLine() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("""
            [fcgi-program:a]
            command = /bin/a
            [fcgi-program:b]
            command = /bin/b
            socket = unix://relative.sock
            [fcgi-program:c]
            command = /bin/c
            socket = udp://1.2.3.4:5
            [fcgi-program:d]
            command = /bin/d
            socket = tcp://127.0.0.1:70000
            [fcgi-program:e]
            command = /bin/e
            socket = tcp://127.0.0.1:9005
            socket_owner = app
            [program:f]
            command = /bin/f
            port = 9005
            [program:a]
            command = /bin/again
            """)
        #expect(has(e.errors, line: 1, key: "socket", "needs `socket =`"))
        #expect(has(e.errors, line: 5, key: "socket", "must be absolute"))
        #expect(has(e.errors, line: 8, key: "socket", "is not tcp://HOST:PORT or unix:///path"))
        #expect(has(e.errors, line: 11, key: "socket", "65535"))
        #expect(has(e.errors, line: 15, key: "socket_owner", "only for unix:// sockets"))
        #expect(has(e.errors, line: 18, key: "port", "collide with port 9005 of [fcgi-program:e] socket"))
        #expect(has(e.errors, line: 19, key: nil, "program a is also defined as [fcgi-program:a]"))
    }

    @Test func fatalActionAndEventListenerWarning() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [program:critical]
            command = /bin/critical
            fatal_action = shutdown
            [program:other]
            command = /bin/other
            fatal_action = IGNORE
            [eventlistener:kill_on_fatal]
            command = /usr/local/bin/kill-supervisord-on-fatal.py
            events = PROCESS_STATE_FATAL
            [eventlistener:stdout]
            command = supervisor_stdout
            events = PROCESS_LOG
            """)
        #expect(c.programs[0].processes[0].fatalAction == .shutdown)
        #expect(c.programs[1].processes[0].fatalAction == .ignore)
        #expect(has(c.warnings, line: 7, key: nil, "(events=PROCESS_STATE_FATAL); to stop the container when a program goes FATAL, drover's native form is `fatal_action = shutdown` in that [program:x]"))
        #expect(has(c.warnings, line: 10, key: nil, "`fatal_action = shutdown`"))
        #expect(has(c.warnings, line: 10, key: nil, "already copied to drover's stdout"))
        #expect(c.warnings.count == 2)
        let e = f.errors("[program:x]\ncommand=/bin/x\nfatal_action = restart\n")
        #expect(has(e.errors, line: 3, key: "fatal_action", "'restart' is not one of ignore, shutdown"))
    }

    @Test func emptyOrUnsplittableCommandLoadsFatalWithTheValueAsRead() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [program:cut]
            command = bash -c "a ; b"
            [program:empty]
            command =
            [program:pool]
            command = /bin/sh -c 'unterminated
            process_name = p%(process_num)s
            numprocs = 2
            [program:fine]
            command = /bin/fine
            """)
        #expect(c.programs.map(\.name) == ["cut", "empty", "pool", "fine"])
        let cut = c.programs[0].processes[0]
        #expect(cut.argv.isEmpty && cut.commandError == "the command cannot be split into words: no closing quotation (\")")
        #expect(c.programs[1].processes[0].commandError == "the command is empty")
        #expect(c.programs[2].processes.allSatisfy { $0.commandError?.contains("no closing quotation (')") == true })
        #expect(c.programs[3].processes[0].argv == ["/bin/fine"] && c.programs[3].processes[0].commandError == nil)
        #expect(has(c.warnings, line: 2, key: "command", "the value as read is `bash -c \"a` (`; b\"` was cut off as an inline comment"))
        #expect(has(c.warnings, line: 4, key: "command", "the command is empty; the value as read is ``"))
        // Once per program, not once per process.
        #expect(c.warnings.filter { $0.section == "program:pool" }.count == 1)
        // Scaling such a pool builds more FATAL workers, not a trap.
        #expect(try c.programs[2].process(number: 5).commandError != nil)
    }

    @Test func unsetEnvironmentVariableNamesTheVariable() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[program:x]\ncommand=/bin/x --token=%(ENV_HF_TOKEN)s\nuser=%(ENV_RUN_AS)s\nnumprocs=%(ENV_WORKERS)s\nprocess_name=x%(process_num)s\n")
        #expect(has(e.errors, line: 4, key: "numprocs", "environment variable WORKERS is not set (used as %(ENV_WORKERS)s)"))
        // The workers are not built after that, but every variable to export is named at once.
        #expect(has(e.errors, line: 2, key: "command", "environment variable HF_TOKEN is not set"))
        #expect(has(e.errors, line: 3, key: "user", "environment variable RUN_AS is not set"))
    }

    @Test func rpcinterfaceBoilerplateIsSilentAndUnimplementedSupervisordKeysAreNamed() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [supervisord]
            nodaemon = true
            silent = false
            minprocs = 200
            identifier = supervisor
            nocleanup = false
            strip_ansi = true
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [rpcinterface:extra]
            supervisor.rpcinterface_factory = extra:make
            [program:x]
            command = /bin/x
            """)
        #expect(has(c.warnings, line: 4, key: "minprocs", "not implemented by drover, ignored (drover does not check the process limit"))
        #expect(has(c.warnings, line: 5, key: "identifier", "not implemented"))
        #expect(has(c.warnings, line: 6, key: "nocleanup", "not implemented"))
        #expect(has(c.warnings, line: 7, key: "strip_ansi", "not implemented"))
        #expect(has(c.warnings, line: 10, key: nil, "[rpcinterface:extra] supervisord section not implemented"))
        // nodaemon = true and silent = false ask for what drover does; the XML-RPC boilerplate is no news.
        #expect(!c.warnings.contains { $0.key == "nodaemon" || $0.key == "silent" || $0.section == "rpcinterface:supervisor" })
        #expect(c.warnings.count == 5, "\(c.warnings)")
        let other = try f.load("[supervisord]\nnodaemon = false\nsilent = true\n")
        #expect(has(other.warnings, line: 2, key: "nodaemon", "always runs in the foreground"))
        #expect(has(other.warnings, line: 3, key: "silent", "not implemented"))
        let bad = f.errors("[supervisord]\nminprocs = lots\n")
        #expect(has(bad.errors, line: 2, key: "minprocs", "'lots' is not an integer"))
    }

    @Test func diagnosticsInFileAndLineOrderErrorsFirst() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("conf.d/b.conf", "[program:b]\ncommand=/bin/b\nautostart=perhaps\nbogus_b=1\n")
        f.write("conf.d/a.conf", "[program:a]\nbogus_a=1\nstartsecs=soon\ncommand=/bin/a\n")
        let e = f.errors("""
            [include]
            files = conf.d/*.conf
            [program:main]
            startretries = many
            command = /bin/main
            bogus_main = 1
            [supervisord]
            minprocs = 10
            """)
        let a = f.dir.file("conf.d/a.conf"), b = f.dir.file("conf.d/b.conf")
        // The main file first, then includes in the order read (sorted glob).
        #expect(e.errors.map { "\($0.file):\($0.line)" } == ["\(f.main):4", "\(a):3", "\(b):3"])
        #expect(e.warnings.map { "\($0.file):\($0.line)" } == ["\(f.main):6", "\(f.main):8", "\(a):2", "\(b):4"])
    }
}

/// The same through the real binary: `drover check` output, and drover
/// running such configs.
@Suite struct SupervisordCompatRunTests {
    @Test func checkPrintsErrorsThenWarningsInOrderAndOneSummaryLine() throws {
        let dir = TempDir("order"); defer { dir.cleanup() }
        dir.write("conf.d/extra.conf", "[program:extra]\ncommand=/bin/extra\nstopwaitsecs=99999999999h\nunknown_key=1\n")
        let path = dir.write("supervisor.conf", """
            [supervisord]
            minprocs = 200
            [rpcinterface:supervisor]
            supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
            [include]
            files = conf.d/*.conf
            [program:web]
            command = /bin/web --token %(ENV_DROVER_TEST_UNSET_TOKEN)s
            [eventlistener:fatal]
            command = kill-on-fatal
            events = PROCESS_STATE_FATAL
            [program:cut]
            command = bash -c "a ; b"
            """)
        let r = try runCommand(Binaries.drover, ["check", "-c", path], environment: ["PATH": "/usr/bin:/bin"])
        let extra = dir.file("conf.d/extra.conf")
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.split(separator: "\n").map(String.init) == [
            "error: \(path):8: [program:web] command: environment variable DROVER_TEST_UNSET_TOKEN is not set (used as %(ENV_DROVER_TEST_UNSET_TOKEN)s)",
            "error: \(extra):3: [program:extra] stopwaitsecs: '99999999999h' is too long (at most 3153600000s, 100 years)",
            "warning: \(path):2: [supervisord] minprocs: not implemented by drover, ignored (drover does not check the process limit (ulimit -u) at start)",
            "warning: \(path):9: [eventlistener:fatal] event listeners are not implemented by drover, ignored (events=PROCESS_STATE_FATAL); to stop the container when a program goes FATAL, drover's native form is `fatal_action = shutdown` in that [program:x]",
            "warning: \(path):13: [program:cut] command: the command cannot be split into words: no closing quotation (\"); the value as read is `bash -c \"a` (`; b\"` was cut off as an inline comment: ` ;` and ` #` start one, as in supervisord); the program loads as FATAL, the rest of the config runs",
            "warning: \(extra):4: [program:extra] unknown_key: unknown key, ignored",
            "FAILED: 2 errors, 4 warnings",
        ], "\(r.stderr)")
    }

    /// The issue's value traps `drover check` no more (it exited by SIGILL, status 132).
    @Test func checkRefusesTheIssuesValueWithExit1() throws {
        let dir = TempDir("trap"); defer { dir.cleanup() }
        let path = dir.write("supervisor.conf", "[program:x]\ncommand=/bin/x\nstdout_logfile_maxbytes = 99999999999TB\nstartsecs = 1e300\n")
        let r = try runCommand(Binaries.drover, ["check", "-c", path])
        #expect(r.status == 1)
        #expect(r.stderr.contains("error: \(path):3: [program:x] stdout_logfile_maxbytes: '99999999999TB' is too large (at most 1024TB)"))
        #expect(r.stderr.contains("error: \(path):4: [program:x] startsecs: '1e300' is not a duration"))
    }

    /// SIGHUP and `drover reload` with out-of-range values: refused with
    /// FILE:LINE, nothing changes, PID 1 stays up.
    @Test func reloadWithOutOfRangeValuesChangesNothing() throws {
        let daemon = try ControlledDrover("""
            [program:web]
            command = /bin/sleep 600
            process_name = web_%(process_num)s
            numprocs = 2
            startsecs = 0
            """, label: "badreload")
        daemon.drover.waitForLine("web:web_1 RUNNING")
        let before = daemon.pids("web:")
        #expect(before.count == 2)
        let config = daemon.dir.file("supervisor.conf")
        let good = try String(contentsOfFile: config, encoding: .utf8)
        let bad = good.replacingOccurrences(of: "numprocs = 2", with: "numprocs = 3")
            + "\nstdout_logfile_maxbytes = 99999999999TB\nstopwaitsecs = 1e300\n[program:more]\ncommand = /bin/sleep 600\nnumprocs = 9223372036854775807\n"
        try bad.write(toFile: config, atomically: true, encoding: .utf8)
        daemon.drover.signal(SIGHUP)
        daemon.drover.waitForLine("SIGHUP: config rejected, nothing changed", "stdout_logfile_maxbytes: '99999999999TB' is too large")
        daemon.drover.waitForLine("SIGHUP: config rejected, nothing changed", "numprocs: 9223372036854775807 is out of range")
        let viaCLI = try daemon.cli("reload")
        #expect(viaCLI.status == 1)
        #expect(viaCLI.stderr.contains("reload rejected, nothing changed: \(config):"), "\(viaCLI.stderr)")
        #expect(daemon.drover.process.isRunning, "drover survives")
        #expect(daemon.pids("web:") == before, "nothing changed")
        #expect(try daemon.cli("status").status == 0)
        // A good config afterwards applies as usual.
        try good.replacingOccurrences(of: "numprocs = 2", with: "numprocs = 3").write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try daemon.cli("reload").status == 0)
        daemon.drover.waitForLine("web:web_2 RUNNING")
    }

    /// `[fcgi-program:x]`: one socket, bound by drover, fd 0 of every process.
    @Test func fcgiProgramSharesOneBoundSocketAsFd0() throws {
        let port = TestPorts.block(1)
        let dir = TempDir("fcgi"); defer { dir.cleanup() }
        // Each worker accepts on fd 0 and answers with its pid.
        let worker = #"/usr/bin/perl -e '$|=1; print "ready $$\n"; while (accept(my $c, STDIN)) { print $c "pid $$\n"; close $c }'"#
        let drover = try DroverHarness(config: """
            [fcgi-program:tcp]
            socket = tcp://127.0.0.1:\(port)
            process_name = tcp_%(process_num)s
            numprocs = 2
            startsecs = 0
            command = \(worker)
            [fcgi-program:local]
            socket = unix://%(here)s/local.sock
            socket_mode = 0770
            startsecs = 0
            command = \(worker)
            """, in: dir)
        defer { drover.terminate() }
        let pid0 = try #require(pidAfter("ready ", drover.waitForLine("tcp_0 | ready")))
        let pid1 = try #require(pidAfter("ready ", drover.waitForLine("tcp_1 | ready")))
        let pidLocal = try #require(pidAfter("ready ", drover.waitForLine("local | ready")))
        let inode0 = fd0(of: pid0), inode1 = fd0(of: pid1)
        #expect(inode0 != nil && inode0?.hasPrefix("socket:[") == true)
        #expect(inode0 == inode1, "both processes accept on the same socket")
        #expect(fd0(of: pidLocal) != inode0)

        var answered: Set<Int32> = []
        for _ in 0..<20 {
            guard let fd = RawHTTP.connectTCP(port: port) else { Issue.record("connect to \(port)"); break }
            answered.insert(pidAfter("pid ", RawHTTP.readAll(fd)) ?? 0)
            close(fd)
        }
        #expect(answered.isSubset(of: [pid0, pid1]) && !answered.isEmpty, "\(answered) from \([pid0, pid1])")

        let socketPath = dir.file("local.sock")
        var info = stat()
        #expect(lstat(socketPath, &info) == 0 && (info.st_mode & S_IFMT) == S_IFSOCK && info.st_mode & 0o777 == 0o770)
        let unixFD = try #require(RawHTTP.connectUnix(socketPath))
        #expect(RawHTTP.readAll(unixFD) == "pid \(pidLocal)\n")
        close(unixFD)

        // A restarted process gets the same socket: drover bound it once.
        kill(pid0, SIGKILL)
        let again = try #require(pidAfter("ready ", drover.waitForLine("tcp_0 | ready", occurrence: 2)))
        #expect(again != pid0 && fd0(of: again) == inode0)
    }

    /// `fatal_action = shutdown`: that program going FATAL stops drover with
    /// exit status 1; without it a FATAL program leaves drover running.
    @Test func fatalActionShutdownStopsDroverWithStatus1() throws {
        let dir = TempDir("fatal"); defer { dir.cleanup() }
        let config = """
            [program:doomed]
            command = /bin/sh -c 'exit 3'
            startsecs = 1
            startretries = 1
            backoff_max = 0.1
            %@
            [program:bystander]
            command = /bin/sleep 600
            startsecs = 0
            """
        let ignoring = try DroverHarness(config: config.replacingOccurrences(of: "%@", with: ""), in: dir)
        defer { ignoring.terminate() }
        ignoring.waitForLine("doomed:doomed FATAL")
        usleep(300_000)
        #expect(ignoring.process.isRunning, "fatal_action defaults to ignore")
        ignoring.terminate()

        let dir2 = TempDir("fatal2"); defer { dir2.cleanup() }
        let stopping = try DroverHarness(config: config.replacingOccurrences(of: "%@", with: "fatal_action = shutdown"), in: dir2)
        defer { stopping.terminate() }
        let bystander = try #require(pidIn(stopping.waitForLine("bystander:bystander RUNNING")))
        stopping.waitForLine("doomed:doomed FATAL")
        #expect(stopping.waitForExit() == 1)
        #expect(stopping.lines(containing: "has fatal_action = shutdown").count == 1, "\(stopping.transcript)")
        #expect(!processExists(bystander), "the other programs were stopped")
    }

    /// A command that cannot be split: that program is FATAL with the reason
    /// in `status`; the rest of the config runs.
    @Test func unsplittableCommandIsFatalInStatusAndTheRestRuns() throws {
        let daemon = try ControlledDrover("""
            [program:cut]
            command = bash -c "sleep 1 ; echo never"
            [program:fine]
            command = /bin/sleep 600
            startsecs = 0
            """, label: "cut")
        daemon.drover.waitForLine("fine:fine RUNNING")
        daemon.drover.waitForLine("cut:cut FATAL", "no closing quotation")
        let status = try daemon.cli("status")
        #expect(status.status == 3)
        let line = status.stdout.split(separator: "\n").first { $0.hasPrefix("cut ") }.map(String.init) ?? ""
        #expect(line.contains("FATAL") && line.contains("the command cannot be split into words: no closing quotation"), "\(status.stdout)")
        #expect(try daemon.cli("status", "fine").status == 0)
        // Starting it again says why, and it stays FATAL.
        let start = try daemon.cli("start", "cut")
        #expect(start.status == 7, "supervisorctl's exit for a start that did not run (spawn error)")
        #expect(start.stderr.contains("cut: ERROR"), "\(start.stdout)\(start.stderr)")
    }

    private func pidAfter(_ prefix: String, _ line: String?) -> Int32? {
        guard let line, let range = line.range(of: prefix) else { return nil }
        return Int32(line[range.upperBound...].prefix { $0.isNumber })
    }

    private func fd0(of pid: Int32) -> String? {
        try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/0")
    }
}
