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

/// WorkerPool on its own: dispatch and refuse are closures that record what
/// the pool decided; a "worker finishing" is done by hand the way
/// ProxyServer does it (inflight - 1, then drainQueue).
@Suite struct ProxyUnitWorkerPoolTests {
    final class Harness {
        let fixture: ProxyUnitFixture
        let pool: WorkerPool
        var dispatched: [(exchange: Exchange, worker: WorkerSlot)] = []
        var refused: [(exchange: Exchange, reason: String, retryAfter: Int)] = []
        /// When each refusal was made, on the test clock.
        var refusedAt: [Instant] = []
        /// p2c tests look at choices without loading the workers.
        var countInflight = true
        /// The pool's clock: moves only through `advance`.
        var now = Instant(nanoseconds: 1_000_000_000)
        /// The review the pool asked for, if any (ProxyServer's reactor timer).
        var reviewAt: Instant?
        /// `finish` reports the service time (test clock) as ProxyServer does.
        var measureService = false

        init(_ adjust: (inout ProxyConfig) -> Void) throws {
            let config = ProxyUnitFixture.config(adjust)
            fixture = try ProxyUnitFixture(config: config)
            pool = WorkerPool(config: config, metrics: ProxyMetrics())
            pool.dispatch = { [unowned self] exchange, worker in
                // What ProxyServer.dispatch does to the pool's state.
                if self.countInflight { worker.inflight += 1 }
                exchange.worker = worker
                exchange.phase = .dispatched
                exchange.attempts += 1
                self.dispatched.append((exchange, worker))
            }
            pool.refuse = { [unowned self] exchange, reason, retryAfter in
                exchange.phase = .done
                self.refused.append((exchange, reason, retryAfter))
                self.refusedAt.append(self.now)
            }
            pool.clock = { [unowned self] in self.now }
            pool.scheduleReview = { [unowned self] delay in
                #expect(self.reviewAt == nil, "one review pending at a time")
                self.reviewAt = self.now + delay
            }
        }

        /// Moves the clock, running the reviews the pool asked for on the way.
        func advance(_ duration: Duration) {
            let target = now + duration
            while let at = reviewAt, at <= target {
                now = at
                reviewAt = nil
                pool.reviewTimerFired()
            }
            now = target
        }

        @discardableResult
        func addWorkers(_ count: Int) -> [TestWorker] {
            (0..<count).map { i in
                let process = fixture.process("w_\(i)", port: 20000 + i)
                pool.add(process, port: 20000 + i)
                return process
            }
        }

        func submit(_ tags: [String]) throws -> [Exchange] {
            try tags.map { tag in
                let exchange = try fixture.exchange(tag)
                pool.submit(exchange)
                return exchange
            }
        }

        /// The worker answered: free its slot, let the queue move.
        func finish(_ exchange: Exchange) {
            guard let worker = exchange.worker else { Issue.record("\(exchange.requestID) is at no worker"); return }
            exchange.worker = nil
            exchange.phase = .done
            worker.inflight -= 1
            pool.serviceEnded(exchange)
            if measureService, let started = exchange.dispatchedAt {
                pool.observeService(seconds: now.duration(since: started).secondsValue)
            }
            pool.drainQueue()
        }

        /// The worker failed before answering: remember it, re-submit.
        func fail(_ exchange: Exchange) {
            guard let worker = exchange.worker else { Issue.record("\(exchange.requestID) is at no worker"); return }
            exchange.worker = nil
            worker.inflight -= 1
            pool.serviceEnded(exchange)
            exchange.triedWorkers.append(ObjectIdentifier(worker))
            pool.resubmit(exchange)
            pool.drainQueue()
        }

        var dispatchedTags: [String] { dispatched.map(\.exchange.requestID) }
        var refusedTags: [String] { refused.map(\.exchange.requestID) }
        func workerName(_ tag: String) -> String? { dispatched.last { $0.exchange.requestID == tag }?.worker.name }
    }

