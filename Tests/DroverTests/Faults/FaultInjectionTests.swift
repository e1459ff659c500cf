import Foundation
import Testing

/// The host failing under drover: a full disk, no descriptors left, spawns
/// refused, a worker flooding its stdout, the config file gone. In every
/// case drover stays up, says what happened once, and recovers when the
/// fault goes. (Log rotation blocked and a read-only log directory are in
/// Logs/LogFaultTests.)
@Suite struct FaultInjectionTests {
    static let chatty = "/bin/sh -c 'i=0; while :; do i=$((i+1)); echo \"line $i padding-padding-padding-padding-padding-padding\"; [ $((i %% 20)) = 0 ] && sleep 0.01; done'"

    @Test func fullDiskIsSaidOnceAndWritingResumesWhenThereIsRoom() throws {
        let dir = TempDir("enospc")
        defer { dir.cleanup() }
        let logs = dir.file("logs")
        let mounted = Faults.mountTmpfs(at: logs, kilobytes: 64)
        defer { if mounted { Faults.unmount(logs) } }
        // Where mount is refused, the nearest thing: the log is a symlink to
        // /dev/full (every write fails with ENOSPC), later re-pointed at a
        // regular file and reopened with SIGUSR1.
        let log = mounted ? logs + "/chatty.log" : dir.file("chatty.log")
        if !mounted { try FileManager.default.createSymbolicLink(atPath: log, withDestinationPath: "/dev/full") }
        let socket = dir.file("drover.sock")
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = \(socket)

            [program:chatty]
            command = \(Self.chatty)
            stdout_logfile = \(log)
            stdout_logfile_maxbytes = 0
            stdout_mirror = false
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("chatty", "cannot write log file \(log)", "No space left on device", timeout: 20)
        let cpu = Faults.cpuPercent(drover.pid, over: 1.5)
        #expect(cpu < 50, "drover used \(cpu)% of a core with its disk full")
        #expect(Faults.controlLatency(socket) != nil, "the control socket answers")
        let tail = RawHTTP.get(unix: socket, "/v1/processes/chatty/log?lines=3")
        #expect(tail?.body.contains("line ") == true, "the ring buffer keeps the output for tail")
        #expect(Faults.count(drover, "cannot write log file") == 1, "said once")

        let sizeBefore = (try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0
        if mounted {
            #expect(Faults.run("/usr/bin/mount", ["-o", "remount,size=4m", logs]), "room again")
        } else {
            try FileManager.default.removeItem(atPath: log)
            FileManager.default.createFile(atPath: log, contents: nil)
            drover.signal(SIGUSR1)
        }
        drover.waitForLine("chatty", "log file \(log) is written again")
        #expect(waitUntil { ((try? FileManager.default.attributesOfItem(atPath: log)[.size] as? Int) ?? 0) > sizeBefore + 1000 },
                "the file grows again")
        #expect(Faults.count(drover, "cannot write log file") == 1)
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
    }

    @Test func descriptorExhaustionFailsRespawnsOnceAndRecoversWhenDescriptorsAreFree() throws {
        let dir = TempDir("nofile")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        let config = dir.write("supervisor.conf", """
            [unix_http_server]
            file = \(socket)

            [program:crasher]
            command = /bin/sh -c 'sleep 0.2'
            startsecs = 0
            startretries = 0
            autorestart = true
            backoff_max = 1
            stdout_logfile = NONE
            stderr_logfile = NONE
            """)
        // `ulimit -n 32`, and control clients that take every descriptor
        // left: the worker's next respawn finds none for its pipes.
        let drover = try DroverHarness(arguments: ["--nofile=32:32", Binaries.drover, "run", "-c", config],
                                       directory: dir.path, executable: "/usr/bin/prlimit")
        defer { drover.terminate() }
        drover.waitForLine("crasher:crasher RUNNING")
        var clients: [Int32] = []
        defer { for fd in clients { close(fd) } }
        for _ in 0..<40 {
            guard let fd = RawHTTP.connectUnix(socket) else { break }
            clients.append(fd)
        }
        drover.waitForLine("crasher:crasher spawn error", "Too many open files")
        drover.waitForLine("crasher:crasher BACKOFF", "failed start 3")
        #expect(Faults.count(drover, "spawn error") == 1, "said once, not at every retry:\n\(drover.transcript)")
        let cpu = Faults.cpuPercent(drover.pid, over: 1)
        #expect(cpu < 50, "drover used \(cpu)% of a core out of descriptors")

        // The fault goes: the clients leave, their descriptors are closed.
        for fd in clients { close(fd) }
        clients = []
        drover.waitForLine("crasher:crasher spawned again: recovered")
        #expect(waitUntil(timeout: 10) { Faults.controlLatency(socket) != nil }, "the control socket answers again")
        #expect(Faults.count(drover, "spawn error") == 1)
        #expect(drover.process.isRunning)
    }

