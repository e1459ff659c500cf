import Foundation
import Testing

/// Issue 13 item 2: a client that is gone costs nothing. Its queued request
/// is dropped (never reaches a worker) and logged as 499 with its queue
/// time; shutdown never waits for it, and nothing is respawned once the
/// shutdown signal came.
@Suite struct GoneClientTests {
    /// A request queued behind a busy one-connection worker; its client
    /// closes (FIN: `curl -m`, a browser tab; or RST) before a worker frees.
    @Test(arguments: ["fin", "rst"])
    func queuedRequestOfAClientThatLeftNeverReachesTheWorker(_ how: String) throws {
        let pool = try OneConnectionPool("gone-\(how)", .init(numprocs: 1, proxy: "queue_timeout = 10s\naccess_log = {DIR}/access.log"))
        let busy = try #require(pool.connect(timeout: 5))
        busy.send("GET /work?ms=1500&who=busy HTTP/1.1\r\nHost: t\r\n\r\n")
        try #require(waitUntil(timeout: 5) { pool.inflight() == 1 }, "the worker is busy")
        let leaver = try #require(pool.connect(timeout: 5))
        leaver.send("GET /work?ms=1000&who=leaver HTTP/1.1\r\nHost: t\r\n\r\n")
        try #require(waitUntil(timeout: 5) { pool.queueLength() == 1 }, "the second request waits in drover's queue")
        usleep(200_000)   // some queue time to see in the log
        if how == "fin" { leaver.close() } else { leaver.abort() }
        #expect(waitUntil(timeout: 1) { pool.queueLength() == 0 },
                "dropped from the queue as soon as its client left, while the worker is still busy")
        #expect(pool.inflight() == 1, "the busy request still holds the worker")

        let answer = busy.readResponse()
        #expect(answer.status == 200, "\(answer.summary)")
        let next = pool.get("/work?ms=1&who=next")
        #expect(next.status == 200, "\(next.summary)")
        let served = pool.served()
        #expect(served.contains { $0.hasSuffix("who=busy") } && served.contains { $0.hasSuffix("who=next") }, "\(served)")
        #expect(!served.contains { $0.contains("who=leaver") }, "the departed client's request never reached the worker: \(served)")

