import Foundation
import Testing

/// SIGHUP re-reads the config and applies only the difference.
@Suite struct ReloadTests {
    static let before = """
        [program:keep]
        command = /bin/sleep 60
        startsecs = 0

        [program:gone]
        command = /bin/sleep 60
        startsecs = 0

        [program:pool]
        command = /bin/sh -c 'echo v1 $DROVER_PROCESS_NAME; exec sleep 60'
        process_name = pool_%(process_num)02d
        numprocs = 2
        startsecs = 0.2

        [program:grow]
        command = /bin/sleep 60
        process_name = grow_%(process_num)02d
        numprocs = 1
        startsecs = 0
        """

    static let after = """
        [program:keep]
        command = /bin/sleep 60
        startsecs = 0

        [program:new]
        command = /bin/sleep 60
        startsecs = 0

        [program:pool]
        command = /bin/sh -c 'echo v2 $DROVER_PROCESS_NAME; exec sleep 60'
        process_name = pool_%(process_num)02d
        numprocs = 2
        startsecs = 0.2

        [program:grow]
        command = /bin/sleep 60
        process_name = grow_%(process_num)02d
        numprocs = 3
        startsecs = 0
        """

    @Test func appliesEachKindOfChange() throws {
        let dir = TempDir("reload")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: Self.before, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("pool:pool_01 RUNNING")
        drover.waitForLine("gone:gone RUNNING")
        drover.waitForLine("grow:grow_00 RUNNING")
        let keepPid = pidIn(drover.waitForLine("keep:keep RUNNING"))
        let oldPool = [pidIn(drover.waitForLine("pool:pool_00 RUNNING")), pidIn(drover.waitForLine("pool:pool_01 RUNNING"))]

        dir.write("supervisor.conf", Self.after)
        drover.signal(SIGHUP)
        drover.waitForLine("config re-read", "added new", "removed gone", "pool", "scaled grow 1 -> 3")
        drover.waitForLine("new:new RUNNING")
        drover.waitForLine("gone:gone STOPPED")
        drover.waitForLine("grow:grow_02 RUNNING")
        drover.waitForLine("pool_00 | v2 pool_00")
        drover.waitForLine("pool_01 | v2 pool_01")
        drover.waitForLine("pool:pool_01", "rolling replacement", "ready")

        // One at a time: pool_01 is stopped only after pool_00's successor is ready.
        let output = drover.output
        let firstReady = output.firstIndex { $0.contains("pool:pool_00 rolling replacement: pid") && $0.contains("ready") }
        let secondStop = output.firstIndex { $0.contains("pool:pool_01 STOPPING") }
        #expect(firstReady != nil && secondStop != nil && firstReady! < secondStop!)
        let newPool = drover.lines(containing: "pool:pool_0", "STARTING (was STOPPED)").suffix(2).map(pidIn)
        #expect(Set(newPool).isDisjoint(with: Set(oldPool)), "every pool worker replaced")
        #expect(drover.lines(containing: "keep:keep STOPPING").isEmpty, "an unchanged program is left alone")
        if let keepPid { #expect(processExists(keepPid)) }
    }

    /// `drover scale` survives a reload that leaves the file's numprocs
    /// alone (issue 15: 3 -> 2 on every reload), and yields to one that changes it.
    @Test func aRunTimeScaleSurvivesAReloadUnlessNumprocsChanged() throws {
        let pool = """
            [program:pool]
            command = /bin/sleep 60
            process_name = pool_%(process_num)02d
            numprocs = 2
            startsecs = 0
            """
        let daemon = try ControlledDrover(pool, label: "scale-reload")
        daemon.drover.waitForLine("pool:pool_01 RUNNING")
        #expect(try daemon.cli("scale", "pool", "3").status == 0)
        daemon.drover.waitForLine("pool:pool_02 RUNNING")
        let config = daemon.dir.file("supervisor.conf")
        let text = try String(contentsOfFile: config, encoding: .utf8)
        try (text + "\n[program:extra]\ncommand = /bin/sleep 60\nstartsecs = 0\n").write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try daemon.cli("reread").stdout == "extra: available\n", "the scaled pool is not a change")
        let reload = try daemon.cli("reload")
        #expect(reload.status == 0 && reload.stdout == "reloaded: added extra\n", "\(reload)")
        daemon.drover.waitForLine("extra:extra RUNNING")
        #expect(daemon.pids("pool:").count == 3, "still 3 after the reload: \(daemon.status())")
        #expect(daemon.drover.lines(containing: "pool:pool_02 STOPPING").isEmpty)
        // SIGHUP is the same reload.
        daemon.drover.signal(SIGHUP)
        daemon.drover.waitForLine("SIGHUP: config re-read: no changes")
        #expect(daemon.pids("pool:").count == 3)

        // The file's numprocs changed: it wins over the run-time size.
        try (text.replacingOccurrences(of: "numprocs = 2", with: "numprocs = 1")
             + "\n[program:extra]\ncommand = /bin/sleep 60\nstartsecs = 0\n").write(toFile: config, atomically: true, encoding: .utf8)
        #expect(try daemon.cli("reread").stdout == "pool: changed\n")
        let shrink = try daemon.cli("reload")
        #expect(shrink.stdout == "reloaded: scaled pool 3 -> 1\n", "\(shrink)")
        #expect(waitUntil { daemon.pids("pool:").count == 1 }, "\(daemon.status())")
    }

    @Test func brokenConfigIsRejectedAndNothingChanges() throws {
        let dir = TempDir("badreload")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: Self.before, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("pool:pool_01 RUNNING")
        dir.write("supervisor.conf", Self.after + "\n[program:broken]\ncommand = /bin/true\nautorestart = sometimes\n")
        drover.signal(SIGHUP)
        drover.waitForLine("config rejected, nothing changed", "supervisor.conf:", "autorestart")
        usleep(300_000)
        #expect(drover.lines(containing: "new:new").isEmpty)
        #expect(drover.lines(containing: "STOPPING").isEmpty)
    }
}
