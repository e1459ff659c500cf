import Foundation
import Testing

/// Issue 13 item 1: a worker that serves one connection at a time (stdlib
/// `http.server`, HTTP/1.1 keep-alive, one thread) works behind drover with
/// the default settings: drover's own idle connections never make it fail
/// a probe and never leave a request in its accept backlog.
@Suite struct OneConnectionWorkerTests {
    /// Idle for 8 s rather than the 30 s: the failure is per probe
    /// period. With an idle pooled connection held open (keepalive_timeout
    /// is 75 s, so the same for the whole 30 s), every probe behind it
    /// times out, and health_fails = 2 with 1 s + 1 s per failed probe
    /// restarts each worker about 4 s into the idle time. 8 s is eight probe
    /// periods, every one of them the same state as the last (one idle
    /// pooled connection per worker, nothing else), so a 30 s wait can show
    /// nothing that 8 s does not.
    @Test func idlePoolPassesEveryProbeAndNothingRestarts() throws {
        let pool = try OneConnectionPool("idle", .init(program: "health_interval = 1s\nhealth_timeout = 1s\nhealth_fails = 2"))
        // Requests to every worker: drover now keeps a connection to each.
        for _ in 0..<9 {
            let r = pool.get("/work?ms=5")
            #expect(r.status == 200, "\(r.summary)")
        }
        let workPids = Set(pool.served().filter { $0.hasSuffix("/work?ms=5") }.map { $0.prefix { $0 != " " } })
        #expect(workPids.count == 3, "the requests reached all three workers: \(pool.served())")
        let before = pool.pidsAndRestarts()
        #expect(before.count == 3 && before.values.allSatisfy { $0[0] > 0 && $0[1] == 0 }, "\(before)")
        let servedBefore = pool.served().count

        sleep(8)

        let after = pool.pidsAndRestarts()
        #expect(after == before, "no worker restarted while idle (pid, restarts): before \(before), after \(after); drover said:\n\(pool.drover.transcript)")
        // The probes really ran, and passed: each worker answered one about every second.
        let probes = pool.served().dropFirst(servedBefore).filter { $0.hasSuffix(" /health") }
        var perWorker: [Substring: Int] = [:]
        for line in probes { perWorker[line.prefix { $0 != " " }, default: 0] += 1 }
        #expect(perWorker.count == 3 && perWorker.values.allSatisfy { $0 >= 5 },
                "every worker answered its probes while idle (pid: probes answered): \(perWorker)")
        #expect(pool.drover.lines(containing: "health check failed").isEmpty,
                "no probe failed:\n\(pool.drover.transcript)")
        for _ in 0..<3 {
            #expect(pool.get("/work?ms=1").status == 200, "the pool still serves")
        }
    }

    /// SIGKILL of one of three workers while three clients send 100 GETs
    /// each on keep-alive connections, all with drover's defaults.
    @Test func sigkillUnderLoadFailsNoRequestAndDelaysNoneOverASecond() throws {
        let pool = try OneConnectionPool("kill")
        let clients = (0..<3).map { index in
            Background { () -> [(status: Int, seconds: Double)] in
                guard let client = pool.connect(timeout: 3) else { return [] }
                var results: [(status: Int, seconds: Double)] = []
                for n in 0..<100 {
                    let start = Date()
                    let r = client.exchange("GET /work?ms=10&c=\(index)&n=\(n) HTTP/1.1\r\nHost: t\r\n\r\n")
                    results.append((r.status, Date().timeIntervalSince(start)))
                    if r.status == 0 { break }
                }
                return results
            }
        }
        try #require(waitUntil(timeout: 10) { pool.served().count >= 60 }, "load is running")
        let victim = try #require(pool.workers().compactMap { $0["pid"] as? Int }.first)
        kill(pid_t(victim), SIGKILL)
        let results = clients.compactMap { $0.value(timeout: 60) }
        #expect(results.count == 3)
        let all = results.flatMap { $0 }
        let failed = all.filter { $0.status != 200 }
        let slowest = all.map(\.seconds).max() ?? 0
        #expect(all.count == 300 && failed.isEmpty,
                "every one of 300 GETs answered 200: \(all.count) answered, failures \(failed.map(\.status)); drover said:\n\(pool.drover.transcript)")
        #expect(slowest < 1.0, "none slower than 1 s: slowest \(slowest) s")
        #expect(waitUntil(timeout: 10) { pool.readyWorkers().count == 3 }, "the killed worker is back: \(pool.workers())")
    }

    /// The worker writes its head and its body separately with Nagle on
    /// (http.server's default): on a kept-alive connection its body waits
    /// for drover's ACK of the head, which a delaying kernel sends 40 ms
    /// late. drover acknowledges at once (TCP_QUICKACK), so an answer takes
    /// the worker's time, not 40 ms more.
    @Test func answersInPiecesDoNotWaitForADelayedAck() throws {
        let pool = try OneConnectionPool("quickack", .init(numprocs: 1))
        let client = try #require(pool.connect(timeout: 5))
        var times: [Double] = []
        for _ in 0..<25 {
            let start = Date()
            let r = client.exchange("GET /work?ms=0 HTTP/1.1\r\nHost: t\r\n\r\n")
            times.append(Date().timeIntervalSince(start))
            #expect(r.status == 200, "\(r.summary)")
        }
        let median = times.sorted()[times.count / 2]
        #expect(median < 0.02, "median answer \(Int(median * 1000)) ms (a delayed ACK is 40 ms): \(times.map { Int($0 * 1000) })")
    }

    /// `rate_limit = 5r/s burst=5` in front of one worker: every request
    /// the bucket admits is answered; the rest get 429.
    @Test func everyRequestTheRateLimitAdmitsIsAnswered() throws {
        let pool = try OneConnectionPool("rate", .init(numprocs: 1, proxy: "rate_limit = 5r/s burst=5"))
        let clients = (0..<10).compactMap { n -> WireClient? in
            let client = pool.connect(timeout: 5)
            client?.send("GET /work?ms=50&n=\(n) HTTP/1.1\r\nHost: t\r\n\r\n")
            return client
        }
        try #require(clients.count == 10)
        let answers = clients.map { client in Background { client.readResponse().status } }
        let statuses = answers.map { $0.value(timeout: 15) ?? -1 }
        let admitted = statuses.filter { $0 == 200 }.count
        let limited = statuses.filter { $0 == 429 }.count
        #expect(admitted >= 5 && admitted + limited == 10,
                "the burst of 5 (and what refilled) answered 200, the rest 429, nothing left hanging: \(statuses)")
        let served = pool.served().filter { $0.contains("/work") }.count
        #expect(served == admitted, "the worker served exactly the admitted requests: \(served) vs \(admitted)")
    }
}