    @Test func fifoOrderWithOneSlot() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(1)
        let exchanges = try h.submit(["a", "b", "c", "d", "e"])
        #expect(h.dispatchedTags == ["a"])
        #expect(h.pool.queueLength == 4)
        for exchange in exchanges { h.finish(exchange) }
        #expect(h.dispatchedTags == ["a", "b", "c", "d", "e"])
        #expect(h.pool.queueLength == 0 && h.refused.isEmpty)
    }

    @Test func fifoOrderAcrossWorkersAndLateFinishes() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(2)
        let e = try h.submit((0..<8).map { "r\($0)" })
        #expect(h.dispatchedTags == ["r0", "r1"])
        h.finish(e[1])          // the second worker frees first
        h.finish(e[0])
        h.finish(e[3])
        h.finish(e[2])
        #expect(h.dispatchedTags == ["r0", "r1", "r2", "r3", "r4", "r5"])
        #expect(h.pool.queueLength == 2)
    }

    @Test func maxInflightIsRespected() throws {
        let h = try Harness { $0.maxInflight = 2 }
        h.addWorkers(3)
        let e = try h.submit((0..<10).map { "r\($0)" })
        #expect(h.dispatched.count == 6)
        #expect(h.pool.workers.allSatisfy { $0.inflight == 2 && !$0.hasCapacity })
        #expect(h.pool.queueLength == 4)
        h.finish(e[0])
        #expect(h.dispatched.count == 7)
        #expect(h.pool.workers.allSatisfy { $0.inflight <= 2 })
    }

    @Test func maxInflightZeroMeansNoCap() throws {
        let h = try Harness { $0.maxInflight = 0 }
        h.addWorkers(2)
        _ = try h.submit((0..<50).map { "r\($0)" })
        #expect(h.dispatched.count == 50 && h.pool.queueLength == 0)
        #expect(h.pool.workers.map(\.inflight) == [25, 25], "least_inflight spreads an uncapped pool")
        #expect(h.pool.estimatedWait(position: 0) == nil, "no overload estimate without a cap")
    }

    @Test func queueSizeOverflowIsRefused() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueSize = 2 }
        h.addWorkers(1)
        _ = try h.submit(["a", "b", "c", "d", "e"])
        #expect(h.dispatchedTags == ["a"])
        #expect(h.pool.queueLength == 2)
        #expect(h.refusedTags == ["d", "e"])
        #expect(h.refused.allSatisfy { $0.reason.hasPrefix("queue full") && $0.retryAfter >= 1 })
        #expect(h.pool.metrics.refusedQueueFull == 2)
    }

    @Test func noWorkersQueuesUntilOneJoins() throws {
        let h = try Harness { $0.maxInflight = 1 }
        _ = try h.submit(["a", "b"])
        #expect(h.dispatched.isEmpty && h.pool.queueLength == 2)
        h.addWorkers(1)
        #expect(h.dispatchedTags == ["a"])
        #expect(h.pool.queueLength == 1)
    }

    @Test func cancelledRequestsAreSkipped() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(1)
        let e = try h.submit(["a", "b", "c", "d"])
        h.pool.cancelQueued(e[2])
        #expect(h.pool.queueLength == 2)
        h.pool.cancelQueued(e[2])       // twice: counted once
        #expect(h.pool.queueLength == 2)
        h.pool.cancelQueued(e[0])       // at a worker, not queued: no effect
        #expect(h.pool.queueLength == 2 && !e[0].cancelled)
        h.finish(e[0])
        h.finish(e[1])
        #expect(h.dispatchedTags == ["a", "b", "d"])
        #expect(h.pool.queueLength == 0)
    }

    @Test func manyCancellationsCompactTheQueueAndKeepFIFO() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueSize = 10_000 }
        h.addWorkers(1)
        let e = try h.submit((0..<301).map { "r\($0)" })
        for i in stride(from: 2, through: 300, by: 2) { h.pool.cancelQueued(e[i]) }
        #expect(h.pool.queueLength == 150)
        // Cancel more so the queue is mostly cancelled and compacts.
        for i in stride(from: 1, through: 200, by: 2) { h.pool.cancelQueued(e[i]) }
        #expect(h.pool.queueLength == 50)
        var current = e[0]
        var order: [String] = []
        while true {
            h.finish(current)
            guard let next = h.dispatched.last?.exchange, next !== current else { break }
            order.append(next.requestID)
            current = next
        }
        #expect(order == stride(from: 201, through: 299, by: 2).map { "r\($0)" })
        #expect(h.pool.queueLength == 0)
    }

    @Test func takeAllQueuedIsOldestFirstWithoutCancelled() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(1)
        let e = try h.submit(["a", "b", "c", "d"])
        h.pool.cancelQueued(e[2])
        #expect(h.pool.takeAllQueued().map(\.requestID) == ["b", "d"])
        #expect(h.pool.queueLength == 0)
    }

    // MARK: Early refusal (SPEC §10 overload)

    @Test func nothingKnownAdmitsEverything() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(5) }
        h.addWorkers(1)
        #expect(h.pool.estimatedWait(position: 0) == nil, "no sample, no probe, nothing running")
        _ = try h.submit((0..<20).map { "r\($0)" })
        #expect(h.refused.isEmpty, "no evidence to refuse on yet")
        #expect(h.pool.queueLength == 19)
    }

    /// The old rule waited for 20 samples; one is evidence enough.
    @Test func earlyRefusalFromTheFirstMeasuredService() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(5) }
        h.addWorkers(1)
        h.pool.observeService(seconds: 1)
        #expect(h.pool.estimatedWait(position: 0) == 2)
        _ = try h.submit((0..<10).map { "r\($0)" })
        #expect(h.dispatchedTags == ["r0"])
        #expect(h.refusedTags == ["r5", "r6", "r7", "r8", "r9"])
    }

    /// Before any request was answered, a worker's health probe round trip
    /// is what a request costs at least: a cold pool admits by queue
    /// position against it.
    @Test func coldPoolAdmitsByTheProbeRoundTrip() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(2) }
        let processes = h.addWorkers(2)
        h.pool.slot(for: processes[0])?.probeSeconds = 0.1
        h.pool.slot(for: processes[1])?.probeSeconds = 0.25
        // The slower worker's round trip counts: (p + 1) × 0.25 / 2 + 0.25 ≤ 2 for p ≤ 13.
        #expect(h.pool.estimatedWait(position: 0) == 0.375)
        _ = try h.submit((0..<30).map { "r\($0)" })
        #expect(h.dispatched.count == 2)
        #expect(h.pool.queueLength == 14)
        #expect(h.refused.count == 14)
        #expect(h.refusedAt.allSatisfy { $0 == h.now }, "refused when they arrived")
    }

    /// No warm-up, no probe: one worker, 0.2 s a request, queue_timeout 2 s,
    /// 24 requests at once. Nothing says a request is slow when they arrive,
    /// so all are queued; but the running request's age is evidence that
    /// grows every 10 ms, and the newest ones are refused as soon as it
    /// shows they cannot be served in time, all before the first answer:
    /// never at their deadline.
    @Test func coldPoolRefusesAsTheRunningRequestAges() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(2) }
        h.measureService = true
        h.addWorkers(1)
        let start = h.now
        let e = try h.submit((0..<24).map { "r\($0)" })
        #expect(h.pool.queueLength == 23 && h.refused.isEmpty)
        #expect(h.reviewAt == start + .milliseconds(10), "a cold queue is looked at again in 10 ms")
        h.advance(.milliseconds(110))
        // At age a, each queued is expected at a + (p + 1) × a (the running
        // one counted as done): the newest go while (p + 2) × a > 2.
        #expect(Set(h.refusedTags) == Set((18..<24).map { "r\($0)" }), "\(h.refusedTags)")
        let first = try #require(h.refusedAt.first).seconds(since: start)
        #expect(abs(first - 0.09) < 1e-9, "the first at 90 ms, when 24 × a > 2: \(first)")
        h.advance(.milliseconds(89))
        // By 0.19 s only r1…r9 can still make it.
        #expect(Set(h.refusedTags) == Set((10..<24).map { "r\($0)" }), "\(h.refusedTags)")
        #expect(h.refusedAt.allSatisfy { $0.seconds(since: start) <= 0.19 + 1e-9 })
        h.finish(e[0])
        // Measured 0.199 s: r1 runs, r2…r9 still make it; nothing more is refused.
        #expect(h.dispatchedTags == ["r0", "r1"])
        #expect(h.refused.count == 14 && h.pool.queueLength == 8)
        // The admitted ones, served 0.2 s each, are all answered in time.
        var current = e[1]
        var answered: [Double] = []
        while true {
            h.advance(.milliseconds(200))
            h.finish(current)
            answered.append(h.now.seconds(since: start))
            guard let next = h.dispatched.last?.exchange, next !== current else { break }
            current = next
        }
        #expect(answered.count == 9)
        #expect(answered.allSatisfy { $0 <= 2.0 }, "\(answered)")
        #expect(h.refused.count == 14, "nothing refused late")
        h.advance(.milliseconds(20))
        #expect(h.reviewAt == nil, "no review pending once the queue is empty")
    }

    /// A warm pool that loses a worker: the queue admitted for two slots
    /// cannot get through one in time; the newest that surely miss their
    /// deadline are refused when the worker leaves, not at that deadline.
    @Test func aLostWorkerRefusesTheQueuedThatCanNoLongerMakeIt() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .milliseconds(2020) }
        let processes = h.addWorkers(2)
        for _ in 0..<20 { h.pool.observeService(seconds: 0.1) }
        _ = try h.submit((0..<50).map { "r\($0)" })
        // (p + 1) × 0.1 / 2 + 0.1 ≤ 2.02 for p ≤ 37.
        #expect(h.dispatched.count == 2 && h.pool.queueLength == 38 && h.refused.count == 10)
        h.advance(.milliseconds(50))
        h.pool.remove(processes[1])
        // One slot: n × 0.1 − 0.1 (what the running ones have done, up to
        // the one finishing) + 0.1 ≤ 1.97 for the n-th queued, n ≤ 19:
        // r21…r39 go now, oldest first.
        #expect(h.pool.queueLength == 19)
        #expect(h.refusedTags.suffix(19) == (21..<40).map { "r\($0)" }, "\(h.refusedTags)")
        #expect(h.refusedAt.suffix(19).allSatisfy { $0 == h.now })
        #expect(h.refused.suffix(19).allSatisfy { $0.reason.hasPrefix("overloaded") })
    }

    /// One slow service among fast ones is no proof: the settled mean and
    /// the spread keep the queue as admitted.
    @Test func oneSlowServiceDoesNotCutTheQueue() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(2) }
        h.measureService = true
        h.addWorkers(1)
        for i in 0..<40 { h.pool.observeService(seconds: i % 10 == 0 ? 0.2 : 0.01) }
        let e = try h.submit((0..<40).map { "r\($0)" })
        let queued = h.pool.queueLength
        #expect(queued > 10 && h.refused.count == 39 - queued)
        h.advance(.milliseconds(400))
        h.finish(e[0])          // twice the slow kind
        #expect(h.refused.count == 39 - queued, "nothing cut for one slow answer")
        #expect(h.pool.queueLength == queued - 1)
    }

    /// A retry goes in front of the queue: one more service ahead of everyone.
    @Test func aRetryInFrontPushesTheNewestOut() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(5) }
        h.addWorkers(1)
        for _ in 0..<20 { h.pool.observeService(seconds: 1) }
        let e = try h.submit((0..<6).map { "r\($0)" })
        #expect(h.pool.queueLength == 4 && h.refusedTags == ["r5"])
        h.fail(e[0])            // the only worker: the retry goes straight back to it
        #expect(h.pool.queueLength == 4)
        _ = try h.submit(["x"])
        #expect(h.refusedTags == ["r5", "x"])
        let slot = try #require(e[0].worker)
        slot.inflight -= 1
        h.pool.serviceEnded(e[0])
        e[0].worker = nil
        e[0].triedWorkers.append(ObjectIdentifier(slot))
        // Another request took the slot meanwhile: the retry waits in front.
        h.pool.workers[0].inflight += 1
        h.pool.resubmit(e[0])
        h.pool.drainQueue()
        #expect(h.pool.queueLength == 4, "r4 no longer fits behind the retry")
        #expect(h.refusedTags == ["r5", "x", "r4"])
    }

    /// estimatedWait(position: p) = (p + 1) × service / slots + service:
    /// the work ahead spread over the slots, then the request's own.
    @Test func earlyRefusalOnceTheWaitExceedsQueueTimeout() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(5) }
        h.addWorkers(1)
        for _ in 0..<20 { h.pool.observeService(seconds: 1) }
        #expect(h.pool.estimatedWait(position: 0) == 2)
        _ = try h.submit((0..<10).map { "r\($0)" })
        // r0 at the worker; r1…r4 would be answered after 2…5 s; r5 after 6 s > 5.
        #expect(h.dispatchedTags == ["r0"])
        #expect(h.pool.queueLength == 4)
        #expect(h.refusedTags == ["r5", "r6", "r7", "r8", "r9"])
        #expect(h.refused.allSatisfy { $0.reason.hasPrefix("overloaded") && $0.retryAfter == 6 })
        #expect(h.pool.metrics.refusedEarly == 5)
    }

    @Test func earlyRefusalScalesWithSlots() throws {
        let h = try Harness { $0.maxInflight = 2; $0.queueTimeout = .seconds(5) }
        h.addWorkers(2)
        for _ in 0..<40 { h.pool.observeService(seconds: 2) }
        #expect(h.pool.estimatedWait(position: 0) == 2.5)
        _ = try h.submit((0..<20).map { "r\($0)" })
        // 4 at workers; position p: (p+1)×2/4 + 2 ≤ 5 for p = 0…5.
        #expect(h.dispatched.count == 4)
        #expect(h.pool.queueLength == 6)
        #expect(h.refused.count == 10)
    }

    /// A mixed load (here 0 s and 0.2 s alternating: mean 0.1 s, deviation
    /// 0.1 s) queues fewer requests than its mean alone would: the n services
    /// ahead are counted at n × mean + 2.33 × √n × deviation, so the 99th
    /// percentile of what is admitted fits in queue_timeout, not its average.
    @Test func earlyRefusalCountsTheSpreadOfTheWorkAhead() throws {
        let h = try Harness { $0.maxInflight = 1; $0.queueTimeout = .seconds(2) }
        h.addWorkers(1)
        for i in 0..<256 { h.pool.observeService(seconds: i % 2 == 0 ? 0 : 0.2) }
        let wait = try #require(h.pool.estimatedWait(position: 3))
        // 4 × 0.1 + 2.33 × 0.1 × √4 + p95 0.2 = 1.066 (the mean is an EWMA: ± 0.01)
        #expect(abs(wait - 1.066) < 0.02, "\(wait)")
        _ = try h.submit((0..<30).map { "r\($0)" })
        // n = 10: 1.0 + 0.74 + 0.2 ≤ 2; n = 11: 1.1 + 0.77 + 0.2 > 2. On the
        // mean alone, 18 would have been queued.
        #expect(h.dispatched.count == 1)
        #expect(h.pool.queueLength == 10)
        #expect(h.refused.count == 19)
    }

    @Test func serviceEstimateIgnoresNonsense() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(1)
        for _ in 0..<20 { h.pool.observeService(seconds: 1) }
        h.pool.observeService(seconds: .nan)
        h.pool.observeService(seconds: -5)
        h.pool.observeService(seconds: .infinity)
        #expect(h.pool.estimatedWait(position: 1) == 3)
    }

    // MARK: Balancing

    @Test func leastInflightPrefersTheLeastLoaded() throws {
        let h = try Harness { $0.balance = .leastInflight; $0.maxInflight = 0 }
        h.addWorkers(3)
        let e = try h.submit(["a", "b", "c"])
        #expect(Set(h.dispatched.map(\.worker.name)).count == 3, "ties rotate")
        let freed = try #require(e[1].worker)
        h.finish(e[1])
        _ = try h.submit(["d"])
        #expect(h.dispatched.last?.worker === freed)
        // Loads 5, 1, 3: the next goes to the one with 1.
        h.pool.workers[0].inflight = 5
        h.pool.workers[1].inflight = 1
        h.pool.workers[2].inflight = 3
        _ = try h.submit(["e", "f"])
        #expect(h.workerName("e") == h.pool.workers[1].name)
        #expect(h.workerName("f") == h.pool.workers[1].name, "1+1 = 2 is still the least")
    }

    @Test func roundRobinCycles() throws {
        let h = try Harness { $0.balance = .roundRobin; $0.maxInflight = 0 }
        let processes = h.addWorkers(3)
        _ = try h.submit((0..<7).map { "r\($0)" })
        let names = h.dispatched.map(\.worker.name)
        let p = processes.map(\.name)
        #expect(names == [p[0], p[1], p[2], p[0], p[1], p[2], p[0]])
    }

    @Test func roundRobinSkipsFullWorkers() throws {
        let h = try Harness { $0.balance = .roundRobin; $0.maxInflight = 1 }
        let processes = h.addWorkers(3)
        let e = try h.submit(["a", "b", "c"])
        h.finish(e[0])
        h.finish(e[2])
        _ = try h.submit(["d", "e"])
        #expect(h.workerName("d") == processes[0].name)
        #expect(h.workerName("e") == processes[2].name)
    }

    @Test func p2cNeverPicksTheUniquelyBusiest() throws {
        let h = try Harness { $0.balance = .p2c; $0.maxInflight = 0 }
        h.countInflight = false
        h.addWorkers(3)
        h.pool.workers[0].inflight = 0
        h.pool.workers[1].inflight = 5
        h.pool.workers[2].inflight = 9
        _ = try h.submit((0..<600).map { "r\($0)" })
        var counts: [String: Int] = [:]
        for d in h.dispatched { counts[d.worker.name, default: 0] += 1 }
        #expect(counts[h.pool.workers[2].name] == nil)
        // Two distinct random choices: the idle one wins whenever drawn (2/3).
        let idle = counts[h.pool.workers[0].name] ?? 0
        #expect(idle > 330 && idle < 470, "\(counts)")
    }

    @Test func p2cWithTwoWorkersAlwaysPicksTheLessLoaded() throws {
        let h = try Harness { $0.balance = .p2c; $0.maxInflight = 0 }
        h.countInflight = false
        h.addWorkers(2)
        h.pool.workers[0].inflight = 3
        h.pool.workers[1].inflight = 2
        _ = try h.submit((0..<50).map { "r\($0)" })
        #expect(h.dispatched.count == 50)
        #expect(h.dispatched.allSatisfy { $0.worker === h.pool.workers[1] })
    }

    @Test(arguments: [BalancePolicy.leastInflight, .roundRobin, .p2c])
    func retryPrefersAWorkerNotTried(balance: BalancePolicy) throws {
        let h = try Harness { $0.balance = balance; $0.maxInflight = 1 }
        h.addWorkers(3)
        for round in 0..<30 {
            let e = try h.submit(["t\(round)"])[0]
            let first = try #require(e.worker)
            h.fail(e)
            let second = try #require(e.worker)
            #expect(second !== first)
            h.fail(e)
            let third = try #require(e.worker)
            #expect(third !== first && third !== second)
            h.finish(e)
        }
    }

    /// A retry waits for a worker it has not failed on while the pool has one.
    @Test func retryWaitsForAnUntriedWorker() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(2)
        let e = try h.submit(["a", "b"])
        let a = try #require(e[0].worker)
        let b = try #require(e[1].worker)
        h.fail(e[0])
        #expect(e[0].worker == nil, "not back to the worker it failed on")
        #expect(h.pool.queueLength == 1 && a.hasCapacity)
        h.finish(e[1])
        #expect(e[0].worker === b)
    }

    /// …without holding up the requests queued behind it.
    @Test func waitingRetryDoesNotHoldUpTheQueue() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(2)
        let e = try h.submit(["a", "b", "c", "d"])
        let a = try #require(e[0].worker)
        let b = try #require(e[1].worker)
        h.fail(e[0])
        #expect(e[2].worker === a, "c takes the slot a's retry may not use")
        #expect(e[0].worker == nil)
        h.finish(e[1])
        #expect(e[0].worker === b, "the retry goes first once an untried worker frees")
        #expect(e[3].worker == nil)
        h.finish(e[2])
        #expect(e[3].worker === a)
    }

    @Test func retryOnTheOnlyWorkerIsImmediate() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(1)
        let e = try h.submit(["a", "b", "c"])
        // a fails, but the worker is immediately taken again: no other worker.
        h.fail(e[0])
        #expect(e[0].worker != nil, "a tried worker with room is used when it is the only one")
        #expect(h.pool.queueLength == 2)
        h.finish(e[0])
        #expect(h.dispatchedTags == ["a", "a", "b"])
    }

    @Test func resubmitWithNoRoomQueuesInFront() throws {
        let h = try Harness { $0.maxInflight = 1 }
        h.addWorkers(2)
        let e = try h.submit(["a", "b", "c", "d"])
        // Simulate: a's worker fails and a second request grabs the slot first.
        let worker = try #require(e[0].worker)
        e[0].worker = nil
        e[0].triedWorkers.append(ObjectIdentifier(worker))
        h.pool.drainQueue()             // nothing freed yet (inflight unchanged)
        worker.inflight -= 1
        h.pool.drainQueue()             // c takes the freed slot
        #expect(h.dispatchedTags == ["a", "b", "c"])
        h.pool.resubmit(e[0])           // no room anywhere: front of the queue
        #expect(h.pool.queueLength == 2)
        h.finish(e[1])
        #expect(h.dispatchedTags == ["a", "b", "c", "a"])
    }

    // MARK: Membership

    @Test func membership() throws {
        let h = try Harness { $0.maxInflight = 1 }
        let processes = h.addWorkers(2)
        h.pool.add(processes[0], port: 20000)        // again: no duplicate
        #expect(h.pool.readyCount == 2)
        let slot = try #require(h.pool.slot(for: processes[0]))
        h.pool.remove(processes[0])
        #expect(h.pool.readyCount == 1 && !slot.isMember && !slot.hasCapacity)
        #expect(h.pool.slot(for: processes[0]) == nil)
        h.pool.add(processes[0], port: 20010)        // back on another port: a new slot
        #expect(h.pool.readyCount == 2)
        #expect(h.pool.slot(for: processes[0])?.port == 20010)
        _ = try h.submit(["a", "b", "c"])
        #expect(h.dispatched.count == 2)
        #expect(!h.dispatched.contains { $0.worker === slot })
    }
}

