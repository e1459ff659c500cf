import Foundation
import Testing

/// `max_inflight` + the proxy's FIFO queue (R10), balancing per request,
/// and the rule that a worker's slot stays taken until the worker finished.
@Suite struct ProxyQueueTests {
    /// Sends `GET target` on a connection of its own now (so requests reach
    /// drover in call order) and reads the answer on a thread of its own:
    /// the answer and when it was complete.
    static func background(_ proxy: ProxyFixture, _ target: String, timeout: Double = 10) -> Background<(WireResponse, Date)> {
        let client = proxy.connect(timeout: timeout)
        client?.send("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
        return Background {
            let r = client?.readResponse() ?? WireResponse()
            return (r, Date())
        }
    }

    static func waitForInflight(_ proxy: ProxyFixture, _ count: Int, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(waitUntil(timeout: 5) { proxy.inflight() == count },
                "status shows \(count) in flight: \(proxy.status())", sourceLocation: sourceLocation)
    }

    @Test func fullQueueGets503AtOnceAndTheQueuedRequestIsServed() throws {
        let proxy = try ProxyFixture("r10full", .init(proxy: "queue_size = 1\nqueue_timeout = 5s"))
        let a = Self.background(proxy, "/sleep?ms=1500")
        let b = Self.background(proxy, "/sleep?ms=1500")
        Self.waitForInflight(proxy, 2)
        let queued = Self.background(proxy, "/pid")
        usleep(200_000)   // let it reach the queue (nothing observable says it has)
        let refused = proxy.get("/pid")
        expectDroverError(refused, 503, closes: false, "R10 queue full")
        expectRetryAfter(refused)
        #expect(!a.isDone && !b.isDone && !queued.isDone, "503 at once, while the workers are still busy")
        #expect(queued.value()?.0.status == 200, "the queued request is served when a worker frees up")
        #expect(a.value()?.0.status == 200 && b.value()?.0.status == 200)
    }

    /// queue_timeout bounds the wait even when the overload estimate is
    /// wrong: 20 fast answers measured say a queued request will be served
    /// at once (else the two long requests' ages would get it refused
    /// early, as ProxyEarlyRefusalTests shows), but both workers are held.
    @Test func queuedRequestGets503AfterQueueTimeout() throws {
        let proxy = try ProxyFixture("r10timeout", .init(proxy: "queue_timeout = 1s"))
        for _ in 0..<20 { #expect(proxy.get("/pid").status == 200) }
        let a = Self.background(proxy, "/sleep?ms=2500")
        let b = Self.background(proxy, "/sleep?ms=2500")
        Self.waitForInflight(proxy, 2)
        let start = Date()
        let r = proxy.get("/pid", timeout: 5)
        let waited = Date().timeIntervalSince(start)
        expectDroverError(r, 503, closes: false, "R10 queue_timeout")
        expectRetryAfter(r)
        #expect(waited >= 0.8 && waited < 2.3, "after queue_timeout (1 s), before a worker freed up: \(waited) s")
        #expect(a.value()?.0.status == 200 && b.value()?.0.status == 200)
    }

    @Test(arguments: ["least_inflight", "round_robin"])
    func balancingIsPerRequestOverOneConnection(_ balance: String) throws {
        let proxy = try ProxyFixture("balance-\(balance)", .init(proxy: "balance = \(balance)"))
        let client = try #require(proxy.connect())
        var pids: [String] = []
        for _ in 0..<10 {
            let r = client.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
            #expect(r.status == 200, "\(r.summary)")
            pids.append(r.header("x-worker-pid") ?? "?")
        }
        #expect(Set(pids).count == 2, "\(balance): one keep-alive connection's requests spread over both workers: \(pids)")
        if balance == "round_robin" {
            #expect(zip(pids, pids.dropFirst()).allSatisfy { $0 != $1 }, "round_robin alternates: \(pids)")
        }
    }

    @Test func queuedRequestsAreServedInArrivalOrder() throws {
        let proxy = try ProxyFixture("fifo", .init(numprocs: 1, proxy: "queue_timeout = 10s"))
        let first = Self.background(proxy, "/sleep?ms=500")
        Self.waitForInflight(proxy, 1)
        var queued: [Background<(WireResponse, Date)>] = []
        for i in 1...4 {
            queued.append(Self.background(proxy, "/sleep?ms=100&n=\(i)"))
            usleep(50_000)    // drover reads them in this order; the queue itself is not observable
        }
        #expect(first.value()?.0.status == 200)
        let results = queued.compactMap { $0.value() }
        #expect(results.count == 4 && results.allSatisfy { $0.0.status == 200 })
        let times = results.map(\.1)
        #expect(times == times.sorted(), "FIFO: answered in arrival order: \(times.map { $0.timeIntervalSince(times[0]) })")
    }

    @Test func clientLeavingMidRequestDoesNotFreeTheWorker() throws {
        // Two workers, one request each. The client of the long one leaves;
        // that worker is still computing, so the next request must wait for
        // the worker that really frees up first, not be sent to the busy one.
        let proxy = try ProxyFixture("leave", .init(proxy: "queue_timeout = 5s"))
        let leaver = try #require(proxy.connect())
        leaver.send("GET /sleep?ms=1500 HTTP/1.1\r\nHost: a\r\n\r\n")
        Self.waitForInflight(proxy, 1)
        let short = Self.background(proxy, "/sleep?ms=500")
        Self.waitForInflight(proxy, 2)
        let sent = Date()
        leaver.abort()    // RST: gone for sure (a FIN could be a half-close)
        usleep(150_000)   // give drover time to see it (the bug would free the slot now)
        let next = proxy.get("/pid", timeout: 5)
        let shortAnswer = try #require(short.value())
        #expect(next.status == 200, "\(next.summary)")
        #expect(next.header("x-worker-pid") == shortAnswer.0.header("x-worker-pid"),
                "served by the worker that finished first, not the one still computing for the departed client")
        #expect(Date().timeIntervalSince(sent) < 1.2, "answered before the departed client's request would have ended")
        // That worker's slot frees once its answer was read and discarded.
        #expect(waitUntil(timeout: 5) { proxy.inflight() == 0 }, "in flight back to 0: \(proxy.status())")
        var seen = Set<String>()
        for _ in 0..<6 { seen.insert(proxy.get("/pid").header("x-worker-pid") ?? "?") }
        #expect(seen.count == 2, "both workers serve again: \(seen)")
    }

    @Test func queuedRequestWhoseClientLeftIsDropped() throws {
        let proxy = try ProxyFixture("dropqueued", .init(numprocs: 1, proxy: "queue_timeout = 10s"))
        let start = Date()
        let first = Self.background(proxy, "/sleep?ms=800")
        Self.waitForInflight(proxy, 1)
        let leaver = try #require(proxy.connect())
        leaver.send("GET /sleep?ms=2000 HTTP/1.1\r\nHost: a\r\n\r\n")
        usleep(100_000)   // queued
        leaver.abort()    // RST: gone for sure (a FIN could be a half-close, which still wants its answer)
        let next = Self.background(proxy, "/pid")
        let answered = try #require(next.value())
        #expect(answered.0.status == 200)
        #expect(answered.1.timeIntervalSince(start) < 2.2,
                "the departed client's queued request was not sent to the worker (it would have held it 2 s)")
        #expect(first.value()?.0.status == 200)
    }
}
