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

/// Loads configs written to a temporary directory, with a fake user database
/// and CPU count so results do not depend on the host.
struct ConfigFixture {
    let dir = TempDir("config")
    let users = UserDatabase(passwd: """
        root:x:0:0:root:/root:/bin/sh
        app:x:1000:1000:App:/home/app:/bin/sh
        nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
        """, group: """
        root:x:0:
        app:x:1000:
        docker:x:999:app,other
        video:x:44:app
        """)

    @discardableResult
    func write(_ name: String, _ text: String) -> String { dir.write(name, text) }

    func load(_ text: String, env: [String: String] = [:], isRoot: Bool = true, mode: ConfigMode = .run,
              cpus: Int = 4, machine: MachineShape? = nil) throws(ConfigErrors) -> DroverConfig {
        let path = write("supervisor.conf", text)
        return try ConfigLoader.load(path: path, environment: env, isRoot: isRoot, for: mode, usableCPUs: cpus,
                                     machine: machine, users: users)
    }

    /// The errors of a config that must fail.
    func errors(_ text: String, env: [String: String] = [:], isRoot: Bool = true, mode: ConfigMode = .run) -> ConfigErrors {
        do {
            _ = try load(text, env: env, isRoot: isRoot, mode: mode)
            Issue.record("expected the config to be refused")
            return ConfigErrors(errors: [])
        } catch {
            return error
        }
    }

    var main: String { dir.file("supervisor.conf") }
}

func has(_ list: [ConfigDiagnostic], line: Int, key: String?, _ text: String, file: String? = nil) -> Bool {
    list.contains { d in
        d.line == line && d.key == key && d.description.contains(text) && (file == nil || d.file == file!)
            && d.description.hasPrefix("\(d.file):\(line):")
    }
}

