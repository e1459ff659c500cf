import Glibc
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

/// Reading a ManagedProcess into a snapshot: what the daemon hands every view.
@Suite struct AdminProcessSnapshotTests {
    func managed() -> ManagedProcess {
        let spec = ProcessSpec(programName: "web", groupName: "pool", name: "web_01", number: 1, index: 1,
                               argv: ["/bin/true"], port: 8001)
        var policy = Lifecycle.Policy()
        policy.startsecs = .zero
        return ManagedProcess.forTest(spec, policy: policy)
    }

    @Test func adminNeverStartedProcess() {
        let snapshot = ProcessSnapshot(managed(), now: Instant(nanoseconds: 5_000_000_000))
        #expect(snapshot.name == "pool:web_01")
        #expect(snapshot.group == "pool")
        #expect(snapshot.program == "web")
        #expect(snapshot.process == "web_01")
        #expect(snapshot.state == .stopped)
        #expect(snapshot.pid == nil && snapshot.uptimeSeconds == nil && snapshot.startedWallNs == nil)
        #expect(snapshot.exitedWallNs == nil && snapshot.lastExit == nil && snapshot.retryInSeconds == nil)
        #expect(snapshot.port == 8001)
        #expect(snapshot.description == "Not started")
    }

    @Test func adminRunningProcess() {
        let process = managed()
        for _ in 0..<3 {
            process.drive(.start, .spawned(pid: 1), .stop, .exited(.signaled(SIGTERM, coreDumped: false), lastWords: ""))
        }
        process.drive(.start, .spawned(pid: 4242), at: Instant(nanoseconds: 1_000_000_000))
        process.spawnedWallNs = 1_700_000_000_000_000_000
        process.inflight = 2
        let snapshot = ProcessSnapshot(process, now: Instant(nanoseconds: 11_500_000_000), rssBytes: 1024, proxied: true)
        #expect(snapshot.pid == 4242)
        #expect(snapshot.uptimeSeconds == 10.5)
        #expect(snapshot.startedWallNs == 1_700_000_000_000_000_000)
        #expect(snapshot.restarts == 3 && snapshot.inflight == 2 && snapshot.rssBytes == 1024)
        #expect(snapshot.description == "pid 4242, uptime 0:00:10, ready, 2 in flight")
        // Without a proxy or a health check "ready" says nothing: supervisorctl's line.
        let plain = ProcessSnapshot(process, now: Instant(nanoseconds: 11_500_000_000))
        #expect(!plain.hasReadiness && plain.description == "pid 4242, uptime 0:00:10, 2 in flight")
        process.spec.health = HealthCheck(path: "/health")
        #expect(ProcessSnapshot(process, now: Instant(nanoseconds: 11_500_000_000)).description == "pid 4242, uptime 0:00:10, ready, 2 in flight")
    }

    @Test func adminBackoffProcessCountsDownItsRetry() {
        let process = managed()
        process.lifecycle.policy.startsecs = .seconds(10)
        // Killed 4 s into its start: a failed start, BACKOFF for 1 s (until 5 s).
        process.drive(.start, .spawned(pid: 77), at: Instant(nanoseconds: 0))
        process.drive(.exited(.signaled(SIGKILL, coreDumped: false), lastWords: ""), at: Instant(nanoseconds: 4_000_000_000))
        #expect(process.state == .backoff)
        process.spawnedWallNs = 1_700_000_000_000_000_000
        process.exitedWallNs = 1_700_000_005_000_000_000
        process.lastExit = .signaled(SIGKILL, coreDumped: false)
        let snapshot = ProcessSnapshot(process, now: Instant(nanoseconds: 4_500_000_000))
        #expect(snapshot.pid == nil && snapshot.uptimeSeconds == nil)
        #expect(snapshot.retryInSeconds == 0.5)
        #expect(snapshot.exitedWallNs == 1_700_000_005_000_000_000)
        #expect(snapshot.description == "killed by SIGKILL at \(WallClock.statusDate(1_700_000_005_000_000_000)), retry in 0.5s")
        process.drive(.stop)
        #expect(ProcessSnapshot(process, now: Instant(nanoseconds: 4_500_000_000)).retryInSeconds == nil, "no retry outside BACKOFF")
    }
}
