import Foundation
import Testing

/// Issue 14 / SPEC §4: a worker leaves the upstream the moment drover learns
/// it died, and one that stays dead (EXITED with `autorestart = false`,
/// BACKOFF, FATAL) stays out. A GET to its one-worker pool then waits in the
/// queue for a ready worker and gets 503 at `queue_timeout`; it is never
/// sent to the dead worker's port, which the test holds after the kill and
/// counts every connection to.
///
/// BACKOFF and FATAL come straight from the pool: the worker passed its
/// probe (ready) but dies before `startsecs`, a failed start, so no respawn
/// in the same turn of the loop hides a worker left in the pool.
@Suite struct ProxyDeadWorkerTests {
    static let crashLoop = "health_path = /health\nhealth_interval = 0.1s\nstartsecs = 10\nautorestart = true"

    @Test func aKilledWorkerWithAutorestartOffIsOutOfThePoolAtOnce() throws {
        try expectDeadWorkerOutOfThePool(label: "dead-exited", state: "EXITED", kills: 1, .init(
            numprocs: 1, program: "autorestart = false", proxy: "queue_timeout = 1s"))
    }

    @Test func aReadyWorkerThatDiesBeforeStartsecsIsOutOfThePoolInBackoff() throws {
        try expectDeadWorkerOutOfThePool(label: "dead-backoff", state: "BACKOFF", kills: 1, .init(
            numprocs: 1, program: Self.crashLoop + "\nstartretries = 5", proxy: "queue_timeout = 1s"))
    }

    @Test func aReadyWorkerThatGoesFatalIsOutOfThePool() throws {
        try expectDeadWorkerOutOfThePool(label: "dead-fatal", state: "FATAL", kills: 2, .init(
            numprocs: 1, program: Self.crashLoop + "\nstartretries = 1\nbackoff_max = 200ms", proxy: "queue_timeout = 1s"))
    }

    /// SIGKILLs the ready worker `kills` times (waiting for its successor to
    /// be ready in between), holds its port, and sends a GET once it is in `state`.
    private func expectDeadWorkerOutOfThePool(label: String, state: String, kills: Int, _ options: ProxyFixture.Options,
                                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let proxy = try ProxyFixture(label, options, sourceLocation: sourceLocation)
        var pid: Int32 = 0
        for kill in 1...kills {
            pid = try #require(waitForReadyWorker(proxy, other: pid), "a ready worker: \(proxy.status())", sourceLocation: sourceLocation)
            // The proxy holds a keep-alive connection to the worker after these.
            for _ in 0..<3 { #expect(proxy.get("/pid").status == 200, sourceLocation: sourceLocation) }
            Glibc.kill(pid, SIGKILL)
            if kill < kills {
                #expect(waitUntil(timeout: 10) { proxy.status().first?["state"] as? String == "BACKOFF" }, sourceLocation: sourceLocation)
            }
        }
        let counter = try #require(AcceptCounter(port: proxy.workerPort), "the dead worker's port is free again",
                                   sourceLocation: sourceLocation)
        defer { counter.close() }
        #expect(waitUntil(timeout: 10) { proxy.status().first?["state"] as? String == state },
                "the worker is \(state): \(proxy.status())", sourceLocation: sourceLocation)

        let sent = Date()
        let r = proxy.get("/pid", timeout: 5)
        let waited = Date().timeIntervalSince(sent)
        #expect(r.status == 503, "no ready worker: 503, not a 502 from its port:\n\(r.summary)", sourceLocation: sourceLocation)
        expectRetryAfter(r, sourceLocation: sourceLocation)
        #expect(waited >= 0.9 && waited < 3, "the GET waited queue_timeout (1 s) for a ready worker: \(waited)s",
                sourceLocation: sourceLocation)
        #expect(counter.close() == 0, "the proxy connected to the dead worker's port", sourceLocation: sourceLocation)
    }

    /// The pid of the pool's worker once it is RUNNING and ready, other than `other`.
    private func waitForReadyWorker(_ proxy: ProxyFixture, other: Int32) -> Int32? {
        var pid: Int32?
        _ = waitUntil(timeout: 10) {
            pid = proxy.readyWorkers().compactMap { ($0["pid"] as? Int).map(Int32.init) }.first { $0 != other }
            return pid != nil
        }
        return pid
    }
}
