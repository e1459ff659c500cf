import Foundation
import Testing

/// Steady GETs over several keep-alive client connections, each on a
/// thread of its own, counting every request that did not get a whole 200.
final class LoadGenerator: @unchecked Sendable {
    private let lock = NSLock()
    private var stopping = false
    private var ok = 0
    private var failures: [String] = []
    private var pidsSeen = Set<String>()
    private let group = DispatchGroup()

    init(port: Int, connections: Int, target: String = "/pid") {
        for _ in 0..<connections {
            group.enter()
            Thread { [self] in
                var client: WireClient?
                while !isStopping {
                    if client == nil {
                        client = WireClient.tcp(port, timeout: 10)
                        if client == nil { record(nil, "connect to the proxy failed"); usleep(20_000); continue }
                    }
                    let r = client!.exchange("GET \(target) HTTP/1.1\r\nHost: a\r\n\r\n")
                    if r.status == 200 && r.complete {
                        record(r.header("x-worker-pid"), nil)
                        if r.connectionTokens.contains("close") { client = nil }
                    } else {
                        record(nil, r.summary)
                        client = nil
                    }
                }
                group.leave()
            }.start()
        }
    }

    private var isStopping: Bool { lock.lock(); defer { lock.unlock() }; return stopping }

    private func record(_ pid: String?, _ failure: String?) {
        lock.lock(); defer { lock.unlock() }
        if let failure { failures.append(failure) } else { ok += 1 }
        if let pid { pidsSeen.insert(pid) }
    }

    var succeeded: Int { lock.lock(); defer { lock.unlock() }; return ok }

    /// How many different worker pids have answered so far.
    var distinctPids: Int { lock.lock(); defer { lock.unlock() }; return pidsSeen.count }

    /// Stops the clients; what they saw.
    func stop() -> (ok: Int, failures: [String], pids: Set<String>) {
        lock.lock(); stopping = true; lock.unlock()
        _ = group.wait(timeout: .now() + 20)
        lock.lock(); defer { lock.unlock() }
        return (ok, failures, pidsSeen)
    }
}

/// The pool behind the proxy changing under load: SIGKILL, start-up and
/// health membership, rolling restart, recycling, and fd exhaustion.
@Suite struct ProxyPoolTests {
    @Test func sigkillUnderLoadLosesNoGet() throws {
        let proxy = try ProxyFixture("sigkill", .init(numprocs: 3, proxy: "queue_timeout = 10s"))
        let before = proxy.workerPids()
        let victim = try #require(proxy.status().first { $0["name"] as? String == "w:w_01" }?["pid"] as? Int)
        let load = LoadGenerator(port: proxy.listenPort, connections: 4)
        #expect(waitUntil(timeout: 5) { load.succeeded >= 30 }, "load is flowing")
        kill(Int32(victim), SIGKILL)
        let afterKill = load.succeeded
        #expect(waitUntil(timeout: 5) { load.succeeded >= afterKill + 100 }, "load keeps flowing after the kill")
        let (ok, failures, _) = load.stop()
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed around the SIGKILL; first: \(failures.first ?? "")")
        #expect(waitUntil(timeout: 10) { proxy.readyWorkers().count == 3 }, "the pool is back to 3 ready: \(proxy.status())")
        let after = proxy.workerPids()
        #expect(!after.contains(Int32(victim)) && after.count == 3 && Set(after) != Set(before))
    }

    @Test func workerStartingUpGetsNoRequestBeforeItIsReady() throws {
        // w_00 starts at once; w_01 listens only after 1 s and is probed
        // every second, so it listens for a while before it is ready.
        let proxy = try ProxyFixture("startup", .init(
            program: "health_path = /health\nhealth_interval = 1s\nhealth_timeout = 0.5s",
            workerArguments: "--startup-delay %(process_num)d", proxy: "balance = round_robin\nqueue_timeout = 5s",
            waitUntilServing: false))
        let latePort = proxy.workerPort + 1
        func lateIsReady() -> Bool {
            proxy.status().contains { $0["name"] as? String == "w:w_01" && $0["health"] as? String == "ready" }
        }
        #expect(waitUntil(timeout: 10) { proxy.get("/pid", timeout: 2).status == 200 }, "the proxy serves with w_00 alone")
        var early: [String] = [], failures: [String] = [], fromLate = 0
        let until = Date().addingTimeInterval(6)
        while Date() < until && fromLate < 5 {
            let r = proxy.get("/pid", timeout: 5)
            guard r.status == 200 else { failures.append(r.summary); continue }
            if r.header("x-worker-port") == String(latePort) {
                fromLate += 1
                // Ready only ever goes from false to true here: still not
                // ready after the answer means it was not ready when sent.
                if !lateIsReady() { early.append(r.head) }
            }
        }
        #expect(failures.isEmpty, "no failed request while a worker starts: \(failures.first ?? "")")
        #expect(early.isEmpty, "requests reached w_01 before it was ready: \(early)")
        #expect(fromLate > 0, "w_01 serves once it is ready")
    }

