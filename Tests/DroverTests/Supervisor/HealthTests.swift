import Foundation
import Testing

/// Health probes against the real demo worker.
@Suite struct HealthTests {
    @Test func passingProbeMakesReadyAndAFrozenWorkerIsRestarted() throws {
        let dir = TempDir("health")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:model]
            command = \(Binaries.demoWorker) --port %(port)s --startup-delay 0.3
            port = 24611
            startsecs = 30
            health_path = /health
            health_interval = 0.2s
            health_timeout = 0.3s
            health_fails = 2
            health_start_period = 10s
            stopwaitsecs = 1
            """, in: dir)
        defer { drover.terminate() }
        // startsecs is 30: RUNNING this early can only come from the health check.
        let running = drover.waitForLine("model:model RUNNING (was STARTING)", "passed health check", timeout: 5)
        let spawned = drover.waitForLine("model:model STARTING (was STOPPED)")
        if let a = spawned.flatMap(logTime), let b = running.flatMap(logTime) {
            #expect(b - a >= 0.25, "not ready before the model loaded")
            #expect(b - a < 1.5, "ready soon after it listens")
        }
        drover.waitForLine("model:model ready")
        guard let pid = pidIn(spawned) else { return }

        // A frozen worker answers no probe: unhealthy after health_fails, then restarted.
        kill(pid, SIGSTOP)
        drover.waitForLine("model:model health check failed (1/2)")
        drover.waitForLine("model:model health check failed (2/2)")
        drover.waitForLine("model:model unhealthy; restarting")
        drover.waitForLine("model:model STOPPED (was STOPPING)")
        let again = drover.waitForLine("model:model STARTING (was STOPPED)", occurrence: 2)
        #expect(pidIn(again) != pid)
        drover.waitForLine("model:model ready", occurrence: 2, timeout: 5)
        #expect(!processExists(pid))
    }

    @Test func workerThatNeverAnswersIsRestartedAfterTheStartPeriod() throws {
        let dir = TempDir("neverready")
        defer { dir.cleanup() }
        let drover = try DroverHarness(config: """
            [program:mute]
            command = /bin/sleep 60
            port = 24631
            startsecs = 0
            health_path = /health
            health_interval = 0.1s
            health_timeout = 0.1s
            health_fails = 2
            health_start_period = 0.5s
            stopwaitsecs = 1
            """, in: dir)
        defer { drover.terminate() }
        drover.waitForLine("mute:mute unhealthy; restarting", timeout: 5)
        #expect(drover.lines(containing: "mute:mute ready").isEmpty)
        let failures = drover.lines(containing: "mute:mute health check failed")
        if let first = failures.first.flatMap(logTime), let start = drover.lines(containing: "mute:mute STARTING").first.flatMap(logTime) {
            #expect(first - start >= 0.45, "no failure counted during the start period")
        }
    }
}
