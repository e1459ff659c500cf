import Foundation
import Testing

/// supervisord's state machine, observed through drover's event log while
/// it runs real processes.
@Suite struct StateMachineTests {
    @Test func startingToRunningAfterStartsecsThenStoppingToStopped() throws {
        let dir = TempDir("states")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:web]
            command = /bin/sleep 60
            startsecs = 0.5
            """, in: dir)
        let starting = drover.waitForLine("web:web STARTING (was STOPPED)")
        let running = drover.waitForLine("web:web RUNNING (was STARTING)")
        if let a = starting.flatMap(logTime), let b = running.flatMap(logTime) {
            #expect(b - a >= 0.45, "RUNNING only after startsecs")
            #expect(b - a < 1.5)
        }
        drover.signal(SIGTERM)
        drover.waitForLine("web:web STOPPING (was RUNNING)")
        drover.waitForLine("web:web STOPPED (was STOPPING)")
        #expect(drover.waitForExit() == 0)
    }

    @Test func quickExitsBackOffThenGoFatal() throws {
        let dir = TempDir("fatal")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:crash]
            command = /bin/sh -c "exit 2"
            startsecs = 1
            startretries = 2
            backoff_max = 0.2
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("crash:crash BACKOFF (was STARTING)", occurrence: 2)
        drover.waitForLine("crash:crash FATAL (was STARTING)")
        // startretries = 2: the first start and two retries, then FATAL.
        #expect(drover.lines(containing: "crash:crash STARTING").count == 3)
        usleep(500_000)
        #expect(drover.lines(containing: "crash:crash STARTING").count == 3, "FATAL is final")
    }

    @Test func expectedExitStaysExitedUnexpectedRestarts() throws {
        let dir = TempDir("exits")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:oneshot]
            command = /bin/sh -c "exit 0"
            startsecs = 0
            autorestart = unexpected
            exitcodes = 0,2

            [program:flaky]
            command = /bin/sh -c "sleep 0.3; exit 7"
            startsecs = 0
            autorestart = unexpected
            exitcodes = 0
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("oneshot:oneshot EXITED (was RUNNING)", "expected")
        drover.waitForLine("flaky:flaky EXITED (was RUNNING)", "exit status 7", "not expected")
        drover.waitForLine("flaky:flaky STARTING (was EXITED)")
        usleep(300_000)
        #expect(drover.lines(containing: "oneshot:oneshot STARTING").count == 1, "an expected exit is not restarted")
    }

    @Test func autorestartTrueAndFalse() throws {
        let dir = TempDir("autorestart")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:always]
            command = /bin/sh -c "sleep 0.2; exit 0"
            startsecs = 0
            autorestart = true

            [program:never]
            command = /bin/sh -c "sleep 0.2; exit 9"
            startsecs = 0
            autorestart = false
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("always:always STARTING", occurrence: 3)
        drover.waitForLine("never:never EXITED (was RUNNING)")
        #expect(drover.lines(containing: "never:never STARTING").count == 1)
    }

    @Test func autostartFalseStaysStoppedAndPriorityOrdersStartAndStop() throws {
        let dir = TempDir("priority")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:late]
            command = /bin/sleep 60
            priority = 300
            startsecs = 0

            [program:early]
            command = /bin/sleep 60
            priority = 100
            startsecs = 0

            [program:manual]
            command = /bin/sleep 60
            autostart = false
            """, in: dir)
        drover.waitForLine("late:late RUNNING")
        drover.waitForLine("early:early RUNNING")
        let starts = drover.lines(containing: "STARTING (was STOPPED)")
        #expect(starts.first?.contains("early:early") == true, "lower priority starts first")
        #expect(drover.lines(containing: "manual:manual STARTING").isEmpty)
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
        let stops = drover.lines(containing: "STOPPED (was STOPPING)")
        #expect(stops.count == 2)
        #expect(stops.first?.contains("late:late") == true, "higher priority stops first")
    }

    @Test func spawnErrorGoesToBackoff() throws {
        let dir = TempDir("spawnerr")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:ghost]
            command = /nonexistent/binary --flag
            startretries = 1
            backoff_max = 0.1
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("ghost:ghost spawn error", "/nonexistent/binary")
        drover.waitForLine("ghost:ghost FATAL")
    }
}