    @Test func spawnFailuresAreSaidOnceAndTheProgramStartsWhenTheFileIsFixed() throws {
        let dir = TempDir("spawnfail")
        defer { dir.cleanup() }
        let missing = dir.file("later.sh")
        let noexec = dir.write("noexec.sh", "#!/bin/sh\nexec sleep 1000\n")
        chmod(noexec, 0o644)
        let drover = try DroverHarness(config: """
            [program:missing]
            command = \(missing)
            startsecs = 0
            startretries = 0
            backoff_max = 1

            [program:noexec]
            command = \(noexec)
            startsecs = 0
            startretries = 0
            backoff_max = 1
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("missing:missing spawn error", "No such file or directory")
        drover.waitForLine("noexec:noexec spawn error", "Permission denied")
        // Retried every second (backoff_max), said once.
        drover.waitForLine("missing:missing BACKOFF", occurrence: 3)
        drover.waitForLine("noexec:noexec BACKOFF", occurrence: 3)
        #expect(Faults.count(drover, "missing:missing spawn error") == 1)
        #expect(Faults.count(drover, "noexec:noexec spawn error") == 1)

        // The faults go: the next retry starts them.
        let staging = dir.write("staging.sh", "#!/bin/sh\nexec sleep 1000\n")
        chmod(staging, 0o755)
        #expect(rename(staging, missing) == 0)
        chmod(noexec, 0o755)
        drover.waitForLine("missing:missing RUNNING")
        drover.waitForLine("noexec:noexec RUNNING")
        drover.waitForLine("missing:missing spawned again: recovered")
        drover.waitForLine("noexec:noexec spawned again: recovered")
    }

    @Test func processLimitMakesSpawnsFailWithEAGAINUntilProcessesAreFree() throws {
        let dir = TempDir("nproc")
        defer { dir.cleanup() }
        // RLIMIT_NPROC does not bind root: drover runs as an unused uid under
        // `ulimit -u 6`. Three other processes of that uid hold half of it;
        // drover and two workers take the rest, so two workers are refused
        // (EAGAIN) until the others exit.
        let uid = String(42_000 + Int(getpid() % 1000))
        #expect(chown(dir.path, uid_t(uid)!, gid_t(uid)!) == 0)
        let asUser = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", "--"]
        var hogs: [Process] = []
        defer { for hog in hogs where hog.isRunning { kill(hog.processIdentifier, SIGKILL); hog.waitUntilExit() } }
        for _ in 0..<3 {
            let hog = Process()
            hog.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            hog.arguments = asUser + ["/bin/sleep", "1000"]
            try hog.run()
            hogs.append(hog)
        }
        let socket = dir.file("drover.sock")
        let config = dir.write("supervisor.conf", """
            [unix_http_server]
            file = \(socket)

            [program:pool]
            command = /bin/sleep 1000
            process_name = pool_%(process_num)d
            numprocs = 4
            startsecs = 0
            startretries = 0
            backoff_max = 1
            stdout_logfile = NONE
            stderr_logfile = NONE
            """)
        let drover = try DroverHarness(
            arguments: asUser + ["/usr/bin/prlimit", "--nproc=6:6", Binaries.drover, "run", "-c", config],
            directory: dir.path, executable: "/usr/bin/setpriv")
        defer { drover.terminate() }
        drover.waitForLine("spawn error", "Resource temporarily unavailable")
        drover.waitForLine("BACKOFF", "failed start 3")
        #expect(Faults.count(drover, "spawn error") == 2, "two workers refused, each said once:\n\(drover.transcript)")
        #expect(Faults.controlLatency(socket) != nil)

        for hog in hogs { kill(hog.processIdentifier, SIGKILL); hog.waitUntilExit() }
        #expect(waitUntil(timeout: 10) {
            let states = (RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []
            return states.count == 4 && states.allSatisfy { $0["state"] as? String == "RUNNING" }
        }, "all four run once processes are free:\n\(drover.transcript)")
        #expect(Faults.count(drover, "spawned again: recovered") == 2)
        #expect(drover.process.isRunning)
    }

    @Test func workerFloodingStdoutLeavesTheControlSocketFastAndMemoryFlat() throws {
        let dir = TempDir("flood")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = \(socket)

            [program:flood]
            command = /usr/bin/yes "flood flood flood flood flood flood flood flood flood flood"
            stdout_logfile = %(here)s/flood.log
            stdout_logfile_maxbytes = 1MB
            stdout_logfile_backups = 1
            stdout_mirror = false

            [program:quiet]
            command = /bin/sleep 1000
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("flood:flood RUNNING", timeout: 5)
        drover.waitForLine("quiet:quiet RUNNING", timeout: 5)
        usleep(500_000)
        let rssStart = residentKiB(drover.pid) ?? 0
        var latencies: [Double] = []
        var failures = 0
        var rssPeak = rssStart
        let end = Date().addingTimeInterval(6)
        while Date() < end {
            if let latency = Faults.controlLatency(socket) { latencies.append(latency) } else { failures += 1 }
            rssPeak = max(rssPeak, residentKiB(drover.pid) ?? 0)
            usleep(50_000)
        }
        let worst = latencies.max() ?? 99
        let sorted = latencies.sorted()
        let median = sorted.isEmpty ? 99 : sorted[sorted.count / 2]
        print("flood: \(latencies.count) control requests, median \(Int(median * 1000)) ms, worst \(Int(worst * 1000)) ms; RSS \(rssStart) -> peak \(rssPeak) KiB")
        #expect(failures == 0, "every control request answered")
        // The 100 ms bound of the issue is checked by scripts/flood on the
        // release binary; here (debug build, tests in parallel) a generous
        // bound: a reader that drained the pipe to EAGAIN never gets there.
        #expect(worst < 1.0, "worst control request took \(worst) s during the flood")
        #expect(rssPeak - rssStart < 8 * 1024, "RSS went from \(rssStart) to \(rssPeak) KiB")
        let size = (try? FileManager.default.attributesOfItem(atPath: dir.file("flood.log"))[.size] as? Int) ?? 0
        #expect(size <= 1_048_576, "no file grows past maxbytes")
        #expect(FileManager.default.fileExists(atPath: dir.file("flood.log.1")), "the flood was written and rotated")
    }

    @Test func configVanishingOrUnreadableBeforeAReloadChangesNothing() throws {
        let dir = TempDir("cfgfault")
        defer { dir.cleanup() }
        let socket = dir.file("drover.sock")
        func config(_ count: Int) -> String {
            """
            [unix_http_server]
            file = \(socket)

            [program:web]
            command = /bin/sleep 1000
            process_name = web_%(process_num)d
            numprocs = \(count)
            startsecs = 0
            """
        }
        let path = dir.write("supervisor.conf", config(2))
        let (executable, arguments) = Faults.withoutPermissionOverride(["run", "-c", path])
        let drover = try DroverHarness(arguments: arguments, directory: dir.path, executable: executable)
        defer { drover.terminate() }
        drover.waitForLine("web:web_1 RUNNING")
        func pids() -> [Int] {
            ((RawHTTP.json(RawHTTP.get(unix: socket, "/v1/status"))?["processes"] as? [[String: Any]]) ?? []).compactMap { $0["pid"] as? Int }.sorted()
        }
        let before = pids()
        #expect(before.count == 2)

        try FileManager.default.removeItem(atPath: path)
        drover.signal(SIGHUP)
        drover.waitForLine("SIGHUP: config rejected, nothing changed")
        #expect(pids() == before)

        dir.write("supervisor.conf", config(3))
        chmod(path, 0o000)
        drover.signal(SIGHUP)
        drover.waitForLine("SIGHUP: config rejected, nothing changed", occurrence: 2)
        #expect(pids() == before)
        #expect(Faults.count(drover, "config rejected") == 2, "each failed reload said once")

        chmod(path, 0o644)
        drover.signal(SIGHUP)
        drover.waitForLine("web:web_2 RUNNING")
        #expect(pids().count == 3)
        #expect(Set(before).isSubset(of: Set(pids())), "the two kept running")
    }

    @Test func unwritablePidfileIsSaidOnceAndDroverRuns() throws {
        let dir = TempDir("pidfile")
        defer { dir.cleanup() }
        // A directory where the pidfile should go: open(2) fails with EISDIR.
        try FileManager.default.createDirectory(atPath: dir.file("piddir"), withIntermediateDirectories: true)
        let socket = dir.file("drover.sock")
        let drover = try DroverHarness(config: """
            [unix_http_server]
            file = \(socket)

            [supervisord]
            pidfile = %(here)s/piddir

            [program:one]
            command = /bin/sleep 1000
            startsecs = 0
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("cannot write pidfile", "Is a directory")
        drover.waitForLine("one:one RUNNING")
        #expect(Faults.controlLatency(socket) != nil)
        #expect(Faults.count(drover, "cannot write pidfile") == 1)
    }
}
