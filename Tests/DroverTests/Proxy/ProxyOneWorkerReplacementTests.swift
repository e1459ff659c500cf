import Foundation
import Testing

/// Issue 14: a one-worker pool never has a moment without a ready worker
/// while that worker is replaced. The successor starts beside it (on a
/// spare port) and the old one leaves the pool only once the successor is
/// ready, so a steady stream of GETs sees nothing but 200s. The worker
/// takes longer to start (1.5 s) than `queue_timeout` (1 s): a replacement
/// that stopped the old worker first would leave the queue with no worker
/// for longer than a request may wait, and those requests would get 503.
@Suite struct ProxyOneWorkerReplacementTests {
    static let options = ProxyFixture.Options(
        numprocs: 1, program: "health_path = /health\nhealth_interval = 0.2s",
        workerArguments: "--startup-delay 1.5", proxy: "queue_timeout = 1s")

    @Test func aRollingRestartOfTheOnlyWorkerFailsNoRequest() throws {
        let proxy = try ProxyFixture("one-rolling", Self.options)
        let before = proxy.workerPids()
        let load = LoadGenerator(port: proxy.listenPort, connections: 2)
        #expect(waitUntil(timeout: 5) { load.succeeded >= 20 }, "load is flowing")
        let rolled = try proxy.cli("restart", "--rolling", "w", timeout: 60)
        let afterRoll = load.succeeded
        #expect(waitUntil(timeout: 5) { load.succeeded >= afterRoll + 20 }, "load keeps flowing after the roll")
        let (ok, failures, pids) = load.stop()
        #expect(rolled.status == 0, "\(rolled.stdout)\(rolled.stderr)")
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed while the only worker was replaced; first: \(failures.first ?? "")")
        let after = proxy.workerPids()
        #expect(after.count == 1 && after != before, "the worker was replaced: \(before) -> \(after)")
        #expect(pids.count == 2, "both the old and the new worker answered: \(pids)")
    }

    @Test func maxRequestsRecyclingOfTheOnlyWorkerFailsNoRequest() throws {
        var options = Self.options
        options.program += "\nmax_requests = 40"
        let proxy = try ProxyFixture("one-recycle", options)
        let load = LoadGenerator(port: proxy.listenPort, connections: 2)
        // Three pids: the first worker and two successors, each recycled in turn.
        #expect(waitUntil(timeout: 20) { load.distinctPids >= 3 }, "the worker was recycled twice: \(proxy.drover.transcript)")
        let (ok, failures, pids) = load.stop()
        #expect(failures.isEmpty, "\(failures.count) of \(ok + failures.count) GETs failed while the only worker was recycled; first: \(failures.first ?? "")")
        #expect(pids.count >= 3, "\(pids)")
    }
}
