import System

/// Counters of one proxy for /metrics and the status page: requests by
/// status, queue length and wait, upstream time, retries, refusals.
package final class ProxyMetrics {
    typealias Histogram = LatencyHistogram

    /// Indexed by status (three digits): a count per answer is an array
    /// store, not a hash.
    private var countsByStatus = [UInt64](repeating: 0, count: 1000)
    /// The statuses seen, with their counts.
    var requestsByStatus: [Int: UInt64] {
        var seen: [Int: UInt64] = [:]
        for (status, count) in countsByStatus.enumerated() where count > 0 { seen[status] = count }
        return seen
    }
    var queueLength = 0
    var queueWait = Histogram()
    var upstreamTime = Histogram()
    var retries: UInt64 = 0
    var refusedQueueFull: UInt64 = 0
    var refusedEarly: UInt64 = 0
    var queueTimeouts: UInt64 = 0
    var clientAborts: UInt64 = 0
    var openClientConnections = 0
    var openUpstreamConnections = 0

    func count(status: Int) {
        countsByStatus[min(max(status, 0), countsByStatus.count - 1)] += 1
    }

    func observeQueueWait(_ seconds: Double) { queueWait.observe(seconds) }

    package var snapshot: ProxyTraffic {
        func histogram(_ h: Histogram) -> SecondsHistogram {
            SecondsHistogram(bounds: LatencyHistogram.bounds, counts: h.counts, sum: h.sum, count: h.count)
        }
        return ProxyTraffic(
            requestsByStatus: requestsByStatus.sorted { $0.key < $1.key }.map { (status: $0.key, count: $0.value) },
            queueLength: queueLength, queueWait: histogram(queueWait), upstreamTime: histogram(upstreamTime),
            retries: retries, refusedQueueFull: refusedQueueFull, refusedOverload: refusedEarly,
            queueTimeouts: queueTimeouts, clientAborts: clientAborts,
            clientConnections: openClientConnections, upstreamConnections: openUpstreamConnections)
    }
}