    @Test func workerFailingItsProbeGetsNoRequest() throws {
        // The probe of w_00 (port {P}) is answered with a reset, w_01's with
        // 200: w_00 listens and answers requests, but is never ready.
        let proxy = try ProxyFixture("unhealthy", .init(
            program: "health_path = /raw/reset?port={P}\nhealth_interval = 0.2s\nhealth_start_period = 30s",
            waitUntilServing: false))
        let bad = proxy.workerPort
        #expect(waitUntil(timeout: 10) { proxy.readyWorkers().count == 1 }, "w_01 ready: \(proxy.status())")
        #expect(waitUntil(timeout: 10) { WireClient.tcp(bad)?.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n").status == 200 },
                "w_00 listens and answers when asked directly")
        #expect(proxy.status().first { $0["name"] as? String == "w:w_00" }?["health"] as? String != "ready")
        var ports: [String] = []
        for _ in 0..<20 {
            let r = proxy.get("/pid")
            #expect(r.status == 200, "\(r.summary)")
            ports.append(r.header("x-worker-port") ?? "?")
        }
        #expect(!ports.contains(String(bad)), "no request reached the worker that is not ready: \(ports)")
    }

    @Test func rollingRestartUnderLoadLosesNoRequest() throws {
        let proxy = try ProxyFixture("rolling", .init(
            program: "health_path = /health\nhealth_interval = 0.2s",
            workerArguments: "--startup-delay 0.2", proxy: "queue_timeout = 10s"))
        let before = Set(proxy.workerPids())
        let load = LoadGenerator(port: proxy.listenPort, connections: 3)
        #expect(waitUntil(timeout: 5) { load.succeeded >= 20 }, "load is flowing")
        let rolled = try proxy.cli("restart", "--rolling", "w", timeout: 60)
        let afterRoll = load.succeeded
        #expect(waitUntil(timeout: 5) { load.succeeded >= afterRoll + 20 }, "load keeps flowing after the roll")
        let (ok, failures, _) = load.stop()
        #expect(rolled.status == 0, "\(rolled.stdout)\(rolled.stderr)")
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) requests failed during the rolling restart; first: \(failures.first ?? "")")
        let after = Set(proxy.workerPids())
        #expect(after.count == 2 && after.isDisjoint(with: before), "every worker replaced: \(before) -> \(after)")
        #expect(waitUntil(timeout: 10) { proxy.readyWorkers().count == 2 })
    }

    @Test func maxRequestsRecyclesWithoutAFailedRequest() throws {
        let proxy = try ProxyFixture("recycle", .init(
            program: "max_requests = 5\nhealth_path = /health\nhealth_interval = 0.2s", proxy: "queue_timeout = 10s"))
        let before = Set(proxy.workerPids().map { String($0) })
        var failures: [String] = []
        var connection: WireClient?
        /// `count` GETs over one keep-alive connection (a new one when drover closes it); the pids that answered.
        func requests(_ count: Int) -> [String] {
            var pids: [String] = []
            for _ in 0..<count {
                if connection == nil { connection = proxy.connect(timeout: 10) }
                guard let c = connection else { failures.append("connect failed"); continue }
                let r = c.exchange("GET /pid HTTP/1.1\r\nHost: a\r\n\r\n")
                if r.status == 200 && r.complete {
                    pids.append(r.header("x-worker-pid") ?? "?")
                    if r.connectionTokens.contains("close") { connection = nil }
                } else {
                    failures.append(r.summary)
                    connection = nil
                }
            }
            return pids
        }
        _ = requests(30)
        // Each worker served more than 5: both are replaced (successor first, so the old ones may serve meanwhile).
        #expect(waitUntil(timeout: 15) {
            _ = requests(1)
            return Set(proxy.workerPids().map { String($0) }).isDisjoint(with: before) && proxy.readyWorkers().count == 2
        }, "both workers recycled: \(before) -> \(proxy.workerPids())")
        let later = requests(6)
        #expect(later.allSatisfy { !before.contains($0) }, "the recycled workers serve no more: \(later) vs \(before)")
        #expect(failures.isEmpty, "\(failures.count) requests failed while workers were recycled; first: \(failures.first ?? "")")
    }

    @Test func fileDescriptorExhaustionNeitherSpinsNorSticks() throws {
        let proxy = try ProxyFixture("emfile", .init(
            numprocs: 1, supervisord: "minfds = 0",
            wrapper: ("/usr/bin/prlimit", ["--nofile=64:64", "--"])))
        // Far more connections than drover has descriptors left.
        var extras: [WireClient] = []
        for _ in 0..<100 {
            if let c = proxy.connect(timeout: 2) { extras.append(c) }
        }
        #expect(extras.count >= 80, "connections queued in the backlog: \(extras.count)")
        let cpuBefore = try #require(ProcStats.cpuSeconds(proxy.pid))
        usleep(2_000_000)
        let cpuAfter = try #require(ProcStats.cpuSeconds(proxy.pid))
        let fds = ProcStats.fdCount(proxy.pid) ?? -1
        #expect(cpuAfter - cpuBefore < 0.5,
                "drover used \(cpuAfter - cpuBefore) s of CPU in 2 s with \(fds) of 64 descriptors open: no accept busy loop")
        #expect(proxy.drover.process.isRunning)
        for c in extras { c.close() }
        extras.removeAll()
        #expect(waitUntil(timeout: 10) { proxy.get("/pid", timeout: 2).status == 200 },
                "a normal request succeeds once the extra connections are gone")
        #expect(proxy.drover.process.isRunning)
    }
}