        let logged = waitUntil(timeout: 3) { pool.lines(of: "access.log").contains { $0.contains("who=leaver") } }
        let line = pool.lines(of: "access.log").first { $0.contains("who=leaver") } ?? ""
        #expect(logged && line.contains("\"GET /work?ms=1000&who=leaver HTTP/1.1\" 499 0 "),
                "the access log records it as 499: \(pool.lines(of: "access.log"))")
        let queued = line.range(of: " tq=").flatMap { Double(line[$0.upperBound...].prefix { $0 != " " }) } ?? -1
        #expect(queued >= 150 && queued < 1400, "with the time it waited in the queue (ms): \(line)")
        #expect(line.contains(" tu=- "), "and no worker time: \(line)")
        #expect(pool.traffic()["client_aborts"] as? Int == 1, "\(pool.traffic())")
    }

    /// No worker can start (its command exits at once). One client sends a
    /// request and leaves; another waits. SIGINT: drover answers the one
    /// still there and exits at once, not after queue_timeout, and starts
    /// nothing after the signal.
    @Test func shutdownWaitsForNoGoneClientAndRespawnsNothing() throws {
        let pool = try OneConnectionPool("noworker", .init(
            numprocs: 1, command: "/bin/sh -c 'echo spawn >> {DIR}/spawns; exit 1'",
            program: "startsecs = 1\nstartretries = 0\nbackoff_max = 1s", proxy: "queue_timeout = 20s",
            waitUntilServing: false))
        try #require(waitUntil(timeout: 10) { pool.lines(of: "spawns").count >= 2 }, "the program keeps failing to start")
        let leaver = try #require(pool.connect(timeout: 5))
        leaver.send("GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
        let stayer = try #require(pool.connect(timeout: 5))
        stayer.send("GET /work HTTP/1.1\r\nHost: t\r\n\r\n")
        try #require(waitUntil(timeout: 5) { pool.queueLength() == 2 }, "both requests wait for a worker")
        leaver.close()
        #expect(waitUntil(timeout: 1) { pool.queueLength() == 1 }, "the leaver's request is dropped")
        // Signal right after a start attempt: the next one is a whole backoff away.
        let spawned = pool.lines(of: "spawns").count
        try #require(waitUntil(timeout: 5) { pool.lines(of: "spawns").count > spawned })
        let spawnsAtSignal = pool.lines(of: "spawns").count
        let signalled = Date()
        pool.drover.signal(SIGINT)
        let answer = stayer.readResponse()
        #expect(answer.status == 503, "the client still waiting is told at once: no worker will come: \(answer.summary)")
        pool.drover.waitForExit(timeout: 10)
        let took = Date().timeIntervalSince(signalled)
        #expect(took < 3, "drover exited promptly after SIGINT, not after queue_timeout: \(took) s")
        usleep(300_000)
        #expect(pool.lines(of: "spawns").count == spawnsAtSignal,
                "nothing started after the signal: \(spawnsAtSignal) starts before, \(pool.lines(of: "spawns").count) after; drover said:\n\(pool.drover.transcript)")
    }

    /// A request at a worker whose client reset keeps the worker's slot
    /// (SPEC §5), but a graceful shutdown does not wait for its answer:
    /// nobody is left to read it.
    @Test func shutdownDoesNotWaitForAnAnswerNobodyWillRead() throws {
        let pool = try OneConnectionPool("orphan", .init(numprocs: 1))
        let leaver = try #require(pool.connect(timeout: 5))
        leaver.send("GET /work?ms=4000 HTTP/1.1\r\nHost: t\r\n\r\n")
        try #require(waitUntil(timeout: 5) { pool.inflight() == 1 })
        leaver.abort()
        #expect(waitUntil(timeout: 2) { pool.traffic()["client_aborts"] as? Int == 1 })
        #expect(pool.inflight() == 1, "the worker is still computing: its slot stays taken")
        let signalled = Date()
        pool.drover.signal(SIGTERM)
        #expect(pool.drover.waitForExit(timeout: 10) == 0)
        let took = Date().timeIntervalSince(signalled)
        #expect(took < 2, "drover did not wait out the 4 s answer nobody will read: \(took) s")
    }

    /// A graceful shutdown that lasts (a request in flight) starts nothing
    /// while it drains: a crashing program in BACKOFF stays down.
    @Test func nothingIsRespawnedWhileShutdownDrains() throws {
        let pool = try OneConnectionPool("drain", .init(numprocs: 1, sections: """
            [program:crash]
            command = /bin/sh -c 'echo spawn >> {DIR}/spawns; exit 1'
            startsecs = 1
            startretries = 0
            backoff_max = 1s
            stdout_logfile = NONE
            """))
        try #require(waitUntil(timeout: 10) { pool.lines(of: "spawns").count >= 2 }, "the crashing program is in its backoff loop")
        let slow = try #require(pool.connect(timeout: 10))
        slow.send("GET /work?ms=2500 HTTP/1.1\r\nHost: t\r\n\r\n")
        try #require(waitUntil(timeout: 5) { pool.inflight() == 1 })
        let spawned = pool.lines(of: "spawns").count
        try #require(waitUntil(timeout: 5) { pool.lines(of: "spawns").count > spawned })
        let spawnsAtSignal = pool.lines(of: "spawns").count
        pool.drover.signal(SIGTERM)
        let answer = slow.readResponse()
        #expect(answer.status == 200, "the request in flight is answered during the graceful shutdown: \(answer.summary)")
        #expect(pool.drover.waitForExit(timeout: 10) == 0)
        usleep(300_000)
        #expect(pool.lines(of: "spawns").count == spawnsAtSignal,
                "nothing started after SIGTERM: \(spawnsAtSignal) starts before, \(pool.lines(of: "spawns").count) after; drover said:\n\(pool.drover.transcript)")
    }
}