@Suite struct ConfigLoaderTests {
    @Test func programDefaultsLikeSupervisord() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("[supervisord]\n[program:web]\ncommand=/bin/web --x\n")
        let p = try #require(c.programs.first)
        #expect(p.name == "web" && p.groupName == "web" && p.numprocs == 1 && p.numprocsStart == 0 && p.priority == 999)
        let s = p.processes[0]
        #expect(s.name == "web" && s.fullName == "web:web" && s.argv == ["/bin/web", "--x"])
        #expect(s.autostart && s.startsecs == .seconds(1) && s.startretries == 3 && s.autorestart == .unexpected)
        #expect(s.exitcodes == [0] && s.stopsignal == SIGTERM && s.stopwaitsecs == .seconds(10))
        #expect(!s.stopasgroup && !s.killasgroup && !s.redirectStderr && s.umask == nil && s.directory == nil)
        #expect(s.stdout == .file(path: "/tmp/web_web-stdout.log", maxBytes: 50 << 20, backups: 10))
        #expect(s.stderr == .file(path: "/tmp/web_web-stderr.log", maxBytes: 50 << 20, backups: 10))
        #expect(s.health == nil && s.maxRequests == 0 && s.maxMemory == 0 && s.backoffMax == .seconds(30) && s.port == nil)
        #expect(s.environment["SUPERVISOR_ENABLED"] == "1" && s.environment["SUPERVISOR_PROCESS_NAME"] == "web")
        #expect(s.environment["PORT"] == nil)
        #expect(c.supervisord.logfile == nil && c.supervisord.childlogdir == "/tmp")
    }

    @Test func everyProgramKey() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("logs/.keep", "")
        let c = try f.load("""
            [supervisord]
            environment=GLOBAL="g",SHARED=1
            [program:web]
            command=/bin/worker --port %(port)s --name %(process_num)02d --here %(here)s
            process_name=%(program_name)s_%(process_num)02d
            numprocs=3
            numprocs_start=1
            port=8000
            priority=5
            autostart=no
            startsecs=0
            startretries=0
            autorestart=true
            exitcodes=0,2
            stopsignal=INT
            stopwaitsecs=30
            stopasgroup=true
            redirect_stderr=true
            stdout_logfile=%(here)s/logs/%(program_name)s-%(process_num)d.log
            stdout_logfile_maxbytes=1KB
            stdout_logfile_backups=2
            umask=022
            directory=/tmp
            environment=SHARED=2,MINE="%(process_num)d"
            user=app
            health_path=/health
            health_interval=1s
            health_timeout=500ms
            health_fails=2
            health_start_period=2m
            max_requests=1000
            max_memory=2GB
            backoff_max=1m
            stdout_mirror=false
            """)
        let p = try #require(c.programs.first)
        #expect(p.port == 8000 && p.numprocs == 3 && p.numprocsStart == 1 && p.priority == 5)
        #expect(p.processes.map(\.name) == ["web_01", "web_02", "web_03"])
        #expect(p.processes.map(\.port) == [8000, 8001, 8002])
        let s = p.processes[1]
        #expect(s.number == 2 && s.index == 1)
        #expect(s.argv == ["/bin/worker", "--port", "8001", "--name", "02", "--here", f.dir.path])
        #expect(!s.autostart && s.startsecs == .zero && s.startretries == 0 && s.autorestart == .always)
        #expect(s.exitcodes == [0, 2] && s.stopsignal == SIGINT && s.stopwaitsecs == .seconds(30))
        #expect(s.stopasgroup && s.killasgroup)  // killasgroup follows stopasgroup
        #expect(s.redirectStderr && s.stderr == LogTarget.none)
        #expect(s.stdout == .file(path: f.dir.path + "/logs/web-2.log", maxBytes: 1024, backups: 2))
        #expect(s.umask == 0o22 && s.directory == "/tmp")
        #expect(s.environment["GLOBAL"] == "g" && s.environment["SHARED"] == "2" && s.environment["MINE"] == "2")
        #expect(s.environment["PORT"] == "8001" && s.environment["DROVER_PROCESS_NAME"] == "web_02")
        #expect(s.environment["DROVER_PROCESS_NUM"] == "2" && s.environment["SUPERVISOR_GROUP_NAME"] == "web")
        #expect(s.user?.name == "app" && s.user?.uid == 1000 && s.user?.groups == [1000, 999, 44])
        #expect(s.health == HealthCheck(path: "/health", interval: .seconds(1), timeout: .milliseconds(500), fails: 2, startPeriod: .seconds(120)))
        #expect(s.maxRequests == 1000 && s.maxMemory == 2 << 30 && s.backoffMax == .seconds(60) && s.stdoutMirror == false)
        #expect(c.warnings.isEmpty, "\(c.warnings)")

        // The template builds any worker, past numprocs too.
        let fifth = try p.process(number: 5)
        #expect(fifth.name == "web_05" && fifth.port == 8004 && fifth.argv[2] == "8004")
        #expect(throws: ConfigDiagnostic.self) { try p.process(number: 0) }
    }

    @Test func numprocsAuto() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("[program:w]\ncommand=/bin/w\nnumprocs=auto\n[program:v]\ncommand=/bin/v\nnumprocs=auto-1\n", cpus: 4)
        #expect(c.programs[0].processes.map(\.name) == ["w_00", "w_01", "w_02", "w_03"])
        #expect(c.programs[1].processes.count == 3)
        // A program without %(process_num) in its name cannot grow.
        let single = try f.load("[program:one]\ncommand=/bin/x\n")
        #expect(throws: ConfigDiagnostic.self) { try single.programs[0].process(number: 1) }
    }

    @Test func devicePathsDoNotRotate() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("[program:a]\ncommand=/bin/a\nstdout_logfile=/dev/stdout\nstderr_logfile=/dev/fd/2\n"
                           + "[program:b]\ncommand=/bin/b\nstdout_logfile=NONE\nstderr_logfile=/dev/null\n")
        #expect(c.programs[0].processes[0].stdout == .file(path: "/dev/stdout", maxBytes: 0, backups: 0))
        #expect(c.programs[0].processes[0].stderr == .file(path: "/dev/fd/2", maxBytes: 0, backups: 0))
        #expect(c.programs[1].processes[0].stdout == LogTarget.none)
        #expect(c.programs[1].processes[0].stderr == .file(path: "/dev/null", maxBytes: 0, backups: 0))
    }

    @Test func groups() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("[group:g]\nprograms=a, b\npriority=10\n[program:a]\ncommand=/bin/a\n[program:b]\ncommand=/bin/b\n  %(group_name)s\n[program:c]\ncommand=/bin/c %(group_name)s\n")
        #expect(c.groups == [GroupConfig(name: "g", priority: 10, programs: ["a", "b"])])
        #expect(c.programs.map(\.groupName) == ["g", "g", "c"])
        #expect(c.programs[1].processes[0].argv == ["/bin/b", "g"])
        #expect(c.programs[1].processes[0].fullName == "g:b")
        #expect(c.programs[2].processes[0].argv == ["/bin/c", "c"])
    }

    @Test func serverSections() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("token", "secret")
        let c = try f.load("""
            [supervisord]
            logfile=%(here)s/drover.log
            loglevel=debug
            pidfile=%(here)s/drover.pid
            childlogdir=%(here)s
            minfds=4096
            umask=027
            nodaemon=true
            shutdown_timeout=10s
            admin_listen=127.0.0.1:9100
            admin_token_file=%(here)s/token
            [unix_http_server]
            file=%(here)s/drover.sock
            chmod=0770
            chown=app:docker
            [supervisorctl]
            serverurl=unix://%(here)s/drover.sock
            """)
        let s = c.supervisord
        #expect(s.logfile == f.dir.path + "/drover.log" && s.loglevel == .debug && s.pidfile == f.dir.path + "/drover.pid")
        #expect(s.childlogdir == f.dir.path && s.minfds == 4096 && s.umask == 0o27 && s.shutdownTimeout == .seconds(10))
        #expect(s.adminListen == .tcp(host: "127.0.0.1", port: 9100) && s.adminTokenFile == f.dir.path + "/token")
        #expect(c.unixHTTPServer?.file == f.dir.path + "/drover.sock" && c.unixHTTPServer?.chmod == 0o770)
        #expect(c.unixHTTPServer?.chown == SocketOwner(user: "app", group: "docker"))
        #expect(c.supervisorctlServerURL == "unix://" + f.dir.path + "/drover.sock")
        #expect(c.warnings.isEmpty, "\(c.warnings)")
        #expect(try f.load("[supervisord]\nlogfile=stdout\n").supervisord.logfile == nil)
    }

    @Test func proxies() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [program:web]
            command=/bin/w
            port=8000
            [proxy:front]
            listen=127.0.0.1:8080
            upstream=web
            balance=p2c
            max_inflight=1
            queue_size=10
            queue_timeout=5s
            connect_timeout=1s
            read_timeout=60
            client_timeout=10s
            keepalive_timeout=1m
            retries=2
            retry_non_idempotent=true
            client_max_body_size=1MB
            max_header_size=8KB
            rate_limit=10r/s burst=20
            access_log=stdout json
            """)
        var expected = ProxyConfig(name: "front", listen: .tcp(host: "127.0.0.1", port: 8080), upstream: "web")
        expected.balance = .p2c
        expected.maxInflight = 1
        expected.queueSize = 10
        expected.queueTimeout = .seconds(5)
        expected.connectTimeout = .seconds(1)
        expected.readTimeout = .seconds(60)
        expected.clientTimeout = .seconds(10)
        expected.keepaliveTimeout = .seconds(60)
        expected.retries = 2
        expected.retryNonIdempotent = true
        expected.clientMaxBodySize = 1 << 20
        expected.maxHeaderSize = 8 << 10
        expected.rateLimit = RateLimit(perSecond: 10, burst: 20)
        expected.accessLog = AccessLog(target: "stdout", format: .json)
        #expect(c.proxies == [expected])
    }

    @Test func includesRelativeNestedAndHere() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("conf.d/a.conf", "[program:a]\ncommand=%(here)s/run\n[include]\nfiles=../more/*.ini\n")
        f.write("more/b.ini", "[program:b]\ncommand=/bin/b\n")
        let c = try f.load("[include]\nfiles = conf.d/*.conf nothing/*.conf\n[program:main]\ncommand=/bin/m\n")
        #expect(c.programs.map(\.name) == ["main", "a", "b"])
        #expect(c.programs[1].processes[0].argv == [f.dir.path + "/conf.d/run"])
        #expect(has(c.warnings, line: 2, key: "files", "no file matches", file: f.main))
    }

    @Test func includedTwiceAndDaemonUser() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        f.write("d/a.conf", "[program:a]\ncommand=/bin/a\n")
        let c = try f.load("[supervisord]\nuser=app\n[include]\nfiles=d/*.conf d/a.conf\n")
        #expect(c.programs.map(\.name) == ["a"])
        #expect(has(c.warnings, line: 4, key: "files", "already included"))
        #expect(has(c.warnings, line: 2, key: "user", "does not change its own user"))
        let e = f.errors("[supervisord]\nuser=ghost\n")
        #expect(has(e.errors, line: 2, key: "user", "unknown user 'ghost'"))
    }

    @Test func warningsForWhatDroverDoesNotImplement() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [supervisord]
            bogus=1
            [unix_http_server]
            file=/tmp/x.sock
            password=123
            [inet_http_server]
            port=127.0.0.1:9001
            username=admin
            [eventlistener:crash]
            command=/bin/crashmail
            events=PROCESS_STATE
            [program:web]
            command=/bin/w
            stdout_events_enabled=true
            depends_on=db
            redirect_stderr=true
            stderr_logfile=/tmp/err.log
            health_interval=5s
            """)
        let w = c.warnings
        #expect(has(w, line: 2, key: "bogus", "unknown key"))
        #expect(has(w, line: 5, key: "password", "not implemented"))
        #expect(has(w, line: 6, key: nil, "[inet_http_server]"))
        #expect(has(w, line: 9, key: nil, "[eventlistener:crash]"))
        #expect(has(w, line: 14, key: "stdout_events_enabled", "not implemented"))
        #expect(has(w, line: 15, key: "depends_on", "unknown key"))
        #expect(has(w, line: 17, key: "stderr_logfile", "redirect_stderr"))
        #expect(has(w, line: 18, key: "health_interval", "no health_path"))
        // A whole skipped section is one warning, not one per key.
        #expect(w.filter { $0.section == "eventlistener:crash" }.count == 1)
        #expect(w.count == 8, "\(w)")
    }

    /// An unknown key's warning says what to write instead: the nearest key
    /// of the section for a typo, the native form for another tool's key,
    /// and nothing made up when neither applies.
    @Test func unknownKeysSayWhatToWriteInstead() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let c = try f.load("""
            [supervisord]
            serverurl=unix:///tmp/x.sock
            [program:web]
            command=/bin/w
            stopsignl=TERM
            autorstart=false
            depends_on=db
            redirect_stdout=true
            frobnicate=1
            [program:db]
            command=/bin/db
            """)
        func text(_ key: String) -> String { c.warnings.first { $0.key == key }?.message ?? "no warning for \(key)" }
        #expect(text("stopsignl").hasSuffix("unknown key, ignored; did you mean `stopsignal`?"), "\(text("stopsignl"))")
        #expect(text("autorstart").hasSuffix("did you mean `autorestart` or `autostart`?"), "\(text("autorstart"))")
        #expect(text("depends_on").contains("`priority`"), "\(text("depends_on"))")
        #expect(text("redirect_stdout").contains("redirect_stderr = true"), "\(text("redirect_stdout"))")
        #expect(text("serverurl").contains("[supervisorctl]") && text("serverurl").contains("DROVER_SOCKET"), "\(text("serverurl"))")
        #expect(text("frobnicate").hasSuffix("unknown key, ignored"), "\(text("frobnicate"))")
    }
}