/// RateLimiter as a token bucket with explicit clock values.
@Suite struct ProxyUnitRateLimiterTests {
    static let t0: UInt64 = 1_000_000_000_000
    static func at(_ seconds: Double) -> UInt64 { t0 + UInt64(seconds * 1e9) }

    @Test func burstThenRefill() {
        // 4 tokens a second: 0.125 s is half a token, exactly.
        let limiter = RateLimiter(RateLimit(perSecond: 4, burst: 20))
        let allowed = (0..<25).filter { _ in limiter.allow("a", now: Self.t0) }.count
        #expect(allowed == 21, "burst + 1 at once")
        #expect(!limiter.allow("a", now: Self.at(0.125)))
        #expect(limiter.allow("a", now: Self.at(0.25)))
        #expect(!limiter.allow("a", now: Self.at(0.25)))
        #expect(limiter.allow("a", now: Self.at(0.5)))
        // A long pause refills to the burst, not beyond.
        let later = (0..<30).filter { _ in limiter.allow("a", now: Self.at(100)) }.count
        #expect(later == 21)
    }

    @Test func steadyRateIsAllowed() {
        let limiter = RateLimiter(RateLimit(perSecond: 4, burst: 0))
        var allowed = 0
        for i in 0..<100 where limiter.allow("a", now: Self.t0 + UInt64(i) * 250_000_000) { allowed += 1 }
        #expect(allowed == 100)
        #expect(!limiter.allow("a", now: Self.t0 + 99 * 250_000_000 + 1_000_000))
    }

