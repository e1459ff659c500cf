import Testing
@testable import CLI
@testable import Control
@testable import JSON
@testable import Proxy
@testable import System

/// `drover top`'s p50/p99 are of the last seconds, read from the difference
/// of two looks at the daemon's cumulative histograms (issue 15: WAIT p99
/// said `2.50s`, a bucket bound, for a lone 1.35 s wait, and for all time).
@Suite struct TopWindowTests {
    static let bounds = LatencyHistogram.bounds

    static func histogram(_ observations: [Double]) -> SecondsHistogram {
        var histogram = LatencyHistogram()
        for seconds in observations { histogram.observe(seconds) }
        return SecondsHistogram(histogram)
    }

    /// A `/v1/status` document with one proxy and one worker whose histograms
    /// hold `waits` and `upstream`.
    static func sample(at: Double, waits: [Double], upstream: [Double]) throws -> TopCommand.Sample {
        let traffic = ProxyTraffic(requestsByStatus: [(200, UInt64(waits.count))], queueLength: 0,
                                   queueWait: histogram(waits), upstreamTime: histogram(upstream), retries: 0,
                                   refusedQueueFull: 0, refusedOverload: 0, queueTimeouts: 0, clientAborts: 0,
                                   clientConnections: 0, upstreamConnections: 0)
        var worker = ProcessSnapshot(name: "w:w_00", group: "w", program: "w", process: "w_00", state: .running,
                                     health: .ready, pid: 4242, uptimeSeconds: 5)
        worker.upstreamTime = histogram(upstream)
        let snapshot = StatusSnapshot(supervisorPid: 1, version: "t", startedWallNs: 0, uptimeSeconds: 5,
                                      processes: [worker],
                                      proxies: [ProxySnapshot(name: "front", listen: ":1", upstream: "w", readyWorkers: 1,
                                                              totalWorkers: 1, traffic: traffic)])
        // Through the wire format, as the CLI reads it.
        let json = try JSONValue.parse(Array(snapshot.json.json.utf8))
        return TopCommand.Sample(at: at, wallNs: 0, status: json, proc: TopCommand.ProcTable())
    }

    static func columns(_ lines: [String], _ name: String) -> [String] {
        lines.first { $0.hasPrefix(name + " ") }?.split(separator: " ").map(String.init) ?? []
    }

    @Test func aLoneWaitIsShownAsItWasNotAsItsBucketBound() throws {
        let before = try Self.sample(at: 0, waits: [], upstream: [])
        let after = try Self.sample(at: 1, waits: [1.35], upstream: [0.2])
        let lines = TopCommand.frame(previous: before, current: after, window: before)
        // PROXY LISTEN UPSTREAM READY REQ/S QUEUE WAIT-p50 WAIT-p99 RETRIES 5XX
        let proxy = Self.columns(lines, "front")
        #expect(proxy.count == 10 && proxy[6] == "1.35s" && proxy[7] == "1.35s", "\(lines.joined(separator: "\n"))")
        let worker = Self.columns(lines, "w:w_00")
        #expect(worker.count == 10 && worker[8] == "200ms" && worker[9] == "200ms", "\(worker)")
        #expect(lines[0].contains("p50/p99 of the last 1s"), "\(lines[0])")
        // The cumulative bound the daemon's own p99 says, for contrast.
        #expect(after.status["proxies"]?[0]?["traffic"]?["queue_wait_p99"]?.doubleValue == 2.5)
    }

    @Test func slowRequestsBeforeTheWindowDoNotCount() throws {
        let slow = [Double](repeating: 2.0, count: 100)
        let window = try Self.sample(at: 0, waits: slow, upstream: slow)
        let now = try Self.sample(at: 10, waits: slow + [Double](repeating: 0.004, count: 50), upstream: slow + [Double](repeating: 0.03, count: 50))
        let lines = TopCommand.frame(previous: window, current: now, window: window)
        let proxy = Self.columns(lines, "front")
        let p99 = try #require(proxy.count == 10 ? proxy[7] : nil, "\(lines)")
        // 50 waits of 4 ms, all in [0, 5 ms]: the window's p99 is under 5 ms, not the old 2.50s.
        #expect(p99.hasSuffix("ms") && (Double(p99.dropLast(2)) ?? 99) <= 5, "fast waits only: \(p99)")
        let worker = Self.columns(lines, "w:w_00")
        // 50 upstream times of 30 ms all fall in (25 ms, 50 ms]: interpolated there, not 2.5 s.
        let p50 = Double(worker[8].dropLast(2)) ?? 0
        #expect(worker[8].hasSuffix("ms") && p50 > 25 && p50 <= 50, "\(worker)")
        // Without an earlier look there is no window: no figure rather than an all-time one.
        #expect(Self.columns(TopCommand.frame(previous: nil, current: now), "front")[7] == "-")
    }

    @Test func windowedQuantiles() {
        let empty = WindowedHistogram(bounds: Self.bounds, counts: Array(repeating: 0, count: Self.bounds.count + 1), sum: 0, count: 0)
        #expect(empty.quantile(0.5) == nil)
        var counts = Array(repeating: UInt64(0), count: Self.bounds.count + 1)
        counts[4] = 10 // (0.05, 0.1]
        let ten = WindowedHistogram(bounds: Self.bounds, counts: counts, sum: 0.8, count: 10)
        #expect(abs((ten.quantile(0.5) ?? 0) - 0.075) < 1e-9, "halfway into the bucket")
        #expect(abs((ten.quantile(1) ?? 0) - 0.1) < 1e-9)
        // A histogram that went backwards (worker replaced) starts over.
        #expect(empty.since(ten) == empty)
        #expect(ten.since(empty) == ten)
        var overflow = Array(repeating: UInt64(0), count: Self.bounds.count + 1)
        overflow[Self.bounds.count] = 3
        #expect(WindowedHistogram(bounds: Self.bounds, counts: overflow, sum: 300, count: 3).quantile(0.99) == 60, "past the last bound: its bound")
    }
}
