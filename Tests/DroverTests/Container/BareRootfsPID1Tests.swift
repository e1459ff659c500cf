import Foundation
import Testing

/// drover as PID 1 of a container with nothing in it but drover, exactly the
/// libraries `ldd` lists for it, and a tiny worker (/bin/sh, /bin/sleep and
/// their libraries): no /etc, no /tmp, a fresh /proc, and of /dev only the
/// /dev/null every container runtime provides (the OCI runtime spec's
/// default devices). It runs under `unshare --pid --fork --mount-proc` and
/// `chroot`, as a container runtime would start it.
///
/// Skipped only where the host refuses to create the namespaces or to chroot
/// (an unprivileged container, a seccomp profile without unshare); the skip
/// comment carries the host's own error message.
@Suite(.serialized, .enabled(if: BareRoot.refusal == nil, Comment(rawValue: BareRoot.refusal ?? "")))
struct BareRootfsPID1Tests {
    /// Starts a worker, whose subshell leaves an orphan for PID 1 to reap;
    /// SIGTERM stops the worker with its stopsignal and drover exits 0.
    @Test func configModeStartsAWorkerReapsAnOrphanAndStopsOnSIGTERM() throws {
        let root = try BareRoot(devNull: true)
        defer { root.remove() }
        root.write("supervisor.conf", """
            [supervisord]
            loglevel = debug
            shutdown_timeout = 5s

            [unix_http_server]
            file = /drover.sock

            [program:worker]
            command = /bin/sh -c "echo parent=$PPID; (/bin/sleep 0.2 & echo orphan=$!); trap 'echo got TERM; exit 0' TERM; while :; do /bin/sleep 0.05; done"
            startsecs = 0
            autorestart = false
            stopsignal = TERM
            stopwaitsecs = 5
            ; no /tmp for AUTO's childlogdir: the ring buffer and the mirror only
            stdout_logfile = NONE
            stderr_logfile = NONE
            """)
        let drover = try root.run(["/bin/drover", "run", "-c", "/supervisor.conf"])
        defer { drover.terminate() }
        drover.waitForLine("starting: pid 1")
        drover.waitForLine("worker | parent=1")
        guard let line = drover.waitForLine("worker | orphan="),
              let orphan = Int32(line.split(separator: "=").last ?? "") else { return }
        drover.waitForLine("reaped orphan pid \(orphan)")

        // Seen from the host: drover's only child is the worker, no zombie left behind.
        let pid1 = try #require(root.hostPID(of: drover))
        let children = hostChildren(of: pid1)
        #expect(children.count == 1, "drover's children: \(children)")
        #expect(children.allSatisfy { !isZombie($0) })

        kill(pid1, SIGTERM)
        #expect(drover.waitForExit() == 0, "drover said:\n\(drover.transcript)")
        #expect(!drover.lines(containing: "worker | got TERM").isEmpty, "the worker got its stopsignal:\n\(drover.transcript)")
        #expect(!drover.lines(containing: "exiting with status 0").isEmpty)
    }

    /// `drover run -- CMD` as PID 1: SIGTERM reaches the command, whose exit
    /// status becomes drover's (and the container's).
    @Test func tiniModeForwardsSIGTERMAndPassesTheExitCodeOn() throws {
        let root = try BareRoot(devNull: false)
        defer { root.remove() }
        let drover = try root.run([
            "/bin/drover", "run", "--", "/bin/sh", "-c",
            "trap 'exit 43' TERM; echo ready pid=$$ parent=$PPID; while :; do /bin/sleep 0.05; done",
        ])
        defer { drover.terminate() }
        // The command is PID 1's child (pid 2 of the namespace).
        drover.waitForLine("ready pid=2 parent=1")
        let pid1 = try #require(root.hostPID(of: drover))
        kill(pid1, SIGTERM)
        #expect(drover.waitForExit() == 43, "drover said:\n\(drover.transcript)")
    }

    /// Without any /dev (a hand-made chroot, a `FROM scratch` image run by
    /// something that adds no devices) a pool's worker should still start.
    @Test func aWorkerStartsWithNoDevAtAll() throws {
        let root = try BareRoot(devNull: false)
        defer { root.remove() }
        root.write("supervisor.conf", """
            [program:worker]
            command = /bin/sh -c "echo started; exec /bin/sleep 30"
            startsecs = 0
            stdout_logfile = NONE
            stderr_logfile = NONE
            """)
        let drover = try root.run(["/bin/drover", "run", "-c", "/supervisor.conf"])
        defer { drover.terminate() }
        _ = waitUntil(timeout: 10) {
            !drover.lines(containing: "worker | started").isEmpty || !drover.lines(containing: "spawn error").isEmpty
        }
        withKnownIssue("""
            drover opens /dev/null for every worker's stdin (Supervisor.swift); with no /dev each spawn fails \
            with "spawn error: open: No such file or directory", which does not name the path
            """) {
            #expect(drover.lines(containing: "spawn error").isEmpty, "drover said:\n\(drover.transcript)")
        }
        if let pid1 = root.hostPID(of: drover) { kill(pid1, SIGKILL) }  // the namespace goes with it
        drover.waitForExit()
    }
}

/// A temporary root filesystem with drover, /bin/sh, /bin/sleep and the
/// libraries `ldd` lists for them, each at the path ldd gives.
struct BareRoot {
    let path: String