@Suite struct ConfigLoaderErrorTests {
    @Test func badValuesAndMissingCommand() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[program:a]\nautostart=maybe\nstopsignal=NOPE\nnumprocs=two\n[program:b]\ncommand=\n[proxy:p]\nlisten=:x\nupstream=a\nbalance=random\n")
        #expect(has(e.errors, line: 1, key: "command", "needs `command =`"))
        #expect(has(e.errors, line: 2, key: "autostart", "not a boolean"))
        #expect(has(e.errors, line: 3, key: "stopsignal", "NOPE"))
        #expect(has(e.errors, line: 4, key: "numprocs", "not an integer"))
        // An empty command is not an error: that program loads as FATAL (see ConfigCommandTests).
        #expect(!e.errors.contains { $0.section == "program:b" })
        #expect(has(e.warnings, line: 6, key: "command", "the command is empty"))
        #expect(has(e.errors, line: 8, key: "listen", "port"))
        #expect(has(e.errors, line: 10, key: "balance", "random"))
        #expect(e.errors.allSatisfy { $0.file == f.main })
    }

    @Test func processNumRequiredForPools() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[program:a]\ncommand=/bin/a\nnumprocs=2\n[program:b]\ncommand=/bin/b\nnumprocs=2\nprocess_name=b\n[program:c]\ncommand=/bin/c\nnumprocs=auto\nprocess_name=c\n")
        #expect(has(e.errors, line: 3, key: "numprocs", "%(process_num)"))
        #expect(has(e.errors, line: 7, key: "process_name", "%(process_num)"))
        #expect(has(e.errors, line: 11, key: "process_name", "%(process_num)"))
    }

    @Test func unknownUsersAndNonRoot() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let text = "[unix_http_server]\nfile=/tmp/s\nchown=ghost:nogroup\n[program:a]\ncommand=/bin/a\nuser=ghost\n[program:b]\ncommand=/bin/b\nuser=nobody\n"
        let e = f.errors(text, isRoot: false)
        #expect(has(e.errors, line: 3, key: "chown", "unknown user 'ghost'"))
        #expect(has(e.errors, line: 6, key: "user", "unknown user 'ghost'"))
        #expect(has(e.errors, line: 9, key: "user", "not root"))
        // In check mode the user switch is a warning; the unknown user stays an error.
        let c = f.errors(text, isRoot: false, mode: .check)
        #expect(!has(c.errors, line: 9, key: "user", "not root"))
        #expect(has(c.warnings, line: 9, key: "user", "not root"))
        #expect(has(c.errors, line: 6, key: "user", "unknown user 'ghost'"))
    }

    @Test func missingDirectories() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[supervisord]\nlogfile=/nonexistent/x/d.log\npidfile=%(here)s/../nope-\(UUID())/p.pid\nchildlogdir=/nonexistent/c\ndirectory=/nonexistent/d\n[program:a]\ncommand=/bin/a\nstdout_logfile=/nonexistent/o.log\nstderr_logfile=%(here)s/missing/e.log\n[proxy:p]\nlisten=:81\nupstream=a\naccess_log=/nonexistent/a.log\n")
        #expect(has(e.errors, line: 2, key: "logfile", "/nonexistent/x does not exist"))
        #expect(has(e.errors, line: 3, key: "pidfile", "does not exist"))
        #expect(has(e.errors, line: 4, key: "childlogdir", "/nonexistent/c does not exist"))
        #expect(has(e.errors, line: 5, key: "directory", "/nonexistent/d does not exist"))
        #expect(has(e.errors, line: 8, key: "stdout_logfile", "/nonexistent does not exist"))
        #expect(has(e.errors, line: 9, key: "stderr_logfile", f.dir.path + "/missing does not exist"))
        #expect(has(e.errors, line: 13, key: "access_log", "/nonexistent does not exist"))
    }

    @Test func unsetEnvironmentVariables() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let text = "[program:a]\ncommand=/bin/a --token %(ENV_HF_TOKEN)s %(ENV_OTHER)s\n[eventlistener:q]\nnumprocs=%(ENV_WORKERS)s\nprocess_name=%(process_num)s\n"
        let e = f.errors(text)
        // The message names the variable to export (HF_TOKEN), and the reference as written.
        #expect(has(e.errors, line: 2, key: "command", "environment variables HF_TOKEN, OTHER are not set (used as %(ENV_HF_TOKEN)s, %(ENV_OTHER)s)"))
        // Even in a section drover skips, as supervisord would refuse it.
        #expect(has(e.errors, line: 4, key: "numprocs", "environment variable WORKERS is not set"))
        #expect(e.errors.count == 2)
        let c = try f.load(text, env: ["HF_TOKEN": "t", "OTHER": "o", "WORKERS": "2"])
        #expect(c.programs[0].processes[0].argv == ["/bin/a", "--token", "t", "o"])
        let bad = f.errors("[program:a]\ncommand=/bin/a %(port)s %(nope)s 50%\n")
        #expect(has(bad.errors, line: 2, key: "command", "bad %-format"))
    }

    @Test func includeLoopAndMissingFile() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let other = f.write("b.conf", "[program:b]\ncommand=/bin/b\n\n[include]\nfiles=supervisor.conf\n")
        let e = f.errors("[include]\nfiles=b.conf\n[program:a]\ncommand=/bin/a\n")
        #expect(has(e.errors, line: 5, key: "files", "include loop", file: other))
        do {
            _ = try ConfigLoader.load(path: f.dir.file("absent.conf"), environment: [:], users: f.users)
            Issue.record("a missing file must fail")
        } catch {
            #expect(error.errors.count == 1 && error.errors[0].line == 0 && error.errors[0].file == f.dir.file("absent.conf"))
        }
    }

    @Test func portCollisions() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("""
            [supervisord]
            admin_listen=:9000
            [program:a]
            command=/bin/a
            process_name=%(process_num)d
            numprocs=4
            port=8000
            [program:b]
            command=/bin/b
            port=8003
            [program:c]
            command=/bin/c
            port=8999
            process_name=%(process_num)d
            numprocs=2
            [proxy:p]
            listen=127.0.0.1:8001
            upstream=a
            """)
        #expect(has(e.errors, line: 10, key: "port", "collide with ports 8000-8003"))
        #expect(has(e.errors, line: 13, key: "port", "admin_listen"))
        #expect(has(e.errors, line: 17, key: "listen", "[program:a]"))
        #expect(e.errors.count == 3)
    }

    @Test func groupProblems() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("""
            [group:g]
            programs=a,ghost
            [group:h]
            programs=a,b,c
            [program:a]
            command=/bin/a
            [program:b]
            command=/bin/b
            process_name=x
            [program:c]
            command=/bin/c
            process_name=x
            [proxy:p]
            listen=:8080
            upstream=nothing
            """)
        #expect(has(e.errors, line: 2, key: "programs", "ghost"))
        #expect(has(e.errors, line: 4, key: "programs", "already in group g"))
        #expect(has(e.errors, line: 12, key: "process_name", "h:x"))
        #expect(has(e.errors, line: 15, key: "upstream", "nothing"))
        let clash = f.errors("[group:a]\nprograms=b\n[program:a]\ncommand=/bin/a\n[program:b]\ncommand=/bin/b\n")
        #expect(has(clash.errors, line: 1, key: nil, "[program:a]"))
        // A group named like its own program is fine.
        #expect(throws: Never.self) { try f.load("[group:a]\nprograms=a\n[program:a]\ncommand=/bin/a\n") }
    }

    @Test func allErrorsAtOnce() {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let e = f.errors("[program:a]\nstartsecs=x\n[program:b]\ncommand=/bin/b\nuser=ghost\n[program:c]\ncommand=%(ENV_X)s\n")
        #expect(e.errors.count == 4)
    }
}

