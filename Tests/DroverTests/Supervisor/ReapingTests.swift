import Foundation
import Testing

/// Orphans re-parented to drover are reaped, whether it is a subreaper or PID 1.
@Suite struct ReapingTests {
    /// The worker starts a grandchild and exits; the grandchild lives on
    /// (re-parented to drover), writes its pid, then exits itself.
    static let orphanMaker = """
        [supervisord]
        loglevel = debug

        [program:parent]
        command = /bin/sh -c "(sleep 0.5; exit 0) & echo $! > %(here)s/orphan; exit 0"
        startsecs = 0
        autorestart = false
        """

    @Test func orphansAreReapedAsSubreaper() throws {
        let dir = TempDir("orphan")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: Self.orphanMaker, in: dir)
        defer { drover.terminate() }
        #expect(waitUntil { FileManager.default.fileExists(atPath: dir.file("orphan")) })
        drover.waitForLine("parent:parent EXITED")
        guard let text = try? String(contentsOfFile: dir.file("orphan"), encoding: .utf8),
              let orphan = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)) else {
            Issue.record("no orphan pid")
            return
        }
        // While alive its parent is drover (the subreaper), not the host's init.
        if let stat = try? String(contentsOfFile: "/proc/\(orphan)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")") {
            let fields = stat[stat.index(close, offsetBy: 2)...].split(separator: " ")
            #expect(Int32(fields[1]) == drover.pid, "orphan re-parented to drover")
        }
        drover.waitForLine("reaped orphan pid \(orphan)")
        #expect(!isZombie(orphan))
    }

    @Test func orphansAreReapedAsPID1() throws {
        // A new PID namespace makes drover PID 1, as in a container.
        let probe = try runCommand("/usr/bin/unshare", ["--pid", "--fork", "--mount-proc", "/bin/true"])
        try #require(probe.status == 0, "unshare refused here: \(probe.stderr)")
        let dir = TempDir("pid1")
        defer { dir.cleanup() }
        let config = dir.write("supervisor.conf", """
            [supervisord]
            loglevel = debug

            [program:parent]
            command = /bin/sh -c "echo my-pid-1-parent=$PPID; (sleep 0.3; exit 0) & echo orphan=$!; exit 0"
            startsecs = 0
            autorestart = false
            """)
        let drover = try DroverHarness(arguments: ["--pid", "--fork", "--mount-proc", Binaries.drover, "run", "-c", config],
                                       directory: dir.path, executable: "/usr/bin/unshare")
        defer { drover.terminate() }
        drover.waitForLine("starting: pid 1")
        drover.waitForLine("parent | my-pid-1-parent=1")
        guard let line = drover.waitForLine("parent | orphan="),
              let orphan = Int32(line.split(separator: "=").last ?? "") else { return }
        drover.waitForLine("reaped orphan pid \(orphan)")
        drover.signal(SIGTERM) // unshare forwards nothing; stop drover directly below
        // unshare's child is drover; signal it through the namespace's host pid.
        let children = (try? String(contentsOfFile: "/proc/\(drover.pid)/task/\(drover.pid)/children", encoding: .utf8)) ?? ""
        for child in children.split(separator: " ").compactMap({ Int32($0) }) { kill(child, SIGTERM) }
        #expect(drover.waitForExit() == 0)
    }
}