    @Test func clientsAreIndependent() {
        let limiter = RateLimiter(RateLimit(perSecond: 1, burst: 2))
        for _ in 0..<3 { #expect(limiter.allow("a", now: Self.t0)) }
        #expect(!limiter.allow("a", now: Self.t0))
        #expect(limiter.allow("b", now: Self.t0))
        #expect(limiter.trackedClients == 2)
    }

    @Test func refilledBucketsAreForgotten() {
        let limiter = RateLimiter(RateLimit(perSecond: 10, burst: 20))
        for i in 0..<50 { _ = limiter.allow("c\(i)", now: Self.t0) }
        #expect(limiter.trackedClients == 50)
        _ = limiter.allow("late", now: Self.at(11))
        #expect(limiter.trackedClients == 1)
        // A forgotten client starts with a full bucket again.
        let allowed = (0..<25).filter { _ in limiter.allow("c0", now: Self.at(11)) }.count
        #expect(allowed == 21)
    }
}

/// The overload estimate's percentile, found by selection in place of a
/// sort: the same value a sort gives, for any mix of times and ties.
@Suite struct ProxyUnitServiceTimeSelectionTests {
    @Test func selectionAgreesWithSorting() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let count = 1 + round % 256
            // Few distinct values in some rounds: ties around the pivot.
            let distinct = round % 3 == 0 ? 3 : 1000
            let values = (0..<count).map { _ in Double(Int.random(in: 0..<distinct, using: &generator)) / 100 }
            let sorted = values.sorted()
            for rank in [0, count / 2, min(count - 1, Int(Double(count) * 0.95)), count - 1] {
                var scratch = values
                let selected = ServiceTimeEstimate.select(&scratch, rank: rank)
                #expect(selected == sorted[rank], "rank \(rank) of \(values)")
                if selected != sorted[rank] { return }
            }
        }
    }

    @Test func p95FollowsTheRecentServices() {
        var estimate = ServiceTimeEstimate()
        // 90 fast, 10 slow: the 95th percentile is a slow one.
        for index in 0..<100 { estimate.observe(seconds: index % 10 == 0 ? 0.2 : 0.01) }
        let figures = estimate.figures(now: Instant(nanoseconds: 0), floor: nil)
        #expect(figures?.p95 == 0.2)
        // 256 more fast ones push the slow ones out of the recent window.
        for _ in 0..<256 { estimate.observe(seconds: 0.01) }
        // (The figure is never below the weighted mean, still a hair above 0.01.)
        let later = estimate.figures(now: Instant(nanoseconds: 0), floor: nil)?.p95 ?? 1
        #expect(abs(later - 0.01) < 0.001, "\(later)")
    }
}