@Suite struct ConfigCheckCommandTests {
    @Test func checkPrintsPools() throws {
        let f = ConfigFixture(); defer { f.dir.cleanup() }
        let path = f.write("supervisor.conf", """
            [program:web]
            command=/path/to/worker --port %(port)s
            process_name=%(program_name)s_%(process_num)02d
            numprocs=2
            port=8000
            [proxy:front]
            listen=127.0.0.1:8080
            upstream=web
            [eventlistener:x]
            command=/bin/x
            """)
        let r = try runCommand(Binaries.drover, ["check", "-c", path], environment: ["PATH": "/usr/bin:/bin"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("program web (group web): 2 processes, priority 999, ports 8000-8001\n"))
        #expect(r.stdout.contains("  web:web_00  port 8000  command: /path/to/worker --port 8000\n"))
        #expect(r.stdout.contains("  web:web_01  port 8001  command: /path/to/worker --port 8001\n"))
        // The effective max_inflight, default included (SPEC §3: 1 behind a proxy).
        #expect(r.stdout.contains("proxy front: listen 127.0.0.1:8080 -> web, balance least_inflight, max_inflight 1\n"), "\(r.stdout)")
        #expect(r.stdout.hasSuffix("OK: 1 program, 2 processes, 1 warning\n"))
        #expect(r.stderr == "warning: \(path):9: [eventlistener:x] event listeners are not implemented by drover, ignored; "
                + "to stop the container when a program goes FATAL, drover's native form is `fatal_action = shutdown` in that [program:x]\n"
                + "warning: [program:web] command: /path/to/worker does not exist; its workers will not start\n")

        let uncapped = f.write("uncapped.conf", "[program:web]\ncommand=/w\nport=8000\n[proxy:front]\nlisten=127.0.0.1:8080\nupstream=web\nmax_inflight=0\n")
        let u = try runCommand(Binaries.drover, ["check", "-c", uncapped])
        #expect(u.stdout.contains("proxy front: listen 127.0.0.1:8080 -> web, balance least_inflight, max_inflight 0 (no cap)\n"), "\(u.stdout)")

        let bad = f.write("bad.conf", "[program:a]\ncommand=/bin/a\nautostart=perhaps\n")
        let b = try runCommand(Binaries.drover, ["check", "--config", bad])
        #expect(b.status == 1)
        #expect(b.stderr.contains("error: \(bad):3: [program:a] autostart: 'perhaps' is not a boolean"))
    }
}