// Backoff delays and their cap are LifecycleTests' (on a test clock, no waiting).

@Suite struct RespawnTests {
    @Test func sigkilledWorkerIsRespawnedWithinMilliseconds() throws {
        let dir = TempDir("respawn")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:web]
            command = /bin/sleep 60
            process_name = web_%(process_num)02d
            numprocs = 2
            startsecs = 0.2
            """, in: dir)
        defer { drover.terminate() }
        let running = drover.waitForLine("web:web_01 RUNNING")
        guard let pid = pidIn(running) else { Issue.record("no pid in \(running ?? "")"); return }
        kill(pid, SIGKILL)
        let exited = drover.waitForLine("web:web_01 EXITED", "SIGKILL")
        let respawned = drover.waitForLine("web:web_01 STARTING (was EXITED)")
        if let a = exited.flatMap(logTime), let b = respawned.flatMap(logTime) {
            #expect(b - a < 0.1, "respawn took \(b - a)s")
        }
        #expect(pidIn(respawned) != pid)
        #expect(drover.lines(containing: "web:web_00 EXITED").isEmpty, "the other worker is untouched")
    }
}

@Suite struct StopTests {
    @Test func stopEscalatesToSigkillAfterStopwaitsecs() throws {
        let dir = TempDir("escalate")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:stubborn]
            command = /bin/sh -c "trap '' TERM; echo ready; while :; do sleep 0.05; done"
            startsecs = 0
            stopwaitsecs = 0.5
            """, in: dir)
        drover.waitForLine("stubborn | ready")
        let pid = pidIn(drover.waitForLine("stubborn:stubborn STARTING"))
        drover.signal(SIGTERM)
        drover.waitForLine("stubborn:stubborn", "sending SIGKILL")
        drover.waitForLine("stubborn:stubborn STOPPED", "SIGKILL")
        #expect(drover.waitForExit() == 1, "a stop that needed SIGKILL is not clean")
        if let pid { #expect(!processExists(pid)) }
    }

    @Test func stopasgroupKillsGrandchildren() throws {
        let dir = TempDir("group")
        defer { dir.cleanup() }
        let pids = dir.file("pids")
        let drover = try DroverHarness(config: """
            [program:family]
            command = /bin/sh -c "sleep 60 & echo $! > \(pids); sleep 60 & echo $! >> \(pids); wait"
            startsecs = 0
            stopasgroup = true
            stopwaitsecs = 2
            """, in: dir)
        #expect(waitUntil { ((try? String(contentsOfFile: pids, encoding: .utf8)) ?? "").split(separator: "\n").count == 2 })
        let grandchildren = try String(contentsOfFile: pids, encoding: .utf8).split(separator: "\n").compactMap { Int32($0) }
        #expect(grandchildren.count == 2)
        for pid in grandchildren { #expect(processExists(pid)) }
        drover.signal(SIGTERM)
        #expect(drover.waitForExit() == 0)
        for pid in grandchildren { #expect(waitUntil(timeout: 2) { !processExists(pid) }, "grandchild \(pid) survived") }
    }

    @Test func secondSigtermIsAFastShutdown() throws {
        let dir = TempDir("fast")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:slow]
            command = /bin/sh -c "trap '' TERM; echo ready; while :; do sleep 0.05; done"
            startsecs = 0
            stopwaitsecs = 30
            """, in: dir)
        drover.waitForLine("slow | ready")
        drover.signal(SIGTERM)
        drover.waitForLine("slow:slow STOPPING")
        let start = Date()
        drover.signal(SIGTERM)
        #expect(drover.waitForExit(timeout: 5) == 1)
        #expect(Date().timeIntervalSince(start) < 3, "did not wait for stopwaitsecs")
    }

    @Test func sigquitIsAFastShutdown() throws {
        let dir = TempDir("quit")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:slow]
            command = /bin/sh -c "trap '' TERM; echo ready; while :; do sleep 0.05; done"
            startsecs = 0
            stopwaitsecs = 30
            """, in: dir)
        drover.waitForLine("slow | ready")
        let pid = pidIn(drover.waitForLine("slow:slow STARTING"))
        drover.signal(SIGQUIT)
        #expect(drover.waitForExit(timeout: 5) == 1)
        if let pid { #expect(!processExists(pid)) }
    }
}