    static let unshare = firstExecutable(["/usr/bin/unshare", "/bin/unshare"])
    static let chroot = firstExecutable(["/usr/sbin/chroot", "/usr/bin/chroot", "/sbin/chroot"])
    static let worker: [(source: String, target: String)] = [("/bin/sh", "/bin/sh"), ("/bin/sleep", "/bin/sleep")]

    /// Why this host cannot run the tests, or nil when it can: the tools are
    /// missing, or the kernel refuses the PID/mount namespaces or chroot.
    static let refusal: String? = {
        guard let unshare, let chroot else {
            return "unshare(1) or chroot(8) is not installed on this host"
        }
        guard let root = try? BareRoot(devNull: false, drover: false) else {
            return "could not build a bare root filesystem (ldd failed)"
        }
        defer { root.remove() }
        guard let probe = try? runCommand(unshare, ["--pid", "--fork", "--kill-child", "--mount-proc=\(root.path)/proc",
                                                    chroot, root.path, "/bin/sh", "-c", "exit 7"], timeout: 10)
        else { return "unshare could not be run" }
        if probe.status != 7 {
            let message = (probe.stderr + probe.stdout).trimmingCharacters(in: .whitespacesAndNewlines)
            return "the host refuses unshare --pid --mount or chroot: \(message) (exit \(probe.status))"
        }
        return nil
    }()

    /// `devNull`: a /dev with only the null device (char 1:3) in it.
    init(devNull: Bool, drover: Bool = true) throws {
        path = TempDir("bare-root").path
        do {
            for program in (drover ? [(Binaries.drover, "/bin/drover")] : []) + Self.worker {
                try copy(program.0, to: program.1)
                for library in try Self.libraries(of: program.0) { try copy(library, to: library) }
            }
            // The mount point for the namespace's own /proc.
            try FileManager.default.createDirectory(atPath: path + "/proc", withIntermediateDirectories: true)
            if devNull {
                try FileManager.default.createDirectory(atPath: path + "/dev", withIntermediateDirectories: true)
                guard mknod(path + "/dev/null", S_IFCHR | 0o666, dev_t(1 << 8 | 3)) == 0,
                      chmod(path + "/dev/null", 0o666) == 0 else {
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EPERM)
                }
                // A temporary directory on a `nodev` mount would make it unusable.
                let fd = open(path + "/dev/null", O_WRONLY | O_CLOEXEC)
                guard fd >= 0 else {
                    Issue.record("\(path)/dev/null cannot be opened (errno \(errno)): is the temp directory mounted nodev?")
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EACCES)
                }
                close(fd)
            }
        } catch {
            remove()
            throw error
        }
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }

    func write(_ name: String, _ text: String) {
        try! text.write(toFile: path + "/" + name, atomically: true, encoding: .utf8)
    }

    /// `unshare --pid --fork --kill-child --mount-proc=ROOT/proc chroot ROOT
    /// ARGS...`: the first process of the new PID namespace is chroot, which
    /// execs ARGS, so drover is PID 1 with ROOT as its /. `--kill-child`: if
    /// the test gives up and kills unshare, the whole namespace goes too.
    func run(_ arguments: [String]) throws -> DroverHarness {
        try DroverHarness(arguments: ["--pid", "--fork", "--kill-child", "--mount-proc=\(path)/proc", Self.chroot!, path]
                            + arguments,
                          directory: path, executable: Self.unshare!)
    }

    /// The host's pid of the namespace's PID 1 (unshare's only child), once it
    /// has become drover.
    func hostPID(of harness: DroverHarness) -> Int32? {
        var found: Int32?
        _ = waitUntil {
            found = hostChildren(of: harness.pid).first { pid in
                (try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8))?.hasPrefix("drover") == true
            }
            return found != nil
        }
        return found
    }

    private func copy(_ source: String, to target: String) throws {
        let destination = path + target
        let manager = FileManager.default
        try manager.createDirectory(atPath: (destination as NSString).deletingLastPathComponent,
                                    withIntermediateDirectories: true)
        if manager.fileExists(atPath: destination) { return }
        // The file itself, not a symlink to it (ldd names /lib/... paths that may be links).
        let real = URL(fileURLWithPath: source).resolvingSymlinksInPath().path
        try manager.copyItem(atPath: real, toPath: destination)
    }

    /// The absolute paths `ldd` prints for a binary: `name => /path (addr)`
    /// and the interpreter's `/path (addr)`; the vDSO has no file.
    static func libraries(of binary: String) throws -> [String] {
        let result = try runCommand("/usr/bin/ldd", [binary], timeout: 10)
        guard result.status == 0 else { throw CocoaError(.fileReadUnknown) }
        var paths: [String] = []
        for line in result.stdout.split(separator: "\n") {
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
            if let arrow = words.firstIndex(of: "=>") {
                guard arrow + 1 < words.count, words[arrow + 1].hasPrefix("/") else {
                    if line.contains("not found") { throw CocoaError(.fileNoSuchFile) }
                    continue
                }
                paths.append(String(words[arrow + 1]))
            } else if let first = words.first, first.hasPrefix("/") {
                paths.append(String(first))
            }
        }
        return paths
    }
}

private func firstExecutable(_ candidates: [String]) -> String? {
    candidates.first { FileManager.default.isExecutableFile(atPath: $0) }
}

/// Children of a host process, from /proc/PID/task/*/children.
private func hostChildren(of pid: Int32) -> [Int32] {
    let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
    return tasks.flatMap { task -> [Int32] in
        let text = (try? String(contentsOfFile: "/proc/\(pid)/task/\(task)/children", encoding: .utf8)) ?? ""
        return text.split(separator: " ").compactMap { Int32($0) }
    }
}
